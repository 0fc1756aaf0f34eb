package remediate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/policy"
)

// DefaultMaxPerRun is the blast-radius cap when config.json sets none: at
// most this many credentials acted on per account per run.
const DefaultMaxPerRun = 10

// KindPolicy is the remediation setting of one kind.
type KindPolicy struct {
	// Enabled is the kind section's "remediation".
	Enabled bool
	// Accounts is remediation_accounts; empty means every audited account.
	Accounts []string
	// RetentionDays is remediation_retention_period: days after the report
	// of the violation (after detection when Reporting is off) before acting
	// (0: the first run after the report).
	RetentionDays int
	// Reporting is on for the kind: its "reporting" is true and a channel
	// (Slack, JIRA, SNS) is configured. Then, as in Hammer's remediation, an
	// issue is due only once its violation was reported (Issue.Reported: the
	// first delivery of the violation on any channel) and the retention
	// counts from that report. Off, it counts from detection.
	Reporting bool
	// WarningDays are Hammer's slack.remediation_warning_days, when the
	// owner is warned on Slack before keywarden acts: then an issue is due
	// only once a remediation warning was sent (Policy.Warned), and no
	// sooner than the nearest stage's days after the first one.
	WarningDays []int
}

// RetentionStart is when the issue's retention counts from as of asOf: the
// report of its violation when reporting is on (false when it was not
// reported by asOf), its detection when reporting is off.
func RetentionStart(is *issues.Issue, reporting bool, asOf time.Time) (time.Time, bool) {
	if !reporting {
		return is.Detected, true
	}
	if is.Reported == nil || is.Reported.After(asOf) {
		return time.Time{}, false
	}
	return *is.Reported, true
}

// DueAt is when the issue is due for remediation under kp as of asOf (the
// retention start plus RetentionDays); false while it is not reported and
// reporting is on. The notices state the same date (notify.RemediationDate).
func DueAt(is *issues.Issue, kp KindPolicy, asOf time.Time) (time.Time, bool) {
	start, ok := RetentionStart(is, kp.Reporting, asOf)
	if !ok {
		return time.Time{}, false
	}
	return policy.AddDays(start, kp.RetentionDays), true
}

// retentionNote says how the retention of an issue counts, for people:
// "reported 2 days ago, retention 7 (due 2026-12-02)", or "reporting off:
// retention counts from detection; detected today, retention 0 (due
// 2026-11-25)".
func retentionNote(kp KindPolicy, start, due, asOf time.Time) string {
	what := "reported"
	prefix := ""
	if !kp.Reporting {
		what, prefix = "detected", "reporting off: retention counts from detection; "
	}
	return fmt.Sprintf("%s%s %s, retention %d (due %s)", prefix, what, daysAgo(start, asOf), kp.RetentionDays, due.UTC().Format("2006-01-02"))
}

func days(n int) string {
	if n == 1 {
		return "1 day"
	}
	return fmt.Sprintf("%d days", n)
}

// leastStage is the nearest warning stage (fewest days before acting), -1
// when there is none.
func leastStage(stages []int) int {
	least := -1
	for _, w := range stages {
		if w >= 0 && (least < 0 || w < least) {
			least = w
		}
	}
	return least
}

// daysAgo says how long before asOf t was, in whole days: "today", "1 day
// ago", "9 days ago" ("on DATE" when t is after asOf).
func daysAgo(t, asOf time.Time) string {
	if t.After(asOf) {
		return "on " + t.UTC().Format("2006-01-02")
	}
	n := asOf.Sub(t) / policy.Day
	switch n {
	case 0:
		return "today"
	case 1:
		return "1 day ago"
	}
	return fmt.Sprintf("%d days ago", n)
}

// Policy is what the planner decides from.
type Policy struct {
	Kinds map[policy.Kind]KindPolicy
	// Explicit kinds were named on the command line: remediation is on for
	// them even when the config leaves it off. Every other guard applies.
	Explicit map[policy.Kind]bool
	// MaxPerRun is the blast-radius cap per account per run (<= 0: the
	// default).
	MaxPerRun int
	// OwnKeyIDs are the access keys keywarden runs with: never acted on.
	OwnKeyIDs []string
	// Dated are the exemptions with an end (rollback holds, LoadHolds;
	// keywarden exempt; whitelist.json entries with "expires"): a credential
	// covered by one is exempt until it ends, and no longer once it has.
	Dated policy.Dated
	// Warned is when the first remediation warning of each issue (by ID) was
	// sent (notify.RemediationWarning), for kinds with WarningDays.
	Warned map[int64]time.Time
}

// Item is one credential to act on, with the issues it remediates.
type Item struct {
	Op        Op
	AccountID string
	UserName  string
	KeyID     string // empty for a login profile
	Issues    []issues.Issue
	// Due is when the retention period ended (the latest of the issues').
	Due time.Time
	// Retention says, per issue, how its retention counted (from the report
	// of the violation, or from detection when reporting is off).
	Retention []string
	// Err is nil for an item of the plan; for a skipped one it wraps the
	// refusal (ErrNotDue, ErrOverCap, ...).
	Err error
}

