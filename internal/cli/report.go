package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/job"
	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/output"
)

type reportFlags struct {
	asOf    string
	dryRun  bool
	profile string
}

func newReportCmd(g *globals) *cobra.Command {
	f := &reportFlags{}
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Tell owners about their issues on Slack, JIRA and SNS",
		Long: `report works from the issue store (run scan first). For each issue of a kind
with "reporting": true it sends what each channel owes it:

  warning      an open issue nearing its deadline, with the days left; repeated
               at most once per warning_interval_days (default 1)
  violation    the first time an issue is past its deadline
  remediated   keywarden deactivated the key or removed the password
  resolved     the credential was rotated, used or deleted (only to whoever
               heard of the issue before); whitelisted likewise

Slack: set KEYWARDEN_SLACK_WEBHOOK_URL (an incoming webhook: one digest per
run), or KEYWARDEN_SLACK_TOKEN (a bot token: one digest per recipient of
ticket_owners.json slack_owner). JIRA: the "jira" section and
KEYWARDEN_JIRA_TOKEN. SNS: the "sns" section's topic_arn.

Every notice is recorded in the store: a failed one stays pending with its
error and is sent on the next run; one channel down does not stop the others.
Exit status 1 when a notice failed.`,
		Example: `  KEYWARDEN_SLACK_WEBHOOK_URL=https://hooks.slack.com/services/... keywarden report
  keywarden report --dry-run        # print every message, send nothing`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := runReport(cmd.Context(), g, f)
			return err
		},
	}
	withFormats(cmd, output.Table)
	fl := cmd.Flags()
	fl.StringVar(&f.asOf, "as-of", "", "report as of this date (YYYY-MM-DD, UTC) or RFC 3339 time (default now)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "print every message instead of sending it; the store is not changed")
	fl.StringVar(&f.profile, "profile", "", "AWS shared config profile for SNS (default: the standard credential chain)")
	return cmd
}

func runReport(ctx context.Context, g *globals, f *reportFlags) (rr *job.ReportResult, err error) {
	asOf, err := parseAsOf(f.asOf, g.env.Now)
	if err != nil {
		return rr, err
	}
	cfg, err := loadConfig(g)
	if err != nil {
		return rr, err
	}
	log := g.logger()
	st, err := openReportStore(ctx, g, cfg)
	if err != nil {
		return rr, err
	}
	defer st.Close()
	rr, err = job.Report(ctx, job.ReportDeps{Config: cfg, Store: st, Getenv: g.env.Getenv, Log: log, Now: g.env.Now, Out: g.env.Stdout,
		AWS: func(ctx context.Context) (aws.Config, error) {
			return awsConfig(ctx, g, &scanFlags{profile: f.profile}, cfg)
		},
	}, job.ReportOptions{AsOf: asOf, DryRun: f.dryRun, Profile: f.profile})
	if errors.Is(err, job.ErrNoChannel) {
		fmt.Fprintln(g.env.Stderr, `report: no channel is configured: set KEYWARDEN_SLACK_WEBHOOK_URL, or add a "jira" or "sns" section to config.json (see examples/README.md)`)
		for _, s := range []struct {
			name     string
			set, off bool
		}{{"slack", cfg.Notify.Slack.Set, !cfg.Notify.Slack.Enabled}, {"jira", cfg.Notify.Jira.Set, !cfg.Notify.Jira.Enabled}} {
			if s.set && s.off {
				fmt.Fprintf(g.env.Stderr, "report: config.json's %q section is off (as in Hammer, a section without \"enabled\": true is off); set \"enabled\": true to use it\n", s.name)
			}
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	results, setupErrs := rr.Notices, rr.SetupErrs
	if f.dryRun {
		fmt.Fprint(g.env.Stderr, "dry run, nothing sent:\n")
	}
	fmt.Fprint(g.env.Stderr, notify.Summary(results))
	failed := 0
	for _, res := range results {
		failed += res.Failed
	}
	var msgs []string
	for _, e := range setupErrs {
		msgs = append(msgs, "  "+e.Error())
	}
	if failed > 0 {
		msgs = append(msgs, fmt.Sprintf("  %d notice(s) failed; they stay pending and are retried on the next run", failed))
	}
	if len(msgs) > 0 {
		return rr, &ExitError{Code: ExitError1, Msg: "keywarden report:\n" + strings.Join(msgs, "\n")}
	}
	return rr, nil
}
