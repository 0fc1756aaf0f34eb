package issues

import (
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"

	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/policy"
)

// Change is an existing issue that a scan changed, with what changed.
type Change struct {
	Issue Issue
	// Why says what changed, for people: "warning -> violation",
	// "key used again", ...
	Why string
}

// Changes are the result of one reconciliation: what notify and remediate
// work from. Refreshed issues changed only their day counters (age, days
// left) and are stored without being reported.
type Changes struct {
	New       []Issue
	Updated   []Change
	Closed    []Change
	Refreshed []Issue
	// Kept are live issues left as they are because the facts do not
	// list their user and do not promise to list every user (a credential
	// report file): nothing to store, only to tell.
	Kept []Change
	// Scan, when set, is the tracked scan these changes come from: Apply
	// records its as-of as the account's last tracked scan (Store.LastScan)
	// atomically with the changes, also when nothing else changed, and
	// refuses the whole Apply with ErrStaleScan when a later scan of the
	// account is already recorded. Nil for changes that are not a scan's
	// (remediation, reconciliation of the journal).
	Scan *TrackedScan
}

// TrackedScan is one account's scan whose findings were reconciled with the
// store.
type TrackedScan struct {
	AccountID string
	AsOf      time.Time
}

// Empty reports whether no issue changed (a Scan alone is still stored).
func (c *Changes) Empty() bool {
	return len(c.New)+len(c.Updated)+len(c.Closed)+len(c.Refreshed) == 0
}

// Reconcile compares the findings of one scan of one account with the issues
// still live (open or whitelisted) for the same account and kinds. facts
// explain why an issue closed; an issue of a user the facts do not list is
// resolved ("user deleted") only when the facts are complete
// (facts.Complete), else it stays as it is. The caller passes only issues of
// the (account, kind) pairs that were actually scanned: a failed scan must
// never resolve anything.
func Reconcile(live []Issue, findings []policy.Finding, facts *inventory.Facts, asOf time.Time) *Changes {
	ch := &Changes{}
	byKey := make(map[Key]*Issue, len(live))
	for i := range live {
		byKey[live[i].Key()] = &live[i]
	}
	seen := make(map[Key]bool, len(findings))
	for _, f := range findings {
		k := Key{f.Kind, f.AccountID, f.Subject()}
		if seen[k] {
			continue
		}
		seen[k] = true
		old, ok := byKey[k]
		if !ok {
			is := FromFinding(f, asOf)
			ch.New = append(ch.New, is)
			continue
		}
		is := *old
		next := FromFinding(f, asOf)
		var why []string
		if is.Stage != next.Stage {
			why = append(why, fmt.Sprintf("%s -> %s", is.Stage, next.Stage))
		}
		if is.Exemption != next.Exemption {
			switch {
			case next.Exemption == "" && policy.IsDated(is.Exemption):
				// An exemption with an end: back in the normal flow.
				why = append(why, "exemption ended ("+is.Exemption+")")
			case next.Exemption == "":
				why = append(why, "no longer whitelisted")
			default:
				why = append(why, "whitelisted by "+next.Exemption)
			}
		}
		// A key due for rotation may be in daily use: a new last use changes
		// nothing about the finding, so it refreshes the issue, not reports it.
		lastUseOnly := is.Kind == policy.KeysRotation && is.Details.Username == next.Details.Username &&
			is.Details.CreateDate == next.Details.CreateDate
		if is.Details != next.Details && !lastUseOnly {
			why = append(why, detailsChange(is.Details, next.Details))
		}
		if is.LimitDays != next.LimitDays {
			why = append(why, fmt.Sprintf("threshold %d -> %d days", is.LimitDays, next.LimitDays))
		}
		status := next.Status
		counters := is.AgeDays != next.AgeDays || is.DaysLeft != next.DaysLeft || !is.Deadline.Equal(next.Deadline) ||
			!maps.Equal(is.Tags, next.Tags) ||
			is.Details != next.Details || is.UserARN != next.UserARN || is.KeySlot != next.KeySlot
		is.Stage, is.Exemption, is.Details, is.Status = next.Stage, next.Exemption, next.Details, status
		is.UserARN, is.KeySlot = next.UserARN, next.KeySlot
		is.Tags = next.Tags
		is.AgeDays, is.LimitDays, is.DaysLeft, is.Deadline = next.AgeDays, next.LimitDays, next.DaysLeft, next.Deadline
		if old.Stage == "" {
			// An issue with no finding snapshot (a row Hammer wrote or
			// rewrote, which keeps none) takes this scan's silently:
			// nothing changed that its owner has not been told, unless
			// it is whitelisted no more, or newly.
			why, counters = nil, true
			if old.Status != status {
				why = []string{"no longer whitelisted"}
				if status == Whitelisted {
					why = []string{"whitelisted by " + next.Exemption}
				}
			}
		}
		switch {
		case len(why) > 0:
			is.Updated = asOf
			ch.Updated = append(ch.Updated, Change{Issue: is, Why: strings.Join(why, "; ")})
		case counters:
			is.Updated = asOf
			ch.Refreshed = append(ch.Refreshed, is)
		}
	}
	for i := range live {
		is := live[i]
		if seen[is.Key()] {
			continue
		}
		if !listed(facts, is.Details.Username) && (facts == nil || !facts.Complete) {
			// Absent from facts that do not promise to hold every user:
			// unknown, not deleted. The issue stays as it is.
			ch.Kept = append(ch.Kept, Change{Issue: is, Why: "user " + is.Details.Username + " not in the inventory, which may be incomplete (a credential report file): not known to be deleted"})
			continue
		}
		reason := closeReason(&is, facts)
		is.Status = Resolved
		is.Updated = asOf
		t := asOf
		is.Closed = &t
		is.CloseReason = reason
		ch.Closed = append(ch.Closed, Change{Issue: is, Why: reason})
	}
	sort.SliceStable(ch.Closed, func(i, j int) bool { return ch.Closed[i].Issue.ID < ch.Closed[j].Issue.ID })
	return ch
}

