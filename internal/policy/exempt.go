package policy

import (
	"fmt"
	"strings"
	"time"
)

// Exemption is an exemption with an end: until Until, the findings of its
// subject (a user name or an access key ID) in its account, of its kind
// (every kind when Kind is empty), are whitelisted; from Until on they are
// not, and the issue returns to the normal flow. Three sources make them:
// keywarden's store (keywarden exempt add), whitelist.json entries with an
// "expires" date, and rollback holds (the journal's reactivate_key actions
// with a hold).
type Exemption struct {
	// ID is the store's ID (0 for the other sources).
	ID        int64
	Kind      Kind // "" = every kind
	AccountID string
	Subject   string
	// Until is the end: exempt before it, not at or after it.
	Until         time.Time
	Owner, Reason string
	// Created is when it was added (zero when unknown).
	Created time.Time
	// Source is where it comes from: SourceStore, SourceWhitelist or
	// SourceRollback.
	Source string
	// Action is the rollback action of a hold (SourceRollback).
	Action int64
}

// Exemption sources.
const (
	SourceStore     = "store"
	SourceWhitelist = "whitelist.json"
	SourceRollback  = "rollback"
)

// Rollback holds are exemptions of this owner, with HoldReason.
const HoldOwner = "keywarden rollback"

// HoldReason is the reason of the rollback hold of action id.
func HoldReason(action int64) string { return fmt.Sprintf("rolled back (action %d)", action) }

// ExemptRolledBack begins the reason of a rollback hold.
const ExemptRolledBack = "rolled back"

// Active reports whether e exempts at asOf (before its end).
func (e Exemption) Active(asOf time.Time) bool { return asOf.Before(e.Until) }

// IsHold reports whether e is a rollback hold.
func (e Exemption) IsHold() bool { return e.Source == SourceRollback }

// End is the end date as people read it (UTC day).
func (e Exemption) End() string { return e.Until.UTC().Format("2006-01-02") }

// Text is the exemption reason a finding covered by e carries (and scan
// output shows): "exempt until 2027-01-31: migration (alice)".
func (e Exemption) Text() string {
	s := datedPrefix + e.End()
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	if e.Owner != "" {
		s += " (" + e.Owner + ")"
	}
	return s
}

const datedPrefix = "exempt until "

// IsDated reports whether an exemption reason is a dated exemption's
// (Exemption.Text): the issue returns to the normal flow when it ends.
func IsDated(reason string) bool { return strings.HasPrefix(reason, datedPrefix) }

// IsHold reports whether an exemption reason is a rollback hold's.
func IsHold(reason string) bool {
	return IsDated(reason) && strings.Contains(reason, ": "+ExemptRolledBack+" (action ") &&
		strings.HasSuffix(reason, "("+HoldOwner+")")
}

// matches reports whether e covers a credential of kind in account, of
// user (its key keyID, "" for a password).
func (e *Exemption) matches(kind Kind, account, user, keyID string) bool {
	return e.AccountID == account && (e.Kind == "" || e.Kind == kind) &&
		(e.Subject == user || keyID != "" && e.Subject == keyID)
}

// Dated indexes exemptions with an end: account ID -> subject -> its
// exemptions. A nil Dated exempts nothing.
type Dated map[string]map[string][]Exemption

// NewDated indexes list.
func NewDated(list []Exemption) Dated {
	d := Dated{}
	for _, e := range list {
		d.Add(e)
	}
	return d
}

// Add indexes e.
func (d Dated) Add(e Exemption) {
	if d[e.AccountID] == nil {
		d[e.AccountID] = map[string][]Exemption{}
	}
	d[e.AccountID][e.Subject] = append(d[e.AccountID][e.Subject], e)
}

// All lists every exemption.
func (d Dated) All() []Exemption {
	var out []Exemption
	for _, bySubject := range d {
		for _, es := range bySubject {
			out = append(out, es...)
		}
	}
	return out
}

// Find returns the exemption covering a credential of kind in account (the
// user's, its key keyID; "" for a password) at asOf: of those active, the one
// that lasts longest (a rollback hold after a person's exemption of the same
// end).
func (d Dated) Find(kind Kind, account, user, keyID string, asOf time.Time) (Exemption, bool) {
	return d.find(kind, account, user, keyID, func(e *Exemption) bool { return e.Active(asOf) })
}

// Ended returns the exemption of the credential that ended last at or
// before asOf, and whether there is one: the issue it covered is back in
// the normal flow.
func (d Dated) Ended(kind Kind, account, user, keyID string, asOf time.Time) (Exemption, bool) {
	return d.find(kind, account, user, keyID, func(e *Exemption) bool { return !e.Active(asOf) })
}

func (d Dated) find(kind Kind, account, user, keyID string, ok func(*Exemption) bool) (Exemption, bool) {
	byS := d[account]
	if byS == nil {
		return Exemption{}, false
	}
	var best *Exemption
	for _, s := range [2]string{user, keyID} {
		if s == "" || (s == keyID && keyID == user) {
			continue
		}
		for i := range byS[s] {
			e := &byS[s][i]
			if !e.matches(kind, account, user, keyID) || !ok(e) {
				continue
			}
			if best == nil || e.Until.After(best.Until) || e.Until.Equal(best.Until) && better(e, best) {
				best = e
			}
		}
	}
	if best == nil {
		return Exemption{}, false
	}
	return *best, true
}

// better orders exemptions of the same end deterministically: people's
// before holds, then by ID and action.
func better(a, b *Exemption) bool {
	if a.IsHold() != b.IsHold() {
		return !a.IsHold()
	}
	if a.ID != b.ID {
		return a.ID < b.ID
	}
	return a.Action < b.Action
}

// ValidateExemption checks an exemption a person adds as of now: a known
// kind (or all), an account of 12 digits, a subject, an owner and a reason,
// an end after now and at most MaxDays after it. The error names the field
// and the fix.
func ValidateExemption(e Exemption, now time.Time) error {
	switch {
	case e.Kind != "" && !e.Kind.Valid():
		return fmt.Errorf("kind %q: use one of %s, or all", e.Kind, kindList())
	case !isAccountID(e.AccountID):
		return fmt.Errorf("account %q: use the 12-digit AWS account ID", e.AccountID)
	case strings.TrimSpace(e.Subject) == "":
		return fmt.Errorf("subject: name the IAM user or the access key ID")
	case strings.TrimSpace(e.Owner) == "":
		return fmt.Errorf("owner: say who answers for the exemption (--owner)")
	case strings.TrimSpace(e.Reason) == "":
		return fmt.Errorf("reason: say why the credential is exempt (--reason)")
	case !e.Until.After(now):
		return fmt.Errorf("end %s is not after today: an exemption ends in the future", e.End())
	case e.Until.After(AddDays(now, MaxDays)):
		return fmt.Errorf("end %s is more than %d days away: use a nearer date (whitelist.json plain entries are for exemptions without an end)", e.End(), MaxDays)
	}
	return nil
}

func kindList() string {
	s := make([]string, len(Kinds))
	for i, k := range Kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
