package slack

import (
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	slackapi "github.com/slack-go/slack"
	"github.com/slack-go/slack/slacktest"

	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/policy"
)

var update = flag.Bool("update", false, "rewrite golden files")

var asOf = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs (go test -update to accept):\n%s", path, got)
	}
}

func notices() []*notify.Notice {
	rem := asOf.Add(-time.Hour)
	closed := asOf
	mk := func(id int64, kind policy.Kind, subject, user string, tags map[string]string, status issues.Status, stage policy.Stage, ev notify.Event) *notify.Notice {
		is := issues.Issue{ID: id, Kind: kind, AccountID: "111111111111", Subject: subject, Status: status, Stage: stage,
			Details: issues.Details{Username: user, CreateDate: "2025-10-21T12:00:00Z", LastUsed: "2026-07-28T12:00:00Z"},
			Tags:    tags, AgeDays: 120, LimitDays: 90, DaysLeft: -30, Deadline: asOf.AddDate(0, 0, -30), Detected: asOf.AddDate(0, 0, -3)}
		switch ev {
		case notify.Warning:
			is.AgeDays, is.DaysLeft, is.Deadline = 85, 5, asOf.AddDate(0, 0, 5)
		case notify.Remediated:
			is.Remediated = &rem
		case notify.Resolved:
			is.Closed, is.CloseReason = &closed, "rotated: key deleted, newer key in use"
		}
		title, text := notify.TitleText(config.Notify{}, kind)
		n := &notify.Notice{Issue: is, Event: ev, AccountName: "alpha", DaysLeft: notify.DaysLeftAt(is.Deadline, asOf, is.DaysLeft),
			Title: title, Text: text, AsOf: asOf, Delivery: &notify.Delivery{ID: id, Seq: 1}}
		if ev == notify.Warning || (ev == notify.Violation && kind == policy.InactiveKeys) {
			// Remediation on for these: the notice states the date.
			n.RemediationDate, _ = notify.RemediationDate(&n.Issue, &config.Kind{Remediation: true, RemediationRetentionPeriod: 7}, ev, asOf)
		}
		return n
	}
	return []*notify.Notice{
		mk(1, policy.InactivePasswords, "carol", "carol", map[string]string{"Slack": "UCAROL123"}, issues.Open, policy.Warning, notify.Warning),
		mk(2, policy.InactiveKeys, "AKIAALICE0000000OLD1", "alice", map[string]string{"Slack": "subteam-SP12345"}, issues.Open, policy.Violation, notify.Violation),
		mk(3, policy.KeysRotation, "AKIAALICE0000000OLD1", "alice", nil, issues.Open, policy.Violation, notify.Violation),
		mk(4, policy.InactiveKeys, "AKIABOB0000000000001", "bob<&>", map[string]string{"Slack": "bob"}, issues.Remediated, policy.Violation, notify.Remediated),
		mk(5, policy.KeysRotation, "AKIADAVE000000000001", "dave", nil, issues.Resolved, policy.Violation, notify.Resolved),
	}
}

func TestDigestGolden(t *testing.T) {
	msgs := Digest("#devops-channel", notices(), false)
	if len(msgs) != 1 || len(msgs[0].Notices) != 5 {
		t.Fatalf("messages %d", len(msgs))
	}
	var buf strings.Builder
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(msgs[0].payload()); err != nil {
		t.Fatal(err)
	}
	b := []byte(buf.String())
	golden(t, "digest.json", b)
	if strings.Contains(string(b), "AKIAALICE0000000OLD1") {
		t.Error("unmasked key ID")
	}
}

