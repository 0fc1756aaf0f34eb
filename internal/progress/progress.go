// Package progress draws a one-line progress bar of a scan on a terminal:
// accounts done of total, findings so far, failures. It draws nothing
// unless told the writer is a terminal; callers print their summary line
// themselves, in every mode.
package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Bar is a progress bar on one terminal line, redrawn in place.
type Bar struct {
	w     io.Writer
	total int
	width int
	every time.Duration

	mu    sync.Mutex
	last  time.Time
	drawn bool
}

// New returns a bar for total accounts writing to w (a terminal). A nil
// *Bar is valid and draws nothing: use it for non-terminals and JSON output.
func New(w io.Writer, total int) *Bar {
	return &Bar{w: w, total: total, width: 30, every: 100 * time.Millisecond}
}

// Update redraws the bar, at most every 100ms (always for the last account).
func (b *Bar) Update(done, findings, failed int) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	if done < b.total && now.Sub(b.last) < b.every {
		return
	}
	b.last = now
	fmt.Fprint(b.w, "\r\x1b[K"+Line(done, b.total, findings, failed, b.width))
	b.drawn = true
}

// Clear erases the bar so that the summary line takes its place.
func (b *Bar) Clear() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drawn {
		fmt.Fprint(b.w, "\r\x1b[K")
		b.drawn = false
	}
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
