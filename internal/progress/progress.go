// Package progress owns a terminal's stderr while a command runs: a
// one-line progress bar of a scan (accounts done of total, findings so far,
// failures) and everything else written there — log records, messages,
// prompts — go through one Terminal, under one mutex, so that a record is
// printed above the bar (never glued to it) and nothing is printed into a
// prompt while it waits for an answer. Callers print their summary line
// themselves, in every mode.
package progress

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Bar is a progress bar on the last line of a Terminal, redrawn in place.
type Bar struct {
	t     *Terminal
	total int
	width int
	every time.Duration
	// last draw, and the draw of the latest counts pending after a
	// skipped one; guarded by t.mu.
	last    time.Time
	pending *time.Timer
}

// New returns a bar for total accounts on w (a terminal: a *Terminal, or a
// writer it wraps) and draws it at once, before the first account ends. A
// nil *Bar is valid and draws nothing: use it for non-terminals and JSON
// output.
func New(w io.Writer, total int) *Bar {
	t, ok := w.(*Terminal)
	if !ok {
		t = NewTerminal(w)
	}
	b := &Bar{t: t, total: total, width: 30, every: 100 * time.Millisecond}
	b.Update(0, 0, 0)
	return b
}

// Update redraws the bar, at most every 100ms (always for the last
// account): counts that come sooner are drawn when the 100ms are up (or
// with the next log record), so a slow account never leaves stale counts
// on the screen.
func (b *Bar) Update(done, findings, failed int) {
	if b == nil {
		return
	}
	line := Line(done, b.total, findings, failed, b.width)
	b.t.mu.Lock()
	defer b.t.mu.Unlock()
	now := time.Now()
	wait := b.every - now.Sub(b.last)
	draw := done >= b.total || wait <= 0
	switch {
	case draw:
		b.last = now
		b.stopPending()
	case b.pending == nil:
		b.pending = time.AfterFunc(wait, b.flush)
	}
	b.t.setStatus(line, draw)
}

// flush draws the latest counts, skipped by Update, unless the bar was
// cleared meanwhile.
func (b *Bar) flush() {
	b.t.mu.Lock()
	defer b.t.mu.Unlock()
	b.pending = nil
	if b.t.status != "" {
		b.last = time.Now()
		b.t.setStatus(b.t.status, true)
	}
}

// stopPending cancels a pending draw; the caller holds t.mu.
func (b *Bar) stopPending() {
	if b.pending != nil {
		b.pending.Stop()
		b.pending = nil
	}
}

// Clear erases the bar so that the summary line takes its place.
func (b *Bar) Clear() {
	if b == nil {
		return
	}
	b.t.mu.Lock()
	defer b.t.mu.Unlock()
	b.stopPending()
	b.t.setStatus("", true)
}

// Line renders the bar's text, e.g.
// "[#########.....................] 30/100 accounts  12 findings  1 failed".
func Line(done, total, findings, failed, width int) string {
	fill := 0
	if total > 0 {
		fill = min(width, done*width/total)
	}
	s := fmt.Sprintf("[%s%s] %d/%d accounts  %d findings", strings.Repeat("#", fill), strings.Repeat(".", width-fill), done, total, findings)
	if failed > 0 {
		s += fmt.Sprintf("  %d failed", failed)
	}
	return s
}
