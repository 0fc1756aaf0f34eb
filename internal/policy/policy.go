// Package policy turns credential facts into findings. It is pure: no I/O and
// no clock; the caller passes asOf.
package policy

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/keywarden/keywarden/internal/inventory"
)

// Kind names a kind of finding; the names match Dow Jones Hammer's config
// sections.
type Kind string

// The kinds keywarden identifies.
const (
	InactiveKeys      Kind = "user_inactivekeys"
	KeysRotation      Kind = "user_keysrotation"
	InactivePasswords Kind = "user_inactivepasswords"
)

// Kinds lists every kind in a stable order.
var Kinds = []Kind{InactiveKeys, KeysRotation, InactivePasswords}

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool {
	for _, x := range Kinds {
		if x == k {
			return true
		}
	}
	return false
}

// Stage says whether a finding's deadline is ahead (warning) or passed
// (violation).
type Stage string

// Stages.
const (
	Warning   Stage = "warning"
	Violation Stage = "violation"
)

// Day is the unit of every threshold.
const Day = 24 * time.Hour

// Rule is the threshold of one kind.
type Rule struct {
	Kind Kind
	// LimitDays: a credential older than this many days (since last use, or
	// since creation for rotation) is a violation.
	LimitDays int
	// WarningDays: this many days before the deadline the finding becomes a
	// warning. 0 means no warning stage.
	WarningDays int
	// Accounts limits the rule to these account IDs; empty means every account.
	Accounts []string
	// ExcludeAccounts are never checked (Hammer's ignore_accounts), also
	// when the accounts are discovered from the organization.
	ExcludeAccounts []string
}

// AppliesTo reports whether the rule covers account.
func (r Rule) AppliesTo(account string) bool {
	if slices.Contains(r.ExcludeAccounts, account) {
		return false
	}
	return len(r.Accounts) == 0 || slices.Contains(r.Accounts, account)
}

// Exemptions says which credentials are exempt from remediation.
type Exemptions struct {
	// Whitelist maps kind -> account ID -> user names and access key IDs, as
	// in Hammer's whitelist.json. Empty entries are ignored.
	Whitelist map[Kind]map[string][]string
	// TagKey and TagValue: a user carrying this tag (value compared
	// case-insensitively) is exempt. Defaults: KeyAutoExpire=false.
	TagKey, TagValue string
	// Dated are the exemptions with an end (Exemption): keywarden's store,
	// whitelist.json entries with "expires", rollback holds.
	Dated Dated
}

// Exemption reasons.
const (
	ExemptWhitelist = "whitelist.json"
	ExemptTag       = "tag KeyAutoExpire=false"
)

func (e Exemptions) reason(kind Kind, account string, u *inventory.User, keyID string) string {
	for _, entry := range e.Whitelist[kind][account] {
		if entry == "" {
			continue
		}
		if entry == u.Name || (keyID != "" && entry == keyID) {
			return ExemptWhitelist
		}
	}
	tk, tv := e.TagKey, e.TagValue
	if tk == "" {
		tk, tv = "KeyAutoExpire", "false"
	}
	for k, v := range u.Tags {
		if k == tk && strings.EqualFold(strings.TrimSpace(v), tv) {
			if tk == "KeyAutoExpire" {
				return ExemptTag
			}
			return "tag " + tk + "=" + tv
		}
	}
	return ""
}

// Reference says which timestamp a finding's age is measured from.
type Reference string

// References.
const (
	FromLastUsed Reference = "last_used"
	FromCreated  Reference = "created" // never used (inactivity) or rotation
)

// Finding is one credential that breaks, or is about to break, a rule.
type Finding struct {
	Kind      Kind
	AccountID string
	UserName  string
	UserARN   string
	// KeyID is empty for password findings and for keys whose ID the source
	// does not know (credential report file); KeySlot then identifies them.
	KeyID   string
	KeySlot int
	Stage   Stage
	// Exemption is non-empty when the finding is whitelisted.
	Exemption string
	Created   time.Time
	LastUsed  *time.Time
	Since     time.Time // the timestamp the age is measured from
	From      Reference
	AgeDays   int // whole days since Since
	LimitDays int
	Deadline  time.Time // Since + LimitDays
	// DaysLeft until the deadline: positive for warnings, <= 0 past it
	// (-3 means three days over).
	DaysLeft int
	Tags     map[string]string
}

// Subject identifies the credential: the key ID, the key slot when the ID
// is unknown, or the user for a password finding. (kind, account, subject)
// is the identity of an issue.
func (f Finding) Subject() string {
	return Subject(f.Kind, f.UserName, f.KeyID, f.KeySlot)
}

