package jira

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/notify/jira/jiratest"
	"github.com/keywarden/keywarden/internal/policy"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestBodiesGolden(t *testing.T) {
	asOf := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	is := issues.Issue{ID: 3, Kind: policy.InactiveKeys, AccountID: "111111111111", Subject: "AKIABOB0000000000001",
		Status: issues.Open, Stage: policy.Violation, UserARN: "arn:aws:iam::111111111111:user/bob",
		Details: issues.Details{Username: "bob", CreateDate: "2026-08-17T12:00:00Z"},
		AgeDays: 100, LimitDays: 90, DaysLeft: -10, Deadline: asOf.AddDate(0, 0, -10), Detected: asOf}
	title, text := notify.TitleText(config.Notify{}, is.Kind)
	n := &notify.Notice{Issue: is, Event: notify.Violation, AccountName: "alpha", DaysLeft: -10, AsOf: asOf, Title: title, Text: text,
		RemediationDate: asOf.AddDate(0, 0, 7), WhitelistingURL: "https://wiki.example.com/whitelisting"}
	var b strings.Builder
	b.WriteString("summary: " + Summary(n, false) + "\n\ndescription:\n" + Description(n, false, "") + "\n\ncomments:\n")
	for _, e := range []notify.Event{notify.Warning, notify.Violation, notify.Remediated, notify.Resolved, notify.Whitelisted} {
		c := *n
		c.Event = e
		switch e {
		case notify.Warning:
			c.DaysLeft, c.Issue.Stage, c.Issue.Deadline = 4, policy.Warning, asOf.AddDate(0, 0, 4)
			c.RemediationDate = c.Issue.Deadline.AddDate(0, 0, 7)
		case notify.Remediated:
			at := asOf
			c.Issue.Remediated = &at
		case notify.Resolved:
			c.Issue.CloseReason = "key deleted"
		case notify.Whitelisted:
			c.Issue.Exemption = "whitelist.json"
		}
		b.WriteString(string(e) + ": " + Comment(&c, false) + "\n")
	}
	// Each kind's summary and first lines, in Hammer's form; a ticket
	// opened in the warning stage says when the limit is reached.
	b.WriteString("\nsummaries:\n")
	for _, k := range policy.Kinds {
		c := *n
		c.Issue.Kind = k
		if k == policy.InactivePasswords {
			c.Issue.Subject = "bob"
		}
		b.WriteString(string(k) + ": " + Summary(&c, false) + "\n")
		c.Event, c.Issue.Stage, c.Issue.Deadline = notify.Warning, policy.Warning, asOf.AddDate(0, 0, 4)
		b.WriteString(string(k) + " (warning): " + Summary(&c, false) + "\n")
		c.AccountName = ""
		c.Issue.Subject = "bob/access_key_2"
		c.Issue.KeySlot = 2
		c.Event = notify.Violation
		b.WriteString(string(k) + " (no key ID, no account name): " + Summary(&c, false) + "\n")
	}
	got := b.String()
	path := filepath.Join("testdata", "bodies.txt")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update):\n%s", path, got)
	}
	if strings.Contains(got, "AKIABOB0000000000001") {
		t.Error("unmasked key ID")
	}
}

// tickets is an in-memory Tickets that can lose a save (a crash right
// after JIRA created the ticket).
type tickets struct {
	m        map[int64]*notify.Ticket
	loseNext bool
}

func (s *tickets) Ticket(_ context.Context, id int64, _ string) (*notify.Ticket, error) {
	if t := s.m[id]; t != nil {
		c := *t
		return &c, nil
	}
	return nil, nil
}

func (s *tickets) SaveTicket(_ context.Context, t *notify.Ticket, _ time.Time) error {
	if s.loseNext {
		s.loseNext = false
		return errors.New("crash")
	}
	c := *t
	s.m[t.IssueID] = &c
	return nil
}

type nopRec struct{ sent, failed int }

func (r *nopRec) Sending(context.Context, []*notify.Notice) error { return nil }
func (r *nopRec) Sent(_ context.Context, ns []*notify.Notice, _ string) error {
	r.sent += len(ns)
	return nil
}
func (r *nopRec) Failed(_ context.Context, ns []*notify.Notice, _ error) error {
	r.failed += len(ns)
	return nil
}

// A ticket created by an attempt whose key was never stored is found by its
// label on the retry: never a second ticket.
func TestInDoubtCreateFindsTheTicket(t *testing.T) {
	srv := jiratest.New("u", "tok")
	defer srv.Close()
	st := &tickets{m: map[int64]*notify.Ticket{}, loseNext: true}
	ch, err := New(Options{Config: config.Jira{Server: srv.URL, User: "u", IssueType: "Task", DoneTransition: "Done", LinkType: "Relates"},
		Token: "tok", Tickets: st})
	if err != nil {
		t.Fatal(err)
	}
	asOf := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	d := &notify.Delivery{ID: 1, Seq: 1, Attempts: 1}
	n := &notify.Notice{Issue: issues.Issue{ID: 9, Kind: policy.InactiveKeys, AccountID: "111111111111", Subject: "AKIAX0000000000000001",
		Status: issues.Open, Stage: policy.Violation, Details: issues.Details{Username: "x"}, Detected: asOf},
		Event: notify.Violation, Owner: config.Owner{JiraProject: "SEC"}, AsOf: asOf, Delivery: d}
	r := &nopRec{}
	if err := ch.Deliver(context.Background(), "", []*notify.Notice{n}, r); err == nil || r.failed != 1 {
		t.Fatalf("first attempt: %v", err)
	}
	d.Attempts = 2
	if err := ch.Deliver(context.Background(), "", []*notify.Notice{n}, r); err != nil || r.sent != 1 {
		t.Fatalf("retry: %v", err)
	}
	if got := srv.Tickets(); len(got) != 1 || st.m[9] == nil || st.m[9].Key != got[0].Key {
		t.Fatalf("tickets %d, stored %+v", len(got), st.m[9])
	}
	// A comment whose attempt is in doubt is not posted twice.
	c := *n
	c.Event = notify.Warning
	c.Delivery = &notify.Delivery{ID: 2, Seq: 1, Attempts: 1}
	_ = ch.Deliver(context.Background(), "", []*notify.Notice{&c}, r)
	c.Delivery.Attempts = 2
	_ = ch.Deliver(context.Background(), "", []*notify.Notice{&c}, r)
	if got := srv.Tickets()[0].Comments; len(got) != 1 {
		t.Errorf("comments %q, want one", got)
	}
}
