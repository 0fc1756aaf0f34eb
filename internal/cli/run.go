package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/job"
	"github.com/keywarden/keywarden/internal/output"
)

// RunSummary is the outcome of keywarden run (JSON schema version 1): the
// application layer's value, which run prints, serve keeps and the Lambda
// returns.
type RunSummary = job.RunSummary

type runFlags struct {
	asOf         string
	dryRun       bool
	details      bool
	allowPartial bool
	profile      string
	region       string
	lockTTL      time.Duration
}

// newRunFlags are run's defaults, for the command line, serve and the
// Lambda.
func newRunFlags() *runFlags { return &runFlags{lockTTL: 2 * time.Hour} }

func newRunCmd(g *globals) *cobra.Command {
	f := newRunFlags()
	cmd := &cobra.Command{
		Use:   "run",
		Short: "One unattended run: scan every account, report, remediate (as configured)",
		Long: `run is what the scheduler, the daemon (serve) and the Lambda execute:

  1. scan      every configured (or discovered) account; issues are tracked
  2. report    notices of the kinds with "reporting": true (Slack, JIRA, SNS)
  3. remediate the kinds with "remediation": true, automatically (no prompt),
               behind every guard rail of keywarden remediate; a kind that
               reports is remediated only once its violation was reported
               (this run's report counts) and its retention has passed

It prints a run summary (table, or JSON with -o json). One account's failure
does not stop the others or the later steps; the exit code is 1 when any
account or step failed (--allow-partial: only when nothing was scanned).
--dry-run tracks nothing, sends nothing and changes nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sum, _, err := runOnce(cmd.Context(), g, f)
			if err != nil {
				return err
			}
			if werr := writeRunSummary(g, sum); werr != nil {
				return werr
			}
			if sum.Result == "skipped" {
				fmt.Fprintln(g.env.Stderr, "keywarden run: skipped: another run holds the lock")
				return nil
			}
			if sum.Result == "failed" || (sum.Result == "partial" && !f.allowPartial) {
				return &ExitError{Code: ExitError1, Msg: "keywarden run: " + strings.Join(sum.Failures, "; ")}
			}
			return nil
		},
	}
	withFormats(cmd, output.Table, output.JSON)
	fl := cmd.Flags()
	fl.StringVar(&f.asOf, "as-of", "", "evaluate as of this date (YYYY-MM-DD, UTC) or RFC 3339 time (default now)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "track nothing, send nothing, change nothing; show what would be done")
	fl.BoolVar(&f.details, "details", false, "also print each step's own output (findings, notices, remediation table)")
	fl.BoolVar(&f.allowPartial, "allow-partial", false, "exit 0 when some accounts or steps failed but others succeeded")
	fl.StringVar(&f.profile, "profile", "", "AWS shared config profile (default: the standard credential chain)")
	fl.StringVar(&f.region, "region", "", "AWS region for IAM/STS calls")
	fl.DurationVar(&f.lockTTL, "lock-ttl", f.lockTTL, "lease of the run lock in the store: a crashed run blocks others this long at most; must exceed the longest run")
	return cmd
}

// runOnce reads the configuration and calls the application layer's Run
// with the command's steps. Errors returned are those that stop the run
// before it starts (bad flags, bad config); step failures are in the
// summary.
func runOnce(ctx context.Context, g *globals, f *runFlags) (*RunSummary, *job.Results, error) {
	asOf, err := parseAsOf(f.asOf, g.env.Now)
	if err != nil {
		return nil, nil, err
	}
	if _, err := g.outputOptions(asOf); err != nil {
		return nil, nil, err
	}
	cfg, err := loadConfig(g)
	if err != nil {
		return nil, nil, err
	}
	return job.Run(ctx, runSteps(g, cfg, f.details), job.RunOptions{
		AsOf: asOf, DryRun: f.dryRun, Profile: f.profile, Region: f.region,
		Reporting:   anyKind(cfg, func(k *config.Kind) bool { return k.Reporting }),
		Remediation: anyKind(cfg, func(k *config.Kind) bool { return k.Remediation }),
		ShowKeyIDs:  g.showKeyIDs,
		// One run at a time per store: two daemons sharing DynamoDB, or
		// cron and a daemon sharing a SQLite file, never act at once.
		Lock: func(ctx context.Context) (func(), error) { return lockRun(ctx, g, cfg, f.lockTTL) },
		Now:  g.env.Now, Log: g.logger(),
	})
}

// runSteps are the steps of run: the commands' own functions over typed
// options, with the run's configuration; their output is shown only with
// --details.
func runSteps(g *globals, cfg *config.Config, details bool) job.Steps {
	sub := *g
	sub.cfg = cfg
	sub.outFile, sub.tmpOut = "", nil
	if !details {
		sub.env.Stdout = io.Discard
	}
	if sub.format == "" || sub.format == string(output.HTML) {
		sub.format = string(output.Table)
	}
	return job.Steps{
		Scan: func(ctx context.Context, o job.ScanOptions) (*job.ScanResult, error) {
			f := newScanFlags()
			f.asOf, f.profile, f.region = o.AsOf.Format(time.RFC3339), o.Profile, o.Region
			f.noTrack, f.keepFindings = !o.Track, o.KeepFindings
			sr, err := runScan(ctx, &sub, f)
			var ee *ExitError
			if sr != nil && errors.As(err, &ee) && ee.Code == ExitError1 && len(sr.Result.Failed()) > 0 {
				err = nil // the failed accounts are listed one by one
			}
			return sr, stepError(err)
		},
		Report: func(ctx context.Context, o job.ReportOptions) (*job.ReportResult, error) {
			rr, err := runReport(ctx, &sub, &reportFlags{asOf: o.AsOf.Format(time.RFC3339), dryRun: o.DryRun, profile: o.Profile})
			return rr, stepError(err)
		},
		Remediate: func(ctx context.Context, o job.RemediateOptions) (*job.RemediateResult, error) {
			f := &remediateFlags{afterDryReport: o.AfterDryReport}
			f.defaults()
			f.profile, f.region, f.yes, f.dryRun = o.Profile, o.Region, true, o.DryRun
			if o.DryRun {
				// Remediation acts on the present: the run's as-of goes
				// to a dry run's plan only.
				f.asOf = o.AsOf.Format(time.RFC3339)
			}
			mr, err := runRemediate(ctx, &sub, f)
			return mr, stepError(err)
		},
	}
}

// stepError is a step's error as the run summary lists it: nil for exit
// code 3 (findings), the message without the "keywarden: " prefix.
func stepError(err error) error {
	if err == nil {
		return nil
	}
	var ee *ExitError
	if errors.As(err, &ee) && ee.Code == ExitFindings {
		return nil
	}
	msg := strings.TrimSpace(err.Error())
	if errors.As(err, &ee) && ee.Msg != "" {
		msg = strings.TrimSpace(strings.TrimPrefix(ee.Msg, "keywarden: "))
	}
	return errors.New(msg)
}

// anyKind reports whether an enabled kind satisfies pred.
func anyKind(cfg *config.Config, pred func(*config.Kind) bool) bool {
	for _, k := range cfg.Kinds {
		if k.Enabled && pred(k) {
			return true
		}
	}
	return false
}
