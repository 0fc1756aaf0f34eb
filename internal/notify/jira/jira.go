// Package jira keeps one JIRA ticket per issue (go-jira, REST API v2):
// created in the routed project, assigned to jira_owner, linked to
// jira_parent_ticket; commented when warned again, in violation or
// remediated; transitioned to done when the issue closes.
package jira

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	gojira "github.com/andygrunwald/go-jira"

	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/notify/sns"
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
}

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
		fmt.Fprintf(w, "summary: %s\n%s\ncomment (when the ticket exists):\n%s\n", Summary(n, c.o.Config.ShowKeyIDs),
			c.limit(Description(n, c.o.Config.ShowKeyIDs)), Comment(n, c.o.Config.ShowKeyIDs))
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
		t = &notify.Ticket{IssueID: n.Issue.ID, System: System, Key: key}
		if err := c.o.Tickets.SaveTicket(ctx, t, n.AsOf); err != nil {
			return key, err
		}
	}
	if owner := n.Owner.JiraOwner; owner != "" && t.Assignee != owner {
		if _, err := c.client.Issue.UpdateAssigneeWithContext(ctx, t.Key, &gojira.User{Name: owner}); err != nil {
			return t.Key, c.err("assign "+t.Key, err)
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

func (c *Channel) newTicket(n *notify.Notice) *gojira.Issue {
	labels := append([]string{"keywarden", Label(n)}, c.o.Config.Labels...)
	return &gojira.Issue{Fields: &gojira.IssueFields{
		Project:     gojira.Project{Key: n.Owner.JiraProject},
		Type:        gojira.IssueType{Name: c.o.Config.IssueType},
		Summary:     Summary(n, c.o.Config.ShowKeyIDs),
		Description: c.limit(Description(n, c.o.Config.ShowKeyIDs)),
		Labels:      labels,
	}}
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
	if _, _, err := c.client.Issue.AddCommentWithContext(ctx, key, &gojira.Comment{Body: body}); err != nil {
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

// Summary is the ticket's one-line summary.
func Summary(n *notify.Notice, show bool) string {
	return fmt.Sprintf("IAM %s of %s in %s: %s", notify.KeyLabel(&n.Issue, show), n.Issue.Details.Username, n.Account(), n.Problem())
}

// Description is the ticket's body (JIRA wiki markup).
func Description(n *notify.Notice, show bool) string {
	is := &n.Issue
	var b strings.Builder
	fmt.Fprintf(&b, "h3. %s\n", n.Title)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "*%s:* %s\n", k, v)
		}
	}
	row("Account", n.Account())
	user := is.Details.Username
	if is.UserARN != "" {
		user += " (" + is.UserARN + ")"
	}
	row("User", user)
	row("Credential", notify.KeyLabel(is, show))
	row("Created", is.Details.CreateDate)
	lu := is.Details.LastUsed
	if lu == "" {
		lu = "never"
	}
	row("Last used", lu)
	row("Threshold", fmt.Sprintf("%d days (%s)", is.LimitDays, is.Kind))
	switch n.Event {
	case notify.Warning, notify.Violation:
		row("Status", n.Problem()+"; "+n.Deadline())
	default:
		row("Status", n.Outcome())
	}
	row("Detected", is.Detected.UTC().Format(time.RFC3339))
	if !n.RemediationDate.IsZero() {
		// As Hammer's tickets state it.
		fmt.Fprintf(&b, "\n{color:red}*Auto-Remediation Date*: %s{color}\n", n.RemediationDate.UTC().Format("2006-01-02"))
	}
	fmt.Fprintf(&b, "\nh3. How to fix\n%s\n\n_Opened by keywarden (issue %d)._", n.Text, is.ID)
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
	}
	return ""
}
