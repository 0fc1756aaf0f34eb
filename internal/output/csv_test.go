package output

import "testing"

func TestTextCell(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"alice", "alice"},
		{"=1+2", "'=1+2"},
		{"+cmd", "'+cmd"},
		{"-2+3", "'-2+3"},
		{"-12", "'-12"}, // a text cell: a user may be named "-12"
		{"@evil.com", "'@evil.com"},
		{"\tx", "'\tx"},
		{"\rx", "'\rx"},
		{"a=b", "a=b"},
		{"'quoted", "'quoted"},
	} {
		if got := textCell(tc.in); got != tc.want {
			t.Errorf("textCell(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
