package cli

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/awstest"
)

// syncBuffer is a bytes.Buffer safe for the daemon writing while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fakeClock jumps to whatever time the daemon waits for: a schedule fires
// at once, at its scheduled time.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
	// limited: After fires only while budget lasts (allow adds to it), so
	// a test sees a known number of scheduled runs; otherwise every After
	// fires at once.
	limited bool
	budget  int
	gen     int // After calls so far: a timer the loop re-armed since never fires
	cond    *sync.Cond
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After advances the clock by d and fires, at once or, when the budget is
// spent, once allow adds to it (unless a later After replaced this one).
func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cond == nil {
		c.cond = sync.NewCond(&c.mu)
	}
	c.gen++
	c.cond.Broadcast() // timers of earlier calls stop waiting
	ch := make(chan time.Time, 1)
	if !c.limited || c.budget > 0 {
		c.fire(d, ch)
		return ch
	}
	gen := c.gen
	go func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for c.budget == 0 && c.gen == gen {
			c.cond.Wait()
		}
		if c.gen == gen {
			c.fire(d, ch)
		}
	}()
	return ch
}

// fire advances the clock and fires ch; the caller holds c.mu.
func (c *fakeClock) fire(d time.Duration, ch chan time.Time) {
	if c.limited {
		c.budget--
	}
	c.now = c.now.Add(d)
	ch <- c.now
}

// allow lets n more timers fire.
func (c *fakeClock) allow(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cond == nil {
		c.cond = sync.NewCond(&c.mu)
	}
	c.budget += n
	c.cond.Broadcast()
}

type daemonUnderTest struct {
	url    string
	stderr *syncBuffer
	hup    chan os.Signal
	cancel context.CancelFunc
	done   chan int
}

func startServe(t *testing.T, w *world, clock *fakeClock, args ...string) *daemonUnderTest {
	t.Helper()
	stderr := &syncBuffer{}
	hup := make(chan os.Signal, 1)
	env := Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: stderr,
		Getenv: func(string) string { return "" }, Now: clock.Now, After: clock.After,
		Hangup:        func() (<-chan os.Signal, func()) { return hup, func() {} },
		AWSHTTPClient: w.srv.HTTPClient()}
	ctx, cancel := context.WithCancel(context.Background())
	d := &daemonUnderTest{stderr: stderr, hup: hup, cancel: cancel, done: make(chan int, 1)}
	full := append([]string{"serve", "--config-dir", w.dir, "--db", w.db, "--listen", "127.0.0.1:0", "--log-level", "info"}, args...)
	go func() { d.done <- Run(ctx, env, full) }()
	re := regexp.MustCompile(`listening on (http://[0-9.:]+)`)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(stderr.String()); m != nil {
			d.url = m[1]
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if d.url == "" {
		cancel()
		t.Fatalf("serve did not start:\n%s", stderr.String())
	}
	t.Cleanup(func() { d.stop(t) })
	return d
}

func (d *daemonUnderTest) stop(t *testing.T) int {
	d.cancel()
	select {
	case code := <-d.done:
		d.done <- code
		return code
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30s of cancellation")
		return -1
	}
}

