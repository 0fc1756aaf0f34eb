package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack/slacktest"

	"github.com/keywarden/keywarden/internal/awstest"
	"github.com/keywarden/keywarden/internal/notify/jira/jiratest"
)

// reportConfig turns reporting on for every kind; extra is spliced into the
// top-level object.
func reportConfig(extra string) string {
	c := `{
  "aws": {"region": "us-east-1", "accounts": {"111111111111": "alpha"}},
  "user_inactivekeys": {"inactive_criteria_days": 90, "warning_days": 10, "reporting": true},
  "user_keysrotation": {"rotation_criteria_days": 180, "warning_days": 10, "reporting": true},
  "user_inactivepasswords": {"inactive_criteria_days": 90, "warning_days": 10, "reporting": true,
    "warning_interval_days": 3, "notification_title": "Console password", "notification_text": "Log in to keep it."}`
	if extra != "" {
		c += ",\n  " + extra
	}
	return c + "\n}"
}

// runWith runs keywarden like world.run, with environment variables.
func (w *world) runEnvMap(env map[string]string, args ...string) result {
	w.t.Helper()
	var out, errb bytes.Buffer
	e := Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return env[k] }, Now: func() time.Time { return asOf },
		AWSHTTPClient: w.srv.HTTPClient()}
	full := append([]string{"--config-dir", w.dir, "--db", w.db, "--log-level", "warn"}, args...)
	code := Run(context.Background(), e, full)
	return result{code, out.String(), errb.String()}
}

