// Package storetest is the contract of issues.Store and issues.Locker: one
// suite that every backend (sqlite, dynamodb) runs from its own tests, so
// that they behave alike down to the details callers rely on — IDs and
// versions assigned in place, all-or-nothing Apply, conflicts instead of
// lost updates, filters, not-found errors, and the run lock.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/policy"
)

// Open returns a new, empty store for one test; the suite closes it (a
// second Close from the caller's own cleanup must be harmless).
type Open func(t *testing.T) issues.Store

// Run runs the whole contract against stores made by open. Every subtest
// opens its own store(s). The store must also implement issues.Locker.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(*testing.T, Open)
	}{
		{"Lifecycle", testLifecycle},
		{"RoundTrip", testRoundTrip},
		{"GetNotFound", testGetNotFound},
		{"ListFilter", testListFilter},
		{"ApplyAllOrNothing", testApplyAllOrNothing},
		{"ApplyEmpty", testApplyEmpty},
		{"ApplyMany", testApplyMany},
		{"IDs", testIDs},
		{"StaleVersion", testStaleVersion},
		{"RacingNew", testRacingNew},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"ConcurrentNew", testConcurrentNew},
		{"LastScan", testLastScan},
		{"Lock", testLock},
		{"LockExpiry", testLockExpiry},
		{"LockRace", testLockRace},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
	}
}

const (
	account = "123456789012"
	other   = "210987654321"
)

var (
	asOf  = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	rules = []policy.Rule{
		{Kind: policy.InactiveKeys, LimitDays: 90, WarningDays: 10},
		{Kind: policy.KeysRotation, LimitDays: 180, WarningDays: 14},
		{Kind: policy.InactivePasswords, LimitDays: 90, WarningDays: 10},
	}
	live = []issues.Status{issues.Open, issues.Whitelisted}
)

func daysAgo(n int) time.Time { return asOf.Add(-time.Duration(n) * policy.Day) }

func ptr(t time.Time) *time.Time { return &t }

func openStore(t *testing.T, open Open) issues.Store {
	t.Helper()
	s := open(t)
	t.Cleanup(func() { s.Close() })
	return s
}

