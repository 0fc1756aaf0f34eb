package cli

import (
	"encoding/csv"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/internal/awstest"
)

// seedFormulaNames: valid IAM user names that a spreadsheet would run as
// formulas, each with a never-used key (a violation), and "=1+2" with a
// never-used password too.
func seedFormulaNames() awstest.Account {
	a := awstest.Account{ID: acctA}
	for i, name := range []string{"=1+2", "+cmd", "-2+3", "@evil.com"} {
		u := awstest.User{Name: name, Created: daysAgo(400), Keys: []awstest.Key{
			{ID: "AKIAFORMULA00000000" + string(rune('1'+i)), Created: daysAgo(100)},
		}}
		if i == 0 {
			u.LoginProfile = &awstest.LoginProfile{Created: daysAgo(200)}
		}
		a.Users = append(a.Users, u)
	}
	return a
}

func readCSV(t *testing.T, s string) [][]string {
	t.Helper()
	rows, err := csv.NewReader(strings.NewReader(s)).ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v\n%s", err, s)
	}
	return rows
}

// column returns the cells of the named column, header excluded.
func column(t *testing.T, rows [][]string, name string) []string {
	t.Helper()
	for i, h := range rows[0] {
		if h == name {
			var out []string
			for _, r := range rows[1:] {
				out = append(out, r[i])
			}
			return out
		}
	}
	t.Fatalf("no column %q in %v", name, rows[0])
	return nil
}

// TestCSVFormulaInjection (issue 10, defect 10): every CSV keywarden writes
// (scan, issues list, issues export) quotes text cells that a spreadsheet
// would evaluate, and keeps negative day counts numbers.
func TestCSVFormulaInjection(t *testing.T) {
	w := newWorld(t, baseConfig)
	w.srv.AddAccount(seedFormulaNames())
	// Sorted by user name, as keywarden lists them.
	want := []string{"'+cmd", "'-2+3", "'=1+2", "'=1+2", "'@evil.com"}

	scan := w.scan(0, "-o", "csv", "--show-key-ids")
	rows := readCSV(t, scan.stdout)
	if got := column(t, rows, "user"); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("scan -o csv users: %q, want %q\n%s", got, want, scan.stdout)
	}
	// One whole row, byte for byte: the text cells quoted, the numbers not
	// (days_left is negative: 10 days past the 90-day limit).
	line := "111111111111,'-2+3,user_inactivekeys,AKIAFORMULA000000003,1,violation,violation,,2026-08-17T12:00:00Z,,created,100,90,-10,2026-11-15T12:00:00Z"
	if !strings.Contains(scan.stdout, line+"\n") {
		t.Errorf("scan -o csv lacks the row\n%s\n%s", line, scan.stdout)
	}
	for _, r := range rows[1:] {
		for _, c := range r {
			if c != "" && strings.ContainsRune("=+@\t\r", rune(c[0])) {
				t.Errorf("cell %q begins with a formula trigger: %v", c, r)
			}
		}
	}

	for _, args := range [][]string{
		{"issues", "list", "-o", "csv"},
		{"issues", "export", "-o", "csv"},
	} {
		r := w.run(args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, r.code, r.stderr)
		}
		rows := readCSV(t, r.stdout)
		got := column(t, rows, "username")
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%v usernames: %q, want %q", args, got, want)
		}
		// The password issue's subject is the user name.
		if subj := column(t, rows, "subject"); !strings.Contains(strings.Join(subj, "|"), "'=1+2") {
			t.Errorf("%v subjects: %q", args, subj)
		}
		if dl := strings.Join(column(t, rows, "days_left"), ","); dl != "-10,-10,-10,-110,-10" {
			t.Errorf("%v days_left %q, want the numbers -10,-10,-10,-110,-10", args, dl)
		}
	}
	// JSON is data, not a spreadsheet: names stay as they are.
	if r := w.run("issues", "list", "-o", "json"); !strings.Contains(r.stdout, `"username":"=1+2"`) {
		t.Errorf("JSON changed a user name:\n%s", r.stdout)
	}
}
