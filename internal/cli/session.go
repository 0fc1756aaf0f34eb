package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/keywarden/keywarden/internal/accounts"
	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/job"
	"github.com/keywarden/keywarden/internal/output"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
)

// session is what remediate and rollback share: config, store, executor.
type session struct {
	cfg   *config.Config
	store journalStore
	exec  *remediate.Executor
	asOf  time.Time
	opts  output.Options
}

func (s *session) Close() error { return s.store.Close() }

func openSession(ctx context.Context, g *globals, f *actFlags) (*session, error) {
	asOf, err := parseAsOf(f.asOf, g.env.Now)
	if err != nil {
		return nil, err
	}
	if f.asOf != "" && !f.dryRun {
		// Acting is always on the present: a plan as of another date is
		// for looking at.
		return nil, &ExitError{Code: ExitUsage, Msg: fmt.Sprintf("keywarden: --as-of %s needs --dry-run: remediation acts on credentials as they are now; "+
			"add --dry-run to see the plan as of that date, or drop --as-of to act now", f.asOf)}
	}
	if !f.dryRun && !f.yes && !g.env.StdinTTY {
		return nil, errors.New("this changes AWS credentials: pass --yes to act without asking, --dry-run to see the plan, or run it on a terminal to confirm each action")
	}
	opts, err := g.outputOptions(asOf)
	if err != nil {
		return nil, err
	}
	cfg, err := loadConfig(g)
	if err != nil {
		return nil, err
	}
	ac, err := awsConfig(ctx, g, &scanFlags{profile: f.profile, region: f.region, offline: f.dryRun}, cfg)
	if err != nil {
		return nil, err
	}
	own, err := ownKeyID(ctx, g, ac, f.dryRun)
	if err != nil {
		return nil, err
	}
	retry, err := g.retry()
	if err != nil {
		return nil, err
	}
	if f.verifyFor < 0 {
		return nil, usageError(fmt.Sprintf("--verify-for %s: use a positive duration", f.verifyFor))
	}
	st, err := openJournalStore(ctx, g, cfg)
	if err != nil {
		return nil, err
	}
	exempt := cfg.Exemptions()
	if err = job.AddExemptions(ctx, st, cfg, &exempt); err != nil {
		st.Close()
		return nil, err
	}
	sess := &accounts.Sessions{Main: ac, RoleName: cfg.AWS.RemediationRole(), ExternalID: cfg.AWS.ExternalID, Retry: retry}
	rules := map[policy.Kind]policy.Rule{}
	for k, kc := range cfg.Kinds {
		if kc.LimitDays > 0 {
			rules[k] = kc.Rule()
		}
	}
	ex := &remediate.Executor{
		Clients: func(ctx context.Context, a inventory.Account) (remediate.IAM, error) {
			c, err := sess.Config(ctx, a)
			if err != nil {
				return nil, err
			}
			return iam.NewFromConfig(c), nil
		},
		Journal: st, Store: st, Rules: rules, Exemptions: exempt,
		OwnKeyIDs: own, Now: g.env.Now, DryRun: f.dryRun,
		Log: g.logger(), Backoff: f.backoff, CallTimeout: g.callTimeout, VerifyFor: f.verifyFor,
	}
	if !f.dryRun && !f.yes {
		ex.Confirm = prompter(ctx, g.env.Stdin, g.env.Stderr, opts)
	}
	return &session{cfg: cfg, store: st, exec: ex, asOf: asOf, opts: opts}, nil
}

// ownKeyID is keywarden's own access key: the main credentials' access key
// ID. Without it the own-key guard cannot hold, so nothing is done — except
// in a dry run, which makes no AWS call and needs no credentials: it goes on
// without (its plan cannot single out keywarden's key; the real run does).
func ownKeyID(ctx context.Context, g *globals, ac aws.Config, dryRun bool) ([]string, error) {
	if ac.Credentials == nil {
		if dryRun {
			return nil, nil
		}
		return nil, errors.New("no AWS credentials are configured: set them up as for the AWS CLI (environment, --profile, instance role)")
	}
	if dryRun {
		// The chain may end at the instance metadata service: a dry run
		// does not wait for it.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
	}
	creds, err := ac.Credentials.Retrieve(ctx)
	switch {
	case err == nil:
		return []string{creds.AccessKeyID}, nil
	case dryRun:
		g.logger().Warn("dry run without AWS credentials: the plan cannot recognise keywarden's own access key (a real run never deactivates it)", "err", err)
		return nil, nil
	}
	return nil, fmt.Errorf("read the AWS credentials keywarden runs with: %w", err)
}
