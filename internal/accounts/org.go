package accounts

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/keywarden/keywarden/internal/inventory"
)

// OrgLister is the part of the Organizations API discovery uses;
// *organizations.Client satisfies it.
type OrgLister interface {
	ListAccounts(context.Context, *organizations.ListAccountsInput, ...func(*organizations.Options)) (*organizations.ListAccountsOutput, error)
}

// Filter selects accounts. Each pattern is a 12-digit account ID or a glob
// (path.Match syntax: prod-*, *-sandbox) on the account name. An account is
// selected when Include is empty or one of its patterns matches, and none
// of Exclude's does.
type Filter struct {
	Include, Exclude []string
}

// Validate reports a malformed pattern.
func (f Filter) Validate() error {
	for _, p := range append(append([]string{}, f.Include...), f.Exclude...) {
		if strings.TrimSpace(p) == "" {
			return fmt.Errorf("empty account pattern: write a 12-digit account ID or a name glob such as prod-*")
		}
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("account pattern %q: %w", p, err)
		}
	}
	return nil
}

// Empty reports whether the filter selects everything.
func (f Filter) Empty() bool { return len(f.Include) == 0 && len(f.Exclude) == 0 }

// Match reports whether the filter selects a.
func (f Filter) Match(a inventory.Account) bool {
	if len(f.Include) > 0 && !matchAny(f.Include, a) {
		return false
	}
	return !matchAny(f.Exclude, a)
}

// Apply returns the selected accounts, in order.
func (f Filter) Apply(all []inventory.Account) []inventory.Account {
	if f.Empty() {
		return all
	}
	var out []inventory.Account
	for _, a := range all {
		if f.Match(a) {
			out = append(out, a)
		}
	}
	return out
}

func matchAny(patterns []string, a inventory.Account) bool {
	for _, p := range patterns {
		if p == a.ID {
			return true
		}
		if ok, _ := path.Match(p, a.ID); ok {
			return true
		}
		if a.Name != "" {
			if ok, _ := path.Match(p, a.Name); ok {
				return true
			}
		}
	}
	return false
}

// Discovered is the outcome of organization discovery.
type Discovered struct {
	// Accounts are the ACTIVE accounts the filter selects, in
	// Organizations' order.
	Accounts []inventory.Account
	// Inactive are the accounts skipped for their status (SUSPENDED,
	// PENDING_CLOSURE, CLOSED), as "ID (name): STATUS".
	Inactive []string
	// Filtered counts the ACTIVE accounts the filter left out.
	Filtered int
}

// Discover lists the organization's accounts (ListAccounts, every page)
// and keeps the ACTIVE ones the filter selects. It must run with
// credentials of the management account or a delegated administrator.
func Discover(ctx context.Context, c OrgLister, f Filter) (*Discovered, error) {
	out := &Discovered{}
	listed := 0
	p := organizations.NewListAccountsPaginator(c, &organizations.ListAccountsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("discover organization accounts (organizations list-accounts; run with the management account's credentials or a delegated administrator's): %w", err)
		}
		listed += len(page.Accounts)
		for _, a := range page.Accounts {
			if a.Id == nil {
				return nil, errors.New("discover organization accounts: organizations list-accounts answered an account without Id: the answer is incomplete; retry")
			}
			acct := inventory.Account{ID: aws.ToString(a.Id), Name: aws.ToString(a.Name)}
			if st := status(a); st != "ACTIVE" {
				out.Inactive = append(out.Inactive, fmt.Sprintf("%s (%s): %s", acct.ID, acct.Name, st))
				continue
			}
			if !f.Match(acct) {
				out.Filtered++
				continue
			}
			out.Accounts = append(out.Accounts, acct)
		}
	}
	if listed == 0 {
		// An organization holds at least its management account: an
		// empty list is a broken answer, not an organization to skip.
		return nil, errors.New("discover organization accounts: organizations list-accounts listed no account, not even the management account: the answer is incomplete; retry")
	}
	return out, nil
}

// status prefers State (the newer field) over the deprecated Status.
func status(a types.Account) string {
	if a.State != "" {
		return string(a.State)
	}
	return string(a.Status)
}
