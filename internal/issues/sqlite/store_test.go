package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/policy"
)

const account = "123456789012"

var asOf = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

var live = []issues.Status{issues.Open, issues.Whitelisted}

func openStore(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func list(t *testing.T, s *Store, f issues.Filter) []issues.Issue {
	t.Helper()
	out, err := s.List(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func migrationVersions(t *testing.T, s *Store) []int {
	t.Helper()
	rows, err := s.db.Query("SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	return vs
}

func TestMigrations(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keywarden.db")
	want := make([]int, len(migrations))
	for i := range want {
		want[i] = i + 1
	}

	// An empty database is brought up to date, step by step.
	s, err := open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := migrationVersions(t, s); len(got) != 0 {
		t.Errorf("versions %v, want none", got)
	}
	s.Close()
	for range 3 { // idempotent on reopen
		s = openStore(t, path)
		if got := migrationVersions(t, s); !reflect.DeepEqual(got, want) {
			t.Errorf("versions %v, want %v", got, want)
		}
		s.Close()
	}

	// A newer keywarden migrates further...
	newer := append(append([]string(nil), migrations...), `CREATE TABLE notifications (id INTEGER PRIMARY KEY)`)
	s, err = open(ctx, path, newer)
	if err != nil {
		t.Fatal(err)
	}
	if got := migrationVersions(t, s); len(got) != len(newer) {
		t.Errorf("versions %v, want %d", got, len(newer))
	}
	s.Close()
	// ... and this one refuses its database.
	_, err = Open(ctx, path)
	var sv *SchemaVersionError
	if !errors.As(err, &sv) || sv.Version != len(newer) || sv.Known != len(migrations) {
		t.Fatalf("got %v, want a SchemaVersionError", err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keywarden.db")
	s := openStore(t, path)
	next := len(migrations) + 1
	if _, err := s.db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, '2027-01-01T00:00:00Z')`, next); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := Open(ctx, path)
	want := fmt.Sprintf("%s has schema version %d, this keywarden knows up to %d: upgrade keywarden", path, next, len(migrations))
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
}

func TestOpenErrorNamesPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "keywarden.db")
	_, err := Open(context.Background(), path)
	if err == nil || !strings.HasPrefix(err.Error(), "open issue store "+path+": ") {
		t.Errorf("got %v", err)
	}
	_, err = Open(context.Background(), "what?.db")
	if err == nil || !strings.HasPrefix(err.Error(), "open issue store what?.db: ") {
		t.Errorf("got %v", err)
	}
}

func TestPragmas(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, filepath.Join(t.TempDir(), "keywarden.db"))
	// Hold several connections at once so that the pragmas are checked on
	// more than the first one.
	var conns []interface{ Close() error }
	for i := range 3 {
		c, err := s.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		var mode string
		var fk, busy int
		if err := c.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil {
			t.Fatal(err)
		}
		if mode != "wal" || fk != 1 || busy != 5000 {
			t.Errorf("connection %d: journal_mode %s, foreign_keys %d, busy_timeout %d", i, mode, fk, busy)
		}
	}
	for _, c := range conns {
		c.Close()
	}
}

// Writers from many goroutines, and from two Stores on one file (as two
// processes would), all land.
func TestConcurrent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keywarden.db")
	stores := []*Store{openStore(t, path), openStore(t, path)}
	mem := openStore(t, ":memory:")
	const writers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, 3*writers*each)
	for w := range writers {
		for _, s := range []*Store{stores[w%2], mem} {
			wg.Go(func() {
				for i := range each {
					ch := &issues.Changes{New: []issues.Issue{{
						Kind: policy.InactiveKeys, AccountID: account, Subject: fmt.Sprintf("AKIA%02d%02d", w, i),
						Status: issues.Open, Stage: policy.Violation, Detected: asOf, Updated: asOf,
					}}}
					if err := s.Apply(ctx, ch); err != nil {
						errs <- err
						return
					}
					if _, err := s.Get(ctx, ch.New[0].ID); err != nil {
						errs <- err
						return
					}
					if _, err := s.List(ctx, issues.Filter{Statuses: live}); err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, s := range []*Store{stores[0], mem} {
		all := list(t, s, issues.Filter{})
		if len(all) != writers*each {
			t.Errorf("%s: %d issues, want %d", s.Path(), len(all), writers*each)
		}
		ids := map[int64]bool{}
		for _, is := range all {
			ids[is.ID] = true
		}
		if len(ids) != len(all) {
			t.Errorf("%s: duplicate IDs", s.Path())
		}
	}
}