// Subject builds the identity of a credential; see Finding.Subject.
func Subject(kind Kind, user, keyID string, slot int) string {
	switch {
	case kind == InactivePasswords:
		return user
	case keyID != "":
		return keyID
	default:
		return fmt.Sprintf("%s/access_key_%d", user, slot)
	}
}

// Whitelisted reports whether the finding is exempt from remediation.
func (f Finding) Whitelisted() bool { return f.Exemption != "" }

// Evaluate applies rules to facts as of asOf. Findings are sorted by user,
// kind and subject. Rules whose Accounts do not include the facts' account
// are skipped.
func Evaluate(facts *inventory.Facts, rules []Rule, ex Exemptions, asOf time.Time) []Finding {
	// Room for a finding per four users up front: an audited account with
	// many stale credentials otherwise copies its findings (large
	// structs) a dozen times as append doubles the slice. More findings
	// still just grow it.
	out := make([]Finding, 0, len(facts.Users)/4+1)
	account := facts.Account.ID
	applied := make([]Rule, 0, len(rules))
	for _, r := range rules {
		if r.AppliesTo(account) {
			applied = append(applied, r)
		}
	}
	// User by user, so that findings come grouped by user and only each
	// user's few findings need ordering; the whole list is sorted only when
	// the users are not in name order (a credential report's are).
	sorted := true
	for i := range facts.Users {
		u := &facts.Users[i]
		if i > 0 && facts.Users[i-1].Name > u.Name {
			sorted = false
		}
		start := len(out)
		for _, r := range applied {
			out = EvaluateUser(out, account, u, r, ex, asOf)
		}
		// Insertion sort (stable, no allocation): a user has a few findings.
		for i := start + 1; i < len(out); i++ {
			for j := i; j > start && findingLess(&out[j], &out[j-1]); j-- {
				out[j], out[j-1] = out[j-1], out[j]
			}
		}
	}
	if !sorted {
		sort.SliceStable(out, func(i, j int) bool { return findingLess(&out[i], &out[j]) })
	}
	return out
}

// findingLess orders findings by user, kind and subject.
func findingLess(a, b *Finding) bool {
	if a.UserName != b.UserName {
		return a.UserName < b.UserName
	}
	if a.Kind != b.Kind {
		return kindOrder(a.Kind) < kindOrder(b.Kind)
	}
	return a.Subject() < b.Subject()
}

func kindOrder(k Kind) int {
	for i, x := range Kinds {
		if x == k {
			return i
		}
	}
	return len(Kinds)
}

// EvaluateUser appends the findings of one rule for one user to out.
func EvaluateUser(out []Finding, account string, u *inventory.User, r Rule, ex Exemptions, asOf time.Time) []Finding {
	switch r.Kind {
	case InactiveKeys, KeysRotation:
		for _, k := range u.Keys {
			if !k.Active() {
				continue
			}
			since, from := keySince(r.Kind, k)
			f, ok := judge(r, since, asOf)
			if !ok {
				continue
			}
			f.From = from
			f.Created, f.LastUsed = k.Created, k.LastUsed
			f.KeyID, f.KeySlot = k.ID, k.Slot
			out = append(out, fill(f, r, account, u, ex, asOf))
		}
	case InactivePasswords:
		p := u.Password
		if p == nil || !p.Enabled {
			return out
		}
		since, from := p.Created, FromCreated
		if p.LastUsed != nil && p.LastUsed.After(p.Created) {
			since, from = *p.LastUsed, FromLastUsed
		}
		if since.IsZero() {
			since, from = u.Created, FromCreated
		}
		f, ok := judge(r, since, asOf)
		if !ok {
			return out
		}
		f.From = from
		f.Created, f.LastUsed = p.Created, p.LastUsed
		out = append(out, fill(f, r, account, u, ex, asOf))
	}
	return out
}

// keySince is the timestamp a key's age counts from: its last use for
// inactivity (its creation when never used), its creation for rotation.
func keySince(kind Kind, k inventory.AccessKey) (time.Time, Reference) {
	if kind == InactiveKeys && k.LastUsed != nil && k.LastUsed.After(k.Created) {
		return *k.LastUsed, FromLastUsed
	}
	return k.Created, FromCreated
}

func fill(f Finding, r Rule, account string, u *inventory.User, ex Exemptions, asOf time.Time) Finding {
	f.Kind = r.Kind
	f.AccountID = account
	f.UserName, f.UserARN, f.Tags = u.Name, u.ARN, u.Tags
	f.Exemption = ex.reason(r.Kind, account, u, f.KeyID)
	if f.Exemption == "" && len(ex.Dated) > 0 {
		if e, ok := ex.Dated.Find(r.Kind, account, u.Name, f.KeyID, asOf); ok {
			f.Exemption = e.Text()
		}
	}
	return f
}

