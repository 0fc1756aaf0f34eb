package cli

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack/slacktest"

	"github.com/keywarden/keywarden/internal/notify/jira/jiratest"
)

// hammerTicketsConfig: Hammer's keys around tickets (per-check labels and
// remediation, whitelisting_procedure_url, jira priority, risk field,
// watchers), reporting on for every kind.
func hammerTicketsConfig(jiraURL string) string {
	return `{
  "aws": {"region": "us-east-1", "accounts": {"111111111111": "alpha"}},
  "whitelisting_procedure_url": "https://wiki.example.com/aws-whitelisting",
  "user_inactivekeys": {"inactive_criteria_days": "90", "warning_days": 10, "reporting": "true",
    "remediation": "true", "remediation_retention_period": "7"},
  "user_keysrotation": {"rotation_criteria_days": 180, "warning_days": 10, "reporting": true, "remediation": false,
    "labels": ["stale-keys"]},
  "user_inactivepasswords": {"inactive_criteria_days": 90, "warning_days": 10, "reporting": true,
    "remediation": true, "remediation_retention_period": 3},
  "jira": {"enabled": "true", "server": "` + jiraURL + `", "user": "bot@example.com", "priority": "Major",
    "risk_field_id": "customfield_10400", "watchers": ["secops"]}
}`
}

// TestReportHammerTickets: end to end through `report`, the JIRA tickets
// carry what Hammer's carry: its summary, the kind's labels, priority, the
// risk field, the auto-remediation date (the report plus
// remediation_retention_period when remediation is on; none when it is
// off), the whitelisting procedure link and a watcher; jira_owner that JIRA
// refuses falls back to the reporter; a whitelisted issue's ticket is
// labelled "whitelisted" and closed.
func TestReportHammerTickets(t *testing.T) {
	jira := jiratest.New("bot@example.com", "jira-secret")
	t.Cleanup(jira.Close)
	jira.Unassignable("Support-Cloud")
	w := newWorld(t, hammerTicketsConfig(jira.URL))
	w.writeFile("ticket_owners.json", `{"jira_project": "AWSSEC", "jira_owner": "Support-Cloud"}`)
	w.srv.AddAccount(seedAlpha())
	w.scan(0, "-o", "json")
	env := map[string]string{"KEYWARDEN_JIRA_TOKEN": "jira-secret"}
	r := w.report(env, 0, asOf)
	tickets := jira.Tickets()
	if len(tickets) != 5 {
		t.Fatalf("tickets: %d, want 5\n%s", len(tickets), r.stderr)
	}
	type want struct {
		summary, label, date string
	}
	// asOf is 2026-11-25: violations reported now are remediated 7 days
	// (keys) or 3 days (passwords) later; carol's password reaches its
	// limit on 2026-11-30, its violation is reported then at the earliest.
	wants := map[string]want{
		"IAM access key 'AKIA…OLD1' for 'alice' has not been used for 90 days in 'alpha / 111111111111' account":     {"", "iam-key-inactive", "2026-12-02"},
		"IAM access key 'AKIA…OLD1' for 'alice' has not been rotated for 180 days in 'alpha / 111111111111' account": {"", "stale-keys", ""},
		"IAM access key 'AKIA…0001' for 'bob' has not been used for 90 days in 'alpha / 111111111111' account":       {"", "iam-key-inactive", "2026-12-02"},
		"IAM console password for 'carol' reaches 90 days unused on 2026-11-30 in 'alpha / 111111111111' account":    {"", "iam-password-inactive", "2026-12-03"},
		"IAM console password for 'dave' has not been used for 90 days in 'alpha / 111111111111' account":            {"", "iam-password-inactive", "2026-11-28"},
	}
	for _, tk := range tickets {
		wt, ok := wants[tk.Summary]
		if !ok {
			t.Errorf("unexpected ticket %q", tk.Summary)
			continue
		}
		delete(wants, tk.Summary)
		if !slices.Contains(tk.Labels, wt.label) || tk.Priority != "Major" || tk.Custom["customfield_10400"] == nil {
			t.Errorf("%s: labels %v priority %q custom %v", tk.Key, tk.Labels, tk.Priority, tk.Custom)
		}
		if !strings.Contains(tk.Description, "please follow the [whitelisting procedure|https://wiki.example.com/aws-whitelisting]") {
			t.Errorf("%s lacks the whitelisting link:\n%s", tk.Key, tk.Description)
		}
		date := "{color:red}*Auto-Remediation Date*: " + wt.date + "{color}"
		switch {
		case wt.date == "" && strings.Contains(tk.Description, "Auto-Remediation Date"):
			t.Errorf("%s (remediation off) states an auto-remediation date:\n%s", tk.Key, tk.Description)
		case wt.date != "" && !strings.Contains(tk.Description, date):
			t.Errorf("%s lacks %q:\n%s", tk.Key, date, tk.Description)
		}
		// Support-Cloud cannot be assigned issues: the reporter is.
		if tk.Assignee != "bot@example.com" || !slices.Contains(tk.Watchers, "secops") || !slices.Contains(tk.Watchers, "bot@example.com") {
			t.Errorf("%s: assignee %q watchers %v", tk.Key, tk.Assignee, tk.Watchers)
		}
		if strings.Contains(tk.Description+tk.Summary, "AKIAALICE0000000OLD1") {
			t.Errorf("%s shows a full key ID", tk.Key)
		}
	}
	for s := range wants {
		t.Errorf("no ticket %q", s)
	}
	if !strings.Contains(r.stderr, "jira_owner cannot be assigned the ticket; assigned to the reporter instead") ||
		!strings.Contains(r.stderr, "Support-Cloud") {
		t.Errorf("the fallback is not logged:\n%s", r.stderr)
	}

	// alice's key is whitelisted: both its tickets are labelled
	// "whitelisted", commented and closed; the others stay open.
	w.writeFile("whitelist.json", `{"user_inactivekeys": {"111111111111": ["alice"]}, "user_keysrotation": {"111111111111": ["AKIAALICE0000000OLD1"]}}`)
	w.scan(0, "-o", "json")
	w.report(env, 0, asOf.Add(time.Hour))
	closed := 0
	for _, tk := range jira.Tickets() {
		if strings.Contains(tk.Summary, "'alice'") {
			closed++
			if tk.Status != "Done" || !slices.Contains(tk.Labels, "whitelisted") || len(tk.Comments) != 1 ||
				!strings.Contains(tk.Comments[0], "exempt from now on") {
				t.Errorf("alice's ticket %s: status %s labels %v comments %q", tk.Key, tk.Status, tk.Labels, tk.Comments)
			}
		} else if tk.Status != "To Do" || slices.Contains(tk.Labels, "whitelisted") {
			t.Errorf("ticket %s: status %s labels %v", tk.Key, tk.Status, tk.Labels)
		}
	}
	if closed != 2 {
		t.Errorf("alice's tickets closed: %d, want 2", closed)
	}
}

