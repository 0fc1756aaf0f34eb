// Package journaltest is the contract of remediate.Journal: one suite that
// every backend (sqlite, dynamodb) runs from its own tests — intents before
// the AWS call, one unfinished intent per credential, the call recorded on
// the intent, finish only once (an unverified action settled once more),
// listing with filters, IDs from 1 in order.
package journaltest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
)

// Open returns a new, empty journal for one test; the suite does not close
// it (the caller's own cleanup does).
type Open func(t *testing.T) remediate.Journal

// Run runs the whole contract against journals made by open.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(*testing.T, Open)
	}{
		{"IntentFinishList", testIntentFinishList},
		{"FinishStates", testFinishStates},
		{"Validation", testValidation},
		{"RacingIntents", testRacingIntents},
		{"Passwords", testPasswords},
		{"CalledAndUnverified", testCalledAndUnverified},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
	}
}

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func testIntentFinishList(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t)
	lu := t0.Add(-120 * 24 * time.Hour)
	a := &remediate.Action{Op: remediate.OpDeactivateKey, AccountID: "111111111111", UserName: "alice",
		KeyID: "AKIAALICE0000000OLD1", Kinds: []policy.Kind{policy.InactiveKeys, policy.KeysRotation},
		IssueIDs: []int64{3, 12}, Reason: "why", BeforeStatus: "Active", BeforeLastUsed: &lu, Started: t0}
	if err := s.Begin(ctx, a); err != nil {
		t.Fatal(err)
	}
	if a.ID != 1 || a.State != remediate.StateIntent {
		t.Fatalf("after Begin: id %d state %s", a.ID, a.State)
	}
	// A second intent on the same credential is refused until the first ends.
	dup := *a
	dup.ID = 0
	if err := s.Begin(ctx, &dup); !errors.Is(err, remediate.ErrIntentExists) {
		t.Fatalf("second intent: %v, want ErrIntentExists", err)
	}
	pending, err := s.Actions(ctx, remediate.ActionFilter{States: []remediate.State{remediate.StateIntent}})
	if err != nil || len(pending) != 1 {
		t.Fatalf("pending: %v %v", pending, err)
	}
	if err := s.Finish(ctx, a.ID, remediate.StateDone, t0.Add(time.Second), "verified"); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(ctx, a.ID, remediate.StateFailed, t0, "again"); !errors.Is(err, remediate.ErrAlreadyFinished) {
		t.Fatalf("finish twice: %v", err)
	}
	if err := s.Begin(ctx, &dup); err != nil {
		t.Fatalf("intent after the first finished: %v", err)
	}
	rb := &remediate.Action{Op: remediate.OpReactivateKey, AccountID: "111111111111", UserName: "bob", KeyID: "AKIAB", RollbackOf: a.ID, Started: t0.Add(time.Hour)}
	if err := s.Begin(ctx, rb); err != nil {
		t.Fatal(err)
	}
	got, err := s.Actions(ctx, remediate.ActionFilter{IssueID: 12})
	if err != nil || len(got) != 2 {
		t.Fatalf("by issue 12: %d %v", len(got), err)
	}
	g := got[0]
	fin := t0.Add(time.Second)
	want := *a
	want.State, want.Finished, want.Note = remediate.StateDone, &fin, "verified"
	if !reflect.DeepEqual(g, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", g, want)
	}
	if got, _ := s.Actions(ctx, remediate.ActionFilter{IssueID: 2}); len(got) != 0 {
		t.Errorf("issue 2 matched %d actions (issue IDs must match whole)", len(got))
	}
	if got, _ := s.Actions(ctx, remediate.ActionFilter{RollbackOf: a.ID}); len(got) != 1 || got[0].ID != rb.ID {
		t.Errorf("by rollback_of: %+v", got)
	}
	if got, _ := s.Actions(ctx, remediate.ActionFilter{Since: t0.Add(time.Minute)}); len(got) != 1 || got[0].ID != rb.ID {
		t.Errorf("since: %+v", got)
	}
	if got, _ := s.Actions(ctx, remediate.ActionFilter{Ops: []remediate.Op{remediate.OpDeactivateKey}, ID: 2}); len(got) != 1 {
		t.Errorf("by id and op: %+v", got)
	}

	// Every action, ordered by ID; the rollback's fields round-trip too.
	all, err := s.Actions(ctx, remediate.ActionFilter{})
	if err != nil || len(all) != 3 {
		t.Fatalf("all: %d %v", len(all), err)
	}
	for i, x := range all {
		if x.ID != int64(i+1) {
			t.Errorf("action %d has ID %d, want %d (IDs from 1, in order)", i, x.ID, i+1)
		}
	}
	wantRB := *rb
	if !reflect.DeepEqual(all[2], wantRB) {
		t.Errorf("rollback round trip:\n got %+v\nwant %+v", all[2], wantRB)
	}
	if all[2].Kinds != nil || all[2].IssueIDs != nil || all[2].BeforeLastUsed != nil || all[2].Finished != nil {
		t.Errorf("empty fields must read back nil: %+v", all[2])
	}
	if got, _ := s.Actions(ctx, remediate.ActionFilter{AccountID: "222222222222"}); len(got) != 0 {
		t.Errorf("other account: %+v", got)
	}
	if got, _ := s.Actions(ctx, remediate.ActionFilter{States: []remediate.State{remediate.StateIntent, remediate.StateDone}, AccountID: "111111111111"}); len(got) != 3 {
		t.Errorf("intent or done: %d", len(got))
	}
	if got, _ := s.Actions(ctx, remediate.ActionFilter{ID: 99}); len(got) != 0 {
		t.Errorf("unknown ID: %+v", got)
	}
}

