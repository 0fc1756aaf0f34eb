package issues_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/policy"
)

const account = "123456789012"

var asOf = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func daysAgo(n int) time.Time { return asOf.Add(-time.Duration(n) * policy.Day) }

func ptr(t time.Time) *time.Time { return &t }

var rules = []policy.Rule{
	{Kind: policy.InactiveKeys, LimitDays: 90, WarningDays: 10},
	{Kind: policy.KeysRotation, LimitDays: 180, WarningDays: 14},
	{Kind: policy.InactivePasswords, LimitDays: 90, WarningDays: 10},
}

// alice has one finding of each kind: a key unused for 100 days and 300
// days old, a password unused for 120 days.
func alice() inventory.User {
	return inventory.User{
		Name:    "alice",
		ARN:     "arn:aws:iam::123456789012:user/alice",
		Created: daysAgo(400),
		Password: &inventory.Password{
			Enabled: true, Created: daysAgo(400), LastUsed: ptr(daysAgo(120)),
		},
		Keys: []inventory.AccessKey{{
			ID: "AKIAALICE1", Slot: 1, Status: inventory.StatusActive,
			Created: daysAgo(300), LastUsed: ptr(daysAgo(100)),
		}},
	}
}

// factsOf are complete facts, as the AWS sources give: every user of the
// account.
func factsOf(users ...inventory.User) *inventory.Facts {
	return &inventory.Facts{Account: inventory.Account{ID: account}, Users: users, Complete: true}
}

// partialFacts are facts that may lack users, as a credential report file
// gives.
func partialFacts(users ...inventory.User) *inventory.Facts {
	f := factsOf(users...)
	f.Complete = false
	return f
}

// scan evaluates facts and reconciles the findings with live.
func scan(live []issues.Issue, facts *inventory.Facts, rs []policy.Rule, ex policy.Exemptions, at time.Time) *issues.Changes {
	return issues.Reconcile(live, policy.Evaluate(facts, rs, ex, at), facts, at)
}

// opened returns the issues a first scan of facts opens, with IDs from 1 as
// a store would assign them.
func opened(t *testing.T, facts *inventory.Facts, ex policy.Exemptions) []issues.Issue {
	t.Helper()
	ch := scan(nil, facts, rules, ex, asOf)
	if len(ch.Updated)+len(ch.Closed)+len(ch.Refreshed) != 0 {
		t.Fatalf("first scan: only new issues expected, got %+v", ch)
	}
	for i := range ch.New {
		ch.New[i].ID = int64(i + 1)
	}
	return ch.New
}

func byKind(t *testing.T, live []issues.Issue, k policy.Kind) issues.Issue {
	t.Helper()
	for _, is := range live {
		if is.Kind == k {
			return is
		}
	}
	t.Fatalf("no %s issue in %+v", k, live)
	return issues.Issue{}
}

func TestReconcileFirstScan(t *testing.T) {
	live := opened(t, factsOf(alice()), policy.Exemptions{})
	want := map[policy.Kind]string{
		policy.InactiveKeys:      "AKIAALICE1",
		policy.KeysRotation:      "AKIAALICE1",
		policy.InactivePasswords: "alice",
	}
	if len(live) != len(want) {
		t.Fatalf("got %d new issues, want %d: %+v", len(live), len(want), live)
	}
	for k, subject := range want {
		is := byKind(t, live, k)
		if is.Subject != subject || is.Status != issues.Open || is.Stage != policy.Violation ||
			is.AccountID != account || !is.Detected.Equal(asOf) || !is.Updated.Equal(asOf) {
			t.Errorf("%s: got %+v", k, is)
		}
		if is.Details.Username != "alice" {
			t.Errorf("%s: details %+v", k, is.Details)
		}
	}
	key := byKind(t, live, policy.InactiveKeys)
	wantDetails := issues.Details{
		Username:   "alice",
		CreateDate: daysAgo(300).Format(time.RFC3339),
		LastUsed:   daysAgo(100).Format(time.RFC3339),
	}
	if key.Details != wantDetails {
		t.Errorf("details: got %+v, want %+v", key.Details, wantDetails)
	}
}

