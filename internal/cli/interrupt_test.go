package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/awstest"
	"github.com/keywarden/keywarden/internal/progress"
)

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// An interrupted scan says which accounts it scanned (their issues
// stored) and which it did not.
func TestScanInterrupted(t *testing.T) {
	w := newWorld(t, `{
  "aws": {"region": "us-east-1", "accounts": {"111111111111": "alpha", "222222222222": "beta"}},
  "user_inactivekeys": {"enabled": "true", "inactive_criteria_days": "90"}
}`)
	w.srv.AddAccount(seedAlpha())
	w.srv.AddAccount(awstest.Account{ID: acctB, Users: []awstest.User{{Name: "bea", Created: daysAgo(10)}}})
	w.srv.Inject(awstest.Fault{Account: acctB, Action: "GetAccountAuthorizationDetails", Latency: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		// One account at a time: alpha is done once beta's slow call comes.
		for w.srv.CountCalls(acctB, "GetAccountAuthorizationDetails") == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	r := w.runWith(runOpts{ctx: ctx}, "scan", "--as-of", asOf.Format(time.RFC3339), "--report-poll-interval", "1ms", "--concurrency", "1", "-o", "json")
	if r.code != 1 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	want := "keywarden: scan interrupted: 1 of 2 account(s) scanned, 1 not scanned (or stopped mid-scan); issues stored for the 1 scanned account(s); the others' issues are unchanged (the next scan covers them)"
	if !strings.Contains(r.stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
	}
	if n := len(jsonLines(t, w.storeSnapshot())); n == 0 {
		t.Error("the scanned account's issues were not stored")
	}
}

// Interrupted at the prompt, remediate says what it finished and what it
// did not start; an interrupt does not wait for the answer.
func TestRemediateInterruptedAtPrompt(t *testing.T) {
	w := newWorld(t, remediationConfig)
	w.srv.AddAccount(seedAlpha())
	w.scan(0, "-o", "json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in, answer := io.Pipe()
	defer answer.Close()
	var out bytes.Buffer
	var errb syncBuffer
	env := Env{Stdin: in, Stdout: &out, Stderr: &errb, StdinTTY: true,
		Getenv: func(string) string { return "" }, Now: func() time.Time { return asOf },
		AWSHTTPClient: w.srv.HTTPClient()}
	done := make(chan int)
	go func() {
		done <- Run(ctx, env, []string{"--config-dir", w.dir, "--db", w.db, "--log-level", "warn", "remediate", "-o", "json"})
	}()
	waitUntil(t, "the first prompt", func() bool { return strings.Count(errb.String(), "proceed?") == 1 })
	io.WriteString(answer, "y\n")
	waitUntil(t, "the second prompt", func() bool { return strings.Count(errb.String(), "proceed?") == 2 })
	cancel() // never answered
	var code int
	select {
	case code = <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("remediate waits for an answer after the interrupt:\n%s", errb.String())
	}
	want := "keywarden: remediate interrupted: finished: 1 remediated; 2 planned item(s) not started; no action was left in doubt: the journal and the issues agree"
	if code != 1 || !strings.Contains(errb.String(), want) {
		t.Errorf("exit %d, stderr lacks %q:\n%s", code, want, errb.String())
	}
}

// On a terminal the interrupt is acknowledged as it comes; a plain
// cancellation (no signal) says nothing.
func TestNoticeInterrupt(t *testing.T) {
	var buf syncBuffer
	term := progress.NewTerminal(&buf)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer noticeInterrupt(ctx, term)()
	cancel(errors.New("interrupt signal received"))
	waitUntil(t, "the notice", func() bool { return buf.String() != "" })
	if want := "keywarden: interrupt signal received: stopping (the work in flight ends first; interrupt again to quit at once)\n"; buf.String() != want {
		t.Errorf("notice %q, want %q", buf.String(), want)
	}
	var quiet syncBuffer
	ctx, cancel2 := context.WithCancel(context.Background())
	stop := noticeInterrupt(ctx, progress.NewTerminal(&quiet))
	cancel2()
	time.Sleep(20 * time.Millisecond)
	stop()
	if quiet.String() != "" {
		t.Errorf("notice without a signal: %q", quiet.String())
	}
}
