package progress

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestLine(t *testing.T) {
	for _, c := range []struct {
		done, total, findings, failed int
		want                          string
	}{
		{0, 4, 0, 0, "[........] 0/4 accounts  0 findings"},
		{1, 4, 3, 0, "[##......] 1/4 accounts  3 findings"},
		{4, 4, 9, 2, "[########] 4/4 accounts  9 findings  2 failed"},
		{0, 0, 0, 0, "[........] 0/0 accounts  0 findings"},
	} {
		if got := Line(c.done, c.total, c.findings, c.failed, 8); got != c.want {
			t.Errorf("Line(%d/%d) = %q, want %q", c.done, c.total, got, c.want)
		}
	}
}

func TestBar(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, 2) // drawn at once
	if !strings.Contains(buf.String(), "0/2 accounts") {
		t.Errorf("a new bar is drawn at once: %q", buf.String())
	}
	b.Update(1, 1, 0) // within 100ms of the first draw: not redrawn
	b.Update(2, 5, 1) // last: always drawn
	b.Clear()
	out := buf.String()
	if strings.Count(out, "accounts") != 2 || !strings.Contains(out, "2/2 accounts  5 findings  1 failed") || !strings.HasSuffix(out, "\r\x1b[K") {
		t.Errorf("bar output %q", out)
	}
	var nilBar *Bar
	nilBar.Update(1, 1, 1)
	nilBar.Clear()
}

// Counts skipped by the 100ms limit are drawn once it is up: a slow
// account does not leave the bar stale.
func TestBarDrawsSkippedCounts(t *testing.T) {
	var buf bytes.Buffer
	term := NewTerminal(&buf)
	b := New(term, 3)
	b.Update(1, 2, 1) // skipped: drawn when the 100ms are up
	time.Sleep(300 * time.Millisecond)
	term.mu.Lock()
	out := buf.String()
	term.mu.Unlock()
	if !strings.HasSuffix(out, clearLine+Line(1, 3, 2, 1, 30)) {
		t.Errorf("skipped counts never drawn: %q", out)
	}
	b.Update(2, 2, 1) // drawn: the 100ms are up
	b.Update(2, 3, 1) // skipped, then cleared: never drawn
	b.Clear()
	time.Sleep(200 * time.Millisecond)
	term.mu.Lock()
	defer term.mu.Unlock()
	if strings.Contains(buf.String(), "2/3 accounts  3 findings") || !strings.HasSuffix(buf.String(), clearLine) {
		t.Errorf("drawn after Clear: %q", buf.String())
	}
}

// A record written while the bar is up goes above it: the bar is erased,
// the record printed whole, and the bar (with its latest counts, even
// those not drawn yet) redrawn after the record's newline.
func TestTerminalRecordsAboveBar(t *testing.T) {
	var buf bytes.Buffer
	term := NewTerminal(&buf)
	b := New(term, 2)
	b.every = time.Hour // skipped counts stay pending (drawn with the next record)
	defer b.Clear()
	b.Update(1, 3, 0) // throttled: not drawn yet
	fmt.Fprint(term, "level=WARN msg=\"scan failed\"\n")
	b.Clear()
	bar0 := Line(0, 2, 0, 0, 30)
	bar1 := Line(1, 2, 3, 0, 30)
	want := clearLine + bar0 + clearLine + "level=WARN msg=\"scan failed\"\n" + bar1 + clearLine
	if got := buf.String(); got != want {
		t.Errorf("terminal output\n got %q\nwant %q", got, want)
	}
}

// Text that does not end its line (a message written in pieces) is not
// followed by the bar: the bar comes back once the line ends.
func TestTerminalPartialLine(t *testing.T) {
	var buf bytes.Buffer
	term := NewTerminal(&buf)
	b := New(term, 1)
	b.every = time.Hour // skipped counts stay pending (drawn with the next record)
	defer b.Clear()
	buf.Reset()
	fmt.Fprint(term, "scanned 1 account")
	b.Update(0, 1, 0)
	fmt.Fprint(term, "s\n")
	want := clearLine + "scanned 1 account" + "s\n" + Line(0, 1, 1, 0, 30)
	if got := buf.String(); got != want {
		t.Errorf("terminal output\n got %q\nwant %q", got, want)
	}
}

// While a prompt waits, records are held; they are printed, with the bar,
// once it is answered.
func TestTerminalHoldsDuringPrompt(t *testing.T) {
	var buf bytes.Buffer
	term := NewTerminal(&buf)
	b := New(term, 2)
	b.every = time.Hour // skipped counts stay pending (drawn with the next record)
	defer b.Clear()
	buf.Reset()
	pw, done := Prompt(term)
	fmt.Fprint(pw, "[1] deactivate access key AKIA…0001 of bob\n")
	fmt.Fprint(term, "level=WARN msg=throttled\n") // another goroutine's record
	b.Update(1, 0, 0)
	fmt.Fprint(pw, "    proceed? [y]es / [n]o / [a]ll / [q]uit: ")
	if strings.Contains(buf.String(), "throttled") || strings.Contains(buf.String(), "accounts") {
		t.Fatalf("written into the prompt: %q", buf.String())
	}
	done() // the answer "y\n" was echoed by the terminal
	done() // idempotent
	want := clearLine + "[1] deactivate access key AKIA…0001 of bob\n" + "    proceed? [y]es / [n]o / [a]ll / [q]uit: " +
		"level=WARN msg=throttled\n" + Line(1, 2, 0, 0, 30)
	if got := buf.String(); got != want {
		t.Errorf("terminal output\n got %q\nwant %q", got, want)
	}

	// A prompt with nothing held redraws the bar.
	buf.Reset()
	_, done = term.Prompt()
	done()
	if got, want := buf.String(), clearLine+clearLine+Line(1, 2, 0, 0, 30); got != want {
		t.Errorf("after an empty prompt %q, want %q", got, want)
	}

	// Any other writer has nothing to coordinate.
	var plain bytes.Buffer
	pw, done = Prompt(&plain)
	fmt.Fprint(pw, "ask")
	done()
	if plain.String() != "ask" {
		t.Errorf("plain prompt %q", plain.String())
	}
}
