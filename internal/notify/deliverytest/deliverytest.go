// Package deliverytest is the contract of notify.Store: one suite that every
// backend (sqlite, dynamodb) runs from its own tests — delivery state that
// survives a crash, guarded state transitions, one notice per (issue,
// channel, target, event, seq), one ticket per issue, finished channels,
// and the issues' reported time and tags.
package deliverytest

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/issues/storetest"
	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/policy"
)

// Store is what the suite works on: the issues and their delivery state.
type Store interface {
	issues.Store
	notify.Store
}

// Open returns a new, empty store for one test and reopen, which opens
// another store on the same data (the next process after a crash). The
// suite closes what it opens.
type Open func(t *testing.T) (s Store, reopen func(t *testing.T) Store)

// Run runs the whole contract against stores made by open.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(*testing.T, Open)
	}{
		{"SurviveACrash", testSurviveACrash},
		{"TicketsAndFinished", testTicketsAndFinished},
		{"Transitions", testTransitions},
		{"ManyDeliveries", testManyDeliveries},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
	}
}

const account = "123456789012"

var (
	asOf = storetest.AsOf // the shared fixtures are relative to it
)

func daysAgo(n int) time.Time { return asOf.Add(-time.Duration(n) * policy.Day) }

func openStore(t *testing.T, open Open) (Store, func(t *testing.T) Store) {
	t.Helper()
	s, reopen := open(t)
	t.Cleanup(func() { s.Close() })
	return s, func(t *testing.T) Store {
		s := reopen(t)
		t.Cleanup(func() { s.Close() })
		return s
	}
}

// scan is one run for the account: reconcile the live issues, then Apply.
func scan(t *testing.T, s issues.Store, facts *inventory.Facts, at time.Time) *issues.Changes {
	t.Helper()
	return storetest.Scan(t, s, facts, policy.Exemptions{}, at)
}

func facts(users ...inventory.User) *inventory.Facts {
	return &inventory.Facts{Account: inventory.Account{ID: account}, Users: users}
}

