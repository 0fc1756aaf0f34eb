package remediate

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/policy"
)

func TestMakePlanRefusals(t *testing.T) {
	asOf := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	is := func(id int64, kind policy.Kind, acct, subject string, mod func(*issues.Issue)) issues.Issue {
		i := issues.Issue{ID: id, Kind: kind, AccountID: acct, Subject: subject, Status: issues.Open, Stage: policy.Violation,
			Details: issues.Details{Username: "u"}, Detected: asOf.Add(-3 * policy.Day)}
		if mod != nil {
			mod(&i)
		}
		return i
	}
	pol := Policy{
		Kinds: map[policy.Kind]KindPolicy{
			policy.InactiveKeys:      {Enabled: true, RetentionDays: 3},
			policy.InactivePasswords: {Enabled: true, Accounts: []string{"111111111111"}},
		},
		OwnKeyIDs: []string{"AKIAOWN"},
		MaxPerRun: 2,
	}
	list := []issues.Issue{
		is(1, policy.InactiveKeys, "111111111111", "AKIA1", nil),
		is(2, policy.KeysRotation, "111111111111", "AKIA1", nil), // remediation off for rotation
		is(3, policy.InactiveKeys, "111111111111", "u/access_key_1", nil),
		is(4, policy.InactiveKeys, "111111111111", "AKIAOWN", nil),
		is(5, policy.InactiveKeys, "111111111111", "AKIA5", func(i *issues.Issue) { i.Status, i.Exemption = issues.Whitelisted, "whitelist.json" }),
		is(6, policy.InactiveKeys, "111111111111", "AKIA6", func(i *issues.Issue) { i.Detected = asOf.Add(-3*policy.Day + time.Second) }),
		is(7, policy.InactiveKeys, "111111111111", "AKIA7", func(i *issues.Issue) { i.Stage = policy.Warning }),
		is(8, policy.InactivePasswords, "222222222222", "u", nil),
		is(9, policy.InactiveKeys, "222222222222", "AKIA9", nil),
		is(10, policy.InactiveKeys, "222222222222", "AKIA10", nil),
		is(11, policy.InactiveKeys, "222222222222", "AKIA11", nil),
	}
	p := MakePlan(list, pol, asOf)
	if len(p.Items) != 1 || p.Items[0].KeyID != "AKIA1" {
		t.Fatalf("items: %+v", p.Items)
	}
	want := map[int64]error{2: ErrNotEnabled, 3: ErrNoKeyID, 4: ErrOwnKey, 5: ErrWhitelisted, 6: ErrNotDue, 7: ErrNotViolation,
		8: ErrAccountExcluded, 9: ErrOverCap, 10: ErrOverCap, 11: ErrOverCap}
	for _, s := range p.Skipped {
		id := s.Issues[0].ID
		if !errors.Is(s.Err, want[id]) {
			t.Errorf("issue %d: %v, want %v", id, s.Err, want[id])
		}
		delete(want, id)
	}
	if len(want) != 0 {
		t.Errorf("not skipped: %v", want)
	}
	if p.OverCap()["222222222222"] != 3 {
		t.Errorf("over cap: %v", p.OverCap())
	}
	// Naming the kind turns it on; the two issues of key AKIA1 make one item.
	pol.Explicit = map[policy.Kind]bool{policy.KeysRotation: true}
	p = MakePlan(list[:2], pol, asOf)
	if len(p.Items) != 1 || len(p.Items[0].Issues) != 2 {
		t.Errorf("explicit kind: %+v", p.Items)
	}
}

