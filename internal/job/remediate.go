package job

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
)

// JournalStore is what remediation works on: the issues and the
// remediation journal.
type JournalStore interface {
	issues.Store
	remediate.Journal
}

// RemediateDeps are a remediation's collaborators, passed in.
type RemediateDeps struct {
	Config *config.Config
	Store  JournalStore
	// Exec acts on the plan; its Confirm (the prompt), clock and logger
	// are the caller's.
	Exec *remediate.Executor
	// Getenv tells which report channels are on.
	Getenv func(string) string
	Log    *slog.Logger
}

// NoIssueError: an issue asked for by ID does not exist.
type NoIssueError struct{ ID int64 }

func (e *NoIssueError) Error() string { return fmt.Sprintf("issue %d does not exist", e.ID) }
func (e *NoIssueError) Unwrap() error { return issues.ErrNotFound }

// Remediate settles what an interrupted run left in the journal, plans the
// selected open issues behind every guard (remediate.MakePlan) and
// executes the plan. The result holds the outcomes (reconciled first) also
// when Execute fails or is interrupted; the error is then Execute's.
func Remediate(ctx context.Context, d RemediateDeps, o RemediateOptions) (*RemediateResult, error) {
	explicit := map[policy.Kind]bool{}
	for _, k := range o.Kinds {
		explicit[k] = true
	}
	recon, err := d.Exec.Reconcile(ctx)
	if err != nil {
		return nil, err
	}
	list, err := d.Store.List(ctx, issues.Filter{Statuses: []issues.Status{issues.Open, issues.Whitelisted}})
	if err != nil {
		return nil, err
	}
	for _, id := range o.IssueIDs {
		if slices.ContainsFunc(list, func(is issues.Issue) bool { return is.ID == id }) {
			continue
		}
		if _, err := d.Store.Get(ctx, id); errors.Is(err, issues.ErrNotFound) {
			return nil, &NoIssueError{ID: id}
		} else if err != nil {
			return nil, err
		}
	}
	var sel []issues.Issue
	for _, is := range list {
		if (len(explicit) == 0 || explicit[is.Kind]) && (len(o.Accounts) == 0 || slices.Contains(o.Accounts, is.AccountID)) &&
			(len(o.IssueIDs) == 0 || slices.Contains(o.IssueIDs, is.ID)) {
			sel = append(sel, is)
		}
	}
	cfg := d.Config
	pol := remediate.Policy{Kinds: map[policy.Kind]remediate.KindPolicy{}, Explicit: explicit,
		MaxPerRun: cfg.Remediation.MaxPerRun, OwnKeyIDs: d.Exec.OwnKeyIDs, Dated: d.Exec.Exemptions.Dated}
	global := ReportingChannels(cfg, d.Getenv, "")
	for k, kc := range cfg.Kinds {
		channels := ReportingChannels(cfg, d.Getenv, k)
		kp := remediate.KindPolicy{Enabled: kc.Remediation, Accounts: kc.RemediationAccounts, RetentionDays: kc.RemediationRetentionPeriod,
			Reporting: kc.Reporting && len(channels) > 0}
		if kp.Reporting && kc.Remediation && slices.Contains(channels, "slack") {
			kp.WarningDays = cfg.Notify.Slack.RemediationWarningDays
		}
		pol.Kinds[k] = kp
		if kc.Enabled && kc.Reporting && len(channels) == 0 && (kc.Remediation || explicit[k]) {
			if len(global) == 0 {
				d.Log.Warn("reporting is on for the kind but no channel is configured (slack, jira, sns): its remediation retention counts from detection",
					"kind", k)
			} else {
				d.Log.Warn("reporting is on for the kind but its section switches every configured channel off (\"jira\": false, \"slack\": false): its remediation retention counts from detection",
					"kind", k, "channels", strings.Join(global, ","))
			}
		}
	}
	if o.PlanAsOf {
		sel = issuesAsOf(sel, o.AsOf)
	}
	if pol.Warned, err = firstRemediationWarnings(ctx, d.Store, sel); err != nil {
		return nil, err
	}
	plan := remediate.MakePlan(sel, pol, o.AsOf)
	if err := explainNotReported(ctx, d.Store, plan, o.AfterDryReport); err != nil {
		return nil, err
	}
	outs, err := d.Exec.Execute(ctx, plan)
	return &RemediateResult{Outcomes: append(recon, outs...), Reconciled: len(recon), Plan: plan}, err
}

