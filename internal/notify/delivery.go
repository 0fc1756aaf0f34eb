// Package notify tells people about issues: it decides, from the store's
// delivery state, what each channel (Slack, JIRA, SNS) owes each issue, and
// delivers it, routed by ticket_owners.json as Dow Jones Hammer does.
//
// # Events
//
// Per issue, channel and target (a Slack recipient; JIRA and SNS have one):
//
//   - warning: an open issue in the warning stage, repeated at most once per
//     warning_interval_days (calendar days, UTC) with the days left;
//   - violation: the first time an open issue is past its deadline; once;
//   - remediated: keywarden acted; once, always (unless the remediation is
//     older than StaleRemediation and nobody was ever told about the issue:
//     that is history, not news, e.g. when reporting is first turned on);
//   - resolved, whitelisted: once, and only on a channel that announced the
//     issue before (nobody needs to hear that an issue they never heard of
//     went away);
//   - exemption_expired: an open issue whose exemption with an end has
//     ended, once per end (PlanExemptionExpired);
//   - remediation_warning: on Slack, a reported violation keywarden will
//     remediate, once per stage of slack.remediation_warning_days as its
//     date nears (PlanRemediationWarning).
//
// # Delivery state and crash safety
//
// Each notice is a Delivery row: pending (planned, or failed and to retry,
// with the error) -> sending (the external call is about to be made) ->
// sent (with the channel's id: Slack ts, JIRA key, SNS MessageId), or
// cancelled (superseded: a pending warning of an issue now in violation,
// or routed to a recipient no longer in ticket_owners.json). Each change is
// its own committed transaction, so a run that crashes leaves every notice
// pending or sending, never forgotten.
//
// The choice is at-least-once: a row still "sending" after a crash (the
// call may or may not have reached the channel) is sent again on the next
// run. A lost "your key is disabled in 3 days" defeats the purpose of the
// tool; a duplicate is a nuisance, and the window for one is the few
// milliseconds between a channel's answer and the local commit. Where the
// channel lets us, the retry is made exactly-once: JIRA looks the ticket up
// by its keywarden label (and a comment by its delivery marker) before
// creating it again, and SNS messages carry a stable delivery_id (and a
// MessageDeduplicationId on FIFO topics) that consumers dedupe on.
package notify

import (
	"context"
	"time"

	"github.com/keywarden/keywarden/internal/issues"
)

// Event is what a notice tells.
type Event string

// Events.
const (
	Warning     Event = "warning"
	Violation   Event = "violation"
	Remediated  Event = "remediated"
	Resolved    Event = "resolved"
	Whitelisted Event = "whitelisted"
	// RemediationWarning: keywarden will act on a reported violation soon
	// ("will be deactivated on DATE"), on Slack, once per stage of Hammer's
	// slack.remediation_warning_days (Seq is the stage's days before).
	RemediationWarning Event = "remediation_warning"
	// ExemptionExpired: an exemption with an end (policy.Exemption) that
	// covered the issue has ended and the issue is open again; once per
	// exemption end (Seq is the end's UTC day number), on every channel the
	// issue is routed to (PlanExemptionExpired).
	ExemptionExpired Event = "exemption_expired"
)

// Closing reports whether the event ends the issue's story.
func (e Event) Closing() bool { return e == Remediated || e == Resolved || e == Whitelisted }

// State is the delivery state of a notice.
type State string

// Delivery states.
const (
	Pending   State = "pending"
	Sending   State = "sending"
	Sent      State = "sent"
	Cancelled State = "cancelled"
)

// Live reports whether the notice is still to be (or being) delivered.
func (s State) Live() bool { return s == Pending || s == Sending }

// Delivery is one notice of one issue on one channel to one target.
type Delivery struct {
	ID      int64
	IssueID int64
	// Channel is "slack", "jira" or "sns"; Target the Slack recipient
	// ("#channel", a user, or "webhook"), empty for JIRA and SNS.
	Channel, Target string
	Event           Event
	// Seq numbers repeated warnings (1, 2, ...); 1 for other events.
	Seq      int
	State    State
	Attempts int
	// LastError is the last failure, kept while the notice is pending.
	LastError string
	// Ref is the channel's id of what was sent.
	Ref     string
	Created time.Time
	Updated time.Time
	// SentAt is the report time (--as-of) of the run that sent it.
	SentAt *time.Time
	// Note says why a delivery was cancelled.
	Note string
}

// Ticket is an issue's ticket in a tracker (JIRA): at most one per issue.
type Ticket struct {
	IssueID int64
	System  string // "jira"
	Key     string
	// Assignee and Parent are what was done: the assignment was settled
	// for jira_owner Assignee (the ticket assigned to them, or to the
	// reporter when JIRA refused them: not tried again until jira_owner
	// changes) and the ticket linked to Parent.
	Assignee, Parent string
	Closed           bool
}

// Store is the delivery state. sqlite.Store implements it.
type Store interface {
	// Deliveries returns every delivery of the given issues.
	Deliveries(ctx context.Context, issueIDs []int64) ([]Delivery, error)
	// PlanDeliveries inserts new pending deliveries (IDs set in place) and cancels
	// others (with their Note), in one transaction.
	PlanDeliveries(ctx context.Context, add []*Delivery, cancel []*Delivery, at time.Time) error
	// MarkSending marks deliveries as being sent (attempts+1).
	MarkSending(ctx context.Context, ids []int64, at time.Time) error
	// MarkDelivered marks deliveries sent with ref, and sets the reported
	// time of the issues of the violation notices among them when unset:
	// Issue.Reported is the first successful delivery of the violation, from
	// which remediation_retention_period counts (a warning is not a report).
	MarkDelivered(ctx context.Context, ids []int64, ref string, at time.Time) error
	// MarkFailed puts deliveries back to pending with the error.
	MarkFailed(ctx context.Context, ids []int64, msg string, at time.Time) error
	// FinishNotices records that a closed issue owes nothing more on channel.
	FinishNotices(ctx context.Context, issueID int64, channel string, at time.Time) error
	// UnfinishedNotices returns the closed (resolved, remediated) issues that some
	// of channels has not finished with.
	UnfinishedNotices(ctx context.Context, channels []string) ([]issues.Issue, error)
	// Ticket returns the issue's ticket in system, nil when none.
	Ticket(ctx context.Context, issueID int64, system string) (*Ticket, error)
	// SaveTicket creates or updates a ticket; a second ticket key for the
	// same issue is refused.
	SaveTicket(ctx context.Context, t *Ticket, at time.Time) error
}