func testFinishStates(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t)
	finals := []remediate.State{remediate.StateDone, remediate.StateFailed, remediate.StateAbandoned,
		remediate.StateUnverified, remediate.StateIndeterminate}
	for i, st := range finals {
		a := &remediate.Action{Op: remediate.OpDeactivateKey, AccountID: "111111111111", UserName: "u",
			KeyID: fmt.Sprintf("AKIAKEY%d", i), Started: t0}
		if err := s.Begin(ctx, a); err != nil {
			t.Fatal(err)
		}
		if err := s.Finish(ctx, a.ID, remediate.StateIntent, t0, ""); err == nil || errors.Is(err, remediate.ErrAlreadyFinished) {
			t.Errorf("finish as intent: %v", err)
		}
		if err := s.Finish(ctx, a.ID, st, t0.Add(time.Minute), "note "+string(st)); err != nil {
			t.Fatalf("finish as %s: %v", st, err)
		}
		got, err := s.Actions(ctx, remediate.ActionFilter{ID: a.ID})
		if err != nil || len(got) != 1 || got[0].State != st || got[0].Note != "note "+string(st) ||
			got[0].Finished == nil || !got[0].Finished.Equal(t0.Add(time.Minute)) {
			t.Errorf("after finish as %s: %+v %v", st, got, err)
		}
		if got, _ := s.Actions(ctx, remediate.ActionFilter{States: []remediate.State{st}}); len(got) != 1 {
			t.Errorf("by state %s: %d", st, len(got))
		}
		if err := s.Finish(ctx, a.ID, "bogus", t0, ""); err == nil {
			t.Errorf("finish %s as an unknown state: no error", st)
		}
	}
	// An action that does not exist cannot be finished.
	if err := s.Finish(ctx, 42, remediate.StateDone, t0, ""); !errors.Is(err, remediate.ErrAlreadyFinished) {
		t.Errorf("finish unknown: %v", err)
	}
	if got, _ := s.Actions(ctx, remediate.ActionFilter{States: []remediate.State{remediate.StateIntent}}); len(got) != 0 {
		t.Errorf("intents left: %+v", got)
	}
}

