package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/internal/issues"
)

// TestReadOnly: Open refuses a store whose file or directory has no write
// bit (for root too) with a *ReadOnlyError naming the file; OpenReader reads
// it without migrating it, and refuses one of an older schema.
func TestReadOnly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "k.db")
	s := openStore(t, path)
	s.Close()
	os.Chmod(path, 0o444)
	defer os.Chmod(path, 0o644)

	_, err := Open(ctx, path)
	var ro *ReadOnlyError
	if !errors.As(err, &ro) || ro.Path != path || !strings.Contains(err.Error(), "issue store "+path+" is read-only (file mode 0444)") {
		t.Fatalf("Open of a 0444 store: %v", err)
	}
	r, err := OpenReader(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.List(ctx, issues.Filter{}); err != nil {
		t.Errorf("List: %v", err)
	}
	r.Close()
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("reading created files: %v", ents)
	}

	// An older schema cannot be read without migrating it.
	old := filepath.Join(t.TempDir(), "old.db")
	s, err = open(ctx, old, migrations[:1])
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	os.Chmod(old, 0o444)
	defer os.Chmod(old, 0o644)
	if _, err := OpenReader(ctx, old); err == nil || !strings.Contains(err.Error(), "schema version is 1") || !strings.Contains(err.Error(), old) {
		t.Errorf("OpenReader of an old read-only store: %v", err)
	}
}
