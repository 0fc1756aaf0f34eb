package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/job"
	"github.com/keywarden/keywarden/internal/output"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
)

// actFlags are shared by remediate and rollback.
type actFlags struct {
	dryRun  bool
	yes     bool
	asOf    string
	profile string
	region  string
	// backoff is the first wait when AWS throttles (hidden; tests).
	backoff time.Duration
	// verifyFor is how long a change not yet visible is re-read (hidden;
	// tests). Each AWS call is bounded by the global --call-timeout.
	verifyFor time.Duration
}

// defaults sets remediate's and rollback's defaults, for the command line
// and for run.
func (f *actFlags) defaults() {
	f.backoff, f.verifyFor = time.Second, remediate.DefaultVerifyFor
}

func (f *actFlags) register(cmd *cobra.Command) {
	f.defaults()
	fl := cmd.Flags()
	fl.BoolVar(&f.dryRun, "dry-run", false, "print the plan and change nothing (no AWS call is made)")
	fl.BoolVarP(&f.yes, "yes", "y", false, "act without asking (required when stdin is not a terminal)")
	fl.StringVar(&f.profile, "profile", "", "AWS shared config profile (default: the standard credential chain)")
	fl.StringVar(&f.region, "region", "", "AWS region for IAM/STS calls (default: from the profile/environment, else us-east-1)")
	fl.DurationVar(&f.backoff, "retry-backoff", f.backoff, "first wait before retrying a throttled AWS call (doubled each time)")
	_ = fl.MarkHidden("retry-backoff")
	fl.DurationVar(&f.verifyFor, "verify-for", f.verifyFor, "how long to re-read a change IAM does not show yet before journaling it unverified")
	_ = fl.MarkHidden("verify-for")
}

type remediateFlags struct {
	actFlags
	kinds    []string
	accounts []string
	issueIDs []int64
	// afterDryReport: run --dry-run's remediate step, after a report that
	// sent nothing (hidden).
	afterDryReport bool
}

func newRemediateCmd(g *globals) *cobra.Command {
	f := &remediateFlags{}
	cmd := &cobra.Command{
		Use:   "remediate",
		Short: "Deactivate stale access keys and delete unused passwords of open issues, behind guard rails",
		Long: `remediate acts on open issues from the store (run keywarden scan first):
user_inactivekeys and user_keysrotation: UpdateAccessKey Status=Inactive on
the issue's key ID; user_inactivepasswords: DeleteLoginProfile.

An issue is acted on only when remediation is on for its kind ("remediation":
true in config.json, or the kind named with --kind), its account is in
remediation_accounts (default: all), it is a violation, it is not
whitelisted, and remediation_retention_period days have passed since the
violation was reported (delivered on Slack, JIRA or SNS: keywarden report),
as in Hammer. A kind with "reporting": true is never remediated before its
owner was told; with reporting off (or no channel configured, or every
channel switched off for the kind: its "jira": false, "slack": false) the
retention counts from detection, and the plan says so.
keywarden's own access key is never deactivated. An account with more
credentials due than remediation.max_remediations_per_run (default 10) is
left alone entirely.

Right before each action the credential is re-read live (the credential
report can be four hours old); one used since, already inactive or deleted
is not touched and its issue is resolved. After acting, the new state is
verified. Every action is journaled (keywarden journal) with the state before
it, and keys can be re-activated with keywarden rollback.

On a terminal it asks for each credential (yes / no / all / quit);
otherwise --yes is required. --dry-run prints the plan and changes nothing;
with --as-of DATE it prints the plan as of that date (what would be due then).
Acting is always on the present: --as-of without --dry-run is refused.`,
		Example: `  keywarden remediate --dry-run
  keywarden remediate --kind user_inactivekeys --account 123456789012
  keywarden remediate --yes -o json
  keywarden remediate --dry-run --as-of 2027-03-01   # what will be due by 1 March?`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := runRemediate(cmd.Context(), g, f)
			return err
		},
	}
	withFormats(cmd, output.Table, output.JSON)
	f.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.asOf, "as-of", "", "with --dry-run: the plan as of this date (YYYY-MM-DD, UTC) or RFC 3339 time, i.e. what would be due then")
	fl.StringSliceVar(&f.kinds, "kind", nil, "only these kinds; naming a kind turns its remediation on for this run (other guards still apply)")
	fl.StringSliceVar(&f.accounts, "account", nil, "only these account IDs")
	fl.Int64SliceVar(&f.issueIDs, "issue", nil, "only these issue IDs")
	fl.BoolVar(&f.afterDryReport, "after-dry-report", false, "the plan follows a report that was a dry run (keywarden run --dry-run)")
	_ = fl.MarkHidden("after-dry-report")
	return cmd
}

func runRemediate(ctx context.Context, g *globals, f *remediateFlags) (mr *job.RemediateResult, err error) {
	var kinds []policy.Kind
	for _, k := range f.kinds {
		if !policy.Kind(k).Valid() {
			return mr, usageError(fmt.Sprintf("--kind %q: use user_inactivekeys, user_keysrotation or user_inactivepasswords", k))
		}
		kinds = append(kinds, policy.Kind(k))
	}
	s, err := openSession(ctx, g, &f.actFlags)
	if err != nil {
		return mr, err
	}
	defer s.Close()
	mr, err = job.Remediate(ctx, job.RemediateDeps{Config: s.cfg, Store: s.store, Exec: s.exec, Getenv: g.env.Getenv, Log: g.logger()},
		job.RemediateOptions{AsOf: s.asOf, PlanAsOf: f.asOf != "", DryRun: f.dryRun, Profile: f.profile, Region: f.region,
			AfterDryReport: f.afterDryReport, Kinds: kinds, Accounts: f.accounts, IssueIDs: f.issueIDs})
	var noIssue *job.NoIssueError
	if errors.As(err, &noIssue) {
		return nil, usageError(fmt.Sprintf("--issue %d: the issue does not exist (see keywarden issues list --status all)", noIssue.ID))
	}
	if mr == nil {
		return nil, err
	}
	outs := mr.Outcomes
	if err != nil && interrupted(ctx) {
		// Execute's outcomes: the plan's skips, then one per item handled.
		err = remediateInterrupted(ctx, s.store, outs[mr.Reconciled+min(len(mr.Plan.Skipped), len(outs)-mr.Reconciled):], len(mr.Plan.Items), "remediate")
	}
	if rerr := renderOutcomes(g.env.Stdout, outs, s.opts); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		return mr, err
	}
	return mr, finish(g.env.Stderr, outs, f.dryRun, "remediate", s.opts)
}