// TestReportHammerPerCheckToggles: Hammer's per-check "jira"/"slack"
// switches keep a kind off one channel without a "routed nowhere" warning,
// and Slack owners named by e-mail (ticket_owners.json) get the digest.
func TestReportHammerPerCheckToggles(t *testing.T) {
	jira := jiratest.New("bot@example.com", "jira-secret")
	t.Cleanup(jira.Close)
	// slacktest answers users.lookupByEmail itself: this server knows one
	// user by e-mail, absent from users.list's answer (no users:read.email).
	api := &slackAPI{}
	api.Server = slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			api.mu.Lock()
			defer api.mu.Unlock()
			api.posts = append(api.posts, r.Form)
			_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": r.Form.Get("channel"), "ts": "1764072000.000001"})
		})
		c.Handle("/users.list", func(w http.ResponseWriter, r *http.Request) {
			_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "members": []map[string]any{
				{"id": "UBOB00001", "name": "bob", "profile": map[string]any{}}}, "response_metadata": map[string]any{"next_cursor": ""}})
		})
		c.Handle("/users.lookupByEmail", func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			if strings.EqualFold(r.Form.Get("email"), "Security-Team@example.com") {
				_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "user": map[string]any{"id": "USEC00001", "name": "security"}})
				return
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "users_not_found"})
		})
	})
	api.Start()
	t.Cleanup(api.Stop)
	w := newWorld(t, `{
  "aws": {"region": "us-east-1", "accounts": {"111111111111": "alpha"}},
  "user_inactivekeys": {"inactive_criteria_days": 90, "reporting": true, "slack": "false"},
  "user_keysrotation": {"rotation_criteria_days": 180, "reporting": true, "jira": {"enabled": false}},
  "jira": {"enabled": true, "server": "`+jira.URL+`", "user": "bot@example.com"},
  "slack": {"enabled": true, "api_url": "`+api.GetAPIURL()+`"}
}`)
	w.writeFile("ticket_owners.json", `{"jira_project": "AWSSEC", "slack_owner": ["security-team@EXAMPLE.com"]}`)
	w.srv.AddAccount(seedAlpha())
	w.scan(0, "-o", "json")
	r := w.report(map[string]string{"KEYWARDEN_JIRA_TOKEN": "jira-secret", "KEYWARDEN_SLACK_TOKEN": "xoxb-keywarden"}, 0, asOf)
	var summaries []string
	for _, tk := range jira.Tickets() {
		summaries = append(summaries, tk.Summary)
	}
	// Tickets for inactive keys only (alice, bob); rotation is off JIRA.
	if len(summaries) != 2 || strings.Contains(strings.Join(summaries, "\n"), "rotated") {
		t.Errorf("tickets:\n%s", strings.Join(summaries, "\n"))
	}
	posts := api.got()
	if len(posts) != 1 || posts[0].Get("channel") != "USEC00001" {
		t.Fatalf("posts %v", posts)
	}
	// The digest carries rotation only (inactive keys are off Slack).
	if b := posts[0].Get("blocks"); !strings.Contains(b, "created 400 days ago") || strings.Contains(b, "unused for 120 days") {
		t.Errorf("digest:\n%s", b)
	}
	if strings.Contains(r.stderr, "routed nowhere") {
		t.Errorf("a switched-off kind is reported as routed nowhere:\n%s", r.stderr)
	}
}