func TestReconcileCloseReasons(t *testing.T) {
	ex := policy.Exemptions{}
	tests := []struct {
		name   string
		before *inventory.Facts
		after  *inventory.Facts // nil: the scan passes no facts
		rules  []policy.Rule
		// closed maps the kinds expected to close to their reason; the
		// other kinds must stay live.
		closed map[policy.Kind]string
		// kept is how many issues stay because their user is not listed
		// in incomplete facts.
		kept int
	}{
		{
			name:   "user deleted",
			before: factsOf(alice()),
			after:  factsOf(),
			closed: map[policy.Kind]string{
				policy.InactiveKeys:      "user deleted",
				policy.KeysRotation:      "user deleted",
				policy.InactivePasswords: "user deleted",
			},
		},
		{
			name:   "key deleted",
			before: factsOf(alice()),
			after: factsOf(func() inventory.User {
				u := alice()
				u.Keys = nil
				return u
			}()),
			closed: map[policy.Kind]string{
				policy.InactiveKeys: "key deleted",
				policy.KeysRotation: "key deleted",
			},
		},
		{
			name:   "rotated: key deleted and a newer key in use",
			before: factsOf(alice()),
			after: factsOf(func() inventory.User {
				u := alice()
				u.Keys = []inventory.AccessKey{{
					ID: "AKIAALICE2", Slot: 1, Status: inventory.StatusActive,
					Created: daysAgo(2), LastUsed: ptr(daysAgo(1)),
				}}
				return u
			}()),
			closed: map[policy.Kind]string{
				policy.InactiveKeys: "key deleted",
				policy.KeysRotation: "rotated: key deleted, newer key in use",
			},
		},
		{
			name:   "key deleted, the newer key is inactive: not a rotation",
			before: factsOf(alice()),
			after: factsOf(func() inventory.User {
				u := alice()
				u.Keys = []inventory.AccessKey{{
					ID: "AKIAALICE2", Slot: 1, Status: inventory.StatusInactive, Created: daysAgo(2),
				}}
				return u
			}()),
			closed: map[policy.Kind]string{
				policy.InactiveKeys: "key deleted",
				policy.KeysRotation: "key deleted",
			},
		},
		{
			name:   "key deactivated",
			before: factsOf(alice()),
			after: factsOf(func() inventory.User {
				u := alice()
				u.Keys[0].Status = inventory.StatusInactive
				return u
			}()),
			closed: map[policy.Kind]string{
				policy.InactiveKeys: "key deactivated",
				policy.KeysRotation: "key deactivated",
			},
		},
		{
			name:   "key used again",
			before: factsOf(alice()),
			after: factsOf(func() inventory.User {
				u := alice()
				u.Keys[0].LastUsed = ptr(daysAgo(1))
				return u
			}()),
			// Still 300 days old: the rotation issue stays.
			closed: map[policy.Kind]string{policy.InactiveKeys: "key used again"},
		},
		{
			name:   "login profile deleted",
			before: factsOf(alice()),
			after: factsOf(func() inventory.User {
				u := alice()
				u.Password = nil
				return u
			}()),
			closed: map[policy.Kind]string{policy.InactivePasswords: "login profile deleted"},
		},
		{
			name:   "login profile deleted, PasswordLastUsed left behind",
			before: factsOf(alice()),
			after: factsOf(func() inventory.User {
				u := alice()
				u.Password.Enabled = false
				return u
			}()),
			closed: map[policy.Kind]string{policy.InactivePasswords: "login profile deleted"},
		},
		{
			name:   "password used again",
			before: factsOf(alice()),
			after: factsOf(func() inventory.User {
				u := alice()
				u.Password.LastUsed = ptr(daysAgo(3))
				return u
			}()),
			closed: map[policy.Kind]string{policy.InactivePasswords: "password used again"},
		},
		{
			name:   "threshold raised",
			before: factsOf(alice()),
			after:  factsOf(alice()),
			rules: []policy.Rule{
				{Kind: policy.InactiveKeys, LimitDays: 365},
				{Kind: policy.KeysRotation, LimitDays: 180, WarningDays: 14},
				{Kind: policy.InactivePasswords, LimitDays: 90, WarningDays: 10},
			},
			closed: map[policy.Kind]string{policy.InactiveKeys: "no longer detected"},
		},
		{
			// A credential report file can be cut at a line boundary: a
			// user it does not list is unknown, not deleted.
			name:   "user absent from incomplete facts: stays open",
			before: factsOf(alice()),
			after:  partialFacts(inventory.User{Name: "bob", ARN: "arn:aws:iam::123456789012:user/bob", Created: daysAgo(10)}),
			closed: map[policy.Kind]string{},
			kept:   3,
		},
		{
			name:   "user listed in incomplete facts: reconciled as usual",
			before: factsOf(alice()),
			after: partialFacts(func() inventory.User {
				u := alice()
				u.Keys[0].Status = inventory.StatusInactive
				u.Password = nil
				return u
			}()),
			closed: map[policy.Kind]string{
				policy.InactiveKeys:      "key deactivated",
				policy.KeysRotation:      "key deactivated",
				policy.InactivePasswords: "login profile deleted",
			},
		},
		{
			name:   "no facts: nothing resolved",
			before: factsOf(alice()),
			after:  nil,
			closed: map[policy.Kind]string{},
			kept:   3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			live := opened(t, tt.before, ex)
			rs := rules
			if tt.rules != nil {
				rs = tt.rules
			}
			var findings []policy.Finding
			if tt.after != nil {
				findings = policy.Evaluate(tt.after, rs, ex, asOf)
			}
			ch := issues.Reconcile(live, findings, tt.after, asOf)
			if len(ch.New) != 0 {
				t.Errorf("new issues: %+v", ch.New)
			}
			got := map[policy.Kind]string{}
			for i, c := range ch.Closed {
				is := c.Issue
				got[is.Kind] = c.Why
				if is.Status != issues.Resolved || is.CloseReason != c.Why ||
					is.Closed == nil || !is.Closed.Equal(asOf) || !is.Updated.Equal(asOf) {
					t.Errorf("closed %s: got %+v", is.Kind, is)
				}
				if i > 0 && ch.Closed[i-1].Issue.ID >= is.ID {
					t.Errorf("closed issues not ordered by ID: %d then %d", ch.Closed[i-1].Issue.ID, is.ID)
				}
			}
			if !reflect.DeepEqual(got, tt.closed) {
				t.Errorf("closed:\n got %v\nwant %v", got, tt.closed)
			}
			if tt.kept != len(ch.Kept) {
				t.Errorf("kept %d issues, want %d: %+v", len(ch.Kept), tt.kept, ch.Kept)
			}
		})
	}
}

