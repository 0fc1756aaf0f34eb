package cli

import (
	"context"

	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
)

// addHolds adds the rollback holds of the store's journal to ex (a store
// without a journal has none): a key keywarden rolled back is shown
// whitelisted, "rolled back until DATE", until its hold ends.
func addHolds(ctx context.Context, st issues.Store, ex *policy.Exemptions) error {
	j, ok := st.(remediate.Journal)
	if !ok {
		return nil
	}
	h, err := remediate.LoadHolds(ctx, j)
	if err != nil {
		return err
	}
	ex.Holds = h
	return nil
}