// Credential names the item's target.
func (it *Item) Credential() string {
	if it.KeyID != "" {
		return it.KeyID
	}
	return "password of " + it.UserName
}

// IssueIDs lists the IDs of the item's issues.
func (it *Item) IssueIDs() []int64 {
	ids := make([]int64, len(it.Issues))
	for i, is := range it.Issues {
		ids[i] = is.ID
	}
	return ids
}

// Kinds lists the kinds of the item's issues.
func (it *Item) Kinds() []policy.Kind {
	var ks []policy.Kind
	for _, is := range it.Issues {
		ks = append(ks, is.Kind)
	}
	return ks
}

// Why says, for people, why the item is due: kind, stage, since when.
func (it *Item) Why() string {
	var parts []string
	for i, is := range it.Issues {
		s := fmt.Sprintf("%s %s", is.Kind, is.Stage)
		switch {
		case is.Kind == policy.KeysRotation:
			s += " (created " + day(is.Details.CreateDate) + fmt.Sprintf(", limit %d days)", is.LimitDays)
		case is.Details.LastUsed != "":
			s += " (last used " + day(is.Details.LastUsed) + fmt.Sprintf(", limit %d days)", is.LimitDays)
		default:
			s += " (never used, created " + day(is.Details.CreateDate) + fmt.Sprintf(", limit %d days)", is.LimitDays)
		}
		s += ", detected " + is.Detected.UTC().Format("2006-01-02")
		if i < len(it.Retention) && it.Retention[i] != "" {
			s += "; " + it.Retention[i]
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

func day(iso string) string {
	if len(iso) >= 10 {
		return iso[:10]
	}
	return iso
}

// Plan is what a run would do.
type Plan struct {
	AsOf  time.Time
	Items []Item
	// Skipped are the issues not acted on, each with its reason (Err).
	Skipped []Item
}

// OverCap lists, per account, how many credentials were planned beyond the
// cap (the whole account's plan is held back).
func (p *Plan) OverCap() map[string]int {
	m := map[string]int{}
	for _, it := range p.Skipped {
		if isOverCap(it.Err) {
			m[it.AccountID]++
		}
	}
	return m
}

// opFor is the operation that remediates an issue of kind k.
func opFor(k policy.Kind) Op {
	if k == policy.InactivePasswords {
		return OpDeleteLoginProfile
	}
	return OpDeactivateKey
}

// MakePlan decides which of list (issues from the store) are due as of
// asOf. Only open, non-whitelisted violations qualify; issues of one
// credential are grouped into one item. An account whose plan exceeds the
// cap is held back entirely.
func MakePlan(list []issues.Issue, p Policy, asOf time.Time) *Plan {
	plan := &Plan{AsOf: asOf}
	type credKey struct {
		account string
		op      Op
		subject string
	}
	byCred := map[credKey]int{}
	skip := func(is issues.Issue, err error) {
		plan.Skipped = append(plan.Skipped, newItem(is, err))
	}
	sorted := append([]issues.Issue(nil), list...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].ID < sorted[j].ID })
	for _, is := range sorted {
		if is.Status != issues.Open && is.Status != issues.Whitelisted {
			continue
		}
		kp, ok := p.Kinds[is.Kind]
		switch {
		case !is.Kind.Valid():
			continue
		case !(ok && kp.Enabled) && !p.Explicit[is.Kind]:
			skip(is, fmt.Errorf("%w: set \"remediation\": true in the %s section of config.json, or name it with --kind", ErrNotEnabled, is.Kind))
			continue
		case exempted(p.Dated, is, asOf) != nil:
			e := exempted(p.Dated, is, asOf)
			if e.IsHold() {
				skip(is, fmt.Errorf("%w by %s: %w", ErrWhitelisted, e.Text(), ErrHeld))
			} else {
				skip(is, fmt.Errorf("%w by %s", ErrWhitelisted, e.Text()))
			}
			continue
		case (is.Status == issues.Whitelisted || is.Exemption != "") && !policy.IsDated(is.Exemption):
			skip(is, fmt.Errorf("%w by %s", ErrWhitelisted, is.Exemption))
			continue
		case len(kp.Accounts) > 0 && !slices.Contains(kp.Accounts, is.AccountID):
			skip(is, fmt.Errorf("%w of %s", ErrAccountExcluded, is.Kind))
			continue
		case is.Kind != policy.InactivePasswords && strings.Contains(is.Subject, "/access_key_"):
			skip(is, fmt.Errorf("%w: %s (scan with AWS access to learn the key ID)", ErrNoKeyID, is.Subject))
			continue
		case is.Kind != policy.InactivePasswords && slices.Contains(p.OwnKeyIDs, is.Subject):
			skip(is, fmt.Errorf("%w: never deactivated", ErrOwnKey))
			continue
		case is.Stage != policy.Violation:
			skip(is, fmt.Errorf("%w: %d days left", ErrNotViolation, is.DaysLeft))
			continue
		}
		start, reported := RetentionStart(&is, kp.Reporting, asOf)
		if !reported {
			why := "the violation has not been delivered on any channel yet; reporting is on for " + string(is.Kind) +
				", so nothing is done before the owner is told (keywarden report)"
			if is.Reported != nil {
				why = "reported " + daysAgo(*is.Reported, asOf) + ", after the plan's date"
			}
			skip(is, fmt.Errorf("%w: %s", ErrNotReported, why))
			continue
		}
		due := policy.AddDays(start, kp.RetentionDays)
		note := retentionNote(kp, start, due, asOf)
		if least := leastStage(kp.WarningDays); kp.Reporting && least >= 0 {
			warned, ok := p.Warned[is.ID]
			if !ok || warned.After(asOf) {
				skip(is, fmt.Errorf("%w: %s; no remediation warning sent yet (slack.remediation_warning_days %v: the owner is warned first)",
					ErrNotDue, note, kp.WarningDays))
				continue
			}
			if w := policy.AddDays(warned, least); w.After(due) {
				due = w
				note += fmt.Sprintf("; first warned %s, %s before acting (due %s)", daysAgo(warned, asOf), days(least), due.UTC().Format("2006-01-02"))
			}
		}
		if asOf.Before(due) {
			skip(is, fmt.Errorf("%w: %s", ErrNotDue, note))
			continue
		}
		k := credKey{is.AccountID, opFor(is.Kind), is.Subject}
		if i, ok := byCred[k]; ok {
			it := &plan.Items[i]
			it.Issues = append(it.Issues, is)
			it.Retention = append(it.Retention, note)
			if due.After(it.Due) {
				it.Due = due
			}
			continue
		}
		it := newItem(is, nil)
		it.Due = due
		it.Retention = []string{note}
		byCred[k] = len(plan.Items)
		plan.Items = append(plan.Items, it)
	}
	limit := p.MaxPerRun
	if limit <= 0 {
		limit = DefaultMaxPerRun
	}
	perAccount := map[string]int{}
	for _, it := range plan.Items {
		perAccount[it.AccountID]++
	}
	kept := plan.Items[:0]
	var over []Item
	for _, it := range plan.Items {
		if n := perAccount[it.AccountID]; n > limit {
			it.Err = fmt.Errorf("%w: account %s has %d credentials due, the cap is %d per run; nothing is done in this account: raise remediation.max_remediations_per_run in config.json, or narrow the run with --kind or --issue",
				ErrOverCap, it.AccountID, n, limit)
			over = append(over, it)
			continue
		}
		kept = append(kept, it)
	}
	plan.Items = kept
	plan.Skipped = append(plan.Skipped, over...)
	return plan
}

// exempted is the exemption with an end covering the issue's credential
// beyond asOf (nil when none). An issue a scan whitelisted for an exemption
// that has ended by asOf is not exempt any more.
func exempted(d policy.Dated, is issues.Issue, asOf time.Time) *policy.Exemption {
	user, keyID := is.Details.Username, is.Subject
	if is.Kind == policy.InactivePasswords {
		user, keyID = is.Subject, ""
	}
	if e, ok := d.Find(is.Kind, is.AccountID, user, keyID, asOf); ok {
		return &e
	}
	return nil
}

// LoadHolds reads the rollback holds from the journal: the keys keywarden
// re-activated (done or unverified reactivate_key actions) with a hold, each
// an exemption with an end (HoldExemption).
func LoadHolds(ctx context.Context, j Journal) ([]policy.Exemption, error) {
	rbs, err := j.Actions(ctx, ActionFilter{Ops: []Op{OpReactivateKey}, States: []State{StateDone, StateUnverified}})
	if err != nil {
		return nil, fmt.Errorf("read the rollback holds from the journal: %w", err)
	}
	var out []policy.Exemption
	for _, a := range rbs {
		if e, ok := HoldExemption(&a); ok {
			out = append(out, e)
		}
	}
	return out, nil
}

// HoldExemption is the rollback hold of a reactivate_key action as an
// exemption with an end: the key, every kind, owner "keywarden rollback",
// reason "rolled back (action N)".
func HoldExemption(a *Action) (policy.Exemption, bool) {
	if a.Op != OpReactivateKey || a.HoldUntil == nil || a.KeyID == "" {
		return policy.Exemption{}, false
	}
	return policy.Exemption{AccountID: a.AccountID, Subject: a.KeyID, Until: *a.HoldUntil,
		Owner: policy.HoldOwner, Reason: policy.HoldReason(a.ID), Created: a.Started,
		Source: policy.SourceRollback, Action: a.ID}, true
}

func newItem(is issues.Issue, err error) Item {
	it := Item{Op: opFor(is.Kind), AccountID: is.AccountID, UserName: is.Details.Username, Issues: []issues.Issue{is}, Err: err}
	if it.Op == OpDeactivateKey {
		it.KeyID = is.Subject
	}
	if it.UserName == "" && is.Kind == policy.InactivePasswords {
		it.UserName = is.Subject
	}
	return it
}

func isOverCap(err error) bool { return err != nil && errors.Is(err, ErrOverCap) }