func testValidation(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t)
	for _, a := range []remediate.Action{
		{AccountID: "111111111111", UserName: "u", Started: t0},
		{Op: remediate.OpDeactivateKey, UserName: "u", Started: t0},
		{Op: remediate.OpDeactivateKey, AccountID: "111111111111", Started: t0},
	} {
		if err := s.Begin(ctx, &a); err == nil || a.ID != 0 {
			t.Errorf("Begin(%+v) = %v", a, err)
		}
	}
	if got, _ := s.Actions(ctx, remediate.ActionFilter{}); len(got) != 0 {
		t.Errorf("stored: %+v", got)
	}
}

// Runners racing for one credential: exactly one intent wins.
func testRacingIntents(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t)
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			a := &remediate.Action{Op: remediate.OpDeactivateKey, AccountID: "111111111111", UserName: "alice",
				KeyID: "AKIARACE", Started: t0}
			errs[i] = s.Begin(ctx, a)
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, remediate.ErrIntentExists):
			t.Errorf("loser: %v", err)
		}
	}
	if won != 1 {
		t.Errorf("%d intents won, want 1", won)
	}
	if got, _ := s.Actions(ctx, remediate.ActionFilter{States: []remediate.State{remediate.StateIntent}}); len(got) != 1 {
		t.Errorf("intents stored: %+v", got)
	}
}

// A login profile (no key ID) is its own credential; another user's key is
// another.
func testPasswords(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t)
	pw := &remediate.Action{Op: remediate.OpDeleteLoginProfile, AccountID: "111111111111", UserName: "dave",
		Kinds: []policy.Kind{policy.InactivePasswords}, IssueIDs: []int64{7}, BeforeStatus: "present", Started: t0}
	if err := s.Begin(ctx, pw); err != nil {
		t.Fatal(err)
	}
	key := &remediate.Action{Op: remediate.OpDeactivateKey, AccountID: "111111111111", UserName: "dave", KeyID: "AKIADAVE", Started: t0}
	if err := s.Begin(ctx, key); err != nil {
		t.Fatalf("a key of a user whose password has an intent: %v", err)
	}
	other := &remediate.Action{Op: remediate.OpDeleteLoginProfile, AccountID: "222222222222", UserName: "dave", Started: t0}
	if err := s.Begin(ctx, other); err != nil {
		t.Fatalf("the same user name in another account: %v", err)
	}
	again := &remediate.Action{Op: remediate.OpDeleteLoginProfile, AccountID: "111111111111", UserName: "dave", Started: t0}
	if err := s.Begin(ctx, again); !errors.Is(err, remediate.ErrIntentExists) {
		t.Errorf("second password intent: %v", err)
	}
	got, err := s.Actions(ctx, remediate.ActionFilter{IssueID: 7})
	if err != nil || len(got) != 1 || got[0].KeyID != "" || got[0].Credential() != "password of dave" {
		t.Errorf("password action: %+v %v", got, err)
	}
}

