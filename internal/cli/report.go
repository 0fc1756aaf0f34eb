package cli

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/output"

	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/job"
	"github.com/keywarden/keywarden/internal/notify"
	notifyjira "github.com/keywarden/keywarden/internal/notify/jira"
	notifyslack "github.com/keywarden/keywarden/internal/notify/slack"
	notifysns "github.com/keywarden/keywarden/internal/notify/sns"
	"github.com/keywarden/keywarden/internal/policy"
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
	channels, setupErrs := reportChannels(ctx, g, f, cfg, st, log)
	if len(channels) == 0 && len(setupErrs) == 0 {
		fmt.Fprintln(g.env.Stderr, `report: no channel is configured: set KEYWARDEN_SLACK_WEBHOOK_URL, or add a "jira" or "sns" section to config.json (see examples/README.md)`)
		for _, s := range []struct {
			name     string
			set, off bool
		}{{"slack", cfg.Notify.Slack.Set, !cfg.Notify.Slack.Enabled}, {"jira", cfg.Notify.Jira.Set, !cfg.Notify.Jira.Enabled}} {
			if s.set && s.off {
				fmt.Fprintf(g.env.Stderr, "report: config.json's %q section is off (as in Hammer, a section without \"enabled\": true is off); set \"enabled\": true to use it\n", s.name)
			}
		}
		return rr, nil
	}
	var names []string
	for _, c := range channels {
		names = append(names, c.Name())
	}
	list, err := notify.Candidates(ctx, st, st, cfg, names)
	if err != nil {
		return rr, err
	}
	r := &notify.Runner{Store: st, Config: cfg, Channels: channels, Log: log, AsOf: asOf, SentAt: g.env.Now().UTC(), DryRun: f.dryRun, Out: g.env.Stdout}
	var ex policy.Exemptions
	if err := addExemptions(ctx, st, cfg, &ex); err != nil {
		return rr, err
	}
	r.Dated = ex.Dated
	results, err := r.Run(ctx, list)
	if err != nil {
		return rr, err
	}
	rr = &job.ReportResult{Notices: results, SetupErrs: setupErrs}
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

// reportChannels builds the enabled channels. A channel that cannot be set
// up is an error of its own; the others still run.
func reportChannels(ctx context.Context, g *globals, f *reportFlags, cfg *config.Config, st notify.Store, log *slog.Logger) ([]notify.Channel, []error) {
	var out []notify.Channel
	var errs []error
	n := cfg.Notify
	env := func(name, def string) string {
		if name == "" {
			name = def
		}
		return strings.TrimSpace(g.env.Getenv(name))
	}
	// Slack: on when the section says so, or, without a section, when one
	// of the two environment variables is set.
	sc := n.Slack
	if !sc.Set {
		sc.WebhookURLEnv, sc.TokenEnv = config.DefaultSlackWebhookURLEnv, config.DefaultSlackTokenEnv
	}
	webhook, token := env(sc.WebhookURLEnv, config.DefaultSlackWebhookURLEnv), env(sc.TokenEnv, config.DefaultSlackTokenEnv)
	if (sc.Set && sc.Enabled) || (!sc.Set && (webhook != "" || token != "")) {
		if f.dryRun && webhook == "" && token == "" {
			token = "dry-run"
		}
		ch, err := notifyslack.New(notifyslack.Options{Config: sc, WebhookURL: webhook, Token: token, Log: log})
		if err != nil {
			errs = append(errs, err)
		} else {
			out = append(out, ch)
		}
	}
	if j := n.Jira; j.Set && j.Enabled {
		token := env(j.TokenEnv, config.DefaultJiraTokenEnv)
		if token == "" && !f.dryRun {
			errs = append(errs, fmt.Errorf("jira: %s is not set in the environment", j.TokenEnv))
		} else {
			ch, err := notifyjira.New(notifyjira.Options{Config: j, Token: token, Tickets: st, Log: log})
			if err != nil {
				errs = append(errs, err)
			} else {
				out = append(out, ch)
			}
		}
	}
	if s := n.SNS; s.Set && s.Enabled {
		ac, err := awsConfig(ctx, g, &scanFlags{profile: f.profile}, cfg)
		if err != nil {
			errs = append(errs, fmt.Errorf("sns: %w", err))
		} else {
			out = append(out, notifysns.New(notifysns.Options{Config: s, AWS: ac, Log: log}))
		}
	}
	return out, errs
}
