package progress

import (
	"bytes"
	"io"
	"sync"
)

// clearLine returns the cursor to the start of the line and erases it.
const clearLine = "\r\x1b[K"

// Terminal is a terminal's stderr shared by a status line (the progress
// bar), whole lines of text (log records, messages) and prompts. Its Write
// prints text above the status line: the bar is erased, the text written,
// and the bar redrawn once the text ends a line. While a prompt waits for an
// answer (Prompt), other writes are held and printed after it.
type Terminal struct {
	mu sync.Mutex
	w  io.Writer
	// status is the bar's line ("" when none); drawn: it is on the screen.
	status string
	drawn  bool
	// midLine: the last text written did not end its line (the status
	// line is not redrawn after it: it would be glued to the text).
	midLine bool
	// prompting: a prompt owns the terminal; held keeps the other writes.
	prompting bool
	held      bytes.Buffer
}

// NewTerminal returns a Terminal writing to w, a terminal.
func NewTerminal(w io.Writer) *Terminal { return &Terminal{w: w} }

// Write prints p above the status line (held while a prompt waits).
func (t *Terminal) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.prompting {
		return t.held.Write(p)
	}
	return len(p), t.text(p)
}

// text writes p with the status line erased first and redrawn after p when
// p ends a line; the caller holds mu.
func (t *Terminal) text(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	var buf bytes.Buffer
	if t.drawn {
		buf.WriteString(clearLine)
		t.drawn = false
	}
	buf.Write(p)
	t.midLine = p[len(p)-1] != '\n'
	if !t.midLine && t.status != "" && !t.prompting {
		buf.WriteString(t.status)
		t.drawn = true
	}
	_, err := t.w.Write(buf.Bytes())
	return err
}

// setStatus replaces the status line ("" erases it), drawing it now when
// draw is set; the caller holds mu.
func (t *Terminal) setStatus(line string, draw bool) {
	t.status = line
	if !draw || t.midLine || t.prompting {
		return
	}
	switch {
	case line != "":
		io.WriteString(t.w, clearLine+line)
		t.drawn = true
	case t.drawn:
		io.WriteString(t.w, clearLine)
		t.drawn = false
	}
}

// Prompt gives the terminal to a prompt until done is called: the status
// line is erased, the prompt writes through the returned writer, and
// everything else written meanwhile is held, then printed (with the
// status line redrawn) by done. done assumes the answer ended its line
// (the terminal echoes the Enter key); a prompt ended otherwise writes its
// own newline first.
func (t *Terminal) Prompt() (w io.Writer, done func()) {
	t.mu.Lock()
	if t.drawn {
		io.WriteString(t.w, clearLine)
		t.drawn = false
	}
	t.prompting = true
	t.mu.Unlock()
	var once sync.Once
	return promptWriter{t}, func() {
		once.Do(func() {
			t.mu.Lock()
			defer t.mu.Unlock()
			t.prompting = false
			t.midLine = false
			held := bytes.Clone(t.held.Bytes())
			t.held.Reset()
			if len(held) > 0 {
				_ = t.text(held)
			} else {
				t.setStatus(t.status, true)
			}
		})
	}
}

// promptWriter writes a prompt's text straight to the terminal.
type promptWriter struct{ t *Terminal }

func (p promptWriter) Write(b []byte) (int, error) {
	p.t.mu.Lock()
	defer p.t.mu.Unlock()
	if len(b) > 0 {
		p.t.midLine = b[len(b)-1] != '\n'
	}
	return p.t.w.Write(b)
}

// Prompt gives w to a prompt until done: w's Prompt when w is a Terminal;
// otherwise w itself, with nothing to coordinate.
func Prompt(w io.Writer) (io.Writer, func()) {
	if t, ok := w.(*Terminal); ok {
		return t.Prompt()
	}
	return w, func() {}
}