func deliveries(t *testing.T, s notify.Store, ids ...int64) []notify.Delivery {
	t.Helper()
	ds, err := s.Deliveries(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func testSurviveACrash(t *testing.T, open Open) {
	ctx := context.Background()
	s, reopen := openStore(t, open)
	u := storetest.Alice()
	u.Tags = map[string]string{"Slack": "U123", "Name": "Alice"}
	ch := scan(t, s, facts(u, storetest.Bob()), asOf)
	if len(ch.New) == 0 {
		t.Fatal("no issues")
	}
	is := ch.New[0]
	got, err := s.Get(ctx, is.ID)
	if err != nil || got.Tags["Slack"] != "U123" {
		t.Fatalf("tags not stored: %v %v", got.Tags, err)
	}
	if !reflect.DeepEqual(got.Tags, u.Tags) {
		t.Errorf("tags %v, want %v", got.Tags, u.Tags)
	}
	d := &notify.Delivery{IssueID: is.ID, Channel: "slack", Target: "#sec", Event: notify.Violation, Seq: 1}
	w := &notify.Delivery{IssueID: is.ID, Channel: "slack", Target: "#sec", Event: notify.Warning, Seq: 1}
	if err := s.PlanDeliveries(ctx, []*notify.Delivery{d, w}, nil, asOf); err != nil || d.ID == 0 {
		t.Fatal(err)
	}
	if d.State != notify.Pending || !d.Created.Equal(asOf) || !d.Updated.Equal(asOf) || w.ID == d.ID || w.ID == 0 {
		t.Errorf("planned in place: %+v %+v", d, w)
	}
	// The same notice twice is refused, and nothing of that plan is stored.
	dup := *d
	extra := &notify.Delivery{IssueID: is.ID, Channel: "jira", Event: notify.Violation, Seq: 1}
	if err := s.PlanDeliveries(ctx, []*notify.Delivery{extra, &dup}, nil, asOf); err == nil {
		t.Error("a second identical delivery was stored")
	}
	if ds := deliveries(t, s, is.ID); len(ds) != 2 {
		t.Errorf("after a refused plan: %d deliveries, want 2: %+v", len(ds), ds)
	}
	if err := s.MarkSending(ctx, []int64{d.ID}, asOf); err != nil {
		t.Fatal(err)
	}
	// Crash: the process dies before recording the answer.
	s.Close()
	s = reopen(t)
	ds, err := s.Deliveries(ctx, []int64{is.ID})
	if err != nil || len(ds) != 2 || ds[0].State != notify.Sending || ds[0].Attempts != 1 {
		t.Fatalf("after a crash: %+v %v", ds, err)
	}
	if ds[0].ID != d.ID || ds[0].IssueID != is.ID || ds[0].Channel != "slack" || ds[0].Target != "#sec" ||
		ds[0].Event != notify.Violation || ds[0].Seq != 1 || !ds[0].Created.Equal(asOf) || ds[0].SentAt != nil {
		t.Errorf("delivery read back: %+v", ds[0])
	}
	// The planner retries the in-doubt notice rather than planning another.
	var past []*notify.Delivery
	for i := range ds {
		past = append(past, &ds[i])
	}
	cur := is
	cur.Status, cur.Stage = issues.Open, "violation"
	due := notify.Plan(&cur, past, 1, asOf)
	if len(due.Events) != 0 || len(due.Retry) != 1 || len(due.Cancel) != 1 {
		t.Fatalf("plan after crash: %+v", due)
	}
	if err := s.PlanDeliveries(ctx, nil, due.Cancel, asOf); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkFailed(ctx, []int64{d.ID}, "slack: 500", asOf); err != nil {
		t.Fatal(err)
	}
	if ds := deliveries(t, s, is.ID); ds[0].State != notify.Pending || ds[0].LastError != "slack: 500" || ds[0].Attempts != 1 {
		t.Errorf("after a failure: %+v", ds[0])
	}
	if got, _ := s.Get(ctx, is.ID); got.Reported != nil {
		t.Errorf("reported before anything was sent: %v", got.Reported)
	}
	// A warning sent is not a report: the reported time (from which the
	// remediation retention counts) is the first delivery of the violation.
	warned := &notify.Delivery{IssueID: is.ID, Channel: "slack", Target: "#sec", Event: notify.Warning, Seq: 2}
	if err := s.PlanDeliveries(ctx, []*notify.Delivery{warned}, nil, asOf); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkDelivered(ctx, []int64{warned.ID}, "C1/0.0001", asOf); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, is.ID); got.Reported != nil {
		t.Errorf("reported by a warning: %v", got.Reported)
	}
	sentAt := asOf.Add(time.Hour)
	if err := s.MarkDelivered(ctx, []int64{d.ID}, "C1/1.0001", sentAt); err != nil {
		t.Fatal(err)
	}
	ds, _ = s.Deliveries(ctx, []int64{is.ID})
	if ds[0].State != notify.Sent || ds[0].Ref != "C1/1.0001" || ds[0].LastError != "" || ds[0].SentAt == nil ||
		ds[1].State != notify.Cancelled || !strings.HasPrefix(ds[1].Note, "superseded") {
		t.Errorf("deliveries: %+v", ds)
	}
	if !ds[0].SentAt.Equal(sentAt) || !ds[0].Updated.Equal(sentAt) {
		t.Errorf("sent at %v, updated %v, want %v", ds[0].SentAt, ds[0].Updated, sentAt)
	}
	if got, _ := s.Get(ctx, is.ID); got.Reported == nil || !got.Reported.Equal(sentAt) {
		t.Errorf("reported = %v", got.Reported)
	}
	// A later delivery does not move the reported time.
	later := &notify.Delivery{IssueID: is.ID, Channel: "sns", Event: notify.Violation, Seq: 1}
	if err := s.PlanDeliveries(ctx, []*notify.Delivery{later}, nil, asOf); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkDelivered(ctx, []int64{later.ID}, "msg-1", sentAt.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, is.ID); got.Reported == nil || !got.Reported.Equal(sentAt) {
		t.Errorf("reported moved to %v", got.Reported)
	}
	// A failure of a sent notice does not reopen it.
	if err := s.MarkFailed(ctx, []int64{d.ID}, "late", asOf); err != nil {
		t.Fatal(err)
	}
	if ds := deliveries(t, s, is.ID); ds[0].State != notify.Sent {
		t.Errorf("a sent notice became %s", ds[0].State)
	}
	// The issue, reported, is still the issue a scan updates.
	if ch := scan(t, s, facts(u, storetest.Bob()), asOf.Add(policy.Day)); len(ch.New) != 0 {
		t.Errorf("rescan opened new issues: %+v", ch.New)
	}
	if got, _ := s.Get(ctx, is.ID); got.Reported == nil || !got.Reported.Equal(sentAt) || got.Tags["Name"] != "Alice" {
		t.Errorf("after a rescan: reported %v, tags %v", got.Reported, got.Tags)
	}
}

func testTicketsAndFinished(t *testing.T, open Open) {
	ctx := context.Background()
	s, _ := openStore(t, open)
	ch := scan(t, s, facts(storetest.Alice()), asOf)
	id := ch.New[0].ID
	if tk, err := s.Ticket(ctx, id, "jira"); tk != nil || err != nil {
		t.Fatalf("ticket before any: %v %v", tk, err)
	}
	if err := s.SaveTicket(ctx, &notify.Ticket{IssueID: id, System: "jira", Key: "SEC-1"}, asOf); err != nil {
		t.Fatal(err)
	}
	if tk, _ := s.Ticket(ctx, id, "jira"); tk == nil || *tk != (notify.Ticket{IssueID: id, System: "jira", Key: "SEC-1"}) {
		t.Errorf("ticket %+v", tk)
	}
	if err := s.SaveTicket(ctx, &notify.Ticket{IssueID: id, System: "jira", Key: "SEC-1", Assignee: "bob", Parent: "SEC-0", Closed: true}, asOf); err != nil {
		t.Fatal(err)
	}
	if tk, _ := s.Ticket(ctx, id, "jira"); tk == nil || tk.Assignee != "bob" || !tk.Closed || tk.Parent != "SEC-0" {
		t.Errorf("ticket %+v", tk)
	}
	if err := s.SaveTicket(ctx, &notify.Ticket{IssueID: id, System: "jira", Key: "SEC-2"}, asOf); err == nil ||
		!strings.Contains(err.Error(), "refusing a second one") {
		t.Errorf("second ticket: %v", err)
	}
	if tk, _ := s.Ticket(ctx, id, "jira"); tk == nil || tk.Key != "SEC-1" {
		t.Errorf("after a refused second ticket: %+v", tk)
	}
	if tk, _ := s.Ticket(ctx, ch.New[1].ID, "jira"); tk != nil {
		t.Errorf("another issue's ticket: %+v", tk)
	}
	// Everything resolves: the closed issues are unfinished until each
	// channel finishes them.
	if un, err := s.UnfinishedNotices(ctx, []string{"slack", "jira"}); err != nil || len(un) != 0 {
		t.Fatalf("unfinished while open: %+v %v", un, err)
	}
	scan(t, s, facts(inventory.User{Name: "alice"}), asOf.Add(policy.Day))
	un, err := s.UnfinishedNotices(ctx, []string{"slack", "jira"})
	if err != nil || len(un) != len(ch.New) {
		t.Fatalf("unfinished %d, want %d: %v", len(un), len(ch.New), err)
	}
	for i := range un {
		if un[i].ID != ch.New[i].ID || !un[i].Status.Closed() {
			t.Errorf("unfinished %d: %+v", i, un[i])
		}
	}
	if un, _ := s.UnfinishedNotices(ctx, nil); len(un) != 0 {
		t.Errorf("no channel: %d unfinished", len(un))
	}
	for _, is := range ch.New {
		if err := s.FinishNotices(ctx, is.ID, "slack", asOf); err != nil {
			t.Fatal(err)
		}
		// Finishing twice is harmless.
		if err := s.FinishNotices(ctx, is.ID, "slack", asOf.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if un, _ := s.UnfinishedNotices(ctx, []string{"slack"}); len(un) != 0 {
		t.Errorf("slack still unfinished: %d", len(un))
	}
	if un, _ := s.UnfinishedNotices(ctx, []string{"slack", "jira"}); len(un) != len(ch.New) {
		t.Errorf("jira unfinished: %d", len(un))
	}
	if err := s.FinishNotices(ctx, ch.New[0].ID, "jira", asOf); err != nil {
		t.Fatal(err)
	}
	if un, _ := s.UnfinishedNotices(ctx, []string{"jira", "slack"}); len(un) != len(ch.New)-1 || un[0].ID != ch.New[1].ID {
		t.Errorf("after finishing one on jira: %+v", un)
	}
}

// State transitions are guarded: only live notices are sent, failed or
// cancelled.
func testTransitions(t *testing.T, open Open) {
	ctx := context.Background()
	s, _ := openStore(t, open)
	ch := scan(t, s, facts(storetest.Alice()), asOf)
	id := ch.New[0].ID
	mk := func(target string) *notify.Delivery {
		return &notify.Delivery{IssueID: id, Channel: "slack", Target: target, Event: notify.Violation, Seq: 1}
	}
	a, b, c := mk("#a"), mk("#b"), mk("@carol")
	if err := s.PlanDeliveries(ctx, []*notify.Delivery{a, b, c}, nil, asOf); err != nil {
		t.Fatal(err)
	}
	// b is cancelled; c is sent.
	b.Note = "superseded: recipient removed"
	if err := s.PlanDeliveries(ctx, nil, []*notify.Delivery{b}, asOf); err != nil {
		t.Fatal(err)
	}
	if b.State != notify.Cancelled {
		t.Errorf("cancelled in place: %s", b.State)
	}
	if err := s.MarkSending(ctx, []int64{c.ID}, asOf); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkDelivered(ctx, []int64{c.ID}, "ts-1", asOf); err != nil {
		t.Fatal(err)
	}
	// Sending all three: only a (live) moves; b stays cancelled, c sent.
	if err := s.MarkSending(ctx, []int64{a.ID, b.ID, c.ID}, asOf.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// Sending again (a retry in the same state) counts another attempt.
	if err := s.MarkSending(ctx, []int64{a.ID}, asOf.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	// Cancelling a sent notice does nothing.
	c.Note = "too late"
	if err := s.PlanDeliveries(ctx, nil, []*notify.Delivery{c}, asOf); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkFailed(ctx, []int64{b.ID, c.ID}, "boom", asOf); err != nil {
		t.Fatal(err)
	}
	byTarget := map[string]notify.Delivery{}
	for _, d := range deliveries(t, s, id) {
		byTarget[d.Target] = d
	}
	if d := byTarget["#a"]; d.State != notify.Sending || d.Attempts != 2 || !d.Updated.Equal(asOf.Add(2*time.Minute)) {
		t.Errorf("a: %+v", d)
	}
	if d := byTarget["#b"]; d.State != notify.Cancelled || d.Attempts != 0 || d.Note != "superseded: recipient removed" || d.LastError != "" {
		t.Errorf("b: %+v", d)
	}
	if d := byTarget["@carol"]; d.State != notify.Sent || d.Attempts != 1 || d.Ref != "ts-1" || d.Note != "" || d.LastError != "" {
		t.Errorf("c: %+v", d)
	}
	// Empty calls are no-ops.
	for _, err := range []error{
		s.PlanDeliveries(ctx, nil, nil, asOf), s.MarkSending(ctx, nil, asOf),
		s.MarkDelivered(ctx, nil, "x", asOf), s.MarkFailed(ctx, nil, "x", asOf),
	} {
		if err != nil {
			t.Errorf("empty call: %v", err)
		}
	}
	if ds := deliveries(t, s); len(ds) != 0 {
		t.Errorf("deliveries of no issue: %+v", ds)
	}
	if ds := deliveries(t, s, id+1000); len(ds) != 0 {
		t.Errorf("deliveries of an unknown issue: %+v", ds)
	}
}

// A plan larger than one transaction of some backends, over many issues:
// IDs unique, deliveries listed by ID.
func testManyDeliveries(t *testing.T, open Open) {
	ctx := context.Background()
	s, _ := openStore(t, open)
	var users []inventory.User
	for i := range 40 {
		users = append(users, inventory.User{Name: fmt.Sprintf("u%02d", i), Created: daysAgo(400),
			Keys: []inventory.AccessKey{{ID: fmt.Sprintf("AKIAU%02d", i), Slot: 1, Status: inventory.StatusActive, Created: daysAgo(300)}}})
	}
	ch := scan(t, s, facts(users...), asOf)
	var add []*notify.Delivery
	var ids []int64
	for _, is := range ch.New {
		ids = append(ids, is.ID)
		for _, target := range []string{"#sec", "#ops"} {
			add = append(add, &notify.Delivery{IssueID: is.ID, Channel: "slack", Target: target, Event: notify.Violation, Seq: 1})
		}
	}
	if err := s.PlanDeliveries(ctx, add, nil, asOf); err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for _, d := range add {
		if d.ID == 0 || seen[d.ID] {
			t.Fatalf("delivery ID %d (zero or twice)", d.ID)
		}
		seen[d.ID] = true
	}
	ds := deliveries(t, s, ids...)
	if len(ds) != len(add) {
		t.Fatalf("%d deliveries, want %d", len(ds), len(add))
	}
	for i := 1; i < len(ds); i++ {
		if ds[i-1].ID >= ds[i].ID {
			t.Fatalf("not ordered by ID: %d then %d", ds[i-1].ID, ds[i].ID)
		}
	}
	all := make([]int64, len(add))
	for i, d := range add {
		all[i] = d.ID
	}
	if err := s.MarkSending(ctx, all, asOf); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkDelivered(ctx, all, "digest-1", asOf); err != nil {
		t.Fatal(err)
	}
	for _, d := range deliveries(t, s, ids...) {
		if d.State != notify.Sent || d.Ref != "digest-1" || d.Attempts != 1 {
			t.Fatalf("after a digest: %+v", d)
		}
	}
	list, err := s.List(ctx, issues.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, is := range list {
		if is.Reported == nil || !is.Reported.Equal(asOf) {
			t.Errorf("issue %d reported %v", is.ID, is.Reported)
		}
	}
}