func list(t *testing.T, s issues.Store, f issues.Filter) []issues.Issue {
	t.Helper()
	out, err := s.List(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func get(t *testing.T, s issues.Store, id int64) issues.Issue {
	t.Helper()
	is, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return *is
}

// reconcile is the first half of a run for one account: live issues from
// the store, findings from the facts, Reconcile.
func reconcile(t *testing.T, s issues.Store, facts *inventory.Facts, ex policy.Exemptions, at time.Time) *issues.Changes {
	t.Helper()
	lv := list(t, s, issues.Filter{AccountID: facts.Account.ID, Statuses: live})
	return issues.Reconcile(lv, policy.Evaluate(facts, rules, ex, at), facts, at)
}

// scan is one whole run for one account: reconcile, then Apply.
func scan(t *testing.T, s issues.Store, facts *inventory.Facts, ex policy.Exemptions, at time.Time) *issues.Changes {
	t.Helper()
	ch := reconcile(t, s, facts, ex, at)
	if err := s.Apply(context.Background(), ch); err != nil {
		t.Fatal(err)
	}
	return ch
}

// factsOf are complete facts (every user of the account), as the AWS
// sources give: an issue of a user they lack resolves as "user deleted".
func factsOf(acct string, users ...inventory.User) *inventory.Facts {
	return &inventory.Facts{Account: inventory.Account{ID: acct}, Users: users, Complete: true}
}

// alice has one finding of each kind.
func alice() inventory.User {
	return inventory.User{
		Name: "alice", ARN: "arn:aws:iam::123456789012:user/alice", Created: daysAgo(400),
		Password: &inventory.Password{Enabled: true, Created: daysAgo(400), LastUsed: ptr(daysAgo(120))},
		Keys: []inventory.AccessKey{{
			ID: "AKIAALICE1", Slot: 1, Status: inventory.StatusActive,
			Created: daysAgo(300), LastUsed: ptr(daysAgo(100)),
		}},
	}
}

// bob's key was last used 85 days ago: a warning, 5 days left.
func bob() inventory.User {
	return inventory.User{
		Name: "bob", ARN: "arn:aws:iam::123456789012:user/bob", Created: daysAgo(100),
		Keys: []inventory.AccessKey{{
			ID: "AKIABOB1", Slot: 1, Status: inventory.StatusActive,
			Created: daysAgo(100), LastUsed: ptr(daysAgo(85)),
		}},
	}
}

// carol is exempt by tag.
func carol() inventory.User {
	return inventory.User{
		Name: "carol", ARN: "arn:aws:iam::123456789012:user/carol", Created: daysAgo(100),
		Tags: map[string]string{"KeyAutoExpire": "false"},
		Keys: []inventory.AccessKey{{
			ID: "AKIACAROL1", Slot: 1, Status: inventory.StatusActive, Created: daysAgo(95),
		}},
	}
}

// keyIssue is a new open issue for an access key, built by hand.
func keyIssue(acct, keyID string) issues.Issue {
	return issues.Issue{
		Kind: policy.InactiveKeys, AccountID: acct, Subject: keyID,
		Status: issues.Open, Stage: policy.Violation,
		Details: issues.Details{Username: "user-" + keyID, CreateDate: "2025-01-01T00:00:00Z"},
		AgeDays: 100, LimitDays: 90, DaysLeft: -10, Deadline: daysAgo(10),
		Detected: asOf, Updated: asOf,
	}
}

func find(t *testing.T, in []issues.Issue, k policy.Kind, subject string) issues.Issue {
	t.Helper()
	for _, is := range in {
		if is.Kind == k && is.Subject == subject {
			return is
		}
	}
	t.Fatalf("no %s issue for %s in %+v", k, subject, in)
	return issues.Issue{}
}

func sameIssues(t *testing.T, what string, got, want []issues.Issue) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func testLifecycle(t *testing.T, open Open) {
	s := openStore(t, open)
	ex := policy.Exemptions{}

	// Scan 1: four findings, four new open issues with IDs and versions.
	ch := scan(t, s, factsOf(account, alice(), bob()), ex, asOf)
	if len(ch.New) != 4 || len(ch.Updated)+len(ch.Closed)+len(ch.Refreshed) != 0 {
		t.Fatalf("scan 1: %+v", ch)
	}
	for i, is := range ch.New {
		if is.ID <= 0 || is.Version == 0 {
			t.Errorf("new issue %d: ID %d, version %d", i, is.ID, is.Version)
		}
	}
	stored := list(t, s, issues.Filter{})
	sameIssues(t, "stored issues differ from the applied ones", stored, ch.New)
	bobKey := find(t, stored, policy.InactiveKeys, "AKIABOB1")
	if bobKey.Status != issues.Open || bobKey.Stage != policy.Warning || bobKey.DaysLeft != 5 {
		t.Fatalf("bob: %+v", bobKey)
	}
	if got := get(t, s, bobKey.ID); !reflect.DeepEqual(got, bobKey) {
		t.Errorf("Get differs from List:\n got %+v\nwant %+v", got, bobKey)
	}

	// The same scan again, twice: nothing changes, in Changes or in the store.
	for range 2 {
		if ch := scan(t, s, factsOf(account, alice(), bob()), ex, asOf); !ch.Empty() {
			t.Errorf("scan 1 again: %+v", ch)
		}
	}
	sameIssues(t, "store changed by an idempotent scan", list(t, s, issues.Filter{}), stored)

	// Next day: only the counters move; the applied issues are what is stored.
	day2 := asOf.Add(policy.Day)
	ch = scan(t, s, factsOf(account, alice(), bob()), ex, day2)
	if len(ch.Refreshed) != 4 || len(ch.New)+len(ch.Updated)+len(ch.Closed) != 0 {
		t.Fatalf("day 2: %+v", ch)
	}
	for _, is := range ch.Refreshed {
		if got := get(t, s, is.ID); !reflect.DeepEqual(got, is) {
			t.Errorf("day 2: stored differs from applied:\n got %+v\nwant %+v", got, is)
		}
	}
	got := get(t, s, bobKey.ID)
	if got.DaysLeft != 4 || got.AgeDays != 86 || !got.Updated.Equal(day2) || !got.Detected.Equal(asOf) {
		t.Errorf("day 2 bob: %+v", got)
	}

	// Ten days later bob's warning is a violation.
	day10 := asOf.Add(10 * policy.Day)
	ch = scan(t, s, factsOf(account, alice(), bob()), ex, day10)
	if len(ch.Updated) != 1 || ch.Updated[0].Why != "warning -> violation" || ch.Updated[0].Issue.ID != bobKey.ID {
		t.Fatalf("day 10: %+v", ch)
	}
	if len(ch.Refreshed) != 3 {
		t.Errorf("day 10: %d refreshed, want 3", len(ch.Refreshed))
	}
	if got := get(t, s, bobKey.ID); got.Stage != policy.Violation || got.DaysLeft != -5 {
		t.Errorf("day 10 bob: %+v", got)
	}

	// bob deactivates his key: resolved, "key deactivated".
	day11 := asOf.Add(11 * policy.Day)
	b := bob()
	b.Keys[0].Status = inventory.StatusInactive
	ch = scan(t, s, factsOf(account, alice(), b), ex, day11)
	if len(ch.Closed) != 1 || ch.Closed[0].Why != "key deactivated" {
		t.Fatalf("day 11: %+v", ch)
	}
	got = get(t, s, bobKey.ID)
	if got.Status != issues.Resolved || got.CloseReason != "key deactivated" ||
		got.Closed == nil || !got.Closed.Equal(day11) {
		t.Errorf("day 11 bob: %+v", got)
	}
	if n := len(list(t, s, issues.Filter{Statuses: live})); n != 3 {
		t.Errorf("%d live issues, want 3", n)
	}
	// A closed issue stays closed on the next scans.
	if ch := scan(t, s, factsOf(account, alice(), b), ex, day11); !ch.Empty() {
		t.Errorf("day 11 again: %+v", ch)
	}

	// Reactivated, still unused: a new issue for the same credential, the
	// resolved one kept as history and still found by its ID.
	day12 := asOf.Add(12 * policy.Day)
	ch = scan(t, s, factsOf(account, alice(), bob()), ex, day12)
	if len(ch.New) != 1 || ch.New[0].ID == bobKey.ID || ch.New[0].ID <= 0 {
		t.Fatalf("day 12: %+v", ch)
	}
	hist := list(t, s, issues.Filter{Kind: policy.InactiveKeys, Subject: "AKIABOB1"})
	if len(hist) != 2 || hist[0].ID != bobKey.ID || hist[0].Status != issues.Resolved ||
		hist[1].ID != ch.New[0].ID || hist[1].Status != issues.Open || !hist[1].Detected.Equal(day12) {
		t.Errorf("bob's history: %+v", hist)
	}
	if got := get(t, s, bobKey.ID); got.Status != issues.Resolved || got.CloseReason != "key deactivated" {
		t.Errorf("bob's resolved issue after a new one opened: %+v", got)
	}
	if got := get(t, s, ch.New[0].ID); !reflect.DeepEqual(got, ch.New[0]) {
		t.Errorf("bob's new issue:\n got %+v\nwant %+v", got, ch.New[0])
	}

	// Deactivated and reactivated once more: a third issue, two in history.
	day13 := asOf.Add(13 * policy.Day)
	scan(t, s, factsOf(account, alice(), b), ex, day13)
	day14 := asOf.Add(14 * policy.Day)
	third := scan(t, s, factsOf(account, alice(), bob()), ex, day14)
	if len(third.New) != 1 {
		t.Fatalf("day 14: %+v", third)
	}
	hist = list(t, s, issues.Filter{Subject: "AKIABOB1", Kind: policy.InactiveKeys})
	if len(hist) != 3 || hist[0].Status != issues.Resolved || hist[1].Status != issues.Resolved || hist[2].Status != issues.Open {
		t.Errorf("bob's history after a third issue: %+v", hist)
	}
	for _, h := range hist {
		if got := get(t, s, h.ID); !reflect.DeepEqual(got, h) {
			t.Errorf("Get(%d) differs from List:\n got %+v\nwant %+v", h.ID, got, h)
		}
	}

	// carol is exempt: whitelisted, a live issue all the same.
	ch = scan(t, s, factsOf(account, alice(), bob(), carol()), ex, day14)
	if len(ch.New) != 1 {
		t.Fatalf("carol: %+v", ch)
	}
	c := find(t, list(t, s, issues.Filter{Subject: "AKIACAROL1"}), policy.InactiveKeys, "AKIACAROL1")
	if c.Status != issues.Whitelisted || c.Exemption != policy.ExemptTag {
		t.Errorf("carol: %+v", c)
	}
	// And the next scan carries on from the stored state.
	if ch := scan(t, s, factsOf(account, alice(), bob(), carol()), ex, day14); !ch.Empty() {
		t.Errorf("same scan again: %+v", ch)
	}
}

func testRoundTrip(t *testing.T, open Open) {
	ctx := context.Background()
	s := openStore(t, open)
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		paris = time.FixedZone("CET", 3600)
	}
	at := time.Date(2026, 3, 1, 10, 11, 12, 123456789, paris)
	is := issues.Issue{
		Kind: policy.KeysRotation, AccountID: account, Subject: "alice/access_key_2",
		Status: issues.Remediated, Stage: policy.Violation, Exemption: "whitelist",
		Details: issues.Details{Username: "alice", CreateDate: "2025-01-01T00:00:00Z", LastUsed: "2026-02-01T00:00:00Z"},
		UserARN: "arn:aws:iam::123456789012:user/alice",
		KeySlot: 2,
		Tags:    map[string]string{"Slack": "U123", "Name": "Alice Smith", "team:cost-center": "a#b=c", "Empty": ""},
		AgeDays: 424, LimitDays: 180, DaysLeft: -244,
		Deadline: at.Add(-244 * policy.Day),
		Detected: at.Add(-time.Hour), Updated: at,
		Reported: ptr(at.Add(-time.Minute)), Remediated: ptr(at), Closed: ptr(at),
		CloseReason: "remediated: key deactivated",
	}
	ch := &issues.Changes{New: []issues.Issue{is}}
	if err := s.Apply(ctx, ch); err != nil {
		t.Fatal(err)
	}
	got := get(t, s, ch.New[0].ID)
	if got.Version != ch.New[0].Version || got.Version == 0 {
		t.Errorf("version: stored %d, applied %d", got.Version, ch.New[0].Version)
	}
	want := is
	want.ID, want.Version = ch.New[0].ID, ch.New[0].Version
	utc := func(t time.Time) time.Time { return t.UTC() }
	want.Deadline, want.Detected, want.Updated = utc(want.Deadline), utc(want.Detected), utc(want.Updated)
	want.Reported, want.Remediated, want.Closed = ptr(utc(*is.Reported)), ptr(utc(*is.Remediated)), ptr(utc(*is.Closed))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}

	// Zero deadline, empty strings and nil times stay zero, empty and nil.
	ch = &issues.Changes{New: []issues.Issue{{
		Kind: policy.InactivePasswords, AccountID: account, Subject: "bob", Status: issues.Open,
		Detected: asOf, Updated: asOf,
	}}}
	if err := s.Apply(ctx, ch); err != nil {
		t.Fatal(err)
	}
	got = get(t, s, ch.New[0].ID)
	want = ch.New[0]
	if !reflect.DeepEqual(got, want) {
		t.Errorf("zero values:\n got %+v\nwant %+v", got, want)
	}
	if !got.Deadline.IsZero() || got.Reported != nil || got.Remediated != nil || got.Closed != nil || got.Tags != nil {
		t.Errorf("zero times: %+v", got)
	}
}

