package jira

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
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

// hammerConfig is a "jira" section with every key Hammer's tickets need.
func hammerConfig(server string) config.Jira {
	return config.Jira{Server: server, User: "keywarden-bot", IssueType: "Task", DoneTransition: "Done", LinkType: "Relates",
		Labels: []string{"aws"}, Priority: config.DefaultJiraPriority, Risk: config.DefaultJiraRisk,
		RiskFieldID: "customfield_10400", Watchers: []string{"secops"}, TextFieldCharacterLimit: 32767}
}

// violation is a new violation of an inactive key, as the runner builds it.
func violation(asOf time.Time) *notify.Notice {
	is := issues.Issue{ID: 7, Kind: policy.InactiveKeys, AccountID: "111111111111", Subject: "AKIABOB0000000000001",
		Status: issues.Open, Stage: policy.Violation, UserARN: "arn:aws:iam::111111111111:user/bob",
		Details: issues.Details{Username: "bob", CreateDate: "2026-05-01T09:30:00Z", LastUsed: "2026-08-20T17:46:00Z"},
		AgeDays: 97, LimitDays: 90, DaysLeft: -7, Deadline: asOf.AddDate(0, 0, -7), Detected: asOf.AddDate(0, 0, -7)}
	title, text := notify.TitleText(config.Notify{}, is.Kind)
	return &notify.Notice{Issue: is, Event: notify.Violation, AccountName: "alpha", DaysLeft: -7, AsOf: asOf, Title: title, Text: text,
		Owner:           config.Owner{JiraProject: "AWSSEC", JiraOwner: "Support-Cloud", JiraParentTicket: "AWSSEC-100"},
		RemediationDate: asOf.AddDate(0, 0, 7), WhitelistingURL: "https://wiki.example.com/whitelisting",
		Labels: config.DefaultKindLabels[policy.InactiveKeys], Delivery: &notify.Delivery{ID: 1, Seq: 1, Attempts: 1}}
}

// payloads renders requests as the golden files hold them.
func payloads(reqs []jiratest.Request) string {
	var b strings.Builder
	for _, r := range reqs {
		line := r.Method + " " + r.Path
		if r.Query != "" {
			line += "?" + r.Query
		}
		b.WriteString(line + "\n")
		if r.Body != "" {
			b.WriteString(r.Body + "\n")
		}
		b.WriteString("\n")
	}
	return b.String()
}

func goldenFile(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
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
		t.Errorf("%s differs (go test -update to accept):\n%s", path, got)
	}
}