// issuesAsOf returns the issues as they will stand (or stood) at asOf, for
// a dry run's plan as of that date: the stage and days left follow from
// each issue's deadline, so a warning past its deadline by then is a
// violation, due like any other.
func issuesAsOf(list []issues.Issue, asOf time.Time) []issues.Issue {
	out := make([]issues.Issue, len(list))
	for i, is := range list {
		if !is.Deadline.IsZero() {
			is.DaysLeft = policy.DaysLeft(is.Deadline.Sub(asOf))
			is.Stage = policy.Warning
			if asOf.After(is.Deadline) {
				is.Stage = policy.Violation
			}
		}
		out[i] = is
	}
	return out
}

// firstRemediationWarnings reads when the first remediation warning of each
// issue was sent (slack.remediation_warning_days).
func firstRemediationWarnings(ctx context.Context, st JournalStore, list []issues.Issue) (map[int64]time.Time, error) {
	ns, ok := st.(notify.Store)
	if !ok || len(list) == 0 {
		return nil, nil
	}
	ids := make([]int64, len(list))
	for i := range list {
		ids[i] = list[i].ID
	}
	ds, err := ns.Deliveries(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("read the remediation warnings: %w", err)
	}
	out := map[int64]time.Time{}
	for _, d := range ds {
		if d.Event != notify.RemediationWarning || d.State != notify.Sent || d.SentAt == nil {
			continue
		}
		if t, ok := out[d.IssueID]; !ok || d.SentAt.Before(t) {
			out[d.IssueID] = *d.SentAt
		}
	}
	return out, nil
}

// explainNotReported adds to each "not reported" skip what became of the
// violation's notices: failing (with the last error), or never planned.
func explainNotReported(ctx context.Context, st JournalStore, plan *remediate.Plan, afterDryReport bool) error {
	if afterDryReport {
		for i := range plan.Skipped {
			if it := &plan.Skipped[i]; errors.Is(it.Err, remediate.ErrNotReported) {
				it.Err = fmt.Errorf("%w; this run's report was a dry run: a real run reports it first and counts the retention from that report", it.Err)
			}
		}
	}
	ns, ok := st.(notify.Store)
	if !ok {
		return nil
	}
	var ids []int64
	for _, it := range plan.Skipped {
		if errors.Is(it.Err, remediate.ErrNotReported) && it.Issues[0].Reported == nil {
			ids = append(ids, it.Issues[0].ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	ds, err := ns.Deliveries(ctx, ids)
	if err != nil {
		return fmt.Errorf("read the notices of unreported issues: %w", err)
	}
	byIssue := map[int64][]string{}
	for _, d := range ds {
		if d.Event != notify.Violation || !d.State.Live() {
			continue
		}
		s := d.Channel
		if d.Target != "" {
			s += " " + d.Target
		}
		s += ": " + string(d.State)
		if d.LastError != "" {
			s += fmt.Sprintf(" after %d attempt(s), last error: %s", d.Attempts, d.LastError)
		}
		byIssue[d.IssueID] = append(byIssue[d.IssueID], s)
	}
	for i := range plan.Skipped {
		it := &plan.Skipped[i]
		if !errors.Is(it.Err, remediate.ErrNotReported) || it.Issues[0].Reported != nil {
			continue
		}
		if notes := byIssue[it.Issues[0].ID]; len(notes) > 0 {
			it.Err = fmt.Errorf("%w (%s)", it.Err, strings.Join(notes, "; "))
		}
	}
	return nil
}