// judge decides the stage of a credential whose age counts from since.
// A credential is a violation once it is more than LimitDays old (age >
// limit, to the second), and a warning within WarningDays before that.
func judge(r Rule, since, asOf time.Time) (Finding, bool) {
	// Compared as times, not durations: a Duration overflows past 292
	// years, and Sub saturates there.
	deadline := AddDays(since, r.LimitDays)
	warns := r.WarningDays > 0 && !asOf.Before(AddDays(deadline, -r.WarningDays))
	if !asOf.After(deadline) && !warns {
		// Most credentials: decided before building a Finding.
		return Finding{}, false
	}
	left := deadline.Sub(asOf) // saturates
	f := Finding{
		Since:     since,
		LimitDays: r.LimitDays,
		Deadline:  deadline,
		AgeDays:   int(asOf.Sub(since) / Day),
		DaysLeft:  DaysLeft(left),
	}
	switch {
	case asOf.After(deadline):
		f.Stage = Violation
	case warns:
		f.Stage = Warning
	default:
		return f, false
	}
	return f, true
}

// Candidates returns which credentials of u the rules would flag (warning or
// violation, exempt or not) in account as of asOf: indexes into u.Keys and
// whether the password is flagged. The AWS fast path confirms exactly these
// live.
func Candidates(account string, u *inventory.User, rules []Rule, asOf time.Time) (keys []int, password bool) {
	for _, r := range rules {
		if !r.AppliesTo(account) {
			continue
		}
		switch r.Kind {
		case InactiveKeys, KeysRotation:
			for i, k := range u.Keys {
				if !k.Active() || slices.Contains(keys, i) {
					continue
				}
				since, _ := keySince(r.Kind, k)
				if _, ok := judge(r, since, asOf); ok {
					keys = append(keys, i)
				}
			}
		case InactivePasswords:
			if len(EvaluateUser(nil, account, u, r, Exemptions{}, asOf)) > 0 {
				password = true
			}
		}
	}
	return keys, password
}

// AgeHistogram counts credentials by age, per kind, in buckets of
// BucketDays (the last bucket holds everything older): the data behind the
// HTML report's age chart. Inactivity kinds count days since last use (since
// creation when never used), rotation counts days since creation. Only
// credentials a rule looks at count (active keys, existing passwords).
// Histograms of several accounts merge with Merge, so a scan never keeps
// every account's facts.
type AgeHistogram struct {
	BucketDays int
	Buckets    int
	Counts     map[Kind][]int
}

// NewAgeHistogram returns an empty histogram (default 15-day buckets up to
// two years).
func NewAgeHistogram() *AgeHistogram {
	return &AgeHistogram{BucketDays: 15, Buckets: 49, Counts: map[Kind][]int{}}
}

func (h *AgeHistogram) add(k Kind, since, asOf time.Time) {
	if h.Counts[k] == nil {
		h.Counts[k] = make([]int, h.Buckets)
	}
	b := int(asOf.Sub(since)/Day) / h.BucketDays
	if b < 0 {
		b = 0
	}
	if b >= h.Buckets {
		b = h.Buckets - 1
	}
	h.Counts[k][b]++
}

// Add counts the credentials of facts for the given rules' kinds.
func (h *AgeHistogram) Add(facts *inventory.Facts, rules []Rule, asOf time.Time) {
	for _, r := range rules {
		if !r.AppliesTo(facts.Account.ID) {
			continue
		}
		for i := range facts.Users {
			u := &facts.Users[i]
			switch r.Kind {
			case InactiveKeys, KeysRotation:
				for _, k := range u.Keys {
					if k.Active() {
						since, _ := keySince(r.Kind, k)
						h.add(r.Kind, since, asOf)
					}
				}
			case InactivePasswords:
				if p := u.Password; p != nil && p.Enabled {
					since := p.Created
					if p.LastUsed != nil && p.LastUsed.After(since) {
						since = *p.LastUsed
					}
					h.add(r.Kind, since, asOf)
				}
			}
		}
	}
}

// Merge adds o's counts into h (same bucket layout).
func (h *AgeHistogram) Merge(o *AgeHistogram) {
	if o == nil {
		return
	}
	for k, cs := range o.Counts {
		if h.Counts[k] == nil {
			h.Counts[k] = make([]int, h.Buckets)
		}
		for i, c := range cs {
			if i < h.Buckets {
				h.Counts[k][i] += c
			}
		}
	}
}
