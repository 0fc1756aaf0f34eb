package job

import (
	"context"

	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/exempt"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
)

// DatedExemptions lists every exemption with an end: whitelist.json's
// entries with "expires", the store's (keywarden exempt add; a store
// without them has none) and the rollback holds of its journal (a store
// without a journal has none), sorted by end.
func DatedExemptions(ctx context.Context, st any, cfg *config.Config) ([]policy.Exemption, error) {
	list := append([]policy.Exemption(nil), cfg.Dated...)
	if es, ok := st.(exempt.Store); ok {
		stored, err := es.Exemptions(ctx)
		if err != nil {
			return nil, err
		}
		list = append(list, stored...)
	}
	if j, ok := st.(remediate.Journal); ok {
		holds, err := remediate.LoadHolds(ctx, j)
		if err != nil {
			return nil, err
		}
		list = append(list, holds...)
	}
	exempt.Sort(list)
	return list, nil
}

// AddExemptions sets ex.Dated to every exemption with an end
// (DatedExemptions): a credential covered by one is shown whitelisted,
// "exempt until DATE: reason (owner)", until it ends.
func AddExemptions(ctx context.Context, st any, cfg *config.Config, ex *policy.Exemptions) error {
	list, err := DatedExemptions(ctx, st, cfg)
	if err != nil {
		return err
	}
	ex.Dated = policy.NewDated(list)
	return nil
}
