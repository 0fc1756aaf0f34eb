package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/issues/storetest"
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