func (w *world) report(env map[string]string, want int, at time.Time, args ...string) result {
	w.t.Helper()
	r := w.runEnvMap(env, append([]string{"report", "--as-of", at.Format(time.RFC3339)}, args...)...)
	if r.code != want {
		w.t.Fatalf("report %v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, r.code, want, r.stdout, r.stderr)
	}
	return r
}

// webhook is an incoming webhook that records payloads and can be down.
type webhook struct {
	*httptest.Server
	mu       sync.Mutex
	down     int // answer 500 to this many requests
	limited  int // answer 429 Retry-After: 1 to this many requests
	attempts int
	payloads []map[string]any
}

func newWebhook(t *testing.T) *webhook {
	h := &webhook{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		h.attempts++
		switch {
		case h.down > 0:
			h.down--
			http.Error(rw, "boom", http.StatusInternalServerError)
			return
		case h.limited > 0:
			h.limited--
			rw.Header().Set("Retry-After", "1")
			http.Error(rw, "rate limited", http.StatusTooManyRequests)
			return
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			http.Error(rw, "bad json", http.StatusBadRequest)
			return
		}
		h.payloads = append(h.payloads, m)
		_, _ = rw.Write([]byte("ok"))
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *webhook) got() (attempts int, payloads []map[string]any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.attempts, append([]map[string]any(nil), h.payloads...)
}

func TestReportSlackWebhookRetriesExactlyOnce(t *testing.T) {
	w := newWorld(t, reportConfig(`"sns": {"topic_arn": "arn:aws:sns:us-east-1:111111111111:keywarden"}`))
	w.srv.AddAccount(seedAlpha())
	w.srv.AddTopic("arn:aws:sns:us-east-1:111111111111:keywarden")
	w.scan(0, "-o", "json")
	hook := newWebhook(t)
	env := map[string]string{"KEYWARDEN_SLACK_WEBHOOK_URL": hook.URL + "/services/T0/B0/SECRETSECRET"}

	// Slack is down: the run fails, SNS still publishes, nothing is lost.
	hook.down = 100
	r := w.report(env, 1, asOf)
	for _, want := range []string{"slack: 5 new notice(s), 0 retried, 0 sent, 5 failed", "sns: 5 new notice(s), 0 retried, 5 sent, 0 failed", "retried on the next run"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "SECRETSECRET") {
		t.Errorf("the webhook URL leaked into the output:\n%s", r.stderr)
	}
	if n := len(w.srv.Published()); n != 5 {
		t.Fatalf("SNS messages: %d, want 5", n)
	}

	// Slack is back: the five pending notices go in one digest, once.
	hook.down = 0
	r = w.report(env, 0, asOf)
	if !strings.Contains(r.stderr, "slack: 0 new notice(s), 5 retried, 5 sent, 0 failed") ||
		!strings.Contains(r.stderr, "sns: 0 new notice(s), 0 retried, 0 sent") {
		t.Errorf("second run:\n%s", r.stderr)
	}
	attempts, payloads := hook.got()
	if len(payloads) != 1 {
		t.Fatalf("webhook payloads: %d, want 1 digest (attempts %d)", len(payloads), attempts)
	}
	body, _ := json.Marshal(payloads[0])
	for _, want := range []string{"Expires soon", "Violations", "`carol`", "`alice`", "AKIA…OLD1", "Console password", "Log in to keep it."} {
		if !strings.Contains(string(body), want) {
			t.Errorf("digest lacks %q: %s", want, body)
		}
	}
	if strings.Contains(string(body), "AKIAALICE0000000OLD1") {
		t.Errorf("digest shows a full key ID: %s", body)
	}
	// Nothing more is due.
	r = w.report(env, 0, asOf)
	if a, p := hook.got(); a != attempts || len(p) != 1 || len(w.srv.Published()) != 5 {
		t.Errorf("third run sent again: webhook attempts %d -> %d, SNS %d\n%s", attempts, a, len(w.srv.Published()), r.stderr)
	}

	// A rate limit is waited out (Retry-After: 1) and the notice sent once.
	w.srv.LoginAt(acctA, "carol", daysAgo(0))
	hook.limited = 1
	later := asOf.Add(72 * time.Hour)
	w.report(env, 0, later)
	if _, p := hook.got(); len(p) != 2 || !strings.Contains(mustJSON(p[1]), "carol") {
		t.Errorf("after a 429, payloads: %d", len(p))
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestReportSNSMessages(t *testing.T) {
	w := newWorld(t, reportConfig(`"sns": {"topic_arn": "arn:aws:sns:us-east-1:111111111111:keywarden"}`))
	w.srv.AddAccount(seedAlpha())
	w.srv.AddTopic("arn:aws:sns:us-east-1:111111111111:keywarden")
	w.scan(0, "-o", "json")
	// The topic is unreachable once: that message stays pending.
	w.srv.Inject(awstest.Fault{Action: "Publish", Code: "InternalError", Status: 500, Times: 3})
	w.report(nil, 1, asOf)
	got := w.srv.Published()
	if len(got) != 4 {
		t.Fatalf("published %d, want 4 (one failed)", len(got))
	}
	w.report(nil, 0, asOf)
	got = w.srv.Published()
	if len(got) != 5 {
		t.Fatalf("published %d after the retry, want 5", len(got))
	}
	ids := map[string]bool{}
	for _, m := range got {
		var doc map[string]any
		if err := json.Unmarshal([]byte(m.Message), &doc); err != nil {
			t.Fatal(err)
		}
		if doc["schema"] != "keywarden.notice/v1" {
			t.Errorf("schema %v", doc["schema"])
		}
		id := doc["delivery_id"].(string)
		if ids[id] {
			t.Errorf("delivery %s published twice", id)
		}
		ids[id] = true
		if strings.Join(m.AttributeNames(), ",") != "account,event,kind,stage,status" || m.Attributes["account"] != acctA {
			t.Errorf("attributes %v", m.Attributes)
		}
		if strings.Contains(m.Message, "AKIAALICE0000000OLD1") {
			t.Errorf("unmasked key in %s", m.Message)
		}
	}
	for _, c := range w.srv.Calls() {
		if c.Action == "Publish" && c.Service != "sns" {
			t.Errorf("Publish recorded as %s", c.Service)
		}
	}
}

// slackAPI is slack-go's slacktest server with chat.postMessage recorded.
type slackAPI struct {
	*slacktest.Server
	mu    sync.Mutex
	posts []url.Values
}

func newSlackAPI(t *testing.T) *slackAPI {
	s := &slackAPI{}
	s.Server = slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			s.mu.Lock()
			defer s.mu.Unlock()
			if r.Form.Get("token") != "xoxb-keywarden" {
				_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "invalid_auth"})
				return
			}
			s.posts = append(s.posts, r.Form)
			_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": r.Form.Get("channel"), "ts": fmt.Sprintf("1764072000.%06d", len(s.posts))})
		})
		// users.list, for slack_owner entries that are plain names.
		c.Handle("/users.list", func(w http.ResponseWriter, r *http.Request) {
			_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "members": []map[string]any{
				{"id": "UBOB00001", "name": "bob", "real_name": "Bob Smith", "profile": map[string]any{"display_name": "bobby"}},
				{"id": "UOLD00001", "name": "ghost", "deleted": true},
			}, "response_metadata": map[string]any{"next_cursor": ""}})
		})
	})
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

