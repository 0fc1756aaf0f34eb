//go:build linux

package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/keywarden/keywarden/internal/awstest"
)

// Issue 11, terminal behaviour: on a real pseudo-terminal, the progress bar
// and the log records are separate lines, and the remediate prompt is never
// interleaved with log text.

// openPTY opens a pseudo-terminal: the master end (what the terminal
// emulator reads and types into) and the tty end (the program's
// stdin/stderr).
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	ioctl := func(req uintptr, arg unsafe.Pointer) error {
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), req, uintptr(arg)); e != 0 {
			return e
		}
		return nil
	}
	var n uint32
	if err := ioctl(syscall.TIOCGPTN, unsafe.Pointer(&n)); err != nil {
		m.Close()
		t.Fatalf("TIOCGPTN: %v", err)
	}
	var unlock int32
	if err := ioctl(syscall.TIOCSPTLCK, unsafe.Pointer(&unlock)); err != nil {
		m.Close()
		t.Fatalf("TIOCSPTLCK: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Fatalf("open the tty end: %v", err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// screen collects what the master end reads.
type screen struct {
	mu  sync.Mutex
	buf bytes.Buffer
	eof chan struct{}
}

func readScreen(master *os.File) *screen {
	s := &screen{eof: make(chan struct{})}
	go func() {
		defer close(s.eof)
		b := make([]byte, 4096)
		for {
			n, err := master.Read(b)
			s.mu.Lock()
			s.buf.Write(b[:n])
			s.mu.Unlock()
			if err != nil { // EIO once the tty end is closed
				return
			}
		}
	}()
	return s
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// waitFor waits until the screen shows sub n times.
func (s *screen) waitFor(t *testing.T, sub string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(s.String(), sub) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the terminal never showed %q %d times:\n%q", sub, n, s.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// runOnPTY runs keywarden with stdin and stderr on the tty end (stdout in
// a buffer), answering each prompt with the next of answers once it shows,
// and returns the exit code and the bytes the terminal received.
func runOnPTY(t *testing.T, w *world, answers []string, args ...string) (int, string) {
	t.Helper()
	master, tty := openPTY(t)
	scr := readScreen(master)
	var out bytes.Buffer
	env := Env{Stdin: tty, Stdout: &out, Stderr: tty, StdinTTY: true,
		Getenv: func(string) string { return "" }, Now: func() time.Time { return asOf },
		AWSHTTPClient: w.srv.HTTPClient()}
	done := make(chan int)
	go func() {
		done <- Run(context.Background(), env, append([]string{"--config-dir", w.dir, "--db", w.db}, args...))
	}()
	for i, a := range answers {
		scr.waitFor(t, "[q]uit: ", i+1)
		if _, err := io.WriteString(master, a+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	var code int
	select {
	case code = <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("keywarden did not end; the terminal shows:\n%q", scr.String())
	}
	tty.Close()
	<-scr.eof
	return code, scr.String()
}

// lines replays the bytes as a terminal shows them: "\r\x1b[K" erases
// the line, "\r" returns to its start, "\n" ends it. A line holds what
// was on it when it ended, so text glued to a bar frame shows in one line.
func lines(raw string) []string {
	var out []string
	var cur string
	for i := 0; i < len(raw); i++ {
		switch {
		case strings.HasPrefix(raw[i:], "\r\x1b[K"):
			cur = ""
			i += len("\r\x1b[K") - 1
		case raw[i] == '\r':
			if !strings.HasPrefix(raw[i:], "\r\n") {
				cur = "" // overwritten from its start (our writes always erase first)
			}
		case raw[i] == '\n':
			out = append(out, cur)
			cur = ""
		default:
			cur += raw[i : i+1]
		}
	}
	if cur != "" {
		out = append(out, cur)
	}
	return out
}

var barFrame = regexp.MustCompile(`\[[#.]{30}\] \d+/\d+ accounts`)

func TestPTYScanBarAndLogs(t *testing.T) {
	w := newWorld(t, `{
  "aws": {"region": "us-east-1", "accounts": {"111111111111": "alpha", "222222222222": "beta"}},
  "user_inactivekeys": {"enabled": "true", "inactive_criteria_days": "90"}
}`)
	w.srv.AddAccount(seedAlpha())
	w.srv.AddAccount(awstest.Account{ID: acctB})
	// beta fails at once (a logged error); alpha is slow, so the bar is up
	// when the record comes.
	w.srv.Inject(awstest.Fault{Account: acctB, Action: "AssumeRole", Code: "AccessDenied"})
	w.srv.Inject(awstest.Fault{Account: acctA, Action: "GetAccountAuthorizationDetails", Latency: 400 * time.Millisecond})
	code, raw := runOnPTY(t, w, nil, "scan", "--as-of", asOf.Format(time.RFC3339), "--report-poll-interval", "1ms", "-o", "table")
	if code != 1 {
		t.Fatalf("exit %d (want 1: beta failed):\n%q", code, raw)
	}
	t.Logf("terminal: %q", raw)
	rec := strings.Index(raw, "level=ERROR")
	first := barFrame.FindStringIndex(raw)
	if rec < 0 || first == nil || first[0] > rec {
		t.Fatalf("want the bar drawn at once, before the failure's record:\n%q", raw)
	}
	// The record starts on an erased line: not after a bar frame.
	start := strings.LastIndex(raw[:rec], "time=")
	if start < 0 || !strings.HasSuffix(raw[:start], "\r\x1b[K") {
		t.Errorf("the log record is not on a line of its own (bytes before it: %q):\n%q", raw[max(0, start-40):max(0, start)], raw)
	}
	// After the record's newline the bar is redrawn at once.
	end := rec + strings.Index(raw[rec:], "\n") + 1
	if loc := barFrame.FindStringIndex(raw[end:]); loc == nil || loc[0] != 0 || !strings.Contains(raw[end:], "1 failed") {
		t.Errorf("the bar is not redrawn right after the record (%q):\n%q", raw[end:min(len(raw), end+60)], raw)
	}
	// While alpha is slow the bar shows beta's failure (counts are never
	// left stale by the redraw limit).
	if failed, last := strings.Index(raw, "1/2 accounts  0 findings  1 failed"), strings.Index(raw, "2/2 accounts"); failed < 0 || last < 0 || failed > last {
		t.Errorf("the bar did not show the failure before the last account:\n%q", raw)
	}
	var logLines int
	for _, l := range lines(raw) {
		hasBar, hasLog := barFrame.MatchString(l), strings.Contains(l, "level=")
		if hasBar && hasLog {
			t.Errorf("bar and log record on one line: %q", l)
		}
		if hasLog {
			logLines++
			if !strings.HasPrefix(l, "time=") {
				t.Errorf("log record glued to other text: %q", l)
			}
		}
		if hasBar {
			t.Errorf("a bar frame was left on the screen: %q", l)
		}
		// The terminal shows warnings, not a line per account.
		if strings.Contains(l, "level=INFO") {
			t.Errorf("info record on a terminal without --log-level: %q", l)
		}
	}
	if logLines == 0 || !strings.Contains(raw, "scanned 2 account(s)") {
		t.Errorf("want the failure's record and the summary:\n%q", raw)
	}
}

func TestPTYRemediatePromptNotInterleaved(t *testing.T) {
	w := newWorld(t, remediationConfig)
	w.srv.AddAccount(seedAlpha())
	w.scan(0, "-o", "json")
	// Throttled deactivations log warnings between the prompts.
	w.srv.Inject(awstest.Fault{Account: acctA, Action: "UpdateAccessKey", Code: "Throttling", Times: 4})
	code, raw := runOnPTY(t, w, []string{"y", "y", "q"}, "remediate", "--retry-backoff", "1ms", "--log-level", "info", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d:\n%q", code, raw)
	}
	t.Logf("terminal: %q", raw)
	var prompts, logs int
	for _, l := range lines(raw) {
		isPrompt := strings.Contains(l, "proceed?")
		isLog := strings.Contains(l, "level=")
		switch {
		case isPrompt && isLog:
			t.Errorf("prompt interleaved with log text: %q", l)
		case isPrompt:
			prompts++
			if !regexp.MustCompile(`^    proceed\? \[y\]es / \[n\]o / \[a\]ll / \[q\]uit: [yq]$`).MatchString(l) {
				t.Errorf("prompt line with other text: %q", l)
			}
		case isLog:
			logs++
			if !strings.HasPrefix(l, "time=") {
				t.Errorf("log record glued to other text: %q", l)
			}
		case strings.HasPrefix(l, "["):
			if !regexp.MustCompile(`^\[\d\] (deactivate access key|delete the console password)`).MatchString(l) {
				t.Errorf("prompt heading with other text: %q", l)
			}
		}
	}
	if prompts != 3 || logs == 0 {
		t.Errorf("want 3 prompts and log records between them, got %d prompts, %d records:\n%q", prompts, logs, raw)
	}
}

// Ctrl-C typed on the terminal, to the real binary: the interrupt is
// acknowledged at once, the scan says what it kept, and the exit code is 1.
func TestPTYBinaryCtrlC(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "keywarden")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/keywarden/keywarden/cmd/keywarden").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	w := newWorld(t, `{
  "aws": {"region": "us-east-1", "accounts": {"111111111111": "alpha", "222222222222": "beta"}},
  "user_inactivekeys": {"enabled": "true", "inactive_criteria_days": "90"}
}`)
	w.srv.AddAccount(seedAlpha())
	w.srv.AddAccount(awstest.Account{ID: acctB, Users: []awstest.User{{Name: "bea", Created: daysAgo(10)}}})
	w.srv.Inject(awstest.Fault{Account: acctB, Action: "GetAccountAuthorizationDetails", Latency: time.Minute})
	master, tty := openPTY(t)
	scr := readScreen(master)
	cmd := exec.Command(bin, "--config-dir", w.dir, "--db", w.db, "scan", "--as-of", asOf.Format(time.RFC3339),
		"--report-poll-interval", "1ms", "--concurrency", "1", "-o", "table")
	var out bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, &out, tty
	// Its own session, the pty its controlling terminal: ^C reaches it as
	// SIGINT from the terminal, as it does a user's.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "beta's slow call", func() bool { return w.srv.CountCalls(acctB, "GetAccountAuthorizationDetails") > 0 })
	if _, err := master.Write([]byte{3}); err != nil { // ^C
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var err error
	select {
	case err = <-exited:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("still running after ^C:\n%q", scr.String())
	}
	tty.Close()
	<-scr.eof
	raw := scr.String()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("exit %v, want 1:\n%q", err, raw)
	}
	t.Logf("terminal: %q", raw)
	text := strings.Join(lines(raw), "\n")
	for _, want := range []string{
		"keywarden: interrupt signal received: stopping (the work in flight ends first; interrupt again to quit at once)",
		"keywarden: scan interrupted: 1 of 2 account(s) scanned, 1 not scanned (or stopped mid-scan); issues stored for the 1 scanned account(s)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the terminal lacks %q:\n%s", want, text)
		}
	}
	for _, l := range lines(raw) {
		if barFrame.MatchString(l) {
			t.Errorf("a bar frame was left on the screen: %q", l)
		}
		if strings.Contains(l, "level=ERROR") {
			t.Errorf("the interrupted account logged as failed: %q", l)
		}
	}
}