func TestDigestSplitsLongDigests(t *testing.T) {
	var ns []*notify.Notice
	for i := 0; i < 400; i++ {
		n := *notices()[1]
		n.Issue.ID = int64(i + 1)
		n.Issue.Details.Username = strings.Repeat("u", 40)
		n.Delivery = &notify.Delivery{ID: int64(i + 1)}
		ns = append(ns, &n)
	}
	msgs := Digest("#x", ns, true)
	if len(msgs) < 2 {
		t.Fatalf("%d messages, want a split", len(msgs))
	}
	total := 0
	for _, m := range msgs {
		total += len(m.Notices)
		if len(m.Blocks) > maxBlocks {
			t.Errorf("%d blocks", len(m.Blocks))
		}
		for _, b := range m.Blocks {
			if s, ok := b.(*slackapi.SectionBlock); ok && len(s.Text.Text) > 3000 {
				t.Errorf("section of %d characters", len(s.Text.Text))
			}
		}
	}
	if total != 400 {
		t.Errorf("notices carried %d, want 400", total)
	}
}

// rec records what a channel reports.
type rec struct {
	mu                    sync.Mutex
	sending, sent, failed int
	refs                  []string
}

func (r *rec) Sending(_ context.Context, ns []*notify.Notice) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sending += len(ns)
	return nil
}
func (r *rec) Sent(_ context.Context, ns []*notify.Notice, ref string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent += len(ns)
	r.refs = append(r.refs, ref)
	return nil
}
func (r *rec) Failed(_ context.Context, ns []*notify.Notice, _ error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed += len(ns)
	return nil
}

// slackServer is slack-go's slacktest server with chat.postMessage
// recorded (and rate limited on demand).
type slackServer struct {
	*slacktest.Server
	mu      sync.Mutex
	posts   []url.Values
	limited int
}

func newSlackServer(t *testing.T) *slackServer {
	s := &slackServer{}
	s.Server = slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.limited > 0 {
				s.limited--
				w.Header().Set("Retry-After", "7")
				w.WriteHeader(http.StatusTooManyRequests)
				return
			}
			s.posts = append(s.posts, r.Form)
			_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": r.Form.Get("channel"), "ts": "1764072000.00010" + string(rune('0'+len(s.posts)))})
		})
	})
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

func TestBotTokenRateLimitAndRouting(t *testing.T) {
	srv := newSlackServer(t)
	srv.limited = 2
	var waited []time.Duration
	ch, err := New(Options{Token: "xoxb-test", Config: config.Slack{APIURL: srv.GetAPIURL()},
		Sleep: func(_ context.Context, d time.Duration) error { waited = append(waited, d); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	n := notices()[0]
	n.Owner = config.Owner{SlackOwner: []string{"#team", "UOWNER1"}}
	targets, _ := ch.Targets(n)
	if strings.Join(targets, ",") != "#team,UOWNER1" {
		t.Fatalf("targets %v", targets)
	}
	r := &rec{}
	for _, tg := range targets {
		if err := ch.Deliver(context.Background(), tg, []*notify.Notice{n}, r); err != nil {
			t.Fatal(err)
		}
	}
	if r.sent != 2 || r.failed != 0 || len(srv.posts) != 2 {
		t.Fatalf("sent %d failed %d posts %d", r.sent, r.failed, len(srv.posts))
	}
	if len(waited) != 2 || waited[0] != 7*time.Second {
		t.Errorf("waited %v, want twice 7s (Retry-After)", waited)
	}
	if srv.posts[0].Get("channel") != "#team" || !strings.Contains(srv.posts[0].Get("blocks"), `\u003c@UCAROL123\u003e`) {
		t.Errorf("post: %v", srv.posts[0])
	}
	if !strings.HasPrefix(r.refs[0], "#team/") {
		t.Errorf("ref %q", r.refs[0])
	}
	// A Retry-After beyond MaxWait is not waited out: the notice fails.
	srv.limited = 1
	ch.o.MaxWait = time.Second
	r = &rec{}
	if err := ch.Deliver(context.Background(), "#team", []*notify.Notice{n}, r); err == nil || r.failed != 1 {
		t.Errorf("long rate limit: err %v failed %d", err, r.failed)
	}
}

func TestWebhookErrorsAreRedacted(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) }))
	defer hook.Close()
	ch, _ := New(Options{WebhookURL: "http://127.0.0.1:1/services/T/B/SECRET"})
	err := ch.Deliver(context.Background(), WebhookTarget, notices()[:1], &rec{})
	if err == nil || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("error %v", err)
	}
}
