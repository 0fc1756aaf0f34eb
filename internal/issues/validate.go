package issues

import (
	"fmt"

	"github.com/keywarden/keywarden/internal/policy"
)

// String names the issue in errors and logs.
func (i *Issue) String() string {
	if i.ID != 0 {
		return fmt.Sprintf("issue %d (%s %s %s)", i.ID, i.Kind, i.AccountID, i.Subject)
	}
	return fmt.Sprintf("issue %s %s %s", i.Kind, i.AccountID, i.Subject)
}

// Validate rejects an issue that cannot be stored faithfully.
func (i *Issue) Validate() error {
	switch {
	case !i.Kind.Valid():
		return fmt.Errorf("%s: unknown kind %q", i, i.Kind)
	case i.AccountID == "" || i.Subject == "":
		return fmt.Errorf("%s: account and subject are required", i)
	}
	switch i.Status {
	case Open, Whitelisted, Resolved, Remediated:
	default:
		return fmt.Errorf("%s: unknown status %q", i, i.Status)
	}
	switch i.Stage {
	case policy.Warning, policy.Violation, "":
	default:
		return fmt.Errorf("%s: unknown stage %q", i, i.Stage)
	}
	return nil
}

// Validate checks a set of changes before a store writes any of it: new
// issues have no ID and appear once per credential; changed issues have an
// ID and appear once; every issue is valid (and passes extra, a backend's
// own rule, when not nil). Every Store calls it first, so a bad Apply
// writes nothing.
func (c *Changes) Validate(extra func(*Issue) error) error {
	valid := func(is *Issue) error {
		if err := is.Validate(); err != nil {
			return err
		}
		if c.Scan != nil && is.AccountID != c.Scan.AccountID {
			return fmt.Errorf("%s is not of the scanned account %s", is, c.Scan.AccountID)
		}
		if extra != nil {
			return extra(is)
		}
		return nil
	}
	if sc := c.Scan; sc != nil {
		switch {
		case sc.AccountID == "":
			return fmt.Errorf("scan as of %s: account is required", sc.AsOf)
		case sc.AsOf.IsZero():
			return fmt.Errorf("scan of %s: as-of is required", sc.AccountID)
		}
	}
	creds := map[Key]bool{}
	for i := range c.New {
		is := &c.New[i]
		if is.ID != 0 {
			return fmt.Errorf("new %s already has an ID (applied twice?)", is)
		}
		if err := valid(is); err != nil {
			return err
		}
		if creds[is.Key()] {
			return fmt.Errorf("%s is new twice in one Apply", is)
		}
		creds[is.Key()] = true
	}
	seen := map[int64]bool{}
	check := func(is *Issue) error {
		if is.ID <= 0 {
			return fmt.Errorf("%s has no ID", is)
		}
		if seen[is.ID] {
			return fmt.Errorf("%s changed twice in one Apply", is)
		}
		seen[is.ID] = true
		return valid(is)
	}
	for i := range c.Updated {
		if err := check(&c.Updated[i].Issue); err != nil {
			return err
		}
	}
	for i := range c.Closed {
		if err := check(&c.Closed[i].Issue); err != nil {
			return err
		}
	}
	for i := range c.Refreshed {
		if err := check(&c.Refreshed[i]); err != nil {
			return err
		}
	}
	return nil
}
