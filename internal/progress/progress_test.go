package progress

import (
	"bytes"
	"strings"
	"testing"
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
	b := New(&buf, 2)
	b.Update(1, 1, 0)
	b.Update(1, 2, 0) // within 100ms: not redrawn
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