func (s *slackAPI) got() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]url.Values(nil), s.posts...)
}

func TestReportSlackBotRoutingAndWarningInterval(t *testing.T) {
	api := newSlackAPI(t)
	// notify_default_owner false: an account's notices go to its own
	// owners only (Hammer's default, true, adds the global ones).
	w := newWorld(t, reportConfig(`"slack": {"enabled": true, "notify_default_owner": false, "api_url": "`+api.GetAPIURL()+`"}`))
	w.writeFile("ticket_owners.json", `{"slack_owner": "#security",
	  "account": {"111111111111": {"slack_owner": ["#alpha-team", "UOWNER1"]}}}`)
	acct := seedAlpha()
	for i := range acct.Users {
		switch acct.Users[i].Name {
		case "carol":
			acct.Users[i].Tags = map[string]string{"Slack": "UCAROL1"}
		case "alice":
			acct.Users[i].Tags = map[string]string{"Slack": "subteam-SALICE1"}
		case "bob":
			acct.Users[i].Tags = map[string]string{"Slack": "bob.smith"}
		}
	}
	w.srv.AddAccount(acct)
	w.scan(0, "-o", "json")
	env := map[string]string{"KEYWARDEN_SLACK_TOKEN": "xoxb-keywarden"}

	// --dry-run prints both digests and sends nothing.
	dry := w.report(env, 0, asOf, "--dry-run")
	if len(api.got()) != 0 || strings.Count(dry.stdout, "--- slack to ") != 2 {
		t.Fatalf("dry run sent %d, printed:\n%s", len(api.got()), dry.stdout)
	}

	w.report(env, 0, asOf)
	posts := api.got()
	if len(posts) != 2 || posts[0].Get("channel") != "#alpha-team" || posts[1].Get("channel") != "UOWNER1" {
		t.Fatalf("posts: %d %v", len(posts), posts)
	}
	blocks := posts[0].Get("blocks")
	for _, want := range []string{`\u003c@UCAROL1\u003e`, `\u003c!subteam^SALICE1\u003e`, "`bob`", "expires in 5 days", "Console password"} {
		if !strings.Contains(blocks, want) {
			t.Errorf("digest lacks %s:\n%s", want, blocks)
		}
	}
	if strings.Contains(blocks, "bob.smith") {
		t.Errorf("an invalid Slack tag was used as a mention")
	}
	// Warnings every 3 days (user_inactivepasswords.warning_interval_days):
	// not the next day, again on the third; violations are not repeated.
	w.report(env, 0, asOf.Add(24*time.Hour))
	if n := len(api.got()); n != 2 {
		t.Fatalf("a day later: %d posts, want still 2", n)
	}
	w.report(env, 0, asOf.Add(3*24*time.Hour-2*time.Hour))
	posts = api.got()
	if len(posts) != 4 {
		t.Fatalf("three days later: %d posts, want 4", len(posts))
	}
	if b := posts[2].Get("blocks"); !strings.Contains(b, "carol") || strings.Contains(b, "alice") || !strings.Contains(b, "expires in 3 days") {
		t.Errorf("the repeated warning:\n%s", b)
	}
}

