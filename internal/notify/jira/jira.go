// Package jira keeps one JIRA ticket per issue (go-jira, REST API v2), as
// Dow Jones Hammer's reporting does (create_iam_key_*_tickets.py,
// library/jiraoperations.py): created in the routed project with Hammer's
// summary, labels, priority (and risk field when configured), the
// auto-remediation date and the whitelisting procedure link; linked to
// jira_parent_ticket; assigned to jira_owner, or to the reporter when JIRA
// refuses jira_owner as an assignee; watched by the assignee and the
// configured watchers; commented when warned again, in violation or
// remediated; labelled "whitelisted" when exempted; transitioned to done
// when the issue closes.
package jira

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	gojira "github.com/andygrunwald/go-jira"

	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/notify/sns"
	"github.com/keywarden/keywarden/internal/policy"
)

// System names JIRA in the tickets table.
const System = "jira"

// Tickets is where ticket keys are kept (sqlite.Store).
type Tickets interface {
	Ticket(ctx context.Context, issueID int64, system string) (*notify.Ticket, error)
	SaveTicket(ctx context.Context, t *notify.Ticket, at time.Time) error
}

// Options configure the JIRA channel.
type Options struct {
	Config config.Jira
	// Token is an API token (with Config.User) or a personal access token.
	Token      string
	Tickets    Tickets
	HTTPClient *http.Client
	Log        *slog.Logger
}

// Channel is the JIRA notify.Channel.
type Channel struct {
	o      Options
	client *gojira.Client
	// self is the user keywarden connects as (the reporter of its
	// tickets), read once when first needed.
	selfMu sync.Mutex
	self   user
}

// user names a JIRA user: by name (Server, Data Center) or, when JIRA has
// none to give (Cloud), by account ID.
type user struct{ name, accountID string }

// ref is how the REST API names the user in an assignment.
func (u user) ref() map[string]string {
	if u.name != "" {
		return map[string]string{"name": u.name}
	}
	return map[string]string{"accountId": u.accountID}
}

func (u user) String() string {
	if u.name != "" {
		return u.name
	}
	return u.accountID
}

// WhitelistedLabel is the label Hammer adds to the ticket of a whitelisted
// issue before closing it (IssueStatus.Whitelisted).
const WhitelistedLabel = "whitelisted"