func detailsChange(a, b Details) string {
	switch {
	case a.LastUsed != b.LastUsed:
		return fmt.Sprintf("last used %s -> %s", orNever(a.LastUsed), orNever(b.LastUsed))
	case a.CreateDate != b.CreateDate:
		return fmt.Sprintf("created %s -> %s", a.CreateDate, b.CreateDate)
	default:
		return "details changed"
	}
}

func orNever(s string) string {
	if s == "" {
		return "never"
	}
	return s
}

// FromFinding builds a new open (or whitelisted) issue from a finding.
func FromFinding(f policy.Finding, asOf time.Time) Issue {
	st := Open
	if f.Whitelisted() {
		st = Whitelisted
	}
	d := Details{Username: f.UserName, CreateDate: isoTime(f.Created)}
	if f.LastUsed != nil {
		d.LastUsed = isoTime(*f.LastUsed)
	}
	return Issue{
		Kind:      f.Kind,
		AccountID: f.AccountID,
		Subject:   f.Subject(),
		Status:    st,
		Stage:     f.Stage,
		Exemption: f.Exemption,
		Details:   d,
		UserARN:   f.UserARN,
		KeySlot:   f.KeySlot,
		Tags:      copyTags(f.Tags),
		AgeDays:   f.AgeDays,
		LimitDays: f.LimitDays,
		DaysLeft:  f.DaysLeft,
		Deadline:  f.Deadline,
		Detected:  asOf,
		Updated:   asOf,
	}
}

// copyTags copies a user's tags; nil when there are none.
func copyTags(tags map[string]string) map[string]string {
	if len(tags) == 0 {
		return nil
	}
	return maps.Clone(tags)
}

func isoTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// listed reports whether facts hold user name.
func listed(facts *inventory.Facts, name string) bool {
	if facts == nil {
		return false
	}
	for i := range facts.Users {
		if facts.Users[i].Name == name {
			return true
		}
	}
	return false
}

// closeReason explains, from the current facts, why an issue is no longer
// detected.
func closeReason(is *Issue, facts *inventory.Facts) string {
	if facts == nil {
		return "no longer detected"
	}
	var user *inventory.User
	for i := range facts.Users {
		if facts.Users[i].Name == is.Details.Username {
			user = &facts.Users[i]
			break
		}
	}
	if user == nil {
		return "user deleted"
	}
	if is.Kind == policy.InactivePasswords {
		switch {
		case user.Password == nil || !user.Password.Enabled:
			return "login profile deleted"
		case user.Password.LastUsed != nil && isoTime(*user.Password.LastUsed) != is.Details.LastUsed:
			return "password used again"
		}
		return "no longer detected"
	}
	var key *inventory.AccessKey
	for i := range user.Keys {
		k := &user.Keys[i]
		// The fast path knows the IDs of confirmed keys only; the others
		// are the credential report's slots, matched by creation time.
		sameKey := policy.Subject(is.Kind, user.Name, k.ID, k.Slot) == is.Subject || k.ID == ""
		if sameKey && isoTime(k.Created) == is.Details.CreateDate {
			key = k
			break
		}
	}
	if key == nil {
		for _, k := range user.Keys {
			if is.Kind == policy.KeysRotation && k.Active() && isoTime(k.Created) > is.Details.CreateDate {
				return "rotated: key deleted, newer key in use"
			}
		}
		return "key deleted"
	}
	switch {
	case !key.Active():
		return "key deactivated"
	case key.LastUsed != nil && isoTime(*key.LastUsed) != is.Details.LastUsed && is.Kind == policy.InactiveKeys:
		return "key used again"
	}
	return "no longer detected"
}
