package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
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

var live = []issues.Status{issues.Open, issues.Whitelisted}

func openStore(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func list(t *testing.T, s *Store, f issues.Filter) []issues.Issue {
	t.Helper()
	out, err := s.List(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// scan is one run for one account: live issues from the store, findings
// from the facts, Reconcile, Apply.
func scan(t *testing.T, s *Store, facts *inventory.Facts, ex policy.Exemptions, at time.Time) *issues.Changes {
	t.Helper()
	ctx := context.Background()
	lv := list(t, s, issues.Filter{AccountID: facts.Account.ID, Statuses: live})
	ch := issues.Reconcile(lv, policy.Evaluate(facts, rules, ex, at), facts, at)
	if err := s.Apply(ctx, ch); err != nil {
		t.Fatal(err)
	}
	return ch
}

func facts(users ...inventory.User) *inventory.Facts {
	return &inventory.Facts{Account: inventory.Account{ID: account}, Users: users}
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

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keywarden.db")
	s := openStore(t, path)
	ex := policy.Exemptions{}

	// Scan 1: four findings, four new open issues.
	ch := scan(t, s, facts(alice(), bob()), ex, asOf)
	if len(ch.New) != 4 || len(ch.Updated)+len(ch.Closed)+len(ch.Refreshed) != 0 {
		t.Fatalf("scan 1: %+v", ch)
	}
	for i, is := range ch.New {
		if is.ID != int64(i+1) {
			t.Errorf("new issue %d got ID %d", i, is.ID)
		}
	}
	stored := list(t, s, issues.Filter{})
	if !reflect.DeepEqual(stored, ch.New) {
		t.Fatalf("stored issues differ from the applied ones:\n got %+v\nwant %+v", stored, ch.New)
	}
	bobKey := find(t, stored, policy.InactiveKeys, "AKIABOB1")
	if bobKey.Status != issues.Open || bobKey.Stage != policy.Warning || bobKey.DaysLeft != 5 {
		t.Fatalf("bob: %+v", bobKey)
	}

	// The same scan again: nothing changes, in Changes or in the store.
	if ch := scan(t, s, facts(alice(), bob()), ex, asOf); !ch.Empty() {
		t.Errorf("scan 1 again: %+v", ch)
	}
	if got := list(t, s, issues.Filter{}); !reflect.DeepEqual(got, stored) {
		t.Errorf("store changed by an idempotent scan:\n got %+v\nwant %+v", got, stored)
	}

	// Next day: only the counters move.
	day2 := asOf.Add(policy.Day)
	ch = scan(t, s, facts(alice(), bob()), ex, day2)
	if len(ch.Refreshed) != 4 || len(ch.New)+len(ch.Updated)+len(ch.Closed) != 0 {
		t.Fatalf("day 2: %+v", ch)
	}
	got, err := s.Get(ctx, bobKey.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.DaysLeft != 4 || got.AgeDays != 86 || !got.Updated.Equal(day2) || !got.Detected.Equal(asOf) {
		t.Errorf("day 2 bob: %+v", got)
	}

	// Ten days later bob's warning is a violation.
	day10 := asOf.Add(10 * policy.Day)
	ch = scan(t, s, facts(alice(), bob()), ex, day10)
	if len(ch.Updated) != 1 || ch.Updated[0].Why != "warning -> violation" || ch.Updated[0].Issue.ID != bobKey.ID {
		t.Fatalf("day 10: %+v", ch)
	}
	if len(ch.Refreshed) != 3 {
		t.Errorf("day 10: %d refreshed, want 3", len(ch.Refreshed))
	}
	if got, _ := s.Get(ctx, bobKey.ID); got.Stage != policy.Violation || got.DaysLeft != -5 {
		t.Errorf("day 10 bob: %+v", got)
	}

	// bob deactivates his key: resolved, "key deactivated".
	day11 := asOf.Add(11 * policy.Day)
	b := bob()
	b.Keys[0].Status = inventory.StatusInactive
	ch = scan(t, s, facts(alice(), b), ex, day11)
	if len(ch.Closed) != 1 || ch.Closed[0].Why != "key deactivated" {
		t.Fatalf("day 11: %+v", ch)
	}
	got, _ = s.Get(ctx, bobKey.ID)
	if got.Status != issues.Resolved || got.CloseReason != "key deactivated" ||
		got.Closed == nil || !got.Closed.Equal(day11) {
		t.Errorf("day 11 bob: %+v", got)
	}
	if n := len(list(t, s, issues.Filter{Statuses: live})); n != 3 {
		t.Errorf("%d live issues, want 3", n)
	}

	// Reactivated, still unused: a new issue for the same credential, the
	// resolved one kept as history.
	day12 := asOf.Add(12 * policy.Day)
	ch = scan(t, s, facts(alice(), bob()), ex, day12)
	if len(ch.New) != 1 || ch.New[0].ID == bobKey.ID || ch.New[0].ID == 0 {
		t.Fatalf("day 12: %+v", ch)
	}
	hist := list(t, s, issues.Filter{Kind: policy.InactiveKeys, Subject: "AKIABOB1"})
	if len(hist) != 2 || hist[0].ID != bobKey.ID || hist[0].Status != issues.Resolved ||
		hist[1].ID != ch.New[0].ID || hist[1].Status != issues.Open || !hist[1].Detected.Equal(day12) {
		t.Errorf("bob's history: %+v", hist)
	}

	// carol is exempt: whitelisted.
	ch = scan(t, s, facts(alice(), bob(), carol()), ex, day12)
	if len(ch.New) != 1 {
		t.Fatalf("carol: %+v", ch)
	}
	c := find(t, list(t, s, issues.Filter{Subject: "AKIACAROL1"}), policy.InactiveKeys, "AKIACAROL1")
	if c.Status != issues.Whitelisted || c.Exemption != policy.ExemptTag {
		t.Errorf("carol: %+v", c)
	}

	// Everything survives a reopen.
	before := list(t, s, issues.Filter{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, path)
	if after := list(t, s, issues.Filter{}); !reflect.DeepEqual(after, before) {
		t.Errorf("after reopen:\n got %+v\nwant %+v", after, before)
	}
	// And the next scan carries on from the stored state.
	if ch := scan(t, s, facts(alice(), bob(), carol()), ex, day12); !ch.Empty() {
		t.Errorf("after reopen, same scan: %+v", ch)
	}
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, ":memory:")
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		paris = time.FixedZone("CET", 3600)
	}
	at := time.Date(2026, 3, 1, 10, 11, 12, 123456789, paris)
	is := issues.Issue{
		Kind: policy.KeysRotation, AccountID: account, Subject: "alice/access_key_2",
		Status: issues.Remediated, Stage: policy.Violation, Exemption: "",
		Details: issues.Details{Username: "alice", CreateDate: "2025-01-01T00:00:00Z", LastUsed: "2026-02-01T00:00:00Z"},
		UserARN: "arn:aws:iam::123456789012:user/alice",
		KeySlot: 2,
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
	got, err := s.Get(ctx, ch.New[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	want := is
	want.ID, want.Version = ch.New[0].ID, ch.New[0].Version
	utc := func(t time.Time) time.Time { return t.UTC() }
	want.Deadline, want.Detected, want.Updated = utc(want.Deadline), utc(want.Detected), utc(want.Updated)
	want.Reported, want.Remediated, want.Closed = ptr(utc(*is.Reported)), ptr(utc(*is.Remediated)), ptr(utc(*is.Closed))
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", *got, want)
	}

	// Zero deadline and nil times stay zero and nil.
	ch = &issues.Changes{New: []issues.Issue{{
		Kind: policy.InactivePasswords, AccountID: account, Subject: "bob", Status: issues.Open,
		Detected: asOf, Updated: asOf,
	}}}
	if err := s.Apply(ctx, ch); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Get(ctx, ch.New[0].ID)
	if !got.Deadline.IsZero() || got.Reported != nil || got.Remediated != nil || got.Closed != nil {
		t.Errorf("zero times: %+v", got)
	}

	var text string
	if err := s.db.QueryRowContext(ctx, "SELECT detected FROM issues WHERE id = ?", want.ID).Scan(&text); err != nil {
		t.Fatal(err)
	}
	if text != "2026-03-01T08:11:12.123456789Z" {
		t.Errorf("stored detected %q, want RFC 3339 UTC", text)
	}
}

func TestGetNotFound(t *testing.T) {
	s := openStore(t, ":memory:")
	_, err := s.Get(context.Background(), 42)
	if !errors.Is(err, issues.ErrNotFound) {
		t.Errorf("got %v, want ErrNotFound", err)
	}
}

func TestListFilter(t *testing.T) {
	s := openStore(t, ":memory:")
	scan(t, s, facts(alice(), bob(), carol()), policy.Exemptions{}, asOf)
	other := facts(bob())
	other.Account.ID = "210987654321"
	scan(t, s, other, policy.Exemptions{}, asOf)

	tests := []struct {
		f    issues.Filter
		want int
	}{
		{issues.Filter{}, 6},
		{issues.Filter{AccountID: account}, 5},
		{issues.Filter{AccountID: "210987654321"}, 1},
		{issues.Filter{Kind: policy.InactiveKeys}, 4},
		{issues.Filter{Kind: policy.InactiveKeys, AccountID: account}, 3},
		{issues.Filter{Statuses: []issues.Status{issues.Whitelisted}}, 1},
		{issues.Filter{Statuses: []issues.Status{issues.Open, issues.Whitelisted}}, 6},
		{issues.Filter{Statuses: []issues.Status{issues.Resolved}}, 0},
		{issues.Filter{Subject: "AKIAALICE1"}, 2},
		{issues.Filter{Subject: "alice", Kind: policy.InactivePasswords}, 1},
	}
	for _, tt := range tests {
		got := list(t, s, tt.f)
		if len(got) != tt.want {
			t.Errorf("%+v: %d issues, want %d", tt.f, len(got), tt.want)
		}
		for i := 1; i < len(got); i++ {
			if got[i-1].ID >= got[i].ID {
				t.Errorf("%+v: not ordered by ID", tt.f)
			}
		}
	}
}

// A change that cannot be stored fails the whole Apply: nothing is written
// and no ID is handed out.
func TestApplyAllOrNothing(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, filepath.Join(t.TempDir(), "keywarden.db"))
	scan(t, s, facts(alice()), policy.Exemptions{}, asOf)
	before := list(t, s, issues.Filter{})

	next := asOf.Add(policy.Day)
	lv := list(t, s, issues.Filter{Statuses: live})
	ch := issues.Reconcile(lv, policy.Evaluate(facts(alice(), bob()), rules, policy.Exemptions{}, next), nil, next)
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
			ghost.ID = 999
			ch.Updated = []issues.Change{{Issue: good, Why: "x"}, {Issue: ghost, Why: "x"}}
			ch.Refreshed = nil
		}, issues.ErrNotFound},
		{"closed issue does not exist", func(ch *issues.Changes) {
			ghost := good
			ghost.ID = 999
			ghost.Status = issues.Resolved
			ch.Closed = []issues.Change{{Issue: ghost, Why: "key deleted"}}
		}, issues.ErrNotFound},
		{"refreshed issue does not exist", func(ch *issues.Changes) {
			ch.Refreshed[2].ID = 999
		}, issues.ErrNotFound},
		{"second live issue for a credential", func(ch *issues.Changes) {
			dup := before[0]
			dup.ID = 0
			ch.New = append(ch.New, dup)
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &issues.Changes{
				New:       append([]issues.Issue(nil), ch.New...),
				Refreshed: append([]issues.Issue(nil), ch.Refreshed...),
			}
			tt.mutate(c)
			err := s.Apply(ctx, c)
			if err == nil {
				t.Fatal("Apply succeeded")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("got %v, want %v", err, tt.is)
			}
			t.Log(err)
			if c.New[0].ID != 0 && tt.name != "new issue with an ID" {
				t.Errorf("failed Apply assigned ID %d", c.New[0].ID)
			}
			if got := list(t, s, issues.Filter{}); !reflect.DeepEqual(got, before) {
				t.Errorf("store changed by a failed Apply:\n got %+v\nwant %+v", got, before)
			}
		})
	}

	// The same changes, valid, apply.
	if err := s.Apply(ctx, ch); err != nil {
		t.Fatal(err)
	}
	if ch.New[0].ID != int64(len(before)+1) {
		t.Errorf("new ID %d, want %d", ch.New[0].ID, len(before)+1)
	}
}

func TestApplyEmpty(t *testing.T) {
	s := openStore(t, ":memory:")
	if err := s.Apply(context.Background(), nil); err != nil {
		t.Error(err)
	}
	if err := s.Apply(context.Background(), &issues.Changes{}); err != nil {
		t.Error(err)
	}
}

func migrationVersions(t *testing.T, s *Store) []int {
	t.Helper()
	rows, err := s.db.Query("SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	return vs
}

func TestMigrations(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keywarden.db")
	want := make([]int, len(migrations))
	for i := range want {
		want[i] = i + 1
	}

	// An empty database is brought up to date, step by step.
	s, err := open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := migrationVersions(t, s); len(got) != 0 {
		t.Errorf("versions %v, want none", got)
	}
	s.Close()
	for range 3 { // idempotent on reopen
		s = openStore(t, path)
		if got := migrationVersions(t, s); !reflect.DeepEqual(got, want) {
			t.Errorf("versions %v, want %v", got, want)
		}
		s.Close()
	}

	// A newer keywarden migrates further...
	newer := append(append([]string(nil), migrations...), `CREATE TABLE notifications (id INTEGER PRIMARY KEY)`)
	s, err = open(ctx, path, newer)
	if err != nil {
		t.Fatal(err)
	}
	if got := migrationVersions(t, s); len(got) != len(newer) {
		t.Errorf("versions %v, want %d", got, len(newer))
	}
	s.Close()
	// ... and this one refuses its database.
	_, err = Open(ctx, path)
	var sv *SchemaVersionError
	if !errors.As(err, &sv) || sv.Version != len(newer) || sv.Known != len(migrations) {
		t.Fatalf("got %v, want a SchemaVersionError", err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keywarden.db")
	s := openStore(t, path)
	if _, err := s.db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (5, '2027-01-01T00:00:00Z')`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := Open(ctx, path)
	want := fmt.Sprintf("%s has schema version 5, this keywarden knows up to %d: upgrade keywarden", path, len(migrations))
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
}

func TestOpenErrorNamesPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "keywarden.db")
	_, err := Open(context.Background(), path)
	if err == nil || !strings.HasPrefix(err.Error(), "open issue store "+path+": ") {
		t.Errorf("got %v", err)
	}
	_, err = Open(context.Background(), "what?.db")
	if err == nil || !strings.HasPrefix(err.Error(), "open issue store what?.db: ") {
		t.Errorf("got %v", err)
	}
}

func TestPragmas(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, filepath.Join(t.TempDir(), "keywarden.db"))
	// Hold several connections at once so that the pragmas are checked on
	// more than the first one.
	var conns []interface{ Close() error }
	for i := range 3 {
		c, err := s.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		var mode string
		var fk, busy int
		if err := c.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil {
			t.Fatal(err)
		}
		if mode != "wal" || fk != 1 || busy != 5000 {
			t.Errorf("connection %d: journal_mode %s, foreign_keys %d, busy_timeout %d", i, mode, fk, busy)
		}
	}
	for _, c := range conns {
		c.Close()
	}
}

// Writers from many goroutines, and from two Stores on one file (as two
// processes would), all land.
func TestConcurrent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keywarden.db")
	stores := []*Store{openStore(t, path), openStore(t, path)}
	mem := openStore(t, ":memory:")
	const writers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, 3*writers*each)
	for w := range writers {
		for _, s := range []*Store{stores[w%2], mem} {
			wg.Go(func() {
				for i := range each {
					ch := &issues.Changes{New: []issues.Issue{{
						Kind: policy.InactiveKeys, AccountID: account, Subject: fmt.Sprintf("AKIA%02d%02d", w, i),
						Status: issues.Open, Stage: policy.Violation, Detected: asOf, Updated: asOf,
					}}}
					if err := s.Apply(ctx, ch); err != nil {
						errs <- err
						return
					}
					if _, err := s.Get(ctx, ch.New[0].ID); err != nil {
						errs <- err
						return
					}
					if _, err := s.List(ctx, issues.Filter{Statuses: live}); err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, s := range []*Store{stores[0], mem} {
		all := list(t, s, issues.Filter{})
		if len(all) != writers*each {
			t.Errorf("%s: %d issues, want %d", s.Path(), len(all), writers*each)
		}
		ids := map[int64]bool{}
		for _, is := range all {
			ids[is.ID] = true
		}
		if len(ids) != len(all) {
			t.Errorf("%s: duplicate IDs", s.Path())
		}
	}
}
