package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/policy"
)

// Channel is one way of telling people: Slack, JIRA or SNS.
type Channel interface {
	// Name is "slack", "jira" or "sns".
	Name() string
	// Targets routes a notice: where it goes on this channel ("" for a
	// channel with a single destination). None means nowhere; why says why.
	Targets(n *Notice) (targets []string, why string)
	// Deliver sends the notices to target, recording each attempt through
	// rec before and after each external call. It returns the first error;
	// the notices it concerns are recorded as failed.
	Deliver(ctx context.Context, target string, ns []*Notice, rec Recorder) error
	// Preview writes what Deliver would send, sending nothing.
	Preview(w io.Writer, target string, ns []*Notice) error
}

// Recorder records delivery attempts in the store.
type Recorder interface {
	// Sending is called right before the external call for ns.
	Sending(ctx context.Context, ns []*Notice) error
	// Sent is called once the channel accepted ns, with its id.
	Sent(ctx context.Context, ns []*Notice, ref string) error
	// Failed is called when the call for ns failed.
	Failed(ctx context.Context, ns []*Notice, err error) error
}

// Runner runs one report.
type Runner struct {
	Store    Store
	Config   *config.Config
	Channels []Channel
	Log      *slog.Logger
	AsOf     time.Time
	// SentAt, when after AsOf, is the time recorded for what is sent (the
	// deliveries' sent time and the issues' report): a report as of a past
	// date never backdates a report, from which the remediation retention
	// counts. The CLI sets it to its clock.
	SentAt time.Time
	// DryRun writes every message to Out instead of sending, and changes
	// nothing in the store.
	DryRun bool
	Out    io.Writer
	// Dated are the exemptions with an end: an open issue whose exemption
	// has ended by AsOf is told so (ExemptionExpired).
	Dated policy.Dated
}

// Result is what a run did on one channel.
type Result struct {
	Channel                                string
	Planned, Retried, Sent, Failed, Cancel int
	// Errors are the distinct failures.
	Errors []string
}

