package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/accounts"
	"github.com/keywarden/keywarden/internal/engine"
	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/job"
	"github.com/keywarden/keywarden/internal/output"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/progress"
)

type scanFlags struct {
	// offline: the AWS configuration may not reach anything to resolve
	// credentials (a dry run makes no AWS call at all).
	offline    bool
	source     string
	reportFile string
	asOf       string
	profile    string
	region     string
	accounts   []string
	failOn     string
	noTrack    bool
	// securityHub imports the findings into AWS Security Hub.
	securityHub bool
	// pollInterval of credential report generation (hidden; tests).
	pollInterval  time.Duration
	reportTimeout time.Duration
	// Organization scale (issue 5).
	org              bool
	include, exclude []string
	concurrency      int
	// accountConcurrency: IAM calls in flight per account.
	accountConcurrency int
	accountTimeout     time.Duration
	allowPartial       bool
	// keepFindings: keep every account's findings after writing them
	// (keywarden run counts them).
	keepFindings bool
}

// newScanFlags are scan's defaults, for the command line and for run.
func newScanFlags() *scanFlags {
	return &scanFlags{source: "report", pollInterval: inventory.DefaultPollInterval, reportTimeout: 2 * time.Minute,
		concurrency: engine.DefaultConcurrency, accountTimeout: DefaultAccountTimeout}
}

func newScanCmd(g *globals) *cobra.Command {
	f := newScanFlags()
	cmd := &cobra.Command{
		Use:   "scan",
		Short: "Find stale access keys and passwords, and track them as issues",
		Long: `scan audits every configured account (aws.accounts, or the account of the
current credentials), evaluates the enabled checks of config.json and
reconciles the findings with the issue store: new findings open issues,
vanished ones resolve.

Sources:
  --source report  (default) one credential report per account, then only the
                   credentials with a candidate finding are confirmed live
  --source live    every user, key and login profile read live
  --credential-report FILE
                   a credential report CSV: no AWS access needed`,
		Example: `  keywarden scan --config-dir examples --credential-report examples/credential-report.csv
  keywarden scan --profile audit -o json --fail-on violation
  keywarden scan --as-of 2027-03-01 --no-track     # what will have expired by 1 March?`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := runScan(cmd.Context(), g, f)
			return err
		},
	}
	withFormats(cmd, output.Table, output.JSON, output.CSV, output.HTML, output.ASFF)
	fl := cmd.Flags()
	fl.StringVar(&f.source, "source", f.source, "AWS source: report (fast path) or live (exact path)")
	fl.StringVar(&f.reportFile, "credential-report", "", "audit this credential report CSV instead of calling AWS")
	fl.StringVar(&f.asOf, "as-of", "", "evaluate as of this date (YYYY-MM-DD, UTC) or RFC 3339 time (default now)")
	fl.StringVar(&f.profile, "profile", "", "AWS shared config profile (default: the standard credential chain)")
	fl.StringVar(&f.region, "region", "", "AWS region for IAM/STS calls (default: from the profile/environment, else us-east-1)")
	fl.StringSliceVar(&f.accounts, "account", nil, "scan only these account IDs (repeatable)")
	fl.StringVar(&f.failOn, "fail-on", "", "exit 3 when a finding at this level exists: warning or violation (whitelisted findings never count)")
	fl.BoolVar(&f.securityHub, "security-hub", false, "also import the findings into AWS Security Hub (BatchImportFindings, in the caller's account and region; stable IDs, so re-imports update)")
	fl.BoolVar(&f.noTrack, "no-track", false, "show findings without changing the issue store (implied when --as-of is in the future)")
	fl.DurationVar(&f.pollInterval, "report-poll-interval", f.pollInterval, "first wait before polling a credential report being generated (doubles each poll, up to 2s)")
	_ = fl.MarkHidden("report-poll-interval")
	fl.DurationVar(&f.reportTimeout, "report-timeout", f.reportTimeout, "give up on an account whose credential report is not ready (or refused with LimitExceeded) after this long")
	fl.BoolVar(&f.org, "org", false, "discover the accounts with AWS Organizations (ACTIVE accounts only; needs the management account's or a delegated administrator's credentials); also aws.organization.discover")
	fl.StringSliceVar(&f.include, "include", nil, "scan only accounts matching these IDs or name globs (prod-*); replaces aws.organization.include")
	fl.StringSliceVar(&f.exclude, "exclude", nil, "skip accounts matching these IDs or name globs; added to aws.organization.exclude")
	fl.IntVar(&f.concurrency, "concurrency", f.concurrency, "accounts scanned at once")
	fl.IntVar(&f.accountConcurrency, "account-concurrency", 0, fmt.Sprintf("most IAM calls in flight per account, halved while IAM throttles the account (default aws.account_concurrency, else %d)", inventory.DefaultAccountConcurrency))
	fl.DurationVar(&f.accountTimeout, "account-timeout", f.accountTimeout, "fail an account whose scan takes longer than this (0: no limit)")
	fl.BoolVar(&f.allowPartial, "allow-partial", false, "exit 0 even when some accounts failed (they are still listed)")
	return cmd
}