func testGetNotFound(t *testing.T, open Open) {
	s := openStore(t, open)
	for _, id := range []int64{42, 0, -1} {
		if _, err := s.Get(context.Background(), id); !errors.Is(err, issues.ErrNotFound) {
			t.Errorf("Get(%d): got %v, want ErrNotFound", id, err)
		}
	}
	ch := &issues.Changes{New: []issues.Issue{keyIssue(account, "AKIA1")}}
	if err := s.Apply(context.Background(), ch); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(context.Background(), ch.New[0].ID+1000); !errors.Is(err, issues.ErrNotFound) {
		t.Errorf("got %v, want ErrNotFound", err)
	}
}

func testListFilter(t *testing.T, open Open) {
	s := openStore(t, open)
	scan(t, s, factsOf(account, alice(), bob(), carol()), policy.Exemptions{}, asOf)
	scan(t, s, factsOf(other, bob()), policy.Exemptions{}, asOf)
	// bob's key in the first account closes.
	b := bob()
	b.Keys = nil
	scan(t, s, factsOf(account, alice(), b, carol()), policy.Exemptions{}, asOf.Add(policy.Day))

	tests := []struct {
		f    issues.Filter
		want int
	}{
		{issues.Filter{}, 6},
		{issues.Filter{AccountID: account}, 5},
		{issues.Filter{AccountID: other}, 1},
		{issues.Filter{AccountID: "999999999999"}, 0},
		{issues.Filter{Kind: policy.InactiveKeys}, 4},
		{issues.Filter{Kind: policy.KeysRotation}, 1},
		{issues.Filter{Kind: policy.InactiveKeys, AccountID: account}, 3},
		{issues.Filter{Statuses: []issues.Status{issues.Whitelisted}}, 1},
		{issues.Filter{Statuses: live}, 5},
		{issues.Filter{Statuses: []issues.Status{issues.Resolved}}, 1},
		{issues.Filter{Statuses: []issues.Status{issues.Resolved}, AccountID: other}, 0},
		{issues.Filter{Statuses: []issues.Status{issues.Remediated}}, 0},
		{issues.Filter{Subject: "AKIAALICE1"}, 2},
		{issues.Filter{Subject: "AKIABOB1"}, 2},
		{issues.Filter{Subject: "AKIABOB1", AccountID: account, Statuses: live}, 0},
		{issues.Filter{Subject: "alice", Kind: policy.InactivePasswords}, 1},
		{issues.Filter{Subject: "alic"}, 0},
		{issues.Filter{Subject: "alice", Kind: policy.InactiveKeys}, 0},
	}
	for _, tt := range tests {
		got := list(t, s, tt.f)
		if len(got) != tt.want {
			t.Errorf("%+v: %d issues, want %d", tt.f, len(got), tt.want)
		}
		for i, is := range got {
			if i > 0 && got[i-1].ID >= is.ID {
				t.Errorf("%+v: not ordered by ID", tt.f)
			}
			if (tt.f.Kind != "" && is.Kind != tt.f.Kind) || (tt.f.AccountID != "" && is.AccountID != tt.f.AccountID) ||
				(tt.f.Subject != "" && is.Subject != tt.f.Subject) {
				t.Errorf("%+v: matched %+v", tt.f, is)
			}
		}
	}
}

