package cli

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/awstest"
)

// metricValue is the value of the series named exactly series in body.
func metricValue(t *testing.T, body, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("/metrics has no %s:\n%s", series, body)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// startServeRealClock starts serve on the real clock, its schedule firing
// whenever the test sends on fire.
func startServeRealClock(t *testing.T, w *world, fire chan time.Time, args ...string) *daemonUnderTest {
	t.Helper()
	stderr := &syncBuffer{}
	hup := make(chan os.Signal, 1)
	env := Env{Stdin: strings.NewReader(""), Stdout: &syncBuffer{}, Stderr: stderr,
		Getenv: func(string) string { return "" }, Now: time.Now,
		After:         func(time.Duration) <-chan time.Time { return fire },
		Hangup:        func() (<-chan os.Signal, func()) { return hup, func() {} },
		AWSHTTPClient: w.srv.HTTPClient()}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	d := &daemonUnderTest{stderr: stderr, hup: hup, cancel: cancel, done: make(chan int, 1)}
	full := append([]string{"serve", "--config-dir", w.dir, "--db", w.db, "--listen", "127.0.0.1:0", "--log-level", "info"}, args...)
	go func() { d.done <- Run(ctx, env, full) }()
	re := regexp.MustCompile(`listening on (http://[0-9.:]+)`)
	for deadline := time.Now().Add(10 * time.Second); d.url == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := re.FindStringSubmatch(stderr.String()); m != nil {
			d.url = m[1]
		}
	}
	if d.url == "" {
		t.Fatalf("serve did not start:\n%s", stderr.String())
	}
	return d
}

// stopWithin cancels serve (SIGTERM) and returns its exit code and how long
// it took to stop, failing the test after limit.
func stopWithin(t *testing.T, d *daemonUnderTest, limit time.Duration) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	d.cancel()
	select {
	case code := <-d.done:
		return code, time.Since(start)
	case <-time.After(limit):
		t.Fatalf("serve still running %s after SIGTERM:\n%s", limit, d.stderr.String())
		return -1, 0
	}
}

// TestServeHungRun (issue 10, defect 7): a run hung on an IAM call makes
// /healthz answer 503 naming the run and since when once it has run longer
// than --stuck-after; /metrics shows the run in progress and the last
// successful run; SIGHUP still reloads and SIGTERM still stops serve,
// cancelling the stuck run at once.
func TestServeHungRun(t *testing.T) {
	w := newWorld(t, baseConfig)
	w.srv.AddAccount(seedAlpha())
	fire := make(chan time.Time, 1) // the schedule: fires when the test says
	d := startServeRealClock(t, w, fire, "--run-on-start", "--stuck-after", "500ms", "--shutdown-timeout", "1m")
	stderr := d.stderr

	// Run 1 succeeds.
	body := waitMetric(t, d, `keywarden_runs_total\{result="ok"\} 1`)
	lastOK := metricValue(t, body, "keywarden_last_success_timestamp_seconds")
	if lastOK < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("keywarden_last_success_timestamp_seconds %v: not the run that just ended", lastOK)
	}
	if metricValue(t, body, "keywarden_run_in_progress") != 0 || metricValue(t, body, "keywarden_run_stuck") != 0 {
		t.Errorf("a run is shown in progress after it ended:\n%s", body)
	}

	// Run 2 hangs on an IAM call.
	w.srv.Inject(awstest.Fault{Action: "GenerateCredentialReport", Mode: awstest.ModeHang})
	fired := time.Now()
	fire <- fired
	waitMetric(t, d, `(?m)^keywarden_run_in_progress 1$`)
	if code, hz := get(t, d.url+"/healthz"); code != 200 || !strings.Contains(hz, `"running":true`) || !strings.Contains(hz, `"run":{"id":2,`) {
		t.Errorf("/healthz of a run in progress, not yet stuck: %d %s", code, hz)
	}
	var code int
	var hz string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if code, hz = get(t, d.url+"/healthz"); code != 200 {
			break
		}
	}
	if waited := time.Since(fired); waited < 500*time.Millisecond {
		t.Errorf("unhealthy after %s, before --stuck-after 500ms", waited)
	}
	for _, want := range []string{`"status":"stuck"`, `"run":{"id":2,"started":"`, `"stuck_since":"`, "longer than --stuck-after 500ms", `"last_run":{`} {
		if code != 503 || !strings.Contains(hz, want) {
			t.Errorf("/healthz of a stuck run: %d, want 503 with %s:\n%s", code, want, hz)
		}
	}
	body = waitMetric(t, d, `(?m)^keywarden_run_stuck 1$`)
	if s := metricValue(t, body, "keywarden_run_in_progress_seconds"); s < 0.5 {
		t.Errorf("keywarden_run_in_progress_seconds %v, want > 0.5", s)
	}
	if st := metricValue(t, body, "keywarden_run_in_progress_start_timestamp_seconds"); st < float64(fired.Unix()-1) || st > float64(time.Now().UnixNano())/1e9 {
		t.Errorf("keywarden_run_in_progress_start_timestamp_seconds %v, fired at %v", st, fired.Unix())
	}
	if v := metricValue(t, body, "keywarden_last_success_timestamp_seconds"); v != lastOK {
		t.Errorf("last success moved to %v while run 2 hangs (was %v)", v, lastOK)
	}

	// SIGHUP still reloads.
	os.WriteFile(filepath.Join(w.dir, "config.json"), []byte(`{"user_inactivekeys": {"inactive_criteria_days": 90}}`), 0o600)
	d.hup <- syscall.SIGHUP
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(stderr.String(), "configuration reloaded") && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(stderr.String(), "configuration reloaded") {
		t.Errorf("SIGHUP ignored while a run hangs:\n%s", stderr.String())
	}

	// SIGTERM stops serve at once: the stuck run is not given
	// --shutdown-timeout (1m) but cancelled.
	code, took := stopWithin(t, d, 10*time.Second)
	t.Logf("stopped %s after SIGTERM", took)
	if code != 0 || took > 5*time.Second {
		t.Errorf("serve exit %d after %s\n%s", code, took, stderr.String())
	}
	for _, want := range []string{"cancelling the stuck run", "the run was cancelled"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}

