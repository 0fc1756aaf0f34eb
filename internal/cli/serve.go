package cli

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/metrics"
	"github.com/keywarden/keywarden/internal/output"
)

// ServeTokenEnv holds the bearer token a non-loopback serve requires.
const ServeTokenEnv = "KEYWARDEN_SERVE_TOKEN"

type serveFlags struct {
	run             runFlags
	schedule        string
	listen          string
	allowRemote     bool
	runOnStart      bool
	shutdownTimeout time.Duration
}

func newServeCmd(g *globals) *cobra.Command {
	f := &serveFlags{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Daemon: keywarden run on a cron schedule, with /healthz, /metrics and a read-only web view",
		Long: `serve runs "keywarden run" on a schedule (standard 5-field cron, UTC), never
two at once (a lock in the issue store, so daemons sharing DynamoDB or a
SQLite file never collide), and serves:

  /          the HTML report of the tracked issues, with the run history
  /healthz   200 while the daemon is up (JSON: last run)
  /metrics   Prometheus series: findings by kind/status/account, last run
             start/duration/result, API calls, notifications, remediations,
             errors

It listens on 127.0.0.1 by default; binding elsewhere needs --allow-remote
and a bearer token in ` + ServeTokenEnv + ` (required on every path but /healthz).
SIGHUP reloads config.json, whitelist.json and ticket_owners.json when they
validate (otherwise the running configuration stays and the error is logged).
SIGTERM/SIGINT stop scheduling, let a run in progress finish (up to
--shutdown-timeout) and exit.`,
		Example: `  keywarden serve --config-dir /etc/keywarden --schedule "0 10 * * *"`,
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return runServe(cmd.Context(), g, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.schedule, "schedule", "0 10 * * *", "cron schedule of runs (minute hour day-of-month month day-of-week, UTC; also @daily, @every 6h)")
	fl.StringVar(&f.listen, "listen", "127.0.0.1:9464", "address of /healthz, /metrics and the web view")
	fl.BoolVar(&f.allowRemote, "allow-remote", false, "allow a non-loopback --listen address (needs "+ServeTokenEnv+")")
	fl.BoolVar(&f.runOnStart, "run-on-start", false, "run once right away, then on the schedule")
	fl.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 5*time.Minute, "how long a run in progress may finish after SIGTERM")
	fl.BoolVar(&f.run.allowPartial, "allow-partial", false, "count a run where some accounts failed as ok in the metrics")
	fl.StringVar(&f.run.profile, "profile", "", "AWS shared config profile")
	fl.StringVar(&f.run.region, "region", "", "AWS region for IAM/STS calls")
	fl.DurationVar(&f.run.lockTTL, "lock-ttl", 2*time.Hour, "lease of the run lock in the store")
	return cmd
}

// daemon is the state serve shares between its loop and its HTTP handlers.
type daemon struct {
	g       *globals
	m       *metrics.Metrics
	mu      sync.Mutex
	cfg     *config.Config
	history []RunSummary // newest first, at most 50
	running bool
}

func (d *daemon) config() *config.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

func runServe(ctx context.Context, g *globals, f *serveFlags) error {
	sched, err := cron.ParseStandard(f.schedule)
	if err != nil {
		return fmt.Errorf("--schedule %q: %w (use 5 fields: minute hour day-of-month month day-of-week, e.g. \"0 10 * * *\")", f.schedule, err)
	}
	cfg, err := loadConfig(g)
	if err != nil {
		return err
	}
	token, err := listenPolicy(g, f)
	if err != nil {
		return err
	}
	log := g.logger()
	d := &daemon{g: g, m: metrics.New(), cfg: cfg}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", f.listen, err)
	}
	srv := &http.Server{Handler: d.routes(token), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "err", err)
		}
	}()
	fmt.Fprintf(g.env.Stderr, "keywarden serve: listening on http://%s, schedule %q\n", ln.Addr(), f.schedule)
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()

	var hup <-chan os.Signal
	if g.env.Hangup != nil {
		ch, stop := g.env.Hangup()
		defer stop()
		hup = ch
	}
	after := g.env.After
	if after == nil {
		after = time.After
	}
	// Runs get a context that outlives SIGTERM by --shutdown-timeout, so a
	// run in progress finishes instead of being cut mid-action.
	runCtx, cancelRuns := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRuns()
	go func() {
		<-ctx.Done()
		select {
		case <-time.After(f.shutdownTimeout):
			cancelRuns()
		case <-runCtx.Done():
		}
	}()
	first := f.runOnStart
	for {
		var fire <-chan time.Time
		if first {
			ch := make(chan time.Time, 1)
			ch <- g.env.Now()
			fire, first = ch, false
		} else {
			next := sched.Next(g.env.Now().UTC())
			fire = after(next.Sub(g.env.Now()))
			log.Info("next run scheduled", "at", next.Format(time.RFC3339))
		}
		select {
		case <-ctx.Done():
			log.Info("keywarden serve: stopping")
			return nil
		case <-hup:
			d.reload()
		case <-fire:
			d.runOnce(runCtx, f)
		}
	}
}

