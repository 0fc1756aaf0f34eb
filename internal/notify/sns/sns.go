// Package sns publishes one JSON message per notice to an SNS topic, in the
// versioned schema of SCHEMA.md, with message attributes for subscription
// filter policies (kind, account, status, stage, event).
package sns

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/notify"
)

// Schema names the message format (SCHEMA.md); a breaking change bumps it.
const Schema = "keywarden.notice/v1"

// Options configure the SNS channel.
type Options struct {
	Config config.SNS
	// AWS is the configuration clients are built from (its region is
	// replaced by the topic's).
	AWS aws.Config
	Log *slog.Logger
}

// Channel is the SNS notify.Channel.
type Channel struct {
	o      Options
	client *awssns.Client
}

// New returns the SNS channel.
func New(o Options) *Channel {
	region, _, _ := config.SplitTopicARN(o.Config.TopicARN)
	client := awssns.NewFromConfig(o.AWS, func(op *awssns.Options) {
		if region != "" {
			op.Region = region
		}
	})
	return &Channel{o: o, client: client}
}

// Name implements notify.Channel.
func (c *Channel) Name() string { return "sns" }

// Targets: the topic is the one destination.
func (c *Channel) Targets(*notify.Notice) ([]string, string) { return []string{""}, "" }

// Deliver publishes one message per notice.
func (c *Channel) Deliver(ctx context.Context, _ string, ns []*notify.Notice, rec notify.Recorder) error {
	var first error
	for _, n := range ns {
		in, err := c.input(n)
		if err == nil {
			if err = rec.Sending(ctx, []*notify.Notice{n}); err != nil {
				return err
			}
			var out *awssns.PublishOutput
			out, err = c.client.Publish(ctx, in)
			if err == nil {
				if err := rec.Sent(ctx, []*notify.Notice{n}, aws.ToString(out.MessageId)); err != nil {
					return err
				}
				continue
			}
		}
		err = fmt.Errorf("publish to %s: %w", c.o.Config.TopicARN, err)
		if rerr := rec.Failed(ctx, []*notify.Notice{n}, err); rerr != nil {
			return rerr
		}
		if first == nil {
			first = err
		}
	}
	return first
}

// Preview writes each message and its attributes.
func (c *Channel) Preview(w io.Writer, _ string, ns []*notify.Notice) error {
	for _, n := range ns {
		b, err := Body(n, c.o.Config.ShowKeyIDs)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "--- sns to %s %v\n%s\n", c.o.Config.TopicARN, attrs(n), b); err != nil {
			return err
		}
	}
	return nil
}

