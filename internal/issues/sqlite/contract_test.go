package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/keywarden/keywarden/internal/exempt"
	"github.com/keywarden/keywarden/internal/exempt/exempttest"
	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/issues/storetest"
	"github.com/keywarden/keywarden/internal/notify/deliverytest"
	"github.com/keywarden/keywarden/internal/remediate"
	"github.com/keywarden/keywarden/internal/remediate/journaltest"
)

// The store contract, on a file (as deployed: WAL, several connections) and
// in memory (one connection).
func TestContract(t *testing.T) {
	open := func(path func(t *testing.T) string) storetest.Open {
		return func(t *testing.T) issues.Store {
			s, err := Open(context.Background(), path(t))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	}
	t.Run("file", func(t *testing.T) {
		storetest.Run(t, open(func(t *testing.T) string { return filepath.Join(t.TempDir(), "keywarden.db") }))
	})
	t.Run("memory", func(t *testing.T) {
		storetest.Run(t, open(func(*testing.T) string { return ":memory:" }))
	})
}

// The journal contract, on a file and in memory.
func TestJournalContract(t *testing.T) {
	open := func(path func(t *testing.T) string) journaltest.Open {
		return func(t *testing.T) remediate.Journal {
			s, err := Open(context.Background(), path(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	}
	t.Run("file", func(t *testing.T) {
		journaltest.Run(t, open(func(t *testing.T) string { return filepath.Join(t.TempDir(), "keywarden.db") }))
	})
	t.Run("memory", func(t *testing.T) {
		journaltest.Run(t, open(func(*testing.T) string { return ":memory:" }))
	})
}

// The delivery store contract, on a file (reopened after a crash).
func TestDeliveryContract(t *testing.T) {
	deliverytest.Run(t, func(t *testing.T) (deliverytest.Store, func(t *testing.T) deliverytest.Store) {
		path := filepath.Join(t.TempDir(), "keywarden.db")
		reopen := func(t *testing.T) deliverytest.Store {
			s, err := Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		return reopen(t), reopen
	})
}

// The exemption store contract, on a file.
func TestExemptionContract(t *testing.T) {
	exempttest.Run(t, func(t *testing.T) exempt.Store {
		s, err := Open(context.Background(), filepath.Join(t.TempDir(), "keywarden.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
