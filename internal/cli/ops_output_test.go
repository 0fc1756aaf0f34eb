//go:build unix

package cli

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

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
