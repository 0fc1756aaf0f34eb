package remediate

import (
	"errors"
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
