package sqlite

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
)

func TestJournalIntentFinishList(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
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
}
