package cli

import (
	"context"
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
	stuckAfter      time.Duration
}

// ServeStuckAfterEnv sets serve's --stuck-after when the flag is not given.
const ServeStuckAfterEnv = "KEYWARDEN_SERVE_STUCK_AFTER"

// cancelGrace is how long serve, stopping, waits for a cancelled run to
// return before it exits without it.
const cancelGrace = 30 * time.Second

func newServeCmd(g *globals) *cobra.Command {
	f := &serveFlags{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Daemon: keywarden run on a cron schedule, with /healthz, /metrics and a read-only web view",
		Long: `serve runs "keywarden run" on a schedule (standard 5-field cron, UTC), never
two at once (a lock in the issue store, so daemons sharing DynamoDB or a
SQLite file never collide), and serves:

  /          the HTML report of the tracked issues, with the run history
  /healthz   200 while the daemon is up (JSON: last run, run in progress);
             503 while a run has been in progress longer than --stuck-after
             (a hung AWS call, a store that never answers), saying which run
             and since when
  /metrics   Prometheus series: findings by kind/status/account, last run
             start/duration/result, last successful run, the run in progress
             (start, seconds running, stuck), API calls, notifications,
             remediations, errors

It listens on 127.0.0.1 by default; binding elsewhere needs --allow-remote
and a bearer token in ` + ServeTokenEnv + ` (required on every path but /healthz).
SIGHUP reloads config.json, whitelist.json and ticket_owners.json when they
validate (otherwise the running configuration stays and the error is logged);
a run in progress keeps the configuration it started with.
SIGTERM/SIGINT stop scheduling, let a run in progress finish (up to
--shutdown-timeout; a stuck run is not waited for), then cancel it, wait for
it to return (up to 30s more) and exit. Both work while a run hangs.`,
		Example: `  keywarden serve --config-dir /etc/keywarden --schedule "0 10 * * *"`,
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return runServe(cmd.Context(), g, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.schedule, "schedule", "0 10 * * *", "cron schedule of runs (minute hour day-of-month month day-of-week, UTC; also @daily, @every 6h)")
	fl.StringVar(&f.listen, "listen", "127.0.0.1:9464", "address of /healthz, /metrics and the web view")
	fl.BoolVar(&f.allowRemote, "allow-remote", false, "allow a non-loopback --listen address (needs "+ServeTokenEnv+")")
	fl.BoolVar(&f.runOnStart, "run-on-start", false, "run once right away, then on the schedule")
	fl.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 5*time.Minute, "how long a run in progress may finish after SIGTERM before it is cancelled")
	fl.DurationVar(&f.stuckAfter, "stuck-after", 0, "a run in progress longer than this is stuck: /healthz answers 503 (env "+ServeStuckAfterEnv+"; default twice the scan's account timeout, "+(2*DefaultAccountTimeout).String()+", at most --lock-ttl)")
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
	// runs counts the runs started; current is the one in progress (nil:
	// none).
	runs    int
	current *runInProgress
	// stuckAfter: a run in progress longer than this is stuck.
	stuckAfter time.Duration
}

// runInProgress is the run the daemon is executing.
type runInProgress struct {
	id      int
	started time.Time
	done    chan struct{} // closed when the run returned
}

// inProgress is the run in progress as of now: nil when there is none;
// running is how long it has been running, stuck whether that is longer
// than the bound.
func (d *daemon) inProgress() (r *runInProgress, running time.Duration, stuck bool) {
	d.mu.Lock()
	r = d.current
	d.mu.Unlock()
	if r == nil {
		return nil, 0, false
	}
	running = max(d.g.env.Now().Sub(r.started), 0)
	return r, running, d.stuckAfter > 0 && running > d.stuckAfter
}

func (d *daemon) config() *config.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

