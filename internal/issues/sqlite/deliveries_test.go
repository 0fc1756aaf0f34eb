package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/policy"
)

func TestDeliveriesSurviveACrash(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "k.db")
	s := openStore(t, path)
	u := alice()
	u.Tags = map[string]string{"Slack": "U123", "Name": "Alice"}
	ch := scan(t, s, facts(u, bob()), policy.Exemptions{}, asOf)
	if len(ch.New) == 0 {
		t.Fatal("no issues")
	}
	is := ch.New[0]
	got, err := s.Get(ctx, is.ID)
	if err != nil || got.Tags["Slack"] != "U123" {
		t.Fatalf("tags not stored: %v %v", got.Tags, err)
	}
	d := &notify.Delivery{IssueID: is.ID, Channel: "slack", Target: "#sec", Event: notify.Violation, Seq: 1}
	w := &notify.Delivery{IssueID: is.ID, Channel: "slack", Target: "#sec", Event: notify.Warning, Seq: 1}
	if err := s.PlanDeliveries(ctx, []*notify.Delivery{d, w}, nil, asOf); err != nil || d.ID == 0 {
		t.Fatal(err)
	}
	// The same notice twice is refused by the schema.
	dup := *d
	if err := s.PlanDeliveries(ctx, []*notify.Delivery{&dup}, nil, asOf); err == nil {
		t.Error("a second identical delivery was stored")
	}
	if err := s.MarkSending(ctx, []int64{d.ID}, asOf); err != nil {
		t.Fatal(err)
	}
	// Crash: the process dies before recording the answer.
	s.Close()
	s = openStore(t, path)
	ds, err := s.Deliveries(ctx, []int64{is.ID})
	if err != nil || len(ds) != 2 || ds[0].State != notify.Sending || ds[0].Attempts != 1 {
		t.Fatalf("after a crash: %+v %v", ds, err)
	}
	// The planner retries the in-doubt notice rather than planning another.
	var past []*notify.Delivery
	for i := range ds {
		past = append(past, &ds[i])
	}
	open := is
	open.Status, open.Stage = issues.Open, "violation"
	due := notify.Plan(&open, past, 1, asOf)
	if len(due.Events) != 0 || len(due.Retry) != 1 || len(due.Cancel) != 1 {
		t.Fatalf("plan after crash: %+v", due)
	}
	if err := s.PlanDeliveries(ctx, nil, due.Cancel, asOf); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkFailed(ctx, []int64{d.ID}, "slack: 500", asOf); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkDelivered(ctx, []int64{d.ID}, "C1/1.0001", asOf); err != nil {
		t.Fatal(err)
	}
	ds, _ = s.Deliveries(ctx, []int64{is.ID})
	if ds[0].State != notify.Sent || ds[0].Ref != "C1/1.0001" || ds[0].LastError != "" || ds[0].SentAt == nil ||
		ds[1].State != notify.Cancelled || !strings.HasPrefix(ds[1].Note, "superseded") {
		t.Errorf("deliveries: %+v", ds)
	}
	if got, _ := s.Get(ctx, is.ID); got.Reported == nil || !got.Reported.Equal(asOf) {
		t.Errorf("reported = %v", got.Reported)
	}
	// A failure of a sent notice does not reopen it.
	if err := s.MarkFailed(ctx, []int64{d.ID}, "late", asOf); err != nil {
		t.Fatal(err)
	}
	if ds, _ := s.Deliveries(ctx, []int64{is.ID}); ds[0].State != notify.Sent {
		t.Errorf("a sent notice became %s", ds[0].State)
	}
}

func TestTicketsAndFinished(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, ":memory:")
	ch := scan(t, s, facts(alice()), policy.Exemptions{}, asOf)
	id := ch.New[0].ID
	if tk, err := s.Ticket(ctx, id, "jira"); tk != nil || err != nil {
		t.Fatalf("ticket before any: %v %v", tk, err)
	}
	if err := s.SaveTicket(ctx, &notify.Ticket{IssueID: id, System: "jira", Key: "SEC-1"}, asOf); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveTicket(ctx, &notify.Ticket{IssueID: id, System: "jira", Key: "SEC-1", Assignee: "bob", Closed: true}, asOf); err != nil {
		t.Fatal(err)
	}
	if tk, _ := s.Ticket(ctx, id, "jira"); tk == nil || tk.Assignee != "bob" || !tk.Closed {
		t.Errorf("ticket %+v", tk)
	}
	if err := s.SaveTicket(ctx, &notify.Ticket{IssueID: id, System: "jira", Key: "SEC-2"}, asOf); err == nil ||
		!strings.Contains(err.Error(), "refusing a second one") {
		t.Errorf("second ticket: %v", err)
	}
	// Everything resolves: the closed issues are unfinished until each
	// channel finishes them.
	scan(t, s, facts(inventory.User{Name: "alice"}), policy.Exemptions{}, asOf.Add(policy.Day))
	un, err := s.UnfinishedNotices(ctx, []string{"slack", "jira"})
	if err != nil || len(un) != len(ch.New) {
		t.Fatalf("unfinished %d, want %d: %v", len(un), len(ch.New), err)
	}
	for _, is := range ch.New {
		if err := s.FinishNotices(ctx, is.ID, "slack", asOf); err != nil {
			t.Fatal(err)
		}
	}
	if un, _ := s.UnfinishedNotices(ctx, []string{"slack"}); len(un) != 0 {
		t.Errorf("slack still unfinished: %d", len(un))
	}
	if un, _ := s.UnfinishedNotices(ctx, []string{"slack", "jira"}); len(un) != len(ch.New) {
		t.Errorf("jira unfinished: %d", len(un))
	}
}