// A credential report file has no key IDs: keys are subjects by slot, and a
// key rotated in place (same slot, newer key) closes the old issue.
func TestReconcileCloseBySlot(t *testing.T) {
	u := alice()
	u.Keys[0].ID = ""
	live := opened(t, factsOf(u), policy.Exemptions{})
	if s := byKind(t, live, policy.KeysRotation).Subject; s != "alice/access_key_1" {
		t.Fatalf("subject %q", s)
	}
	u.Keys[0].Created, u.Keys[0].LastUsed = daysAgo(1), ptr(daysAgo(1))
	ch := scan(live, factsOf(u), rules, policy.Exemptions{}, asOf)
	got := map[policy.Kind]string{}
	for _, c := range ch.Closed {
		got[c.Issue.Kind] = c.Why
	}
	want := map[policy.Kind]string{
		policy.InactiveKeys: "key deleted",
		policy.KeysRotation: "rotated: key deleted, newer key in use",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("closed:\n got %v\nwant %v", got, want)
	}
}

func TestReconcileExemptionChanges(t *testing.T) {
	whitelist := policy.Exemptions{Whitelist: map[policy.Kind]map[string][]string{
		policy.InactiveKeys: {account: {"AKIAALICE1"}},
	}}
	tagged := func() inventory.User {
		u := alice()
		u.Tags = map[string]string{"KeyAutoExpire": "False "}
		return u
	}
	tests := []struct {
		name           string
		before, after  inventory.User
		exBefore, exAf policy.Exemptions
		why            string
		status         issues.Status
		exemption      string
	}{
		{
			name: "whitelisted", before: alice(), after: alice(), exAf: whitelist,
			why: "whitelisted by whitelist.json", status: issues.Whitelisted, exemption: policy.ExemptWhitelist,
		},
		{
			name: "tagged", before: alice(), after: tagged(),
			why: "whitelisted by tag KeyAutoExpire=false", status: issues.Whitelisted, exemption: policy.ExemptTag,
		},
		{
			name: "no longer whitelisted", before: alice(), after: alice(), exBefore: whitelist,
			why: "no longer whitelisted", status: issues.Open,
		},
		{
			name: "whitelist entry replaced by tag", before: alice(), after: tagged(), exBefore: whitelist,
			why: "whitelisted by tag KeyAutoExpire=false", status: issues.Whitelisted, exemption: policy.ExemptTag,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			live := opened(t, factsOf(tt.before), tt.exBefore)
			old := byKind(t, live, policy.InactiveKeys)
			ch := scan(live, factsOf(tt.after), rules, tt.exAf, asOf)
			if len(ch.New)+len(ch.Closed) != 0 {
				t.Fatalf("unexpected new/closed: %+v", ch)
			}
			var found bool
			for _, c := range ch.Updated {
				if c.Issue.Kind != policy.InactiveKeys {
					continue
				}
				found = true
				is := c.Issue
				if c.Why != tt.why || is.Status != tt.status || is.Exemption != tt.exemption ||
					is.ID != old.ID || !is.Updated.Equal(asOf) || !is.Detected.Equal(old.Detected) {
					t.Errorf("got why %q, issue %+v; want why %q, status %s, exemption %q",
						c.Why, is, tt.why, tt.status, tt.exemption)
				}
			}
			if !found {
				t.Errorf("no update for the key issue: %+v", ch)
			}
		})
	}
}

