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
	holds := policy.Holds{}
	holds.Add("111111111111", "AKIAHELD", until)
	holds.Add("111111111111", "AKIAHELD", asOf) // the later end wins
	pol := Policy{Kinds: map[policy.Kind]KindPolicy{policy.InactiveKeys: {Enabled: true}}, Holds: holds}
	mk := func(id int64, key, exemption string) issues.Issue {
		st := issues.Open
		if exemption != "" {
			st = issues.Whitelisted
		}
		return issues.Issue{ID: id, Kind: policy.InactiveKeys, AccountID: "111111111111", Subject: key, Status: st,
			Exemption: exemption, Stage: policy.Violation, Details: issues.Details{Username: "u"}, Detected: asOf.Add(-policy.Day)}
	}
	list := []issues.Issue{
		mk(1, "AKIAHELD", ""),                       // reopened by rollback, no scan since
		mk(2, "AKIAHELD", policy.HoldReason(until)), // whitelisted by a scan for the hold
		mk(3, "AKIAOTHER", policy.HoldReason(asOf)), // a hold the journal no longer has, ended
		mk(4, "AKIAWL", policy.ExemptWhitelist),     // whitelist.json
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
				if !errors.Is(s.Err, ErrWhitelisted) || !strings.Contains(s.Err.Error(), "rolled back until 2026-12-05") {
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