func runScan(ctx context.Context, g *globals, f *scanFlags) (*job.ScanResult, error) {
	now := g.env.Now()
	// Without --as-of the scan is as of now, exactly: the present, tracked.
	asOf, err := parseAsOf(f.asOf, func() time.Time { return now })
	if err != nil {
		return nil, err
	}
	if f.failOn != "" && f.failOn != string(policy.Warning) && f.failOn != string(policy.Violation) {
		return nil, usageError(fmt.Sprintf("--fail-on %q: use warning or violation", f.failOn))
	}
	opts, err := g.outputOptions(asOf)
	if err != nil {
		return nil, err
	}
	cfg, err := loadConfig(g)
	if err != nil {
		return nil, err
	}
	if len(cfg.Rules()) == 0 {
		return nil, fmt.Errorf("no check is enabled in %s/config.json: enable user_inactivekeys, user_keysrotation or user_inactivepasswords", g.configDir)
	}
	if f.concurrency < 1 {
		return nil, usageError(fmt.Sprintf("--concurrency %d: use 1 or more", f.concurrency))
	}
	if f.accountConcurrency < 0 {
		return nil, usageError(fmt.Sprintf("--account-concurrency %d: use 1 or more", f.accountConcurrency))
	}
	if f.reportFile == "" && f.source != "report" && f.source != "live" {
		return nil, usageError(fmt.Sprintf("--source %q: use report or live", f.source))
	}
	var bar *progress.Bar
	deps := job.ScanDeps{Config: cfg, Log: g.logger(), Getenv: g.env.Getenv,
		AWS: func(ctx context.Context) (aws.Config, accounts.Retry, error) {
			ac, err := awsConfig(ctx, g, f, cfg)
			if err != nil {
				return aws.Config{}, accounts.Retry{}, err
			}
			retry, err := g.retry()
			return ac, retry, err
		},
		OpenStore: func(ctx context.Context) (issues.Store, error) { return openIssueStore(ctx, g, cfg) },
	}
	if opts.Format != output.JSON && stderrTTY(g.env) {
		deps.Started = func(n int) { bar = progress.New(g.env.Stderr, n) }
		deps.Progress = func(p engine.Progress) { bar.Update(p.Done, p.Findings, p.Failed) }
	}
	// JSON lines and CSV are written account by account while the scan
	// goes on, in the accounts' order (engine.Engine.Output), byte for byte
	// what writing them at the end gives; a plain scan then drops each
	// account's findings once written (run and --security-hub need them).
	var stream *output.FindingStream
	var streamErr error
	if output.Streams(opts.Format) {
		if stream, err = output.NewFindingStream(g.env.Stdout, opts); err != nil {
			return nil, err
		}
		// When the progress bar (stderr) and the findings (stdout) share a
		// terminal, each account's lines go out whole, with the bar cleared.
		out, _ := g.env.Stdout.(*os.File)
		shared := out != nil && (isatty.IsTerminal(out.Fd()) || isatty.IsCygwinTerminal(out.Fd()))
		deps.Output = func(r *engine.AccountResult) {
			if len(r.Findings) == 0 || streamErr != nil {
				return
			}
			if shared && bar != nil {
				bar.Clear()
			}
			if streamErr = stream.Write(r.Findings); streamErr == nil && shared && bar != nil {
				streamErr = stream.Flush()
			}
		}
	}
	sr, err := job.Scan(ctx, deps, job.ScanOptions{AsOf: asOf, Now: now, Track: !f.noTrack, KeepFindings: f.keepFindings || f.securityHub,
		Profile: f.profile, Region: f.region, Source: f.source, ReportFile: f.reportFile, Accounts: f.accounts,
		Org: f.org, Include: f.include, Exclude: f.exclude, Concurrency: f.concurrency, AccountConcurrency: f.accountConcurrency,
		AccountTimeout: f.accountTimeout, PollInterval: f.pollInterval, ReportTimeout: f.reportTimeout, Ages: opts.Format == output.HTML})
	bar.Clear()
	var notConfigured *job.AccountNotConfiguredError
	switch {
	case errors.As(err, &notConfigured):
		return nil, usageError(fmt.Sprintf("--account %s: not in aws.accounts of config.json", notConfigured.ID))
	case err != nil && sr != nil && interrupted(ctx):
		return nil, scanInterrupted(sr.Result, sr.Tracked)
	case err != nil:
		return nil, err
	case streamErr != nil:
		return nil, streamErr
	}
	if sr.FutureAsOf {
		fmt.Fprintf(g.env.Stderr, "--as-of %s is in the future (now %s): findings shown, issue store unchanged\n",
			asOfLabel(f.asOf, asOf), now.UTC().Format(time.RFC3339))
	}
	res := sr.Result
	var shub *securityHubTarget
	if f.securityHub || opts.Format == output.ASFF {
		if shub, err = securityHubFor(ctx, g, f, cfg, f.securityHub); err != nil {
			return sr, err
		}
	}
	switch opts.Format {
	case output.HTML:
		err = output.RenderHTML(g.env.Stdout, scanReport(res, cfg, cfg.Rules()), opts)
	case output.ASFF:
		err = output.WriteASFF(g.env.Stdout, output.ToASFF(res.Findings(), shub.options(asOf, opts.ShowKeyIDs)))
	default:
		if stream != nil {
			err = stream.Close()
		} else {
			err = output.Findings(g.env.Stdout, res.Findings(), opts)
		}
	}
	if err != nil {
		return sr, err
	}
	untracked(g.env.Stderr, res, asOfLabel(f.asOf, asOf))
	summary(g.env.Stderr, res, sr.Tracked, sr.Discovered)
	if f.securityHub {
		if err := shub.importFindings(ctx, g, res.Findings(), asOf, opts.ShowKeyIDs); err != nil {
			return sr, err
		}
	}
	if failed := res.Failed(); len(failed) > 0 {
		// --allow-partial tolerates some failed accounts, never a scan
		// that scanned nothing.
		if len(failed) == len(res.Accounts) {
			return sr, &ExitError{Code: ExitError1, Msg: fmt.Sprintf("keywarden: %d of %d accounts failed: no account was scanned (listed above; --allow-partial exits 0 only when some account was scanned)", len(failed), len(res.Accounts))}
		}
		if !f.allowPartial {
			return sr, &ExitError{Code: ExitError1, Msg: fmt.Sprintf("keywarden: %d of %d accounts failed (listed above; --allow-partial exits 0 when the others were scanned)", len(failed), len(res.Accounts))}
		}
	}
	if f.failOn != "" && tallyFailsOn(res, policy.Stage(f.failOn)) {
		return sr, &ExitError{Code: ExitFindings}
	}
	return sr, nil
}