// A rollback hold exempts its key until it ends, also when no scan has
// marked the issue yet; an issue a scan whitelisted for a hold that has
// ended by the plan's date is due again; other exemptions still hold.
func TestMakePlanHolds(t *testing.T) {
	asOf := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	until := asOf.Add(10 * policy.Day)
	hold := func(id int64, key string, until time.Time) policy.Exemption {
		h, _ := HoldExemption(&Action{ID: id, Op: OpReactivateKey, AccountID: "111111111111", KeyID: key, HoldUntil: &until})
		return h
	}
	holds := policy.NewDated([]policy.Exemption{
		hold(7, "AKIAHELD", until),
		hold(5, "AKIAHELD", asOf), // the later end wins
	})
	pol := Policy{Kinds: map[policy.Kind]KindPolicy{policy.InactiveKeys: {Enabled: true}}, Dated: holds}
	mk := func(id int64, key, exemption string) issues.Issue {
		st := issues.Open
		if exemption != "" {
			st = issues.Whitelisted
		}
		return issues.Issue{ID: id, Kind: policy.InactiveKeys, AccountID: "111111111111", Subject: key, Status: st,
			Exemption: exemption, Stage: policy.Violation, Details: issues.Details{Username: "u"}, Detected: asOf.Add(-policy.Day)}
	}
	list := []issues.Issue{
		mk(1, "AKIAHELD", ""),                                 // reopened by rollback, no scan since
		mk(2, "AKIAHELD", hold(7, "AKIAHELD", until).Text()),  // whitelisted by a scan for the hold
		mk(3, "AKIAOTHER", hold(6, "AKIAOTHER", asOf).Text()), // a hold the journal no longer has, ended
		mk(4, "AKIAWL", policy.ExemptWhitelist),               // whitelist.json
	}
	cases := []struct {
		at       time.Time
		planned  []int64
		held     []int64
		whitelst []int64
	}{
		{asOf, []int64{3}, []int64{1, 2}, []int64{4}},
		{until.Add(-time.Second), []int64{3}, []int64{1, 2}, []int64{4}},
		{until, []int64{1, 2, 3}, nil, []int64{4}},
	}
	for _, c := range cases {
		p := MakePlan(list, pol, c.at)
		var planned, held, wl []int64
		for _, it := range p.Items {
			planned = append(planned, it.IssueIDs()...)
		}
		for _, s := range p.Skipped {
			switch {
			case errors.Is(s.Err, ErrHeld):
				held = append(held, s.Issues[0].ID)
				if !errors.Is(s.Err, ErrWhitelisted) || !strings.Contains(s.Err.Error(), "exempt until 2026-12-05: rolled back (action 7) (keywarden rollback)") {
					t.Errorf("held: %v", s.Err)
				}
			case errors.Is(s.Err, ErrWhitelisted):
				wl = append(wl, s.Issues[0].ID)
			}
		}
		if fmt.Sprint(planned) != fmt.Sprint(c.planned) || fmt.Sprint(held) != fmt.Sprint(c.held) || fmt.Sprint(wl) != fmt.Sprint(c.whitelst) {
			t.Errorf("as of %s: planned %v held %v whitelisted %v, want %v %v %v", c.at, planned, held, wl, c.planned, c.held, c.whitelst)
		}
	}
}

// Remediation waits for the report (issue 12): with reporting on for the
// kind, an issue is due only once its violation was reported, and the
// retention counts from that report, as Hammer's remediation does (it
// skips issues whose timestamps.reported is unset and counts
// remediation_retention_period from it). With reporting off it counts from
// detection, and the plan says so.
func TestMakePlanReportGate(t *testing.T) {
	asOf := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) *time.Time { t := asOf.Add(-d); return &t }
	cases := []struct {
		name      string
		reporting bool
		retention int
		detected  time.Duration // before asOf
		reported  *time.Time
		stage     policy.Stage
		wantErr   error  // nil: planned
		want      string // in the reason (skipped) or Why (planned)
	}{
		{"not reported", true, 7, 30 * policy.Day, nil, policy.Violation, ErrNotReported,
			"not reported: the violation has not been delivered on any channel yet"},
		{"not reported, retention 0", true, 0, 30 * policy.Day, nil, policy.Violation, ErrNotReported, "not reported"},
		{"reported 2 days ago", true, 7, 30 * policy.Day, ago(2 * policy.Day), policy.Violation, ErrNotDue,
			"reported 2 days ago, retention 7 (due 2026-11-30)"},
		{"day 6: not due", true, 7, 30 * policy.Day, ago(7*policy.Day - time.Second), policy.Violation, ErrNotDue,
			"reported 6 days ago, retention 7 (due 2026-11-25)"},
		{"day 7: due", true, 7, 30 * policy.Day, ago(7 * policy.Day), policy.Violation, nil,
			"; reported 7 days ago, retention 7 (due 2026-11-25)"},
		{"retention 0: due once reported", true, 0, 0, ago(0), policy.Violation, nil, "reported today, retention 0"},
		{"detected long ago counts for nothing", true, 7, 400 * policy.Day, ago(policy.Day), policy.Violation, ErrNotDue,
			"reported 1 day ago, retention 7 (due 2026-12-01)"},
		{"reported after the plan's date", true, 0, 30 * policy.Day, ago(-policy.Day), policy.Violation, ErrNotReported,
			"not reported: reported on 2026-11-26, after the plan's date"},
		{"a warning is no violation", true, 0, 30 * policy.Day, ago(policy.Day), policy.Warning, ErrNotViolation, "not past its deadline"},
		{"reporting off: not due", false, 7, 2 * policy.Day, nil, policy.Violation, ErrNotDue,
			"reporting off: retention counts from detection; detected 2 days ago, retention 7 (due 2026-11-30)"},
		{"reporting off: due", false, 7, 7 * policy.Day, nil, policy.Violation, nil,
			"reporting off: retention counts from detection; detected 7 days ago, retention 7 (due 2026-11-25)"},
		{"reporting off: a report changes nothing", false, 7, 7 * policy.Day, ago(0), policy.Violation, nil,
			"reporting off: retention counts from detection"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			is := issues.Issue{ID: 1, Kind: policy.InactiveKeys, AccountID: "111111111111", Subject: "AKIA1", Status: issues.Open,
				Stage: c.stage, Details: issues.Details{Username: "u", LastUsed: "2026-01-01T00:00:00Z"}, LimitDays: 90,
				Detected: asOf.Add(-c.detected), Reported: c.reported}
			kp := KindPolicy{Enabled: true, RetentionDays: c.retention, Reporting: c.reporting}
			p := MakePlan([]issues.Issue{is}, Policy{Kinds: map[policy.Kind]KindPolicy{policy.InactiveKeys: kp}}, asOf)
			if c.wantErr == nil {
				if len(p.Items) != 1 || len(p.Skipped) != 0 {
					t.Fatalf("planned %+v, skipped %+v", p.Items, p.Skipped)
				}
				if why := p.Items[0].Why(); !strings.Contains(why, c.want) {
					t.Errorf("why %q, want %q in it", why, c.want)
				}
				due, ok := DueAt(&is, kp, asOf)
				if !ok || !p.Items[0].Due.Equal(due) || asOf.Before(due) {
					t.Errorf("due %v, DueAt %v %v", p.Items[0].Due, due, ok)
				}
				return
			}
			if len(p.Items) != 0 || len(p.Skipped) != 1 {
				t.Fatalf("planned %+v, skipped %+v", p.Items, p.Skipped)
			}
			if err := p.Skipped[0].Err; !errors.Is(err, c.wantErr) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("reason %q, want %v with %q", err, c.wantErr, c.want)
			}
		})
	}
}