func newHammerChannel(t *testing.T, srv *jiratest.Server, log *bytes.Buffer) (*Channel, *tickets) {
	t.Helper()
	st := &tickets{m: map[int64]*notify.Ticket{}}
	ch, err := New(Options{Config: hammerConfig(srv.URL), Token: "tok", Tickets: st,
		Log: slog.New(slog.NewTextHandler(log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return ch, st
}

func deliver(t *testing.T, ch *Channel, n *notify.Notice) {
	t.Helper()
	r := &nopRec{}
	if err := ch.Deliver(context.Background(), "", []*notify.Notice{n}, r); err != nil || r.sent != 1 {
		t.Fatalf("deliver %s: %v (sent %d)", n.Event, err, r.sent)
	}
}

// TestHammerTicketNewViolation: the payloads of a new violation's ticket:
// create (Hammer's summary, description with the auto-remediation date and
// the whitelisting link, labels, priority Major, risk field), configured
// watcher, assignee jira_owner and its watch, link to the parent.
func TestHammerTicketNewViolation(t *testing.T) {
	srv := jiratest.New("keywarden-bot", "tok")
	defer srv.Close()
	var log bytes.Buffer
	ch, st := newHammerChannel(t, srv, &log)
	asOf := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	deliver(t, ch, violation(asOf))
	goldenFile(t, "hammer_new_violation.txt", payloads(srv.Requests()))
	tk := srv.Tickets()
	if len(tk) != 1 {
		t.Fatalf("tickets: %d", len(tk))
	}
	got := tk[0]
	if got.Summary != "IAM access key 'AKIA…0001' for 'bob' has not been used for 90 days in 'alpha / 111111111111' account" ||
		got.Priority != "Major" || got.Assignee != "Support-Cloud" || fmt.Sprint(got.Watchers) != "[secops Support-Cloud]" ||
		fmt.Sprint(got.Labels) != "[iam-key-inactive aws keywarden "+Label(violation(asOf))+"]" ||
		fmt.Sprint(got.Custom) != "map[customfield_10400:map[value:Low]]" || fmt.Sprint(got.Links) != "[AWSSEC-100]" {
		t.Errorf("ticket %+v", got)
	}
	for _, want := range []string{"{color:red}*Auto-Remediation Date*: 2026-12-02{color}",
		"[whitelisting procedure|https://wiki.example.com/whitelisting]", "*Risk*: Low", "*Key last used*: 2026-08-20 17:46"} {
		if !strings.Contains(got.Description, want) {
			t.Errorf("description lacks %q:\n%s", want, got.Description)
		}
	}
	if strings.Contains(payloads(srv.Requests()), "AKIABOB0000000000001") {
		t.Error("a full key ID reached JIRA")
	}
	if s := st.m[7]; s == nil || s.Assignee != "Support-Cloud" || s.Parent != "AWSSEC-100" {
		t.Errorf("stored ticket %+v", s)
	}
}

// TestHammerTicketUnassignableOwner: JIRA answers 400 to assigning
// jira_owner; the ticket goes to the reporter (myself), who watches it, the
// log says why, and the next notice does not try the owner again.
func TestHammerTicketUnassignableOwner(t *testing.T) {
	srv := jiratest.New("keywarden-bot", "tok")
	defer srv.Close()
	srv.Unassignable("Support-Cloud")
	var log bytes.Buffer
	ch, st := newHammerChannel(t, srv, &log)
	asOf := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	n := violation(asOf)
	n.Owner.JiraParentTicket = ""
	deliver(t, ch, n)
	goldenFile(t, "hammer_unassignable.txt", payloads(srv.Requests()))
	if tk := srv.Tickets()[0]; tk.Assignee != "keywarden-bot" || tk.Reporter != "keywarden-bot" || fmt.Sprint(tk.Watchers) != "[secops keywarden-bot]" {
		t.Errorf("ticket %+v", tk)
	}
	if !strings.Contains(log.String(), "jira_owner cannot be assigned the ticket; assigned to the reporter instead") ||
		!strings.Contains(log.String(), "User 'Support-Cloud' cannot be assigned issues.") {
		t.Errorf("log:\n%s", log.String())
	}
	before := len(srv.Requests())
	c := *n
	c.Event, c.Delivery = notify.Remediated, &notify.Delivery{ID: 2, Seq: 1, Attempts: 1}
	deliver(t, ch, &c)
	for _, r := range srv.Requests()[before:] {
		if strings.HasSuffix(r.Path, "/assignee") || r.Path == "/rest/api/2/myself" {
			t.Errorf("assignment tried again: %s %s", r.Method, r.Path)
		}
	}
	if s := st.m[7]; s.Assignee != "Support-Cloud" || !s.Closed {
		t.Errorf("stored ticket %+v", s)
	}

	// Any other failure is the notice's error: it is retried, never
	// assigned to the reporter.
	srv2 := jiratest.New("keywarden-bot", "tok")
	defer srv2.Close()
	ch2, _ := newHammerChannel(t, srv2, &log)
	n2 := violation(asOf)
	n2.Owner.JiraParentTicket = ""
	srv2.FailOn(http.MethodPut, "/assignee", 1)
	r := &nopRec{}
	if err := ch2.Deliver(context.Background(), "", []*notify.Notice{n2}, r); err == nil || r.failed != 1 {
		t.Fatalf("a 503 on assign: %v, failed %d", err, r.failed)
	}
	if tk := srv2.Tickets()[0]; tk.Assignee != "" {
		t.Errorf("assigned to %q after a 503", tk.Assignee)
	}
	// The retry assigns the owner.
	n2.Delivery.Attempts = 2
	deliver(t, ch2, n2)
	if tk := srv2.Tickets(); len(tk) != 1 || tk[0].Assignee != "Support-Cloud" {
		t.Errorf("after the retry: %+v", tk)
	}
}

// TestHammerTicketUnassignableOwnerCloud: JIRA Cloud names the reporter by
// account ID only: the fallback assigns and watches by account ID.
func TestHammerTicketUnassignableOwnerCloud(t *testing.T) {
	srv := jiratest.New("keywarden-bot", "tok")
	defer srv.Close()
	srv.AccountID = "5b10ac8d82e05b22cc7d4ef5"
	srv.Unassignable("Support-Cloud")
	var log bytes.Buffer
	ch, _ := newHammerChannel(t, srv, &log)
	n := violation(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	n.Owner.JiraParentTicket = ""
	deliver(t, ch, n)
	if tk := srv.Tickets()[0]; tk.Assignee != srv.AccountID || fmt.Sprint(tk.Watchers) != "[secops "+srv.AccountID+"]" {
		t.Errorf("ticket %+v", tk)
	}
}

// TestHammerTicketWhitelisted: a reported issue then whitelisted: its
// ticket is labelled "whitelisted", commented and closed, as Hammer does.
func TestHammerTicketWhitelisted(t *testing.T) {
	srv := jiratest.New("keywarden-bot", "tok")
	defer srv.Close()
	var log bytes.Buffer
	ch, _ := newHammerChannel(t, srv, &log)
	asOf := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	n := violation(asOf)
	deliver(t, ch, n)
	before := len(srv.Requests())
	w := *n
	w.Event, w.Delivery = notify.Whitelisted, &notify.Delivery{ID: 2, Seq: 1, Attempts: 1}
	w.Issue.Status, w.Issue.Exemption, w.RemediationDate = issues.Whitelisted, "whitelist.json (user bob)", time.Time{}
	deliver(t, ch, &w)
	goldenFile(t, "hammer_whitelisted.txt", payloads(srv.Requests()[before:]))
	tk := srv.Tickets()[0]
	if tk.Status != "Done" || !strings.Contains(fmt.Sprint(tk.Labels), " whitelisted") || len(tk.Comments) != 1 ||
		!strings.Contains(tk.Comments[0], "exempt from now on: whitelist.json (user bob)") {
		t.Errorf("ticket %+v", tk)
	}
}