func runServe(ctx context.Context, g *globals, f *serveFlags) error {
	sched, err := cron.ParseStandard(f.schedule)
	if err != nil {
		return usageError(fmt.Sprintf("--schedule %q: %v (use 5 fields: minute hour day-of-month month day-of-week, e.g. \"0 10 * * *\")", f.schedule, err))
	}
	cfg, err := loadConfig(g)
	if err != nil {
		return err
	}
	token, err := listenPolicy(g, f)
	if err != nil {
		return err
	}
	stuckAfter, err := stuckBound(g, f)
	if err != nil {
		return err
	}
	log := g.logger()
	d := &daemon{g: g, m: metrics.New(), cfg: cfg, stuckAfter: stuckAfter}
	d.m.WatchRun(func() metrics.InProgress {
		r, running, stuck := d.inProgress()
		if r == nil {
			return metrics.InProgress{}
		}
		return metrics.InProgress{Running: true, Start: r.started, Seconds: running.Seconds(), Stuck: stuck}
	})
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
	// Runs get a context of their own: SIGTERM lets a run in progress
	// finish (up to --shutdown-timeout) instead of cutting it mid-action.
	// A run executes beside the loop, so that SIGHUP and SIGTERM are
	// handled while it runs, or hangs; the schedule is armed again once it
	// returned, so two never overlap.
	runCtx, cancelRuns := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRuns()
	first := f.runOnStart
	var running *runInProgress
	for {
		var fire <-chan time.Time
		var finished chan struct{}
		switch {
		case running != nil:
			finished = running.done
		case first:
			ch := make(chan time.Time, 1)
			ch <- g.env.Now()
			fire, first = ch, false
		default:
			next := sched.Next(g.env.Now().UTC())
			fire = after(next.Sub(g.env.Now()))
			log.Info("next run scheduled", "at", next.Format(time.RFC3339))
		}
		select {
		case <-ctx.Done():
			return d.stop(running, cancelRuns, f.shutdownTimeout)
		case <-hup:
			d.reload()
		case <-fire:
			running = d.start(runCtx, f)
		case <-finished:
			running = nil
		}
	}
}

// stuckBound is --stuck-after, else $KEYWARDEN_SERVE_STUCK_AFTER, else
// twice the scan's account timeout (a run scans its accounts at once, each
// within that timeout, then reports and remediates in minutes), at most
// the run lock's lease (past it, another runner may take the lock).
func stuckBound(g *globals, f *serveFlags) (time.Duration, error) {
	if f.stuckAfter < 0 {
		return 0, usageError(fmt.Sprintf("--stuck-after %s: use a positive duration such as 1h", f.stuckAfter))
	}
	if f.stuckAfter > 0 {
		return f.stuckAfter, nil
	}
	if v := strings.TrimSpace(g.env.Getenv(ServeStuckAfterEnv)); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return 0, fmt.Errorf("%s=%q: use a positive duration such as 1h or 90m", ServeStuckAfterEnv, v)
		}
		return d, nil
	}
	d := 2 * DefaultAccountTimeout
	if f.run.lockTTL > 0 && f.run.lockTTL < d {
		d = f.run.lockTTL
	}
	return d, nil
}

// start begins a run beside the loop.
func (d *daemon) start(ctx context.Context, f *serveFlags) *runInProgress {
	d.mu.Lock()
	d.runs++
	r := &runInProgress{id: d.runs, started: d.g.env.Now(), done: make(chan struct{})}
	d.current = r
	d.mu.Unlock()
	go func() {
		defer close(r.done)
		d.runOnce(ctx, f)
		d.mu.Lock()
		if d.current == r {
			d.current = nil
		}
		d.mu.Unlock()
	}()
	return r
}

// stop ends serve: a run in progress may finish within grace (not waited
// for when stuck), is then cancelled, and is given cancelGrace to return.
func (d *daemon) stop(r *runInProgress, cancelRuns context.CancelFunc, grace time.Duration) error {
	log := d.g.logger()
	if r == nil {
		log.Info("keywarden serve: stopping")
		return nil
	}
	if _, running, stuck := d.inProgress(); stuck {
		log.Warn("keywarden serve: stopping; cancelling the stuck run", "run", r.id, "started", r.started.Format(time.RFC3339), "running_for", running)
		grace = 0
	} else {
		log.Info("keywarden serve: stopping once the run in progress finishes", "run", r.id, "within", grace.String())
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-r.done:
		log.Info("keywarden serve: stopping")
		return nil
	case <-t.C:
	}
	cancelRuns()
	t2 := time.NewTimer(cancelGrace)
	defer t2.Stop()
	select {
	case <-r.done:
		log.Warn("keywarden serve: the run was cancelled; stopping", "run", r.id)
		return nil
	case <-t2.C:
		return fmt.Errorf("serve: run %d (started %s) did not return within %s of its cancellation; exiting without it (its run lock lapses after --lock-ttl)",
			r.id, r.started.Format(time.RFC3339), cancelGrace)
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
	sum, c, err := runOnce(ctx, &g, &f.run)
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
	if c != nil && c.Scan != nil && c.Scan.Result != nil {
		for _, a := range c.Scan.Result.Accounts {
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
