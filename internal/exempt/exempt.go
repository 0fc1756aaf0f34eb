// Package exempt is keywarden's store of exemptions with an end (keywarden
// exempt add|list|remove), and the one list of them a scan, a remediation
// and a report read: the store's, whitelist.json entries with "expires",
// and the rollback holds of the journal (policy.Exemption).
package exempt

import (
	"context"
	"errors"
	"sort"

	"github.com/keywarden/keywarden/internal/policy"
)

// ErrNotFound is returned by Store.RemoveExemption for an unknown ID.
var ErrNotFound = errors.New("no such exemption")

// Store keeps the exemptions people add. sqlite.Store and dynamodb.Store
// implement it, in keywarden's own tables.
type Store interface {
	// AddExemption stores e (Source is set to policy.SourceStore) and sets
	// e.ID, an ID never used before in the store.
	AddExemption(ctx context.Context, e *policy.Exemption) error
	// Exemptions lists the stored exemptions, active and ended, by ID.
	Exemptions(ctx context.Context) ([]policy.Exemption, error)
	// RemoveExemption deletes one; ErrNotFound (wrapped) when there is none
	// of that ID.
	RemoveExemption(ctx context.Context, id int64) error
}

// Sort orders exemptions for people: by end, then source, ID and action.
func Sort(list []policy.Exemption) {
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if !a.Until.Equal(b.Until) {
			return a.Until.Before(b.Until)
		}
		if a.Source != b.Source {
			return a.Source < b.Source
		}
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		return a.Action < b.Action
	})
}
