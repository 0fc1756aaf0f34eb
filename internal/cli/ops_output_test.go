//go:build unix

package cli

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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

// TestOutputFileSafety (issue 10, defect 10): --output replaces only
// regular files, keeps the mode of the file it replaces, and gives a new
// file 0666 less the umask.
func TestOutputFileSafety(t *testing.T) {
	w := newWorld(t, baseConfig)
	w.srv.AddAccount(seedAlpha())
	w.scan(0)
	dir := t.TempDir()
	list := func(out string) result {
		return w.run("issues", "list", "-o", "csv", "--output", out)
	}

	// Over an existing 0600 file: the new content, still 0600.
	secret := filepath.Join(dir, "issues.csv")
	if err := os.WriteFile(secret, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := list(secret); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	assertFile(t, secret, 0o600, "id,kind,account")

	// A new file honours the umask.
	old := syscall.Umask(0o027)
	fresh := filepath.Join(dir, "new.csv")
	r := list(fresh)
	syscall.Umask(old)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	assertFile(t, fresh, 0o640, "id,kind,account")

	// Through a symbolic link: the link stays, its file is replaced.
	link := filepath.Join(dir, "link.csv")
	if err := os.Symlink(secret, link); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(secret, []byte("old\n"), 0o600)
	if r := list(link); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the symbolic link was replaced: %v %v", fi.Mode(), err)
	}
	assertFile(t, secret, 0o600, "id,kind,account")

	// Not regular files: refused, untouched, nothing left behind.
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	targets := map[string]string{fifo: "a named pipe (FIFO)", sub: "a directory"}
	if os.Geteuid() == 0 {
		// As root a rename would replace a device node: try it on a
		// null device of our own, never on /dev/null.
		dev := filepath.Join(dir, "null")
		if err := syscall.Mknod(dev, syscall.S_IFCHR|0o666, 1<<8|3); err != nil {
			t.Logf("mknod: %v (no device case)", err)
		} else {
			targets[dev] = "a character device"
		}
	} else {
		// Not root: /dev cannot be written, so trying /dev/null is safe.
		targets["/dev/null"] = "a character device"
	}
	before, _ := os.Lstat("/dev/null")
	for path, kind := range targets {
		fi0, _ := os.Lstat(path)
		r := list(path)
		if r.code != 1 || !strings.Contains(r.stderr, "--output: output file "+path+" is "+kind+", not a regular file") {
			t.Errorf("--output %s: exit %d, stderr %s", path, r.code, r.stderr)
		}
		fi1, err := os.Lstat(path)
		if err != nil || fi1.Mode() != fi0.Mode() {
			t.Errorf("--output %s changed it: %v -> %v (%v)", path, fi0.Mode(), fi1.Mode(), err)
		}
	}
	if after, _ := os.Lstat("/dev/null"); before == nil || after == nil || after.Mode() != before.Mode() {
		t.Errorf("/dev/null changed: %v -> %v", before, after)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

func assertFile(t *testing.T, path string, mode os.FileMode, prefix string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != mode {
		t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), mode)
	}
	b, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(b), prefix) {
		t.Errorf("%s: content %q, want it to begin with %q", path, b, prefix)
	}
}