func get(t *testing.T, url string, header ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if len(header) == 2 {
		req.Header.Set(header[0], header[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitMetric polls /metrics until re matches.
func waitMetric(t *testing.T, d *daemonUnderTest, re string) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(30 * time.Second)
	var body string
	for time.Now().Before(deadline) {
		_, body = get(t, d.url+"/metrics")
		if rx.MatchString(body) {
			return body
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("metrics never matched %s:\n%s\nstderr:\n%s", re, body, d.stderr.String())
	return ""
}

// TestServeSchedule: the daemon runs on its cron schedule (a test clock that
// jumps to each scheduled time), serves /healthz, /metrics with the expected
// series and the web view, reloads its configuration on SIGHUP only when the
// new one validates, and stops cleanly.
func TestServeSchedule(t *testing.T) {
	w := newWorld(t, baseConfig)
	w.srv.AddAccount(seedAlpha())
	// Two scheduled runs, then the clock stands still: the metrics are
	// those of the second run (a later one would see carol's password
	// turn into a violation).
	clock := &fakeClock{now: asOf, limited: true, budget: 2}
	d := startServe(t, w, clock, "--schedule", "0 10 * * *")

	body := waitMetric(t, d, `keywarden_runs_total\{result="ok"\} 2\n`)
	for _, want := range []string{
		`keywarden_findings{account="111111111111",kind="user_inactivekeys",status="violation"} 2`,
		`keywarden_findings{account="111111111111",kind="user_keysrotation",status="whitelisted"} 1`,
		`keywarden_findings{account="111111111111",kind="user_inactivepasswords",status="violation"} 1`,
		`keywarden_last_run_success 1`,
		`keywarden_last_run_duration_seconds`,
		`keywarden_aws_api_calls_total`,
		`keywarden_last_run_failed_accounts 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// The first run happened at the first scheduled time after the clock's
	// start (12:00 on the 25th): 10:00 on the 26th.
	list := w.run("issues", "list", "--status", "all", "-o", "json")
	for _, m := range jsonLines(t, list.stdout) {
		if m["detected"] != "2026-11-26T10:00:00Z" {
			t.Errorf("issue detected at %v, want the scheduled 2026-11-26T10:00:00Z", m["detected"])
		}
	}
	if code, hz := get(t, d.url+"/healthz"); code != 200 || !strings.Contains(hz, `"status":"ok"`) || !strings.Contains(hz, `"result":"ok"`) {
		t.Errorf("/healthz: %d %s", code, hz)
	}
	code, page := get(t, d.url+"/")
	if code != 200 || !strings.Contains(page, `id="total-violations"`) || !strings.Contains(page, "Run history") {
		t.Errorf("web view: %d", code)
	}

	// SIGHUP with a broken config.json: refused, the running one stays.
	os.WriteFile(filepath.Join(w.dir, "config.json"), []byte(`{"user_inactivekeys": {"inactive_criteria_days": -1}}`), 0o600)
	d.hup <- syscall.SIGHUP
	waitMetric(t, d, `keywarden_errors_total\{step="config"\} 1`)
	// A valid one without the password check: taken, and the next run has
	// no password findings.
	os.WriteFile(filepath.Join(w.dir, "config.json"), []byte(`{"user_inactivekeys": {"inactive_criteria_days": 90}}`), 0o600)
	d.hup <- syscall.SIGHUP
	for i := 0; !strings.Contains(d.stderr.String(), "configuration reloaded"); i++ {
		if i > 3000 {
			t.Fatal("SIGHUP: no reload logged")
		}
		time.Sleep(10 * time.Millisecond)
	}
	clock.allow(1) // the next scheduled run uses the reloaded configuration
	waitMetric(t, d, `keywarden_runs_total\{result="ok"\} [0-9]+\n(?s:.*)`)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && strings.Contains(func() string { _, b := get(t, d.url+"/metrics"); return b }(), `kind="user_inactivepasswords"`) {
		time.Sleep(50 * time.Millisecond)
	}
	if _, b := get(t, d.url+"/metrics"); strings.Contains(b, `kind="user_inactivepasswords"`) {
		t.Error("the reloaded configuration was not used: password findings remain")
	}
	if !strings.Contains(d.stderr.String(), "configuration reloaded") {
		t.Error("no reload logged")
	}
	if code := d.stop(t); code != 0 {
		t.Errorf("serve exit %d\n%s", code, d.stderr.String())
	}
}

func TestServeListenPolicy(t *testing.T) {
	w := newWorld(t, baseConfig)
	r := w.run("serve", "--listen", "0.0.0.0:0")
	if r.code != 1 || !strings.Contains(r.stderr, "--allow-remote") {
		t.Errorf("non-loopback without --allow-remote: %d %s", r.code, r.stderr)
	}
	r = w.run("serve", "--listen", "0.0.0.0:0", "--allow-remote")
	if r.code != 1 || !strings.Contains(r.stderr, ServeTokenEnv) {
		t.Errorf("--allow-remote without a token: %d %s", r.code, r.stderr)
	}
	if r := w.run("serve", "--schedule", "every day"); r.code != ExitUsage || !strings.Contains(r.stderr, "--schedule") {
		t.Errorf("bad schedule: %d %s", r.code, r.stderr)
	}
}

// TestServeBearerToken: with a token, every path but /healthz needs it.
func TestServeBearerToken(t *testing.T) {
	w := newWorld(t, baseConfig)
	w.srv.AddAccount(seedAlpha())
	clock := &fakeClock{now: asOf}
	stderr := &syncBuffer{}
	env := Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: stderr, Now: clock.Now,
		After:         func(time.Duration) <-chan time.Time { return nil }, // never fires
		Getenv:        func(k string) string { return map[string]string{ServeTokenEnv: "0123456789abcdef-token"}[k] },
		AWSHTTPClient: w.srv.HTTPClient()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, env, []string{"serve", "--config-dir", w.dir, "--db", w.db, "--listen", "127.0.0.1:0"})
	}()
	defer func() { cancel(); <-done }()
	var url string
	for i := 0; i < 200 && url == ""; i++ {
		if m := regexp.MustCompile(`listening on (http://[0-9.:]+)`).FindStringSubmatch(stderr.String()); m != nil {
			url = m[1]
		}
		time.Sleep(10 * time.Millisecond)
	}
	if url == "" {
		t.Fatal(stderr.String())
	}
	if code, _ := get(t, url+"/metrics"); code != 401 {
		t.Errorf("/metrics without token: %d", code)
	}
	if code, _ := get(t, url+"/metrics", "Authorization", "Bearer wrong"); code != 401 {
		t.Errorf("/metrics with a wrong token: %d", code)
	}
	if code, _ := get(t, url+"/metrics", "Authorization", "Bearer 0123456789abcdef-token"); code != 200 {
		t.Errorf("/metrics with the token: %d", code)
	}
	if code, _ := get(t, url+"/healthz"); code != 200 {
		t.Errorf("/healthz: %d", code)
	}
}

// TestConcurrentRunsShareOneStore: two runs at once against one store: one
// holds the lock, the other skips; nothing is lost or done twice.
func TestConcurrentRunsShareOneStore(t *testing.T) {
	w := newWorld(t, runConfig)
	w.srv.AddTopic("arn:aws:sns:us-east-1:111111111111:keywarden-notifications")
	w.srv.AddAccount(seedAlpha())
	w.srv.AddAccount(awstest.Account{ID: acctB})
	// Slow report generation so the two runs overlap.
	w.srv.Inject(awstest.Fault{Action: "GenerateCredentialReport", Latency: 400 * time.Millisecond})
	var wg sync.WaitGroup
	results := make([]result, 2)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if i == 1 {
				time.Sleep(150 * time.Millisecond)
			}
			results[i] = w.run("run", "--as-of", asOf.Format(time.RFC3339), "-o", "json")
		}(i)
	}
	wg.Wait()
	var ok, skipped int
	for _, r := range results {
		if r.code != 0 {
			t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		switch decodeRun(t, r.stdout).Result {
		case "ok":
			ok++
		case "skipped":
			skipped++
		}
	}
	if ok != 1 || skipped != 1 {
		t.Fatalf("runs: %d ok, %d skipped; want 1 and 1", ok, skipped)
	}
	if n := w.srv.CountCalls("", "UpdateAccessKey"); n != 2 {
		t.Errorf("UpdateAccessKey called %d times, want 2 (alice's old key and bob's, once each)", n)
	}
	if n := len(jsonLines(t, w.run("issues", "list", "--status", "all", "-o", "json").stdout)); n != 5 {
		t.Errorf("issues in the store: %d, want 5", n)
	}
	// The lock was released: the next run proceeds.
	if r := w.run("run", "--as-of", asOf.Format(time.RFC3339), "-o", "json"); decodeRun(t, r.stdout).Result != "ok" {
		t.Errorf("third run: %s", r.stdout)
	}
}