// slack.remediation_warning_days: with warning stages, nothing is due
// before the owner was warned, and no sooner than the nearest stage after
// the first warning.
func TestMakePlanRemediationWarning(t *testing.T) {
	asOf := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	reported := asOf.Add(-7 * policy.Day)
	is := issues.Issue{ID: 1, Kind: policy.InactiveKeys, AccountID: "111111111111", Subject: "AKIA1", Status: issues.Open,
		Stage: policy.Violation, Details: issues.Details{Username: "u"}, Detected: reported, Reported: &reported}
	cases := []struct {
		name    string
		kp      KindPolicy
		warned  *time.Time
		wantErr error
		want    string
	}{
		{"no stages", KindPolicy{Enabled: true, RetentionDays: 7, Reporting: true}, nil, nil, "reported 7 days ago"},
		{"not warned", KindPolicy{Enabled: true, RetentionDays: 7, Reporting: true, WarningDays: []int{3, 1}}, nil, ErrNotDue,
			"reported 7 days ago, retention 7 (due 2026-11-25); no remediation warning sent yet (slack.remediation_warning_days [3 1]"},
		{"warned on time", KindPolicy{Enabled: true, RetentionDays: 7, Reporting: true, WarningDays: []int{3, 1}}, ptr(asOf.Add(-3 * policy.Day)), nil,
			"reported 7 days ago, retention 7 (due 2026-11-25)"},
		{"warned late", KindPolicy{Enabled: true, RetentionDays: 7, Reporting: true, WarningDays: []int{3, 1}}, ptr(asOf.Add(-time.Hour)), ErrNotDue,
			"first warned today, 1 day before acting (due 2026-11-26)"},
		{"warned late, a day ago", KindPolicy{Enabled: true, RetentionDays: 7, Reporting: true, WarningDays: []int{3, 1}}, ptr(asOf.Add(-policy.Day)), nil,
			"reported 7 days ago, retention 7 (due 2026-11-25)"}, // warned + 1 day is now: due
		{"warned after the plan's date", KindPolicy{Enabled: true, RetentionDays: 7, Reporting: true, WarningDays: []int{1}}, ptr(asOf.Add(time.Hour)), ErrNotDue,
			"no remediation warning sent yet"},
		{"reporting off: no warning", KindPolicy{Enabled: true, RetentionDays: 7, WarningDays: []int{1}}, nil, nil, "reporting off"},
	}
	for _, c := range cases {
		pol := Policy{Kinds: map[policy.Kind]KindPolicy{policy.InactiveKeys: c.kp}}
		if c.warned != nil {
			pol.Warned = map[int64]time.Time{1: *c.warned}
		}
		p := MakePlan([]issues.Issue{is}, pol, asOf)
		switch {
		case c.wantErr == nil && len(p.Items) == 1:
			if why := p.Items[0].Why(); !strings.Contains(why, c.want) {
				t.Errorf("%s: why %q, want %q", c.name, why, c.want)
			}
		case c.wantErr != nil && len(p.Skipped) == 1:
			if err := p.Skipped[0].Err; !errors.Is(err, c.wantErr) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: %v, want %v with %q", c.name, err, c.wantErr, c.want)
			}
		default:
			t.Errorf("%s: planned %+v skipped %+v", c.name, p.Items, p.Skipped)
		}
	}
}

func ptr(t time.Time) *time.Time { return &t }