// A change that cannot be stored fails the whole Apply: nothing is written
// and no ID or version is handed out.
func testApplyAllOrNothing(t *testing.T, open Open) {
	ctx := context.Background()
	s := openStore(t, open)
	scan(t, s, factsOf(account, alice()), policy.Exemptions{}, asOf)
	before := list(t, s, issues.Filter{})

	next := asOf.Add(policy.Day)
	ch := reconcile(t, s, factsOf(account, alice(), bob()), policy.Exemptions{}, next)
	if len(ch.New) != 1 || len(ch.Refreshed) != 3 {
		t.Fatalf("setup: %+v", ch)
	}
	good := ch.Refreshed[0]
	good.Stage = policy.Warning

	tests := []struct {
		name   string
		mutate func(ch *issues.Changes)
		is     error
	}{
		{"updated issue does not exist", func(ch *issues.Changes) {
			ghost := good
			ghost.ID = 999999
			ch.Updated = []issues.Change{{Issue: good, Why: "x"}, {Issue: ghost, Why: "x"}}
			ch.Refreshed = ch.Refreshed[1:]
		}, issues.ErrNotFound},
		{"closed issue does not exist", func(ch *issues.Changes) {
			ghost := good
			ghost.ID = 999999
			ghost.Status = issues.Resolved
			ch.Closed = []issues.Change{{Issue: ghost, Why: "key deleted"}}
		}, issues.ErrNotFound},
		{"refreshed issue does not exist", func(ch *issues.Changes) {
			ch.Refreshed[2].ID = 999999
		}, issues.ErrNotFound},
		{"refreshed issue changed since read", func(ch *issues.Changes) {
			ch.Refreshed[2].Version++
		}, issues.ErrConflict},
		{"second live issue for a credential", func(ch *issues.Changes) {
			dup := before[0]
			dup.ID, dup.Version = 0, 0
			ch.New = append(ch.New, dup)
		}, issues.ErrConflict},
		{"two new issues for one credential", func(ch *issues.Changes) {
			ch.New = append(ch.New, ch.New[0])
		}, nil},
		{"issue changed twice", func(ch *issues.Changes) {
			ch.Updated = []issues.Change{{Issue: ch.Refreshed[0], Why: "x"}}
		}, nil},
		{"new issue with an ID", func(ch *issues.Changes) {
			ch.New[0].ID = 12
		}, nil},
		{"unknown status", func(ch *issues.Changes) {
			ch.Refreshed[1].Status = "snoozed"
		}, nil},
		{"unknown kind", func(ch *issues.Changes) {
			ch.New[0].Kind = "user_mfa"
		}, nil},
		{"no account", func(ch *issues.Changes) {
			ch.New[0].AccountID = ""
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &issues.Changes{
				New:       append([]issues.Issue(nil), ch.New...),
				Refreshed: append([]issues.Issue(nil), ch.Refreshed...),
			}
			tt.mutate(c)
			snapshot := fmt.Sprintf("%+v", *c)
			err := s.Apply(ctx, c)
			if err == nil {
				t.Fatal("Apply succeeded")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("got %v, want %v", err, tt.is)
			}
			t.Log(err)
			if after := fmt.Sprintf("%+v", *c); after != snapshot {
				t.Errorf("failed Apply changed its changes in place:\n got %s\nwant %s", after, snapshot)
			}
			sameIssues(t, "store changed by a failed Apply", list(t, s, issues.Filter{}), before)
		})
	}

	// The same changes, valid, apply.
	if err := s.Apply(ctx, ch); err != nil {
		t.Fatal(err)
	}
	if ch.New[0].ID <= before[len(before)-1].ID {
		t.Errorf("new ID %d, not after %d", ch.New[0].ID, before[len(before)-1].ID)
	}
	if n := len(list(t, s, issues.Filter{})); n != 4 {
		t.Errorf("%d issues, want 4", n)
	}
}

