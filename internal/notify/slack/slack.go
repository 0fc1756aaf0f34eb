// Package slack delivers notices to Slack: one Block Kit digest per
// recipient per run, through an incoming webhook or a bot token
// (chat.postMessage), honouring rate limits (429 with Retry-After).
package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/notify"
)

// WebhookTarget is the one target of webhook mode: a webhook posts to the
// channel it was created for.
const WebhookTarget = "webhook"

// Options configure the Slack channel.
type Options struct {
	Config config.Slack
	// WebhookURL or Token (from the environment); the webhook wins.
	WebhookURL, Token string
	HTTPClient        *http.Client
	Log               *slog.Logger
	// Sleep waits out a rate limit (default: a timer); tests replace it.
	Sleep func(ctx context.Context, d time.Duration) error
	// MaxWait is the longest Retry-After honoured (default one minute);
	// MaxRetries the rate-limit retries of one message (default 3).
	MaxWait    time.Duration
	MaxRetries int
}

// Channel is the Slack notify.Channel.
type Channel struct {
	o      Options
	client *slackapi.Client
	logged map[string]bool
	// users maps Slack user names and e-mail addresses to IDs (users.list,
	// read once per run) for slack_owner entries that are plain names or
	// e-mail addresses, as Hammer allows.
	usersOnce sync.Once
	users     map[string]string
	usersErr  error
	// byEmail caches users.lookupByEmail answers (ID, or the error).
	emailMu sync.Mutex
	byEmail map[string]emailAnswer
}

type emailAnswer struct {
	id  string
	err error
}