// An intent records that its call returned (Called, with a note) and stays
// an intent; an unverified action frees its credential and is settled once,
// to done or failed only; a rollback's hold round-trips.
func testCalledAndUnverified(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t)
	a := &remediate.Action{Op: remediate.OpDeactivateKey, AccountID: "111111111111", UserName: "alice",
		KeyID: "AKIAALICE0000000OLD1", IssueIDs: []int64{3}, Started: t0}
	if err := s.Begin(ctx, a); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Actions(ctx, remediate.ActionFilter{ID: a.ID})
	if len(got) != 1 || got[0].Called != nil {
		t.Fatalf("a new intent has a call record: %+v", got)
	}
	called := t0.Add(time.Second)
	if err := s.MarkCalled(ctx, a.ID, called, "UpdateAccessKey answered"); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Actions(ctx, remediate.ActionFilter{ID: a.ID, States: []remediate.State{remediate.StateIntent}})
	if len(got) != 1 || got[0].Called == nil || !got[0].Called.Equal(called) || got[0].Note != "UpdateAccessKey answered" || got[0].Finished != nil {
		t.Fatalf("after MarkCalled: %+v", got)
	}
	// Still an intent: the credential stays blocked.
	dup := &remediate.Action{Op: remediate.OpDeactivateKey, AccountID: "111111111111", UserName: "alice", KeyID: "AKIAALICE0000000OLD1", Started: t0}
	if err := s.Begin(ctx, dup); !errors.Is(err, remediate.ErrIntentExists) {
		t.Fatalf("intent after MarkCalled: %v", err)
	}
	if err := s.Finish(ctx, a.ID, remediate.StateUnverified, t0.Add(time.Minute), "not yet visible"); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkCalled(ctx, a.ID, t0, "again"); !errors.Is(err, remediate.ErrAlreadyFinished) {
		t.Errorf("MarkCalled on an unverified action: %v", err)
	}
	// Unverified is not an intent: the credential is free again.
	if err := s.Begin(ctx, dup); err != nil {
		t.Fatalf("intent after unverified: %v", err)
	}
	if err := s.Finish(ctx, dup.ID, remediate.StateAbandoned, t0, ""); err != nil {
		t.Fatal(err)
	}
	for _, st := range []remediate.State{remediate.StateAbandoned, remediate.StateIndeterminate, remediate.StateUnverified} {
		if err := s.Finish(ctx, a.ID, st, t0, ""); !errors.Is(err, remediate.ErrAlreadyFinished) {
			t.Errorf("unverified -> %s: %v, want ErrAlreadyFinished", st, err)
		}
	}
	settled := t0.Add(time.Hour)
	if err := s.Finish(ctx, a.ID, remediate.StateDone, settled, "settled"); err != nil {
		t.Fatalf("unverified -> done: %v", err)
	}
	got, _ = s.Actions(ctx, remediate.ActionFilter{ID: a.ID})
	if len(got) != 1 || got[0].State != remediate.StateDone || !got[0].Finished.Equal(settled) || got[0].Note != "settled" ||
		got[0].Called == nil || !got[0].Called.Equal(called) {
		t.Errorf("settled: %+v", got)
	}
	if err := s.Finish(ctx, a.ID, remediate.StateFailed, settled, ""); !errors.Is(err, remediate.ErrAlreadyFinished) {
		t.Errorf("done -> failed: %v", err)
	}
	// unverified -> failed.
	b := &remediate.Action{Op: remediate.OpDeactivateKey, AccountID: "111111111111", UserName: "bob", KeyID: "AKIAB", Started: t0}
	if err := s.Begin(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(ctx, b.ID, remediate.StateUnverified, t0, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(ctx, b.ID, remediate.StateFailed, settled, "live state shows key Active"); err != nil {
		t.Fatalf("unverified -> failed: %v", err)
	}
	// A rollback with a hold.
	hold := t0.Add(30 * 24 * time.Hour)
	rb := &remediate.Action{Op: remediate.OpReactivateKey, AccountID: "111111111111", UserName: "alice", KeyID: "AKIAALICE0000000OLD1",
		RollbackOf: a.ID, HoldUntil: &hold, Started: t0}
	if err := s.Begin(ctx, rb); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Actions(ctx, remediate.ActionFilter{RollbackOf: a.ID})
	if len(got) != 1 || got[0].HoldUntil == nil || !got[0].HoldUntil.Equal(hold) {
		t.Errorf("hold round trip: %+v", got)
	}
	if got, _ := s.Actions(ctx, remediate.ActionFilter{States: []remediate.State{remediate.StateUnverified}}); len(got) != 0 {
		t.Errorf("unverified left: %+v", got)
	}
}
