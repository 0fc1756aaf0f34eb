// Package metrics holds keywarden's Prometheus series: what the daemon
// (keywarden serve) exposes at /metrics.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the series of one daemon, on their own registry.
type Metrics struct {
	Registry *prometheus.Registry

	Findings      *prometheus.GaugeVec   // kind, status, account
	LastRunStart  prometheus.Gauge       // unix seconds
	LastRunDur    prometheus.Gauge       // seconds
	LastRunOK     prometheus.Gauge       // 1 ok, 0.5 partial, 0 failed
	Runs          *prometheus.CounterVec // result: ok, partial, failed, skipped
	APICalls      prometheus.Counter
	Notifications *prometheus.CounterVec // channel, result: sent, failed
	Remediations  *prometheus.CounterVec // result
	Errors        *prometheus.CounterVec // step
	AccountsFail  prometheus.Gauge
	LastSuccess   prometheus.Gauge // unix seconds: end of the last ok run
}

// New registers every series (plus the Go and process collectors).
func New() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		Findings: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "keywarden_findings",
			Help: "Findings of the last run, by kind, status (violation, warning, whitelisted) and account."}, []string{"kind", "status", "account"}),
		LastRunStart: prometheus.NewGauge(prometheus.GaugeOpts{Name: "keywarden_last_run_start_timestamp_seconds",
			Help: "When the last run started (Unix time)."}),
		LastRunDur: prometheus.NewGauge(prometheus.GaugeOpts{Name: "keywarden_last_run_duration_seconds",
			Help: "How long the last run took."}),
		LastRunOK: prometheus.NewGauge(prometheus.GaugeOpts{Name: "keywarden_last_run_success",
			Help: "1 when the last run succeeded, 0.5 when some accounts or steps failed, 0 when it failed."}),
		Runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "keywarden_runs_total",
			Help: "Runs by result (ok, partial, failed, skipped: another runner held the lock)."}, []string{"result"}),
		APICalls: prometheus.NewCounter(prometheus.CounterOpts{Name: "keywarden_aws_api_calls_total",
			Help: "AWS API calls made by scans."}),
		Notifications: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "keywarden_notifications_total",
			Help: "Notices by channel and result (sent, failed)."}, []string{"channel", "result"}),
		Remediations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "keywarden_remediations_total",
			Help: "Remediation outcomes by result (remediated, failed, skipped, resolved, ...)."}, []string{"result"}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "keywarden_errors_total",
			Help: "Failures by step (scan, report, remediate, lock, config)."}, []string{"step"}),
		AccountsFail: prometheus.NewGauge(prometheus.GaugeOpts{Name: "keywarden_last_run_failed_accounts",
			Help: "Accounts whose scan failed in the last run."}),
		LastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{Name: "keywarden_last_success_timestamp_seconds",
			Help: "When the last successful run ended (Unix time; 0: none yet)."}),
	}
	r.MustRegister(m.Findings, m.LastRunStart, m.LastRunDur, m.LastRunOK, m.Runs, m.APICalls,
		m.Notifications, m.Remediations, m.Errors, m.AccountsFail, m.LastSuccess,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// Run is what one run contributes to the series.
type Run struct {
	Start    time.Time
	Duration time.Duration
	Result   string // ok, partial, failed, skipped
	// Findings: account -> kind -> status -> count (replaces the previous
	// run's gauges).
	Findings       map[string]map[string]map[string]int
	FailedAccounts int
	APICalls       int
	Notifications  map[string][2]int // channel -> sent, failed
	Remediations   map[string]int
	Errors         []string // failed steps
}

// Observe records a run.
func (m *Metrics) Observe(r Run) {
	m.Runs.WithLabelValues(r.Result).Inc()
	if r.Result == "skipped" {
		return
	}
	m.LastRunStart.Set(float64(r.Start.UnixNano()) / 1e9)
	m.LastRunDur.Set(r.Duration.Seconds())
	switch r.Result {
	case "ok":
		m.LastRunOK.Set(1)
		m.LastSuccess.Set(float64(r.Start.Add(r.Duration).UnixNano()) / 1e9)
	case "partial":
		m.LastRunOK.Set(0.5)
	default:
		m.LastRunOK.Set(0)
	}
	m.Findings.Reset()
	for acct, kinds := range r.Findings {
		for kind, sts := range kinds {
			for st, n := range sts {
				m.Findings.WithLabelValues(kind, st, acct).Set(float64(n))
			}
		}
	}
	m.AccountsFail.Set(float64(r.FailedAccounts))
	m.APICalls.Add(float64(r.APICalls))
	for ch, n := range r.Notifications {
		m.Notifications.WithLabelValues(ch, "sent").Add(float64(n[0]))
		m.Notifications.WithLabelValues(ch, "failed").Add(float64(n[1]))
	}
	for res, n := range r.Remediations {
		m.Remediations.WithLabelValues(res).Add(float64(n))
	}
	for _, step := range r.Errors {
		m.Errors.WithLabelValues(step).Inc()
	}
}

// InProgress is the run in progress, as the daemon sees it at a scrape.
type InProgress struct {
	Running bool
	// Start of the run; Seconds it has been running.
	Start   time.Time
	Seconds float64
	// Stuck: running longer than the daemon's bound (serve --stuck-after).
	Stuck bool
}

// WatchRun registers the series of the run in progress, read from state at
// every scrape: keywarden_run_in_progress (0 or 1),
// keywarden_run_in_progress_start_timestamp_seconds,
// keywarden_run_in_progress_seconds and keywarden_run_stuck (0 or 1), all 0
// when no run is in progress. Call it once.
func (m *Metrics) WatchRun(state func() InProgress) {
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	m.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "keywarden_run_in_progress",
			Help: "1 while a run is in progress."}, func() float64 { return b(state().Running) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "keywarden_run_in_progress_start_timestamp_seconds",
			Help: "When the run in progress started (Unix time; 0: none in progress)."}, func() float64 {
			if st := state(); st.Running {
				return float64(st.Start.UnixNano()) / 1e9
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "keywarden_run_in_progress_seconds",
			Help: "How long the run in progress has been running (0: none in progress)."}, func() float64 { return state().Seconds }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "keywarden_run_stuck",
			Help: "1 while the run in progress has been running longer than serve --stuck-after (/healthz answers 503)."},
			func() float64 { return b(state().Stuck) }),
	)
}