// New returns the Slack channel.
func New(o Options) (*Channel, error) {
	if o.WebhookURL == "" && o.Token == "" {
		return nil, fmt.Errorf("slack: neither %s nor %s is set in the environment", o.Config.WebhookURLEnv, o.Config.TokenEnv)
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.MaxWait == 0 {
		o.MaxWait = time.Minute
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = 3
	}
	c := &Channel{o: o, logged: map[string]bool{}}
	if o.WebhookURL == "" {
		opts := []slackapi.Option{slackapi.OptionHTTPClient(o.HTTPClient)}
		if o.Config.APIURL != "" {
			opts = append(opts, slackapi.OptionAPIURL(o.Config.APIURL))
		}
		c.client = slackapi.New(o.Token, opts...)
	}
	return c, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Name implements notify.Channel.
func (c *Channel) Name() string { return "slack" }

// Targets routes a notice: the webhook, or the account's slack_owner
// recipients (ticket_owners.json) and the default channel.
func (c *Channel) Targets(n *notify.Notice) ([]string, string) {
	if c.o.WebhookURL != "" {
		return []string{WebhookTarget}, ""
	}
	r := notify.Recipients(n.Owner, n.DefaultOwner, c.o.Config)
	if len(r) == 0 {
		return nil, "no slack_owner in ticket_owners.json for the account and no slack.default_channel"
	}
	return r, ""
}

// Deliver posts the digest of ns to target, one message per part.
func (c *Channel) Deliver(ctx context.Context, target string, ns []*notify.Notice, rec notify.Recorder) error {
	var first error
	for _, m := range c.digest(target, ns) {
		if err := rec.Sending(ctx, m.Notices); err != nil {
			return err
		}
		ref, err := c.post(ctx, target, m)
		if err != nil {
			if rerr := rec.Failed(ctx, m.Notices, err); rerr != nil {
				return rerr
			}
			if first == nil {
				first = err
			}
			continue
		}
		if err := rec.Sent(ctx, m.Notices, ref); err != nil {
			return err
		}
	}
	return first
}

// Preview writes the messages as JSON payloads.
func (c *Channel) Preview(w io.Writer, target string, ns []*notify.Notice) error {
	for _, m := range c.digest(target, ns) {
		b, err := json.MarshalIndent(m.payload(), "", "  ")
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "--- slack to %s (%d notices)\n%s\n", target, len(m.Notices), b); err != nil {
			return err
		}
	}
	return nil
}

func (c *Channel) digest(target string, ns []*notify.Notice) []Message {
	for _, n := range ns {
		if m := notify.MentionFor(n.Issue.Tags); m.Text == "" {
			key := n.Issue.AccountID + "/" + n.Issue.Details.Username
			if !c.logged[key] {
				c.logged[key] = true
				c.o.Log.Info("slack: naming the IAM user in plain text, without a mention",
					"account", n.Issue.AccountID, "user", n.Issue.Details.Username, "reason", m.Why)
			}
		}
	}
	return Digest(target, ns, c.o.Config.ShowKeyIDs)
}

// post sends one message, waiting out rate limits; ref is the message's
// channel and ts (bot) or "webhook".
func (c *Channel) post(ctx context.Context, target string, m Message) (string, error) {
	for attempt := 0; ; attempt++ {
		ref, err := c.postOnce(ctx, target, m)
		var rl *slackapi.RateLimitedError
		if !errors.As(err, &rl) || attempt >= c.o.MaxRetries || rl.RetryAfter > c.o.MaxWait {
			return ref, err
		}
		c.o.Log.Info("slack: rate limited, waiting", "target", target, "retry_after", rl.RetryAfter)
		if err := c.o.Sleep(ctx, rl.RetryAfter); err != nil {
			return "", err
		}
	}
}

func (c *Channel) postOnce(ctx context.Context, target string, m Message) (string, error) {
	if c.o.WebhookURL != "" {
		err := slackapi.PostWebhookCustomHTTPContext(ctx, c.o.WebhookURL, c.o.HTTPClient, &slackapi.WebhookMessage{
			Text: m.Text, Blocks: &slackapi.Blocks{BlockSet: m.Blocks},
		})
		if err != nil {
			return "", c.redact(err)
		}
		return WebhookTarget, nil
	}
	to, err := c.resolve(ctx, target)
	if err != nil {
		return "", err
	}
	channel, ts, err := c.client.PostMessageContext(ctx, to,
		slackapi.MsgOptionText(m.Text, false), slackapi.MsgOptionBlocks(m.Blocks...))
	if err != nil {
		return "", c.redact(err)
	}
	return channel + "/" + ts, nil
}

// slackID matches Slack conversation and user IDs (C…, G…, D…, U…, W…).
var slackID = regexp.MustCompile(`^[CGDUW][A-Z0-9]{6,}$`)

// resolve turns a slack_owner entry into a chat.postMessage channel:
// "#channels" and Slack IDs as they are; a user named by name or e-mail
// (Hammer's ticket_owners.json sample has "bob"; Hammer's SlackNotification
// maps users.list's names and profile e-mails) is looked up in users.list
// (handle, display name, real name or profile e-mail, case-insensitive),
// once per run; an e-mail the list does not show (the list omits e-mails
// without the users:read.email scope) is asked of users.lookupByEmail. The
// bot token then needs users:read (and users:read.email for e-mails). An
// unknown user is an error of that notice: it stays pending, with the
// error, until ticket_owners.json is fixed.
func (c *Channel) resolve(ctx context.Context, target string) (string, error) {
	if strings.HasPrefix(target, "#") || slackID.MatchString(target) {
		return target, nil
	}
	c.usersOnce.Do(func() {
		list, err := c.client.GetUsersContext(ctx)
		if err != nil {
			c.usersErr = fmt.Errorf("slack: look up user names (users.list, needs the users:read scope): %w", c.redact(err))
			return
		}
		c.users = map[string]string{}
		for _, u := range list {
			if u.Deleted {
				continue
			}
			for _, n := range []string{u.Name, u.Profile.DisplayName, u.RealName, u.Profile.Email} {
				if n = strings.ToLower(strings.TrimSpace(n)); n != "" {
					if _, taken := c.users[n]; !taken {
						c.users[n] = u.ID
					}
				}
			}
		}
	})
	key := strings.ToLower(strings.TrimSpace(strings.TrimPrefix(target, "@")))
	if id, ok := c.users[key]; ok {
		return id, nil
	}
	if isEmail(key) {
		return c.lookupEmail(ctx, target, key)
	}
	if c.usersErr != nil {
		return "", c.usersErr
	}
	return "", fmt.Errorf("slack: no Slack user named %q (slack_owner in ticket_owners.json): use a user ID (U…), an e-mail address or a #channel", target)
}

// isEmail reports whether a slack_owner entry is an e-mail address.
func isEmail(s string) bool {
	i := strings.LastIndex(s, "@")
	return i > 0 && i < len(s)-1 && !strings.ContainsAny(s, " \t<>")
}

// lookupEmail asks users.lookupByEmail for the user with e-mail key, once
// per run.
func (c *Channel) lookupEmail(ctx context.Context, target, key string) (string, error) {
	c.emailMu.Lock()
	defer c.emailMu.Unlock()
	if a, ok := c.byEmail[key]; ok {
		return a.id, a.err
	}
	var a emailAnswer
	u, err := c.client.GetUserByEmailContext(ctx, key)
	var se slackapi.SlackErrorResponse
	switch {
	case err == nil && u.Deleted:
		a.err = fmt.Errorf("slack: the Slack user with the e-mail %q (slack_owner in ticket_owners.json) is deactivated: use another owner", target)
	case err == nil && u.ID != "":
		a.id = u.ID
	case err == nil:
		a.err = fmt.Errorf("slack: users.lookupByEmail answered no user for %q", target)
	case errors.As(err, &se) && se.Err == "users_not_found":
		a.err = fmt.Errorf("slack: no Slack user with the e-mail %q (slack_owner in ticket_owners.json): use a user ID (U…), a user name or a #channel", target)
	case errors.As(err, &se) && se.Err == "missing_scope":
		a.err = fmt.Errorf("slack: look up %q (users.lookupByEmail) needs the bot token's users:read.email scope: %w", target, c.redact(err))
	default:
		// A transient failure: not cached, the next notice asks again.
		return "", fmt.Errorf("slack: look up %q (users.lookupByEmail): %w", target, c.redact(err))
	}
	if c.byEmail == nil {
		c.byEmail = map[string]emailAnswer{}
	}
	c.byEmail[key] = a
	return a.id, a.err
}

// redact keeps the webhook URL (a secret) and the token out of errors,
// which end up in the store and the logs.
func (c *Channel) redact(err error) error {
	var rl *slackapi.RateLimitedError
	if errors.As(err, &rl) {
		return err
	}
	msg := err.Error()
	clean := msg
	for _, s := range []string{c.o.WebhookURL, c.o.Token} {
		if s != "" {
			clean = strings.ReplaceAll(clean, s, "[redacted]")
		}
	}
	if clean == msg {
		return err
	}
	return errors.New(clean)
}