func TestReconcileNewWhitelisted(t *testing.T) {
	u := alice()
	u.Tags = map[string]string{"KeyAutoExpire": "false"}
	for _, is := range opened(t, factsOf(u), policy.Exemptions{}) {
		if is.Status != issues.Whitelisted || is.Exemption != policy.ExemptTag {
			t.Errorf("%s: status %s exemption %q", is.Kind, is.Status, is.Exemption)
		}
	}
}

func TestReconcileDuplicateFindings(t *testing.T) {
	findings := policy.Evaluate(factsOf(alice()), rules, policy.Exemptions{}, asOf)
	doubled := append(append([]policy.Finding{}, findings...), findings...)
	ch := issues.Reconcile(nil, doubled, factsOf(alice()), asOf)
	if len(ch.New) != len(findings) {
		t.Fatalf("got %d new issues from %d distinct findings", len(ch.New), len(findings))
	}
	for i := range ch.New {
		ch.New[i].ID = int64(i + 1)
	}
	// Duplicates of a live issue's finding change it once.
	later := asOf.Add(policy.Day)
	findings = policy.Evaluate(factsOf(alice()), rules, policy.Exemptions{}, later)
	doubled = append(append([]policy.Finding{}, findings...), findings...)
	ch = issues.Reconcile(ch.New, doubled, factsOf(alice()), later)
	if len(ch.New)+len(ch.Updated)+len(ch.Closed) != 0 || len(ch.Refreshed) != len(findings) {
		t.Errorf("got %+v, want %d refreshed only", ch, len(findings))
	}
}