func TestReportJiraTicketClosedWhenKeyRotated(t *testing.T) {
	jira := jiratest.New("bot@example.com", "jira-secret")
	t.Cleanup(jira.Close)
	w := newWorld(t, reportConfig(`"jira": {"enabled": true, "server": "`+jira.URL+`", "user": "bot@example.com", "labels": ["iam"]}`))
	w.writeFile("ticket_owners.json", `{"jira_project": "AWSSEC", "jira_owner": "Support-General", "jira_parent_ticket": "AWSSEC-1",
	  "account": {"111111111111": {"jira_owner": "Support-Cloud"}}}`)
	w.srv.AddAccount(seedAlpha())
	w.scan(0, "-o", "json")
	env := map[string]string{"KEYWARDEN_JIRA_TOKEN": "jira-secret"}

	// JIRA fails once: that ticket is created on the next run, only once.
	jira.Fail(1)
	r := w.report(env, 1, asOf)
	if strings.Contains(r.stderr, "jira-secret") {
		t.Errorf("the token leaked:\n%s", r.stderr)
	}
	w.report(env, 0, asOf)
	tickets := jira.Tickets()
	if len(tickets) != 5 {
		t.Fatalf("tickets: %d, want 5", len(tickets))
	}
	for _, tk := range tickets {
		if tk.Project != "AWSSEC" || tk.Assignee != "Support-Cloud" || strings.Join(tk.Links, ",") != "AWSSEC-1" ||
			tk.Status != "To Do" || len(tk.Comments) != 0 || tk.Type != "Task" {
			t.Errorf("ticket %+v", tk)
		}
		if !strings.Contains(strings.Join(tk.Labels, ","), "keywarden-") || strings.Contains(tk.Description, "AKIAALICE0000000OLD1") {
			t.Errorf("ticket %s labels %v / unmasked key", tk.Key, tk.Labels)
		}
	}

	// alice rotates: the old key is deleted, a new one in use.
	acct := seedAlpha()
	for i := range acct.Users {
		if acct.Users[i].Name == "alice" {
			acct.Users[i].Keys = []awstest.Key{{ID: "AKIAALICE0000000NEW3", Created: daysAgo(0.5), LastUsed: at(daysAgo(0.1))},
				acct.Users[i].Keys[1]}
		}
	}
	w.srv.AddAccount(acct)
	w.scan(0, "-o", "json")
	w.report(env, 0, asOf.Add(time.Hour))
	tickets = jira.Tickets()
	if len(tickets) != 5 {
		t.Fatalf("tickets after rotation: %d, want still 5", len(tickets))
	}
	done := 0
	for _, tk := range tickets {
		if strings.Contains(tk.Summary, "alice") {
			if tk.Status != "Done" || len(tk.Comments) != 1 || !strings.Contains(tk.Comments[0], "no longer flagged") {
				t.Errorf("alice's ticket %s: status %s comments %q", tk.Key, tk.Status, tk.Comments)
			}
			done++
		} else if tk.Status != "To Do" {
			t.Errorf("ticket %s closed: %+v", tk.Key, tk)
		}
	}
	if done != 2 {
		t.Errorf("alice's tickets closed: %d, want 2", done)
	}
	calls := len(jira.Calls())
	w.report(env, 0, asOf.Add(2*time.Hour))
	if n := len(jira.Calls()); n != calls {
		t.Errorf("a run with nothing due called JIRA %d times", n-calls)
	}
}

// TestReportSlackPlainUserNames: Hammer's ticket_owners.json names Slack
// users by name ("bob"); the bot looks them up with users.list and posts to
// the user's ID. An unknown (or deleted) name fails that digest with a clear
// error and keeps it pending; the others are sent.
func TestReportSlackPlainUserNames(t *testing.T) {
	api := newSlackAPI(t)
	w := newWorld(t, reportConfig(`"slack": {"enabled": true, "api_url": "`+api.GetAPIURL()+`"}`))
	w.writeFile("ticket_owners.json", `{"slack_owner": ["bob", "ghost"]}`)
	w.srv.AddAccount(seedAlpha())
	w.scan(0, "-o", "json")
	env := map[string]string{"KEYWARDEN_SLACK_TOKEN": "xoxb-keywarden"}
	r := w.report(env, 1, asOf)
	posts := api.got()
	if len(posts) != 1 || posts[0].Get("channel") != "UBOB00001" {
		t.Fatalf("posts: %v", posts)
	}
	if !strings.Contains(r.stderr, `no Slack user named "ghost" (slack_owner in ticket_owners.json): use a user ID`) || !strings.Contains(r.stderr, "5 sent, 5 failed") {
		t.Errorf("the unknown name is not explained:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "xoxb-keywarden") {
		t.Error("the token reached the output")
	}
}