func (c *Channel) input(n *notify.Notice) (*awssns.PublishInput, error) {
	b, err := Body(n, c.o.Config.ShowKeyIDs)
	if err != nil {
		return nil, err
	}
	in := &awssns.PublishInput{
		TopicArn:          aws.String(c.o.Config.TopicARN),
		Message:           aws.String(string(b)),
		Subject:           aws.String(subject(n)),
		MessageAttributes: map[string]types.MessageAttributeValue{},
	}
	for k, v := range attrs(n) {
		in.MessageAttributes[k] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	if strings.HasSuffix(c.o.Config.TopicARN, ".fifo") {
		// Exactly once within SNS's five-minute deduplication window; in
		// order per issue.
		in.MessageDeduplicationId = aws.String(DeliveryID(n))
		in.MessageGroupId = aws.String(Fingerprint(&n.Issue))
		in.Subject = nil // FIFO topics take no subject for some protocols; keep it simple
	}
	return in, nil
}

func attrs(n *notify.Notice) map[string]string {
	m := map[string]string{
		"kind":    string(n.Issue.Kind),
		"account": n.Issue.AccountID,
		"status":  string(n.Issue.Status),
		"event":   string(n.Event),
	}
	if n.Issue.Stage != "" {
		m["stage"] = string(n.Issue.Stage)
	}
	return m
}

func subject(n *notify.Notice) string {
	s := fmt.Sprintf("keywarden %s: %s %s in %s", n.Event, n.Issue.Kind, n.Issue.Details.Username, n.Issue.AccountID)
	if len(s) > 99 {
		s = s[:99]
	}
	return s
}

// Fingerprint identifies an issue across stores: its kind, account,
// credential and detection time, hashed.
func Fingerprint(is *issues.Issue) string {
	sum := sha256.Sum256([]byte(strings.Join([]string{string(is.Kind), is.AccountID, is.Subject,
		is.Detected.UTC().Format(time.RFC3339Nano)}, "\x00")))
	return hex.EncodeToString(sum[:8])
}

// DeliveryID is the stable idempotency key of a notice: the same on every
// retry, so consumers can drop duplicates.
func DeliveryID(n *notify.Notice) string {
	seq := 1
	if n.Delivery != nil {
		seq = n.Delivery.Seq
	}
	return fmt.Sprintf("%s-%s-%d", Fingerprint(&n.Issue), n.Event, seq)
}

// Message is the JSON body (SCHEMA.md).
type Message struct {
	Schema     string   `json:"schema"`
	DeliveryID string   `json:"delivery_id"`
	Event      string   `json:"event"`
	ReportedAt string   `json:"reported_at"`
	Issue      issueDoc `json:"issue"`
	Owner      ownerDoc `json:"owner"`
	// ExpiredExemption is the exemption that ended (event
	// exemption_expired only).
	ExpiredExemption *exemptionDoc `json:"expired_exemption,omitempty"`
}

type exemptionDoc struct {
	Until  string `json:"until"`
	Owner  string `json:"owner"`
	Reason string `json:"reason"`
	Source string `json:"source"`
}

type issueDoc struct {
	ID          int64  `json:"id"`
	Fingerprint string `json:"fingerprint"`
	Kind        string `json:"kind"`
	AccountID   string `json:"account_id"`
	AccountName string `json:"account_name,omitempty"`
	User        string `json:"user"`
	UserARN     string `json:"user_arn,omitempty"`
	KeyID       string `json:"key_id,omitempty"`
	KeySlot     int    `json:"key_slot,omitempty"`
	Status      string `json:"status"`
	Stage       string `json:"stage,omitempty"`
	Exemption   string `json:"exemption,omitempty"`
	CreateDate  string `json:"create_date,omitempty"`
	LastUsed    string `json:"last_used,omitempty"`
	AgeDays     int    `json:"age_days"`
	LimitDays   int    `json:"limit_days"`
	DaysLeft    int    `json:"days_left"`
	Deadline    string `json:"deadline,omitempty"`
	Detected    string `json:"detected"`
	Remediated  string `json:"remediated,omitempty"`
	// RemediationDate is when keywarden will act (Notice.RemediationDate).
	RemediationDate string `json:"remediation_date,omitempty"`
	Closed          string `json:"closed,omitempty"`
	CloseReason     string `json:"close_reason,omitempty"`
}

type ownerDoc struct {
	Slack            string   `json:"slack,omitempty"`
	SlackOwner       []string `json:"slack_owner,omitempty"`
	JiraProject      string   `json:"jira_project,omitempty"`
	JiraOwner        string   `json:"jira_owner,omitempty"`
	JiraParentTicket string   `json:"jira_parent_ticket,omitempty"`
}

func iso(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func isoPtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return iso(*t)
}

// Body renders the JSON message of a notice.
func Body(n *notify.Notice, showKeyIDs bool) ([]byte, error) {
	is := &n.Issue
	m := Message{
		Schema: Schema, DeliveryID: DeliveryID(n), Event: string(n.Event), ReportedAt: iso(n.AsOf),
		Issue: issueDoc{
			ID: is.ID, Fingerprint: Fingerprint(is), Kind: string(is.Kind), AccountID: is.AccountID, AccountName: n.AccountName,
			User: is.Details.Username, UserARN: is.UserARN, KeyID: notify.KeyID(is, showKeyIDs), Status: string(is.Status),
			Stage: string(is.Stage), Exemption: is.Exemption, CreateDate: is.Details.CreateDate, LastUsed: is.Details.LastUsed,
			AgeDays: is.AgeDays, LimitDays: is.LimitDays, DaysLeft: n.DaysLeft, Deadline: iso(is.Deadline),
			Detected: iso(is.Detected), Remediated: isoPtr(is.Remediated), Closed: isoPtr(is.Closed), CloseReason: is.CloseReason,
			RemediationDate: iso(n.RemediationDate),
		},
		Owner: ownerDoc{Slack: strings.TrimSpace(is.Tags["Slack"]), SlackOwner: n.Owner.SlackOwner, JiraProject: n.Owner.JiraProject,
			JiraOwner: n.Owner.JiraOwner, JiraParentTicket: n.Owner.JiraParentTicket},
	}
	if strings.Contains(is.Subject, "/") {
		m.Issue.KeySlot = is.KeySlot
	}
	if e := n.Expired; e != nil && n.Event == notify.ExemptionExpired {
		m.ExpiredExemption = &exemptionDoc{Until: iso(e.Until), Owner: e.Owner, Reason: e.Reason, Source: e.Source}
	}
	return json.Marshal(m)
}