// Candidates returns the issues a report looks at: every live issue and the
// closed ones some channel is not finished with, of the kinds that have
// reporting on.
func Candidates(ctx context.Context, st interface {
	List(context.Context, issues.Filter) ([]issues.Issue, error)
}, ns Store, cfg *config.Config, channels []string) ([]issues.Issue, error) {
	live, err := st.List(ctx, issues.Filter{Statuses: []issues.Status{issues.Open, issues.Whitelisted}})
	if err != nil {
		return nil, err
	}
	closed, err := ns.UnfinishedNotices(ctx, channels)
	if err != nil {
		return nil, err
	}
	var out []issues.Issue
	for _, is := range append(live, closed...) {
		if k := cfg.Kinds[is.Kind]; k != nil && k.Reporting {
			out = append(out, is)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

type rowKey struct {
	issue           int64
	channel, target string
}

// Run plans and delivers the notices of list on every channel. Channels run
// concurrently; one that fails does not stop the others. The error is for
// the store only: channel failures are in the results.
func (r *Runner) Run(ctx context.Context, list []issues.Issue) ([]Result, error) {
	ids := make([]int64, len(list))
	for i := range list {
		ids[i] = list[i].ID
	}
	past, err := r.Store.Deliveries(ctx, ids)
	if err != nil {
		return nil, err
	}
	rows := map[rowKey][]*Delivery{}
	byIssueChannel := map[rowKey][]*Delivery{}
	for i := range past {
		d := &past[i]
		rows[rowKey{d.IssueID, d.Channel, d.Target}] = append(rows[rowKey{d.IssueID, d.Channel, d.Target}], d)
		byIssueChannel[rowKey{d.IssueID, d.Channel, ""}] = append(byIssueChannel[rowKey{d.IssueID, d.Channel, ""}], d)
	}
	results := make([]Result, len(r.Channels))
	var wg sync.WaitGroup
	var storeErr error
	var mu sync.Mutex
	for i, ch := range r.Channels {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := r.runChannel(ctx, ch, list, rows, byIssueChannel)
			results[i] = res
			if err != nil {
				mu.Lock()
				storeErr = errors.Join(storeErr, fmt.Errorf("%s: %w", ch.Name(), err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return results, storeErr
}

// sentAt is the time recorded for what is sent: AsOf, or SentAt when later.
func (r *Runner) sentAt() time.Time {
	if r.SentAt.After(r.AsOf) {
		return r.SentAt
	}
	return r.AsOf
}

func (r *Runner) notice(is *issues.Issue) Notice {
	title, text := TitleText(r.Config.Notify, is.Kind)
	ev := Warning
	if is.Stage == policy.Violation {
		ev = Violation
	}
	due, _ := RemediationDate(is, r.Config.Kinds[is.Kind], ev, r.sentAt())
	return Notice{
		RemediationDate: due,
		Issue:           *is,
		AccountName:     r.Config.AccountName(is.AccountID),
		Owner:           r.Config.TicketOwners.For(is.AccountID),
		DefaultOwner:    r.Config.TicketOwners.Global,
		DaysLeft:        DaysLeftAt(is.Deadline, r.AsOf, is.DaysLeft),
		Title:           title,
		Text:            text,
		AsOf:            r.AsOf,
		WhitelistingURL: r.Config.Notify.WhitelistingProcedureURL,
		Labels:          r.Config.Notify.KindLabels(is.Kind),
	}
}

// withEvent is base as a notice of event e on delivery d. base already
// states the remediation date (notice, and runChannel for the warning
// stages): the warning and violation events Plan sends are the issue's
// stage, so the date is the same for every event of the issue.
func (r *Runner) withEvent(base Notice, e Event, d *Delivery) *Notice {
	n := base
	n.Event, n.Delivery = e, d
	if e == ExemptionExpired {
		n.Expired = r.expired(&n.Issue)
	}
	return &n
}

// expired is the exemption with an end that covered is and has ended by
// AsOf, when no other covers it still (nil otherwise).
func (r *Runner) expired(is *issues.Issue) *policy.Exemption {
	if len(r.Dated) == 0 || is.Status != issues.Open {
		return nil
	}
	user, keyID := is.Details.Username, is.Subject
	if is.Kind == policy.InactivePasswords {
		user, keyID = is.Subject, ""
	} else if strings.Contains(keyID, "/") {
		keyID = ""
	}
	if _, ok := r.Dated.Find(is.Kind, is.AccountID, user, keyID, r.AsOf); ok {
		return nil
	}
	if e, ok := r.Dated.Ended(is.Kind, is.AccountID, user, keyID, r.AsOf); ok {
		return &e
	}
	return nil
}

func (r *Runner) runChannel(ctx context.Context, ch Channel, list []issues.Issue, rows, byIssue map[rowKey][]*Delivery) (Result, error) {
	name := ch.Name()
	res := Result{Channel: name}
	var add, cancel []*Delivery
	perTarget := map[string][]*Notice{}
	var targetOrder []string
	queue := func(target string, n *Notice) {
		if _, ok := perTarget[target]; !ok {
			targetOrder = append(targetOrder, target)
		}
		perTarget[target] = append(perTarget[target], n)
	}
	var closed []*issues.Issue
	for i := range list {
		is := &list[i]
		base := r.notice(is)
		stages := r.remediationWarnings(is)
		if len(stages) > 0 && !base.RemediationDate.IsZero() {
			base.RemediationDate = RemediationWarningDate(base.RemediationDate, firstWarned(byIssue[rowKey{is.ID, "slack", ""}]), stages, r.sentAt())
		}
		var targets []string
		why := ""
		off := r.Config.Notify.SwitchedOff(is.Kind, name)
		if !off {
			targets, why = ch.Targets(&base)
		}
		if len(targets) == 0 && !is.Status.Closed() && !off {
			r.Log.Warn("notice routed nowhere", "channel", name, "issue", is.ID, "account", is.AccountID, "reason", why)
		}
		routed := map[string]bool{}
		for _, t := range targets {
			routed[t] = true
			due := Plan(is, rows[rowKey{is.ID, name, t}], r.Config.Notify.WarningInterval(is.Kind), r.AsOf)
			if name == "slack" && len(stages) > 0 {
				rdue, ok := RemediationDate(is, r.Config.Kinds[is.Kind], Violation, r.sentAt())
				rw := PlanRemediationWarning(is, rows[rowKey{is.ID, name, t}], stages, rdue, ok, r.AsOf)
				due.Events, due.Seqs = append(due.Events, rw.Events...), append(due.Seqs, rw.Seqs...)
				due.Retry, due.Cancel = append(due.Retry, rw.Retry...), append(due.Cancel, rw.Cancel...)
			}
			expired := r.expired(is)
			ex := PlanExemptionExpired(is, rows[rowKey{is.ID, name, t}], expired)
			due.Events, due.Seqs = append(due.Events, ex.Events...), append(due.Seqs, ex.Seqs...)
			due.Retry, due.Cancel = append(due.Retry, ex.Retry...), append(due.Cancel, ex.Cancel...)
			cancel = append(cancel, due.Cancel...)
			for _, d := range due.Retry {
				queue(t, r.withEvent(base, d.Event, d))
				res.Retried++
			}
			for k, e := range due.Events {
				d := &Delivery{IssueID: is.ID, Channel: name, Target: t, Event: e, Seq: due.Seqs[k], State: Pending}
				add = append(add, d)
				queue(t, r.withEvent(base, e, d))
				res.Planned++
			}
		}
		for _, d := range byIssue[rowKey{is.ID, name, ""}] {
			if d.State.Live() && !routed[d.Target] {
				d.Note = "no longer routed to " + d.Target
				cancel = append(cancel, d)
			}
		}
		if is.Status.Closed() {
			closed = append(closed, is)
		}
	}
	res.Cancel = len(cancel)
	for _, t := range targetOrder {
		sortNotices(perTarget[t])
	}
	if r.DryRun {
		for _, t := range targetOrder {
			if err := ch.Preview(r.Out, t, perTarget[t]); err != nil {
				return res, err
			}
		}
		return res, nil
	}
	if err := r.Store.PlanDeliveries(ctx, add, cancel, r.AsOf); err != nil {
		return res, err
	}
	rec := &recorder{r: r, res: &res}
	for _, t := range targetOrder {
		if err := ch.Deliver(ctx, t, perTarget[t], rec); err != nil {
			r.Log.Warn("delivery failed; the notices stay pending and are retried on the next run",
				"channel", name, "target", t, "error", err.Error())
		}
		if rec.storeErr != nil {
			return res, rec.storeErr
		}
	}
	// A closed issue with nothing live left on this channel is done with.
	live := map[int64]bool{}
	for _, ns := range perTarget {
		for _, n := range ns {
			if n.Delivery.State.Live() {
				live[n.Issue.ID] = true
			}
		}
	}
	for _, is := range closed {
		if !live[is.ID] {
			if err := r.Store.FinishNotices(ctx, is.ID, name, r.AsOf); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

var eventOrder = map[Event]int{Warning: 0, Violation: 1, RemediationWarning: 2, Remediated: 3, Resolved: 4, Whitelisted: 5, ExemptionExpired: 6}

// remediationWarnings are the stages of slack.remediation_warning_days for
// is when Slack is one of the channels and not switched off for its kind
// (Hammer warns on Slack), else none.
func (r *Runner) remediationWarnings(is *issues.Issue) []int {
	if r.Config.Notify.SwitchedOff(is.Kind, "slack") {
		return nil
	}
	for _, c := range r.Channels {
		if c.Name() == "slack" {
			return r.Config.Notify.Slack.RemediationWarningDays
		}
	}
	return nil
}

// firstWarned is when the first remediation warning among ds was sent, nil
// when none was.
func firstWarned(ds []*Delivery) *time.Time {
	var first *time.Time
	for _, d := range ds {
		if d.Event == RemediationWarning && d.State == Sent && d.SentAt != nil && (first == nil || d.SentAt.Before(*first)) {
			first = d.SentAt
		}
	}
	return first
}

func sortNotices(ns []*Notice) {
	sort.SliceStable(ns, func(i, j int) bool {
		if ns[i].Issue.ID != ns[j].Issue.ID {
			return ns[i].Issue.ID < ns[j].Issue.ID
		}
		return eventOrder[ns[i].Event] < eventOrder[ns[j].Event]
	})
}

type recorder struct {
	r        *Runner
	res      *Result
	mu       sync.Mutex
	storeErr error
}

func deliveryIDs(ns []*Notice) []int64 {
	ids := make([]int64, len(ns))
	for i, n := range ns {
		ids[i] = n.Delivery.ID
	}
	return ids
}

func (c *recorder) keep(err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil && c.storeErr == nil {
		c.storeErr = err
	}
	return err
}

func (c *recorder) Sending(ctx context.Context, ns []*Notice) error {
	if err := c.keep(c.r.Store.MarkSending(ctx, deliveryIDs(ns), c.r.AsOf)); err != nil {
		return err
	}
	for _, n := range ns {
		n.Delivery.State = Sending
		n.Delivery.Attempts++
	}
	return nil
}

func (c *recorder) Sent(ctx context.Context, ns []*Notice, ref string) error {
	// The channel has it: record it even if the run is being cancelled.
	if err := c.keep(c.r.Store.MarkDelivered(context.WithoutCancel(ctx), deliveryIDs(ns), ref, c.r.sentAt())); err != nil {
		return err
	}
	for _, n := range ns {
		n.Delivery.State, n.Delivery.Ref = Sent, ref
	}
	c.mu.Lock()
	c.res.Sent += len(ns)
	c.mu.Unlock()
	return nil
}

func (c *recorder) Failed(ctx context.Context, ns []*Notice, err error) error {
	msg := err.Error()
	if len(msg) > 1000 {
		msg = msg[:1000] + "…"
	}
	if e := c.keep(c.r.Store.MarkFailed(context.WithoutCancel(ctx), deliveryIDs(ns), msg, c.r.AsOf)); e != nil {
		return e
	}
	for _, n := range ns {
		n.Delivery.State, n.Delivery.LastError = Pending, msg
	}
	c.mu.Lock()
	c.res.Failed += len(ns)
	if !slices.Contains(c.res.Errors, msg) {
		c.res.Errors = append(c.res.Errors, msg)
	}
	c.mu.Unlock()
	return nil
}

// Summary renders results on one line each.
func Summary(results []Result) string {
	var b strings.Builder
	for _, r := range results {
		fmt.Fprintf(&b, "%s: %d new notice(s), %d retried, %d sent, %d failed, %d cancelled\n",
			r.Channel, r.Planned, r.Retried, r.Sent, r.Failed, r.Cancel)
		for _, e := range r.Errors {
			fmt.Fprintf(&b, "  %s: %s\n", r.Channel, e)
		}
	}
	return b.String()
}