func TestReconcileUpdates(t *testing.T) {
	// bob's key was last used 85 days ago: a warning, 5 days left.
	bob := inventory.User{
		Name: "bob", ARN: "arn:aws:iam::123456789012:user/bob", Created: daysAgo(100),
		Keys: []inventory.AccessKey{{
			ID: "AKIABOB1", Slot: 1, Status: inventory.StatusActive,
			Created: daysAgo(100), LastUsed: ptr(daysAgo(85)),
		}},
	}
	ex := policy.Exemptions{}
	first := scan(nil, factsOf(bob), rules, ex, asOf)
	if len(first.New) != 1 || first.New[0].Stage != policy.Warning || first.New[0].DaysLeft != 5 {
		t.Fatalf("first scan: %+v", first.New)
	}
	first.New[0].ID = 7
	reported := asOf.Add(time.Minute)
	first.New[0].Reported = &reported
	live := first.New

	t.Run("same scan again", func(t *testing.T) {
		if ch := scan(live, factsOf(bob), rules, ex, asOf); !ch.Empty() {
			t.Errorf("got %+v, want no changes", ch)
		}
	})
	t.Run("next day: counters only", func(t *testing.T) {
		next := asOf.Add(policy.Day)
		ch := scan(live, factsOf(bob), rules, ex, next)
		if len(ch.New)+len(ch.Updated)+len(ch.Closed) != 0 || len(ch.Refreshed) != 1 {
			t.Fatalf("got %+v, want one refreshed", ch)
		}
		is := ch.Refreshed[0]
		if is.ID != 7 || is.DaysLeft != 4 || is.AgeDays != 86 || !is.Updated.Equal(next) ||
			!is.Detected.Equal(asOf) || is.Reported == nil || !is.Reported.Equal(reported) {
			t.Errorf("refreshed: %+v", is)
		}
	})
	t.Run("warning -> violation", func(t *testing.T) {
		next := asOf.Add(10 * policy.Day)
		ch := scan(live, factsOf(bob), rules, ex, next)
		if len(ch.Updated) != 1 || len(ch.New)+len(ch.Closed)+len(ch.Refreshed) != 0 {
			t.Fatalf("got %+v, want one updated", ch)
		}
		c := ch.Updated[0]
		if c.Why != "warning -> violation" || c.Issue.Stage != policy.Violation || c.Issue.DaysLeft != -5 ||
			c.Issue.Reported == nil {
			t.Errorf("updated: why %q, %+v", c.Why, c.Issue)
		}
	})
	t.Run("threshold lowered", func(t *testing.T) {
		rs := []policy.Rule{{Kind: policy.InactiveKeys, LimitDays: 60}}
		ch := scan(live, factsOf(bob), rs, ex, asOf)
		if len(ch.Updated) != 1 {
			t.Fatalf("got %+v, want one updated", ch)
		}
		if want := "warning -> violation; threshold 90 -> 60 days"; ch.Updated[0].Why != want {
			t.Errorf("why %q, want %q", ch.Updated[0].Why, want)
		}
	})
}

// A key due for rotation may be used every day: that is not news to report.
func TestReconcileRotationKeyInUse(t *testing.T) {
	u := alice()
	u.Keys[0].LastUsed = ptr(daysAgo(1))
	u.Password = nil
	live := opened(t, factsOf(u), policy.Exemptions{})
	if len(live) != 1 || live[0].Kind != policy.KeysRotation {
		t.Fatalf("want one rotation issue, got %+v", live)
	}
	next := asOf.Add(policy.Day)
	u.Keys[0].LastUsed = ptr(next.Add(-time.Hour))
	ch := scan(live, factsOf(u), rules, policy.Exemptions{}, next)
	if len(ch.Updated) != 0 || len(ch.Refreshed) != 1 {
		t.Fatalf("got %+v, want one refreshed", ch)
	}
	if got, want := ch.Refreshed[0].Details.LastUsed, next.Add(-time.Hour).Format(time.RFC3339); got != want {
		t.Errorf("last used %q, want %q", got, want)
	}
}