// New returns the JIRA channel.
func New(o Options) (*Channel, error) {
	base := o.HTTPClient
	if base == nil {
		base = &http.Client{Timeout: 30 * time.Second}
	}
	var hc *http.Client
	if o.Config.User != "" {
		tp := &gojira.BasicAuthTransport{Username: o.Config.User, Password: o.Token, Transport: base.Transport}
		hc = tp.Client()
	} else {
		tp := &gojira.BearerAuthTransport{Token: o.Token, Transport: base.Transport}
		hc = tp.Client()
	}
	hc.Timeout = base.Timeout
	client, err := gojira.NewClient(hc, o.Config.Server)
	if err != nil {
		return nil, fmt.Errorf("jira: %w", err)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Channel{o: o, client: client}, nil
}

// Name implements notify.Channel.
func (c *Channel) Name() string { return "jira" }

// Targets: one ticket per issue, in the routed project.
func (c *Channel) Targets(n *notify.Notice) ([]string, string) {
	if n.Owner.JiraProject == "" {
		return nil, "no jira_project in ticket_owners.json for the account"
	}
	return []string{""}, ""
}

// Deliver brings each notice's ticket up to date.
func (c *Channel) Deliver(ctx context.Context, _ string, ns []*notify.Notice, rec notify.Recorder) error {
	var first error
	for _, n := range ns {
		one := []*notify.Notice{n}
		if err := rec.Sending(ctx, one); err != nil {
			return err
		}
		key, err := c.deliver(ctx, n)
		if err != nil {
			if rerr := rec.Failed(ctx, one, err); rerr != nil {
				return rerr
			}
			if first == nil {
				first = err
			}
			continue
		}
		if err := rec.Sent(ctx, one, key); err != nil {
			return err
		}
	}
	return first
}

// Preview writes the ticket or comment each notice would produce.
func (c *Channel) Preview(w io.Writer, _ string, ns []*notify.Notice) error {
	for _, n := range ns {
		fmt.Fprintf(w, "--- jira %s (project %s, assignee %q, parent %q)\n", n.Event, n.Owner.JiraProject, n.Owner.JiraOwner, n.Owner.JiraParentTicket)
		fmt.Fprintf(w, "summary: %s\nlabels: %s\npriority: %s\n%s\ncomment (when the ticket exists):\n%s\n", Summary(n, c.o.Config.ShowKeyIDs),
			strings.Join(c.labels(n), ", "), c.o.Config.Priority,
			c.limit(Description(n, c.o.Config.ShowKeyIDs, c.o.Config.Risk)), Comment(n, c.o.Config.ShowKeyIDs))
	}
	return nil
}

// Label is the label that finds an issue's ticket again.
func Label(n *notify.Notice) string { return "keywarden-" + sns.Fingerprint(&n.Issue) }

func (c *Channel) deliver(ctx context.Context, n *notify.Notice) (string, error) {
	t, err := c.o.Tickets.Ticket(ctx, n.Issue.ID, System)
	if err != nil {
		return "", err
	}
	created := false
	if t == nil {
		key := ""
		if n.Delivery.Attempts > 1 {
			// An earlier attempt may have created it before failing or
			// crashing: find it rather than open a second one.
			found, _, err := c.client.Issue.SearchWithContext(ctx, fmt.Sprintf(`labels = "%s"`, Label(n)),
				&gojira.SearchOptions{MaxResults: 1, Fields: []string{"status"}})
			if err != nil {
				return "", c.err("search ticket", err)
			}
			if len(found) > 0 {
				// Created by that attempt: its description tells this
				// notice already.
				key, created = found[0].Key, true
			}
		}
		if key == "" {
			issue, _, err := c.client.Issue.CreateWithContext(ctx, c.newTicket(n))
			if err != nil {
				return "", c.err("create ticket", err)
			}
			key, created = issue.Key, true
		}
		// Before the key is stored: a crash here makes the retry find the
		// ticket and add them again, which JIRA takes as a no-op.
		for _, w := range c.o.Config.Watchers {
			c.watch(ctx, key, w)
		}
		t = &notify.Ticket{IssueID: n.Issue.ID, System: System, Key: key}
		if err := c.o.Tickets.SaveTicket(ctx, t, n.AsOf); err != nil {
			return key, err
		}
	}
	if owner := n.Owner.JiraOwner; owner != "" && t.Assignee != owner {
		// Ticket.Assignee records the jira_owner the assignment was settled
		// for: assigned to them, or to the reporter when JIRA refused them.
		if err := c.assign(ctx, t.Key, owner); err != nil {
			return t.Key, err
		}
		t.Assignee = owner
		if err := c.o.Tickets.SaveTicket(ctx, t, n.AsOf); err != nil {
			return t.Key, err
		}
	}
	if parent := n.Owner.JiraParentTicket; parent != "" && t.Parent != parent {
		_, err := c.client.Issue.AddLinkWithContext(ctx, &gojira.IssueLink{
			Type:         gojira.IssueLinkType{Name: c.o.Config.LinkType},
			InwardIssue:  &gojira.Issue{Key: t.Key},
			OutwardIssue: &gojira.Issue{Key: parent},
		})
		if err != nil {
			return t.Key, c.err("link "+t.Key+" to "+parent, err)
		}
		t.Parent = parent
		if err := c.o.Tickets.SaveTicket(ctx, t, n.AsOf); err != nil {
			return t.Key, err
		}
	}
	if n.Event == notify.Whitelisted {
		// Hammer labels a whitelisted issue's ticket, then comments and
		// closes it.
		if err := c.addLabel(ctx, t.Key, WhitelistedLabel); err != nil {
			return t.Key, err
		}
	}
	if !created {
		if err := c.comment(ctx, t.Key, n); err != nil {
			return t.Key, err
		}
	}
	if n.Event.Closing() && !t.Closed {
		if err := c.close(ctx, t.Key); err != nil {
			return t.Key, err
		}
		t.Closed = true
		if err := c.o.Tickets.SaveTicket(ctx, t, n.AsOf); err != nil {
			return t.Key, err
		}
	}
	return t.Key, nil
}

func (c *Channel) err(what string, err error) error {
	return fmt.Errorf("jira %s: %w", what, err)
}

// labels are a new ticket's labels: the kind's (Hammer's per-check labels
// or its defaults), jira.labels, then keywarden's two (the second finds the
// ticket again).
func (c *Channel) labels(n *notify.Notice) []string {
	var out []string
	for _, l := range slices.Concat(n.Labels, c.o.Config.Labels, []string{"keywarden", Label(n)}) {
		if l = strings.TrimSpace(l); l != "" && !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

func (c *Channel) newTicket(n *notify.Notice) *gojira.Issue {
	f := &gojira.IssueFields{
		Project:     gojira.Project{Key: n.Owner.JiraProject},
		Type:        gojira.IssueType{Name: c.o.Config.IssueType},
		Summary:     Summary(n, c.o.Config.ShowKeyIDs),
		Description: c.limit(Description(n, c.o.Config.ShowKeyIDs, c.o.Config.Risk)),
		Labels:      c.labels(n),
	}
	if p := c.o.Config.Priority; p != "" {
		f.Priority = &gojira.Priority{Name: p}
	}
	if id := c.o.Config.RiskFieldID; id != "" {
		f.Unknowns = map[string]any{id: map[string]any{"value": c.o.Config.Risk}}
	}
	return &gojira.Issue{Fields: f}
}

// call sends one request with a JSON body; the error carries JIRA's answer.
func (c *Channel) call(ctx context.Context, method, path string, body any) (*gojira.Response, error) {
	req, err := c.client.NewRequestWithContext(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	resp, err := c.client.Do(req, nil)
	if err != nil {
		return resp, gojira.NewJiraError(resp, err)
	}
	resp.Body.Close()
	return resp, nil
}

// assign assigns key to owner. When JIRA refuses owner (400: "cannot be
// assigned issues", or no such user), the ticket goes to the reporter, the
// user keywarden connects as, as Hammer's find_valid_assignee falls back to
// its current user; the log says so. The assignee watches the ticket, as
// Hammer adds it as a watcher.
func (c *Channel) assign(ctx context.Context, key, owner string) error {
	path := "rest/api/2/issue/" + key + "/assignee"
	assignee := owner
	resp, err := c.call(ctx, http.MethodPut, path, map[string]string{"name": owner})
	if err != nil {
		if resp == nil || resp.StatusCode != http.StatusBadRequest {
			return c.err("assign "+key+" to "+owner, err)
		}
		me, serr := c.reporter(ctx)
		if serr != nil {
			return fmt.Errorf("jira: %s cannot be assigned %s (%v), and the reporter is unknown: %w", owner, key, err, serr)
		}
		c.o.Log.Warn("jira: jira_owner cannot be assigned the ticket; assigned to the reporter instead (give the owner the Assignable User permission in the project, or fix jira_owner in ticket_owners.json)",
			"ticket", key, "jira_owner", owner, "reporter", me.String(), "answer", err.Error())
		if _, err := c.call(ctx, http.MethodPut, path, me.ref()); err != nil {
			return c.err("assign "+key+" to the reporter "+me.String(), err)
		}
		assignee = me.String()
	}
	c.watch(ctx, key, assignee)
	return nil
}

// reporter returns the user keywarden connects as. A failure is not kept:
// the next ticket asks again.
func (c *Channel) reporter(ctx context.Context) (user, error) {
	c.selfMu.Lock()
	defer c.selfMu.Unlock()
	if c.self != (user{}) {
		return c.self, nil
	}
	u, _, err := c.client.User.GetSelfWithContext(ctx)
	switch {
	case err != nil:
		return user{}, c.err("read the current user (myself)", err)
	case u.Name == "" && u.AccountID == "":
		return user{}, errors.New("jira: the current user (myself) has neither a name nor an account ID")
	}
	c.self = user{name: u.Name, accountID: u.AccountID}
	return c.self, nil
}

// watch adds user as a watcher of key. A watcher that cannot be added is
// logged, not fatal: the ticket itself is what must not be lost.
func (c *Channel) watch(ctx context.Context, key, user string) {
	if user == "" {
		return
	}
	if _, err := c.call(ctx, http.MethodPost, "rest/api/2/issue/"+key+"/watchers", user); err != nil {
		c.o.Log.Warn("jira: could not add a watcher", "ticket", key, "watcher", user, "error", err.Error())
	}
}

// addLabel adds label to key (an edit JIRA applies once however often it
// is sent).
func (c *Channel) addLabel(ctx context.Context, key, label string) error {
	body := map[string]any{"update": map[string]any{"labels": []any{map[string]string{"add": label}}}}
	if _, err := c.call(ctx, http.MethodPut, "rest/api/2/issue/"+key, body); err != nil {
		return c.err("label "+key+" "+label, err)
	}
	return nil
}

// comment adds the notice as a comment, unless an earlier attempt already
// did (found by its marker).
func (c *Channel) comment(ctx context.Context, key string, n *notify.Notice) error {
	marker := fmt.Sprintf("[keywarden delivery %s]", sns.DeliveryID(n))
	if n.Delivery.Attempts > 1 {
		issue, _, err := c.client.Issue.GetWithContext(ctx, key, &gojira.GetQueryOptions{Fields: "comment"})
		if err != nil {
			return c.err("read comments of "+key, err)
		}
		if issue.Fields != nil && issue.Fields.Comments != nil {
			for _, cm := range issue.Fields.Comments.Comments {
				if cm != nil && strings.Contains(cm.Body, marker) {
					return nil
				}
			}
		}
	}
	body := c.limit(Comment(n, c.o.Config.ShowKeyIDs) + "\n\n" + marker)
	if _, err := c.call(ctx, http.MethodPost, "rest/api/2/issue/"+key+"/comment", map[string]string{"body": body}); err != nil {
		return c.err("comment on "+key, err)
	}
	return nil
}

// close transitions the ticket to done: the transition named
// done_transition, else one into the "done" status category. A ticket
// already done is left alone.
func (c *Channel) close(ctx context.Context, key string) error {
	issue, _, err := c.client.Issue.GetWithContext(ctx, key, &gojira.GetQueryOptions{Fields: "status"})
	if err != nil {
		return c.err("read "+key, err)
	}
	if issue.Fields != nil && issue.Fields.Status != nil && issue.Fields.Status.StatusCategory.Key == "done" {
		return nil
	}
	trs, _, err := c.client.Issue.GetTransitionsWithContext(ctx, key)
	if err != nil {
		return c.err("transitions of "+key, err)
	}
	id := ""
	for _, tr := range trs {
		if strings.EqualFold(tr.Name, c.o.Config.DoneTransition) {
			id = tr.ID
			break
		}
	}
	if id == "" {
		for _, tr := range trs {
			if tr.To.StatusCategory.Key == "done" {
				id = tr.ID
				break
			}
		}
	}
	if id == "" {
		var names []string
		for _, tr := range trs {
			names = append(names, tr.Name)
		}
		return fmt.Errorf("jira: no transition %q (nor any into a done status) on %s; available: %s (set jira.done_transition)",
			c.o.Config.DoneTransition, key, strings.Join(names, ", "))
	}
	if _, err := c.client.Issue.DoTransitionWithContext(ctx, key, id); err != nil {
		return c.err("transition "+key, err)
	}
	return nil
}

func (c *Channel) limit(s string) string {
	if n := c.o.Config.TextFieldCharacterLimit; n > 0 && len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}

// hammerAccount names the account as Hammer's tickets do: "name / id".
func hammerAccount(n *notify.Notice) string {
	if n.AccountName != "" && n.AccountName != n.Issue.AccountID {
		return n.AccountName + " / " + n.Issue.AccountID
	}
	return n.Issue.AccountID
}

// credential names the credential in a summary: "access key 'AKIA…WXYZ'",
// "access key in slot 1" (ID unknown), "console password".
func credential(is *issues.Issue, show bool) string {
	if id := notify.KeyID(is, show); id != "" {
		return "access key '" + id + "'"
	}
	return notify.KeyLabel(is, show)
}

// what says what the limit is about: "has not been used", "has not been
// rotated".
func what(is *issues.Issue) string {
	if is.Kind == policy.KeysRotation {
		return "has not been rotated"
	}
	return "has not been used"
}

// Summary is the ticket's one-line summary, in Hammer's form: "IAM access
// key 'AKIA…0001' for 'bob' has not been used for 90 days in 'alpha /
// 111111111111' account". A ticket opened while the credential is still in
// its warning stage says when it reaches the limit instead.
func Summary(n *notify.Notice, show bool) string {
	is := &n.Issue
	if n.Event == notify.Warning && !is.Deadline.IsZero() {
		return fmt.Sprintf("IAM %s for '%s' reaches %d days %s on %s in '%s' account", credential(is, show), is.Details.Username,
			is.LimitDays, map[bool]string{true: "without rotation", false: "unused"}[is.Kind == policy.KeysRotation],
			is.Deadline.UTC().Format("2006-01-02"), hammerAccount(n))
	}
	return fmt.Sprintf("IAM %s for '%s' %s for %d days in '%s' account", credential(is, show), is.Details.Username,
		what(is), is.LimitDays, hammerAccount(n))
}

// recommendations are Hammer's per check ("*Recommendation*: ...").
var recommendations = map[policy.Kind]string{
	policy.InactiveKeys:      "Deactivate specified inactive user access key.",
	policy.KeysRotation:      "Rotate specified stale access key.",
	policy.InactivePasswords: "Remove the unused console password (login profile).",
}

// minutes renders an ISO 8601 time as Hammer's tickets do: "2026-08-17
// 12:00" (UTC); anything unparseable as it is, "" as "never".
func minutes(iso string) string {
	if iso == "" {
		return "never"
	}
	t, err := time.Parse(time.RFC3339, iso)
	if err != nil {
		return iso
	}
	return t.UTC().Format("2006-01-02 15:04")
}

// Description is the ticket's body (JIRA wiki markup): Hammer's fields
// (risk, "Low" unless risk says otherwise, account, user, key, dates, the auto-remediation date in red, the
// recommendation and the whitelisting procedure link), then keywarden's
// status, deadline and instructions.
func Description(n *notify.Notice, show bool, risk string) string {
	is := &n.Issue
	if risk == "" {
		risk = config.DefaultJiraRisk
	}
	var b strings.Builder
	noun := "IAM access key"
	if is.Kind == policy.InactivePasswords {
		noun = "IAM console password"
	}
	if n.Event == notify.Warning && !is.Deadline.IsZero() {
		fmt.Fprintf(&b, "%s reaches %d days %s on %s.\n\n", noun, is.LimitDays,
			map[bool]string{true: "without rotation", false: "unused"}[is.Kind == policy.KeysRotation], is.Deadline.UTC().Format("2006-01-02"))
	} else {
		fmt.Fprintf(&b, "%s %s for %d days.\n\n", noun, what(is), is.LimitDays)
	}
	fmt.Fprintf(&b, "*Risk*: %s\n\n", risk)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "*%s*: %s\n", k, v)
		}
	}
	row("Account Name", n.AccountName)
	row("Account ID", is.AccountID)
	row("User Name", is.Details.Username)
	row("User ARN", is.UserARN)
	if is.Kind == policy.InactivePasswords {
		row("Password created", minutes(is.Details.CreateDate))
		row("Password last used", minutes(is.Details.LastUsed))
	} else {
		id := notify.KeyID(is, show)
		if id == "" {
			id = notify.KeyLabel(is, show)
		}
		row("Key ID", id)
		row("Key created", minutes(is.Details.CreateDate))
		if is.Kind == policy.InactiveKeys {
			row("Key last used", minutes(is.Details.LastUsed))
		}
	}
	switch n.Event {
	case notify.Warning, notify.Violation:
		row("Status", n.Problem()+"; "+n.Deadline())
	default:
		row("Status", n.Outcome())
	}
	row("Detected", is.Detected.UTC().Format(time.RFC3339))
	b.WriteString("\n")
	if !n.RemediationDate.IsZero() {
		fmt.Fprintf(&b, "\n{color:red}*Auto-Remediation Date*: %s{color}\n\n", n.RemediationDate.UTC().Format("2006-01-02"))
	}
	fmt.Fprintf(&b, "*Recommendation*: %s ", recommendations[is.Kind])
	if u := n.WhitelistingURL; u != "" {
		fmt.Fprintf(&b, "For any other exceptions, please follow the [whitelisting procedure|%s] and provide a strong business reasoning. ", u)
	}
	fmt.Fprintf(&b, "\n\nh3. %s\n%s\n\n_Opened by keywarden (issue %d)._", n.Title, n.Text, is.ID)
	return b.String()
}

// remediationNote states the auto-remediation date in a comment.
func remediationNote(n *notify.Notice) string {
	if n.RemediationDate.IsZero() {
		return ""
	}
	return " {color:red}*Auto-Remediation Date*: " + n.RemediationDate.UTC().Format("2006-01-02") + "{color}"
}

// Comment is the comment a notice adds to an existing ticket.
func Comment(n *notify.Notice, show bool) string {
	switch n.Event {
	case notify.Warning:
		return fmt.Sprintf("Reminder: the %s %s: *%s*.%s", notify.KeyLabel(&n.Issue, show), n.Problem(), n.Deadline(), remediationNote(n))
	case notify.Violation:
		return fmt.Sprintf("Past the deadline: the %s %s: *%s*.%s", notify.KeyLabel(&n.Issue, show), n.Problem(), n.Deadline(), remediationNote(n))
	case notify.Remediated:
		return fmt.Sprintf("The %s was %s. Closing.", notify.KeyLabel(&n.Issue, show), n.Outcome())
	case notify.Resolved:
		reason := n.Issue.CloseReason
		if reason == "" {
			reason = "no longer detected"
		}
		return fmt.Sprintf("The %s is no longer flagged: %s. Closing.", notify.KeyLabel(&n.Issue, show), reason)
	case notify.Whitelisted:
		return fmt.Sprintf("The %s is %s. Closing.", notify.KeyLabel(&n.Issue, show), n.Outcome())
	case notify.ExemptionExpired:
		return fmt.Sprintf("The %s: %s.%s", notify.KeyLabel(&n.Issue, show), n.Outcome(), remediationNote(n))
	}
	return ""
}