// TestServeStopCancelsRunAfterShutdownTimeout: SIGTERM during a run in
// progress (hung, not yet stuck) waits --shutdown-timeout for it, then
// cancels it and exits.
func TestServeStopCancelsRunAfterShutdownTimeout(t *testing.T) {
	w := newWorld(t, baseConfig)
	w.srv.AddAccount(seedAlpha())
	w.srv.Inject(awstest.Fault{Action: "GenerateCredentialReport", Mode: awstest.ModeHang})
	d := startServeRealClock(t, w, make(chan time.Time), "--run-on-start", "--stuck-after", "1h", "--shutdown-timeout", "300ms")
	waitMetric(t, d, `(?m)^keywarden_run_in_progress 1$`)
	if code, hz := get(t, d.url+"/healthz"); code != 200 {
		t.Errorf("/healthz before --stuck-after: %d %s", code, hz)
	}
	code, took := stopWithin(t, d, 10*time.Second)
	t.Logf("stopped %s after SIGTERM", took)
	if code != 0 || took < 300*time.Millisecond || took > 5*time.Second {
		t.Errorf("serve exit %d after %s, want 0 after --shutdown-timeout 300ms\n%s", code, took, d.stderr.String())
	}
	for _, want := range []string{"stopping once the run in progress finishes", "the run was cancelled"} {
		if !strings.Contains(d.stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, d.stderr.String())
		}
	}
}

// TestServeStuckBound: --stuck-after, else its environment variable, else
// twice the account timeout, at most the run lock's lease.
func TestServeStuckBound(t *testing.T) {
	for _, tc := range []struct {
		flag, lockTTL time.Duration
		env           string
		want          time.Duration
		err           string
	}{
		{flag: 5 * time.Minute, env: "90m", lockTTL: 2 * time.Hour, want: 5 * time.Minute},
		{env: "90m", lockTTL: 2 * time.Hour, want: 90 * time.Minute},
		{lockTTL: 2 * time.Hour, want: 2 * DefaultAccountTimeout},
		{lockTTL: 45 * time.Minute, want: 45 * time.Minute},
		{env: "soon", lockTTL: 2 * time.Hour, err: ServeStuckAfterEnv + `="soon"`},
		{env: "-5m", lockTTL: 2 * time.Hour, err: ServeStuckAfterEnv},
		{flag: -time.Second, err: "--stuck-after -1s"},
	} {
		g := &globals{env: Env{Getenv: func(k string) string { return map[string]string{ServeStuckAfterEnv: tc.env}[k] }}}
		f := &serveFlags{stuckAfter: tc.flag}
		f.run.lockTTL = tc.lockTTL
		got, err := stuckBound(g, f)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%+v: err %v, want %q", tc, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%+v: %v %v, want %v", tc, got, err, tc.want)
		}
	}
}