func testApplyEmpty(t *testing.T, open Open) {
	s := openStore(t, open)
	if err := s.Apply(context.Background(), nil); err != nil {
		t.Error(err)
	}
	if err := s.Apply(context.Background(), &issues.Changes{}); err != nil {
		t.Error(err)
	}
	if got := list(t, s, issues.Filter{}); len(got) != 0 {
		t.Errorf("empty store lists %+v", got)
	}
}

// A first scan of a large account opens hundreds of issues in one Apply (more
// than a DynamoDB transaction holds), and closes them all at once later.
func testApplyMany(t *testing.T, open Open) {
	ctx := context.Background()
	s := openStore(t, open)
	const n = 230
	ch := &issues.Changes{}
	for i := range n {
		ch.New = append(ch.New, keyIssue(account, fmt.Sprintf("AKIAMANY%04d", i)))
	}
	if err := s.Apply(ctx, ch); err != nil {
		t.Fatal(err)
	}
	all := list(t, s, issues.Filter{AccountID: account})
	sameIssues(t, "many", all, ch.New)
	closed := &issues.Changes{}
	for _, is := range all {
		is.Status, is.Closed, is.CloseReason = issues.Resolved, ptr(asOf.Add(policy.Day)), "key deleted"
		closed.Closed = append(closed.Closed, issues.Change{Issue: is, Why: "key deleted"})
	}
	if err := s.Apply(ctx, closed); err != nil {
		t.Fatal(err)
	}
	if got := list(t, s, issues.Filter{Statuses: live}); len(got) != 0 {
		t.Errorf("%d live issues after closing all", len(got))
	}
	if got := list(t, s, issues.Filter{Statuses: []issues.Status{issues.Resolved}}); len(got) != n {
		t.Errorf("%d resolved issues, want %d", len(got), n)
	}
}

// IDs are positive, unique, increasing in the order of Changes.New and from
// one Apply to the next.
func testIDs(t *testing.T, open Open) {
	ctx := context.Background()
	s := openStore(t, open)
	var last int64
	for round := range 3 {
		ch := &issues.Changes{}
		for i := range 5 {
			ch.New = append(ch.New, keyIssue(account, fmt.Sprintf("AKIAID%d%d", round, i)))
		}
		if err := s.Apply(ctx, ch); err != nil {
			t.Fatal(err)
		}
		for _, is := range ch.New {
			if is.ID <= last {
				t.Errorf("round %d: ID %d after %d", round, is.ID, last)
			}
			last = is.ID
		}
	}
}

