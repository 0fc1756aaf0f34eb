package job

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/notify"
	notifyjira "github.com/keywarden/keywarden/internal/notify/jira"
	notifyslack "github.com/keywarden/keywarden/internal/notify/slack"
	notifysns "github.com/keywarden/keywarden/internal/notify/sns"
	"github.com/keywarden/keywarden/internal/policy"
)

// ReportStore is what a report works on: the issues and the notices'
// delivery state.
type ReportStore interface {
	issues.Store
	notify.Store
}

// ReportDeps are a report's collaborators, passed in.
type ReportDeps struct {
	Config *config.Config
	Store  ReportStore
	// Getenv reads the channels' secrets (KEYWARDEN_SLACK_WEBHOOK_URL, ...).
	Getenv func(string) string
	// AWS is the AWS configuration of the SNS channel.
	AWS func(context.Context) (aws.Config, error)
	Log *slog.Logger
	Now func() time.Time
	// Out receives a dry run's messages.
	Out io.Writer
}

// ErrNoChannel: no report channel is configured; nothing was done.
var ErrNoChannel = errors.New("no report channel is configured")

// Report sends each channel what it owes the issues of the kinds that
// report (every notice is recorded in the store; a failed one stays
// pending). A channel that cannot be set up is in SetupErrs; the others
// still run.
func Report(ctx context.Context, d ReportDeps, o ReportOptions) (*ReportResult, error) {
	channels, setupErrs := ReportChannels(ctx, d, o.DryRun)
	if len(channels) == 0 && len(setupErrs) == 0 {
		return nil, ErrNoChannel
	}
	var names []string
	for _, c := range channels {
		names = append(names, c.Name())
	}
	list, err := notify.Candidates(ctx, d.Store, d.Store, d.Config, names)
	if err != nil {
		return nil, err
	}
	r := &notify.Runner{Store: d.Store, Config: d.Config, Channels: channels, Log: d.Log, AsOf: o.AsOf, SentAt: d.Now().UTC(), DryRun: o.DryRun, Out: d.Out}
	var ex policy.Exemptions
	if err := AddExemptions(ctx, d.Store, d.Config, &ex); err != nil {
		return nil, err
	}
	r.Dated = ex.Dated
	results, err := r.Run(ctx, list)
	if err != nil {
		return nil, err
	}
	return &ReportResult{Notices: results, SetupErrs: setupErrs}, nil
}

// ReportChannels builds the enabled channels. A channel that cannot be set
// up is an error of its own; the others still run.
func ReportChannels(ctx context.Context, d ReportDeps, dryRun bool) ([]notify.Channel, []error) {
	cfg, log := d.Config, d.Log
	var out []notify.Channel
	var errs []error
	n := cfg.Notify
	env := func(name, def string) string {
		if name == "" {
			name = def
		}
		return strings.TrimSpace(d.Getenv(name))
	}
	// Slack: on when the section says so, or, without a section, when one
	// of the two environment variables is set.
	sc := n.Slack
	if !sc.Set {
		sc.WebhookURLEnv, sc.TokenEnv = config.DefaultSlackWebhookURLEnv, config.DefaultSlackTokenEnv
	}
	webhook, token := env(sc.WebhookURLEnv, config.DefaultSlackWebhookURLEnv), env(sc.TokenEnv, config.DefaultSlackTokenEnv)
	if (sc.Set && sc.Enabled) || (!sc.Set && (webhook != "" || token != "")) {
		if dryRun && webhook == "" && token == "" {
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
		if token == "" && !dryRun {
			errs = append(errs, fmt.Errorf("jira: %s is not set in the environment", j.TokenEnv))
		} else {
			ch, err := notifyjira.New(notifyjira.Options{Config: j, Token: token, Tickets: d.Store, Log: log})
			if err != nil {
				errs = append(errs, err)
			} else {
				out = append(out, ch)
			}
		}
	}
	if s := n.SNS; s.Set && s.Enabled {
		ac, err := d.AWS(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("sns: %w", err))
		} else {
			out = append(out, notifysns.New(notifysns.Options{Config: s, AWS: ac, Log: log}))
		}
	}
	return out, errs
}

// ReportingChannels names the report channels the configuration turns on
// for kind k (as report sets them up, less those k's section switches off:
// Hammer's per-check "jira": false / "slack": false; k "" for the global
// settings alone): a kind with "reporting": true reports only when one is.
func ReportingChannels(cfg *config.Config, getenv func(string) string, k policy.Kind) []string {
	var out []string
	sc := cfg.Notify.Slack
	set := func(name string) bool { return strings.TrimSpace(getenv(name)) != "" }
	// Without a "slack" section Slack is on when one of its variables is
	// set; with one, when "enabled" is true (Hammer's default is off; a
	// missing variable is then an error of the report, and the violations
	// stay unreported).
	if ((sc.Set && sc.Enabled) || (!sc.Set && (set(config.DefaultSlackWebhookURLEnv) || set(config.DefaultSlackTokenEnv)))) &&
		!cfg.Notify.SwitchedOff(k, "slack") {
		out = append(out, "slack")
	}
	if cfg.Notify.Jira.Set && cfg.Notify.Jira.Enabled && !cfg.Notify.SwitchedOff(k, "jira") {
		out = append(out, "jira")
	}
	if cfg.Notify.SNS.Set && cfg.Notify.SNS.Enabled {
		out = append(out, "sns")
	}
	return out
}