// listenPolicy enforces: loopback by default; elsewhere only with
// --allow-remote and a bearer token from the environment.
func listenPolicy(g *globals, f *serveFlags) (string, error) {
	host, _, err := net.SplitHostPort(f.listen)
	if err != nil {
		return "", fmt.Errorf("--listen %q: %w", f.listen, err)
	}
	ip := net.ParseIP(host)
	loopback := host == "localhost" || (ip != nil && ip.IsLoopback())
	token := strings.TrimSpace(g.env.Getenv(ServeTokenEnv))
	switch {
	case loopback:
		return token, nil
	case !f.allowRemote:
		return "", fmt.Errorf("--listen %s is not a loopback address: add --allow-remote (and set %s) to expose the daemon", f.listen, ServeTokenEnv)
	case len(token) < 16:
		return "", fmt.Errorf("--allow-remote needs a bearer token of at least 16 characters in %s", ServeTokenEnv)
	}
	return token, nil
}

func (d *daemon) reload() {
	log := d.g.logger()
	cfg, err := config.Load(d.g.configDir)
	if err != nil {
		d.m.Errors.WithLabelValues("config").Inc()
		log.Error("SIGHUP: the new configuration is invalid; keeping the running one", "err", err)
		return
	}
	d.mu.Lock()
	d.cfg = cfg
	d.mu.Unlock()
	log.Info("SIGHUP: configuration reloaded", "dir", d.g.configDir)
}

func (d *daemon) runOnce(ctx context.Context, f *serveFlags) {
	g := *d.g
	g.cfg = d.config()
	g.format = string(output.JSON)
	d.mu.Lock()
	d.running = true
	d.mu.Unlock()
	sum, c, err := runOnce(ctx, &g, &f.run)
	d.mu.Lock()
	d.running = false
	d.mu.Unlock()
	log := d.g.logger()
	if err != nil {
		d.m.Errors.WithLabelValues("run").Inc()
		d.m.Runs.WithLabelValues("failed").Inc()
		log.Error("run failed to start", "err", err)
		return
	}
	result := sum.Result
	if result == "partial" && f.run.allowPartial {
		result = "ok"
	}
	obs := metrics.Run{Start: sum.Started, Result: result, APICalls: sum.APICalls,
		Findings: map[string]map[string]map[string]int{}, Notifications: map[string][2]int{}, Remediations: sum.Remediation}
	if dur, err := time.ParseDuration(sum.Duration); err == nil {
		obs.Duration = dur
	}
	if c != nil && c.scan != nil {
		for _, a := range c.scan.Accounts {
			if a.Err != nil {
				obs.FailedAccounts++
				continue
			}
			m := map[string]map[string]int{}
			for _, fd := range a.Findings {
				if m[string(fd.Kind)] == nil {
					m[string(fd.Kind)] = map[string]int{}
				}
				m[string(fd.Kind)][output.Status(fd)]++
			}
			obs.Findings[a.Account.ID] = m
		}
	}
	for ch, n := range sum.Notices {
		obs.Notifications[ch] = [2]int{n.Sent, n.Failed}
	}
	for _, fl := range sum.Failures {
		step, _, _ := strings.Cut(fl, ":")
		obs.Errors = append(obs.Errors, step)
	}
	d.m.Observe(obs)
	d.mu.Lock()
	d.history = append([]RunSummary{*sum}, d.history...)
	if len(d.history) > 50 {
		d.history = d.history[:50]
	}
	d.mu.Unlock()
	log.Info("run finished", "result", sum.Result, "duration", sum.Duration, "accounts", sum.Accounts, "failures", len(sum.Failures))
}

func (d *daemon) routes(token string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", d.healthz)
	mux.Handle("GET /metrics", d.m.Handler())
	mux.HandleFunc("GET /{$}", d.index)
	if token == "" {
		return mux
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="keywarden"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}

func (d *daemon) healthz(w http.ResponseWriter, _ *http.Request) {
	d.mu.Lock()
	var last *RunSummary
	if len(d.history) > 0 {
		last = &d.history[0]
	}
	running := d.running
	d.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"status":"ok","running":%v`, running)
	if last != nil {
		fmt.Fprintf(w, `,"last_run":{"started":%q,"result":%q,"duration":%q}`, last.Started.Format(time.RFC3339), last.Result, last.Duration)
	}
	fmt.Fprintln(w, "}")
}

// index serves the HTML report of the tracked issues, read from the store.
func (d *daemon) index(w http.ResponseWriter, r *http.Request) {
	g := *d.g
	cfg := d.config()
	st, err := openIssueStore(r.Context(), &g, cfg)
	if err != nil {
		http.Error(w, "issue store: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer st.Close()
	list, err := st.List(r.Context(), issues.Filter{Statuses: []issues.Status{issues.Open, issues.Whitelisted}})
	if err != nil {
		http.Error(w, "issue store: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	rep := issuesReport(list, cfg, g.env.Now())
	d.mu.Lock()
	for _, h := range d.history {
		rep.Runs = append(rep.Runs, output.ReportRun{Started: h.Started, Duration: h.Duration, Result: h.Result,
			Accounts: h.Accounts, Failures: strings.Join(h.Failures, "; ")})
	}
	d.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:")
	if err := output.RenderHTML(w, rep, output.Options{Format: output.HTML, ShowKeyIDs: g.showKeyIDs}); err != nil {
		d.g.logger().Error("render web view", "err", err)
	}
}