// A runner that read an issue before another runner updated it cannot
// overwrite that update: its Apply fails whole with ErrConflict, and a
// fresh reconcile applies cleanly on top of the other runner's work.
func testStaleVersion(t *testing.T, open Open) {
	ctx := context.Background()
	s := openStore(t, open)
	facts := factsOf(account, alice(), bob())
	scan(t, s, facts, policy.Exemptions{}, asOf)

	// Runner B reconciles the next day from what it read...
	day2 := asOf.Add(policy.Day)
	stale := reconcile(t, s, facts, policy.Exemptions{}, day2)
	if len(stale.Refreshed) != 4 {
		t.Fatalf("setup: %+v", stale)
	}
	// ... while runner A reports bob's issue.
	bobKey := find(t, list(t, s, issues.Filter{}), policy.InactiveKeys, "AKIABOB1")
	reported := asOf.Add(time.Hour)
	bobKey.Reported = ptr(reported)
	rep := &issues.Changes{Updated: []issues.Change{{Issue: bobKey, Why: "reported"}}}
	if err := s.Apply(ctx, rep); err != nil {
		t.Fatal(err)
	}
	if v := rep.Updated[0].Issue.Version; v == 0 || v == bobKey.Version {
		t.Errorf("Apply left version %d (read at %d)", v, bobKey.Version)
	}
	afterA := list(t, s, issues.Filter{})

	// B's stale Apply fails whole.
	err := s.Apply(ctx, stale)
	if !errors.Is(err, issues.ErrConflict) {
		t.Fatalf("stale Apply: got %v, want ErrConflict", err)
	}
	sameIssues(t, "store changed by a stale Apply", list(t, s, issues.Filter{}), afterA)

	// B starts over and lands on top of A's update.
	ch := scan(t, s, facts, policy.Exemptions{}, day2)
	if len(ch.Refreshed) != 4 {
		t.Fatalf("retry: %+v", ch)
	}
	got := get(t, s, bobKey.ID)
	if got.Reported == nil || !got.Reported.Equal(reported) || got.DaysLeft != 4 {
		t.Errorf("bob after both runners: %+v", got)
	}

	// The version A's Apply returned in place is current: A can write again.
	again := rep.Updated[0].Issue
	again.Version = got.Version
	again.DaysLeft = got.DaysLeft
	again.Remediated = ptr(day2)
	if err := s.Apply(ctx, &issues.Changes{Updated: []issues.Change{{Issue: again, Why: "remediated"}}}); err != nil {
		t.Fatal(err)
	}
	// And the copy from before B's retry is stale now.
	if err := s.Apply(ctx, &issues.Changes{Refreshed: []issues.Issue{rep.Updated[0].Issue}}); !errors.Is(err, issues.ErrConflict) {
		t.Errorf("second stale Apply: got %v, want ErrConflict", err)
	}
}

// Two runners scanning the same account at once, from the same (empty)
// state, both want to open the same issues: one wins, the other fails whole
// and converges on a retry. Exactly one live issue per credential remains.
func testRacingNew(t *testing.T, open Open) {
	ctx := context.Background()
	s := openStore(t, open)
	facts := factsOf(account, alice(), bob())
	const runners = 4
	chs := make([]*issues.Changes, runners)
	for i := range chs {
		chs[i] = reconcile(t, s, facts, policy.Exemptions{}, asOf)
	}
	errs := make([]error, runners)
	var wg sync.WaitGroup
	for i := range chs {
		wg.Go(func() { errs[i] = s.Apply(ctx, chs[i]) })
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, issues.ErrConflict):
			for _, is := range chs[i].New {
				if is.ID != 0 {
					t.Errorf("runner %d lost but got ID %d", i, is.ID)
				}
			}
		default:
			t.Errorf("runner %d: %v", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d runners won, want 1", won)
	}
	all := list(t, s, issues.Filter{})
	if len(all) != 4 {
		t.Errorf("%d issues, want 4: %+v", len(all), all)
	}
	for i := range chs {
		if ch := scan(t, s, facts, policy.Exemptions{}, asOf); !ch.Empty() {
			t.Errorf("retry %d: %+v", i, ch)
		}
	}
}

