package slack

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/slack-go/slack/slacktest"

	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/notify"
)

// TestOwnersByNameOrEmail: slack_owner entries name users as Hammer's do,
// by user name or e-mail. users.list maps names and profile e-mails (read
// once); an e-mail the list does not show is asked of users.lookupByEmail
// (once); an unknown e-mail fails that digest only, with a clear error.
func TestOwnersByNameOrEmail(t *testing.T) {
	var mu sync.Mutex
	calls := map[string]int{}
	var lookups []string
	posts := map[string]int{}
	srv := slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/users.list", func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			calls["users.list"]++
			mu.Unlock()
			_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "members": []map[string]any{
				{"id": "UBOB00001", "name": "bob", "profile": map[string]any{"email": "Bob.Smith@example.com"}},
				// Without users:read.email the list carries no e-mail.
				{"id": "UCAROL001", "name": "carol", "profile": map[string]any{}},
				{"id": "UOLD00001", "name": "ghost", "deleted": true, "profile": map[string]any{"email": "ghost@example.com"}},
			}, "response_metadata": map[string]any{"next_cursor": ""}})
		})
		c.Handle("/users.lookupByEmail", func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			mu.Lock()
			calls["users.lookupByEmail"]++
			lookups = append(lookups, r.Form.Get("email"))
			mu.Unlock()
			switch r.Form.Get("email") {
			case "carol@example.com":
				_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "user": map[string]any{"id": "UCAROL001", "name": "carol",
					"profile": map[string]any{"email": "carol@example.com"}}})
			default:
				_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "users_not_found"})
			}
		})
		c.Handle("/chat.postMessage", func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			mu.Lock()
			posts[r.Form.Get("channel")]++
			mu.Unlock()
			_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": r.Form.Get("channel"), "ts": "1764072000.000100"})
		})
	})
	srv.Start()
	defer srv.Stop()
	ch, err := New(Options{Token: "xoxb-test", Config: config.Slack{APIURL: srv.GetAPIURL()}})
	if err != nil {
		t.Fatal(err)
	}
	n := notices()[1]
	owners := []string{"bob", "bob.smith@EXAMPLE.com", "Carol@Example.com", "carol@example.com", "nobody@example.com", "ghost@example.com", "#sec"}
	n.Owner = config.Owner{SlackOwner: owners}
	targets, _ := ch.Targets(n)
	if strings.Join(targets, ",") != strings.Join(owners, ",") {
		t.Fatalf("targets %v", targets)
	}
	errs := map[string]string{}
	for _, tg := range targets {
		r := &rec{}
		if err := ch.Deliver(context.Background(), tg, []*notify.Notice{n}, r); err != nil {
			errs[tg] = err.Error()
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if posts["UBOB00001"] != 2 || posts["UCAROL001"] != 2 || posts["#sec"] != 1 || len(posts) != 3 {
		t.Errorf("posts %v", posts)
	}
	if calls["users.list"] != 1 || strings.Join(lookups, ",") != "carol@example.com,nobody@example.com,ghost@example.com" {
		t.Errorf("users.list %d times, lookups %q", calls["users.list"], lookups)
	}
	if len(errs) != 2 || !strings.Contains(errs["nobody@example.com"], `no Slack user with the e-mail "nobody@example.com" (slack_owner in ticket_owners.json)`) ||
		!strings.Contains(errs["ghost@example.com"], `no Slack user with the e-mail "ghost@example.com"`) {
		t.Errorf("errors %q", errs)
	}
}
