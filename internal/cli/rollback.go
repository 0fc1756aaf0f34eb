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

type rollbackFlags struct {
	actFlags
	action, issue int64
	since         string
	hold          int
	force         bool
}

// DefaultHoldDays is how long a rolled-back key is exempt from remediation
// unless rollback --hold says otherwise.
const DefaultHoldDays = 30

func newRollbackCmd(g *globals) *cobra.Command {
	f := &rollbackFlags{}
	cmd := &cobra.Command{
		Use:   "rollback (--action ID | --issue ID | --since TIME)",
		Short: "Re-activate access keys keywarden deactivated, from the journal",
		Long: `rollback re-activates (UpdateAccessKey Status=Active) the access keys that
keywarden deactivated, as recorded in the journal, and only those: each
rollback is journaled too and reopens the issue. A key re-activated or
deleted since is left alone.

A rolled-back key is on hold: exempt from remediation for --hold days
(default 30), so that the next run does not deactivate it again at once;
scan shows it whitelisted, "exempt until DATE: rolled back (action N)
(keywarden rollback)" (an exemption with an end: keywarden exempt list). After the hold it is
remediated as any other.

An action the journal holds as indeterminate (keywarden stopped before
recording its call, and found the key deactivated: the change may be a
person's) is not re-activated unless --force is given.

A console password keywarden deleted cannot be restored (AWS keeps no copy):
rollback names the user so that a new password can be created.`,
		Example: `  keywarden rollback --action 12
  keywarden rollback --since 2026-11-25 --dry-run
  keywarden rollback --issue 7 --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runRollback(cmd.Context(), g, f) },
	}
	withFormats(cmd, output.Table, output.JSON)
	f.register(cmd)
	fl := cmd.Flags()
	fl.Int64Var(&f.action, "action", 0, "roll back this journal action")
	fl.Int64Var(&f.issue, "issue", 0, "roll back the actions on this issue")
	fl.StringVar(&f.since, "since", "", "roll back every action started at or after this date (YYYY-MM-DD, UTC) or RFC 3339 time")
	fl.IntVar(&f.hold, "hold", DefaultHoldDays, fmt.Sprintf("days the re-activated key is exempt from remediation (0: no hold; at most %d)", policy.MaxDays))
	fl.BoolVar(&f.force, "force", false, "also re-activate keys of indeterminate actions (deactivations keywarden cannot tell from a person's)")
	return cmd
}

func runRollback(ctx context.Context, g *globals, f *rollbackFlags) error {
	n := 0
	for _, set := range []bool{f.action != 0, f.issue != 0, f.since != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return errors.New("name what to roll back with exactly one of --action ID, --issue ID or --since TIME (see keywarden journal)")
	}
	if f.hold < 0 || f.hold > policy.MaxDays {
		return usageError(fmt.Sprintf("--hold %d: use 0 (no hold) to %d days", f.hold, policy.MaxDays))
	}
	var since time.Time
	if f.action == 0 && f.since != "" {
		t, err := parseTimeFlag("--since", f.since)
		if err != nil {
			return err
		}
		since = t
	}
	s, err := openSession(ctx, g, &f.actFlags)
	if err != nil {
		return err
	}
	defer s.Close()
	rr, err := job.Rollback(ctx, job.RemediateDeps{Config: s.cfg, Store: s.store, Exec: s.exec, Getenv: g.env.Getenv, Log: g.logger()},
		job.RollbackOptions{Action: f.action, Issue: f.issue, Since: since, Force: f.force, Hold: policy.Days(f.hold)})
	var noIssue *job.NoIssueError
	if errors.As(err, &noIssue) {
		return usageError(fmt.Sprintf("--issue %d: the issue does not exist (see keywarden issues list --status all)", noIssue.ID))
	}
	if rr == nil {
		return err
	}
	outs := rr.Outcomes
	if err != nil && interrupted(ctx) {
		err = remediateInterrupted(ctx, s.store, outs[rr.Reconciled:], rr.Planned, "rollback")
	}
	if rerr := renderOutcomes(g.env.Stdout, outs, s.opts); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		return err
	}
	for _, o := range outs {
		if o.Result == remediate.CannotRestore {
			fmt.Fprintln(g.env.Stderr, "keywarden: "+s.opts.Text(o.Detail))
		}
	}
	return finish(g.env.Stderr, outs, f.dryRun, "rollback", s.opts)
}