// Many writers update the same issues at once, each read-modify-write
// retried on ErrConflict: every increment lands.
func testConcurrentUpdates(t *testing.T, open Open) {
	ctx := context.Background()
	s := openStore(t, open)
	ch := &issues.Changes{New: []issues.Issue{keyIssue(account, "AKIAHOT1"), keyIssue(account, "AKIAHOT2")}}
	if err := s.Apply(ctx, ch); err != nil {
		t.Fatal(err)
	}
	const writers, each = 6, 5
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for range each {
				for attempt := 0; ; attempt++ {
					if attempt > 200 {
						errs <- fmt.Errorf("writer %d: no progress after %d attempts", w, attempt)
						return
					}
					lv, err := s.List(ctx, issues.Filter{AccountID: account, Statuses: live})
					if err != nil {
						errs <- err
						return
					}
					upd := &issues.Changes{}
					for _, is := range lv {
						is.AgeDays++
						upd.Refreshed = append(upd.Refreshed, is)
					}
					err = s.Apply(ctx, upd)
					if errors.Is(err, issues.ErrConflict) {
						continue
					}
					if err != nil {
						errs <- err
						return
					}
					break
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, is := range list(t, s, issues.Filter{}) {
		if want := 100 + writers*each; is.AgeDays != want {
			t.Errorf("%s: age %d, want %d: updates lost", is.Subject, is.AgeDays, want)
		}
	}
}

// Writers adding distinct issues at once all land, with distinct IDs.
func testConcurrentNew(t *testing.T, open Open) {
	ctx := context.Background()
	s := openStore(t, open)
	const writers, each = 6, 4
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				acct := account
				if i%2 == 1 {
					acct = other
				}
				ch := &issues.Changes{New: []issues.Issue{keyIssue(acct, fmt.Sprintf("AKIA%02d%02d", w, i))}}
				if err := s.Apply(ctx, ch); err != nil {
					errs <- err
					return
				}
				got, err := s.Get(ctx, ch.New[0].ID)
				if err != nil {
					errs <- err
					return
				}
				if got.Subject != ch.New[0].Subject {
					errs <- fmt.Errorf("Get(%d) = %s, want %s", ch.New[0].ID, got.Subject, ch.New[0].Subject)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	all := list(t, s, issues.Filter{})
	if len(all) != writers*each {
		t.Errorf("%d issues, want %d", len(all), writers*each)
	}
	ids := map[int64]bool{}
	for _, is := range all {
		ids[is.ID] = true
	}
	if len(ids) != len(all) {
		t.Error("duplicate IDs")
	}
}

func locker(t *testing.T, open Open) issues.Locker {
	t.Helper()
	s := openStore(t, open)
	l, ok := s.(issues.Locker)
	if !ok {
		t.Fatalf("%T does not implement issues.Locker", s)
	}
	return l
}

func lock(t *testing.T, l issues.Locker, name, owner string, ttl time.Duration) func(context.Context) error {
	t.Helper()
	release, err := l.Lock(context.Background(), name, owner, ttl)
	if err != nil {
		t.Fatalf("Lock(%s, %s): %v", name, owner, err)
	}
	return release
}

func locked(t *testing.T, l issues.Locker, name, owner string) {
	t.Helper()
	release, err := l.Lock(context.Background(), name, owner, time.Minute)
	if !errors.Is(err, issues.ErrLocked) {
		if err == nil {
			release(context.Background())
		}
		t.Fatalf("Lock(%s, %s): got %v, want ErrLocked", name, owner, err)
	}
}

func testLock(t *testing.T, open Open) {
	ctx := context.Background()
	l := locker(t, open)
	release1 := lock(t, l, "run", "daemon-1", time.Minute)
	locked(t, l, "run", "daemon-2")
	// Other names are independent.
	releaseOther := lock(t, l, "other", "daemon-2", time.Minute)
	// The owner may renew its own lease.
	renew := lock(t, l, "run", "daemon-1", time.Minute)
	locked(t, l, "run", "daemon-2")

	if err := release1(ctx); err != nil {
		t.Fatal(err)
	}
	release2 := lock(t, l, "run", "daemon-2", time.Minute)
	locked(t, l, "run", "daemon-1")
	// daemon-1's late second release leaves daemon-2's lease alone.
	if err := renew(ctx); err != nil {
		t.Fatal(err)
	}
	locked(t, l, "run", "daemon-1")
	if err := release2(ctx); err != nil {
		t.Fatal(err)
	}
	// Releasing twice is harmless.
	if err := release2(ctx); err != nil {
		t.Fatal(err)
	}
	lock(t, l, "run", "daemon-1", time.Minute)
	if err := releaseOther(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Lock(ctx, "", "daemon-1", time.Minute); err == nil {
		t.Error("a lock without a name was taken")
	}
	if _, err := l.Lock(ctx, "run2", "", time.Minute); err == nil {
		t.Error("a lock without an owner was taken")
	}
	if _, err := l.Lock(ctx, "run2", "daemon-1", 0); err == nil {
		t.Error("a lock without a lease was taken")
	}
}

// A holder that died without releasing blocks the others for its lease
// only.
func testLockExpiry(t *testing.T, open Open) {
	l := locker(t, open)
	const ttl = 1500 * time.Millisecond
	start := time.Now()
	lock(t, l, "run", "crashed", ttl)
	for {
		release, err := l.Lock(context.Background(), "run", "survivor", time.Minute)
		if err == nil {
			if waited := time.Since(start); waited < ttl-100*time.Millisecond {
				t.Errorf("lease taken over after %v, before its %v expired", waited, ttl)
			}
			release(context.Background())
			return
		}
		if !errors.Is(err, issues.ErrLocked) {
			t.Fatal(err)
		}
		if time.Since(start) > ttl+5*time.Second {
			t.Fatalf("expired lease still held after %v", time.Since(start))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Owners racing for one lock: exactly one gets it.
func testLockRace(t *testing.T, open Open) {
	l := locker(t, open)
	const owners = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	won, busy := 0, 0
	for i := range owners {
		wg.Go(func() {
			_, err := l.Lock(context.Background(), "run", fmt.Sprintf("owner-%d", i), time.Minute)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, issues.ErrLocked):
				busy++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if won != 1 || busy != owners-1 {
		t.Errorf("%d won, %d refused; want 1 and %d", won, busy, owners-1)
	}
}

func lastScan(t *testing.T, s issues.Store, acct string) (time.Time, bool) {
	t.Helper()
	at, ok, err := s.LastScan(context.Background(), acct)
	if err != nil {
		t.Fatal(err)
	}
	return at, ok
}

func wantLastScan(t *testing.T, s issues.Store, acct string, want time.Time) {
	t.Helper()
	got, ok := lastScan(t, s, acct)
	switch {
	case want.IsZero() && ok:
		t.Errorf("LastScan(%s) = %s, want none", acct, got)
	case !want.IsZero() && (!ok || !got.Equal(want)):
		t.Errorf("LastScan(%s) = %s, %v; want %s", acct, got, ok, want)
	}
}

// testLastScan: Apply records a scan's as-of per account, atomically with
// its changes and also when nothing else changed; a scan older than the
// recorded one stores nothing (issues.ErrStaleScan); changes that are not a
// scan's leave it alone.
func testLastScan(t *testing.T, open Open) {
	s := openStore(t, open)
	ctx := context.Background()
	wantLastScan(t, s, account, time.Time{})

	// A scan that changed nothing is still recorded (to the nanosecond).
	first := asOf.Add(1500*time.Millisecond + 7)
	if err := s.Apply(ctx, &issues.Changes{Scan: &issues.TrackedScan{AccountID: account, AsOf: first}}); err != nil {
		t.Fatal(err)
	}
	wantLastScan(t, s, account, first)
	wantLastScan(t, s, other, time.Time{})

	// A later scan with changes: both stored.
	day2 := asOf.Add(policy.Day)
	ch := reconcile(t, s, factsOf(account, alice(), bob()), policy.Exemptions{}, day2)
	ch.Scan = &issues.TrackedScan{AccountID: account, AsOf: day2}
	if err := s.Apply(ctx, ch); err != nil {
		t.Fatal(err)
	}
	wantLastScan(t, s, account, day2)
	stored := list(t, s, issues.Filter{})
	if len(stored) != 4 {
		t.Fatalf("%d issues stored, want 4", len(stored))
	}

	// An earlier scan (here: resolving everything) stores nothing at all.
	stale := reconcile(t, s, factsOf(account), policy.Exemptions{}, asOf)
	stale.New = append(stale.New, keyIssue(account, "AKIASTALE1"))
	stale.Scan = &issues.TrackedScan{AccountID: account, AsOf: asOf}
	if len(stale.Closed) != 4 {
		t.Fatalf("stale scan closes %d, want 4", len(stale.Closed))
	}
	if err := s.Apply(ctx, stale); !errors.Is(err, issues.ErrStaleScan) {
		t.Fatalf("Apply of a scan before the last tracked one: %v, want ErrStaleScan", err)
	}
	if stale.New[0].ID != 0 {
		t.Errorf("refused Apply assigned ID %d", stale.New[0].ID)
	}
	sameIssues(t, "store changed by a stale scan", list(t, s, issues.Filter{}), stored)
	wantLastScan(t, s, account, day2)

	// The same as-of again is fine; other accounts have their own record.
	if err := s.Apply(ctx, &issues.Changes{Scan: &issues.TrackedScan{AccountID: account, AsOf: day2}}); err != nil {
		t.Errorf("scan as of the last tracked one: %v", err)
	}
	if err := s.Apply(ctx, &issues.Changes{Scan: &issues.TrackedScan{AccountID: other, AsOf: asOf}}); err != nil {
		t.Errorf("first scan of another account, as of an earlier time: %v", err)
	}
	wantLastScan(t, s, other, asOf)
	wantLastScan(t, s, account, day2)

	// Changes that are no scan's (remediation) leave the record alone.
	rem := stored[0]
	rem.Status, rem.Remediated, rem.Closed = issues.Remediated, ptr(day2), ptr(day2)
	if err := s.Apply(ctx, &issues.Changes{Closed: []issues.Change{{Issue: rem, Why: "remediated"}}}); err != nil {
		t.Fatal(err)
	}
	wantLastScan(t, s, account, day2)

	// A scan's changes belong to its account.
	bad := &issues.Changes{New: []issues.Issue{keyIssue(other, "AKIAOTHER1")}, Scan: &issues.TrackedScan{AccountID: account, AsOf: day2}}
	if err := s.Apply(ctx, bad); err == nil {
		t.Error("Apply of a scan with another account's issue: no error")
	}
	wantLastScan(t, s, other, asOf)
}
