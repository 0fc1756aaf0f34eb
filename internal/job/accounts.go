package job

import (
	"context"
	"fmt"
	"strings"

	"github.com/keywarden/keywarden/internal/accounts"
	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/inventory"
)

// scanAccounts decides which accounts a scan covers: the organization's
// ACTIVE accounts (discover), else aws.accounts, else the account of the
// current credentials; include/exclude applied. Names from aws.accounts
// fill in where Organizations has none.
func scanAccounts(ctx context.Context, sess *accounts.Sessions, cfg *config.Config, filter accounts.Filter, discover bool) ([]inventory.Account, *accounts.Discovered, error) {
	var accts []inventory.Account
	var d *accounts.Discovered
	if discover {
		var err error
		if d, err = sess.Discover(ctx, filter); err != nil {
			return nil, nil, err
		}
		accts = d.Accounts
		for i := range accts {
			if accts[i].Name == "" {
				accts[i].Name = cfg.AccountName(accts[i].ID)
			}
		}
	} else {
		for _, a := range cfg.AWS.Accounts {
			accts = append(accts, inventory.Account{ID: a.ID, Name: a.Name})
		}
		accts = filter.Apply(accts)
	}
	if len(accts) == 0 {
		if discover || len(cfg.AWS.Accounts) > 0 {
			return nil, d, fmt.Errorf("no account to scan: %s left none (check --include/--exclude and aws.organization)", source(discover))
		}
		return []inventory.Account{{}}, nil, nil
	}
	// Who the main credentials are, once, before any account's own
	// timeout: that account is scanned without assuming a role.
	if _, err := sess.Identity(ctx); err != nil {
		return nil, nil, fmt.Errorf("%s not scanned: %w", accountList(accts), err)
	}
	return accts, d, nil
}

// InactiveOf lists the suspended or closed organization accounts skipped
// (nil-safe).
func InactiveOf(d *accounts.Discovered) []string {
	if d == nil {
		return nil
	}
	return d.Inactive
}

func source(discover bool) string {
	if discover {
		return "the organization's ACTIVE accounts filtered by include/exclude"
	}
	return "aws.accounts filtered by include/exclude"
}

// accountList names the accounts for a message: all of a few, the first
// ones of many.
func accountList(accts []inventory.Account) string {
	const show = 5
	ids := make([]string, 0, min(len(accts), show))
	for _, a := range accts[:min(len(accts), show)] {
		ids = append(ids, a.ID)
	}
	list := strings.Join(ids, ", ")
	switch {
	case len(accts) == 1:
		return "account " + list
	case len(accts) > show:
		return fmt.Sprintf("%d accounts (%s, …)", len(accts), list)
	}
	return "accounts " + list
}
