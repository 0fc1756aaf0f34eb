package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	shsdk "github.com/aws/aws-sdk-go-v2/service/securityhub"

	"github.com/keywarden/keywarden/internal/accounts"
	"github.com/keywarden/keywarden/internal/config"
	hub "github.com/keywarden/keywarden/internal/notify/securityhub"
	"github.com/keywarden/keywarden/internal/output"
	"github.com/keywarden/keywarden/internal/policy"
)

// securityHubTarget is the Security Hub findings go to: the caller's
// account and the configured region (the findings' product ARN).
type securityHubTarget struct {
	aws             aws.Config
	region, account string
	partition       string
}

// securityHubFor resolves the target. Without AWS access (-o asff of a
// credential report file) each finding names its own account.
func securityHubFor(ctx context.Context, g *globals, f *scanFlags, cfg *config.Config, connect bool) (*securityHubTarget, error) {
	t := &securityHubTarget{region: cfg.AWS.Region, partition: "aws"}
	if f.region != "" {
		t.region = f.region
	}
	if !connect {
		if t.region == "" {
			t.region = "us-east-1"
		}
		return t, nil
	}
	ac, err := awsConfig(ctx, g, f, cfg)
	if err != nil {
		return nil, err
	}
	sess := &accounts.Sessions{Main: ac}
	id, err := sess.Identity(ctx)
	if err != nil {
		return nil, fmt.Errorf("security hub: %w", err)
	}
	t.aws = ac
	t.region, t.account = ac.Region, aws.ToString(id.Account)
	return t, nil
}

func (t *securityHubTarget) options(asOf time.Time, show bool) output.ASFFOptions {
	return output.ASFFOptions{Region: t.region, Account: t.account, Partition: t.partition, AsOf: asOf, ShowKeyIDs: show}
}

// importOptions are options for the findings sent to Security Hub: their
// identifiers keep the real key IDs.
func (t *securityHubTarget) importOptions(asOf time.Time, show bool) output.ASFFOptions {
	o := t.options(asOf, show)
	o.Import = true
	return o
}

func (t *securityHubTarget) importFindings(ctx context.Context, g *globals, fs []policy.Finding, asOf time.Time, show bool) error {
	res, err := hub.Import(ctx, shsdk.NewFromConfig(t.aws), output.ToASFF(fs, t.importOptions(asOf, show)))
	fmt.Fprintf(g.env.Stderr, "security hub: %d finding(s) imported into %s/%s", res.Imported, t.account, t.region)
	if res.Failed > 0 {
		fmt.Fprintf(g.env.Stderr, ", %d failed", res.Failed)
	}
	fmt.Fprintln(g.env.Stderr)
	return err
}
