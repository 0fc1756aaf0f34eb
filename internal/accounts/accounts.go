// Package accounts decides which AWS accounts to audit and how to reach each
// one: the main credentials for the account they belong to, an assumed role
// (aws.role_name) for every other account.
package accounts

import (
	"context"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/keywarden/keywarden/internal/inventory"
)

// SessionName is the role session name keywarden uses, visible in
// CloudTrail.
const SessionName = "keywarden"

// Sessions builds per-account AWS configs from the main one.
type Sessions struct {
	Main     aws.Config
	RoleName string // default keywarden-audit
	// ExternalID for AssumeRole, optional.
	ExternalID string
	// Retry configures every client's retries (adaptive mode, bounded).
	Retry Retry

	once     sync.Once
	identity *sts.GetCallerIdentityOutput
	err      error
}

// Identity returns who the main credentials are (GetCallerIdentity, once).
func (s *Sessions) Identity(ctx context.Context) (*sts.GetCallerIdentityOutput, error) {
	s.once.Do(func() {
		s.identity, s.err = sts.NewFromConfig(s.Main, s.stsOpts).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if s.err != nil {
			s.err = fmt.Errorf("who am I (sts get-caller-identity): %w", s.err)
		}
	})
	return s.identity, s.err
}

// Config returns the AWS config that reaches account a: the main config when
// a is the main credentials' account (or a.ID is empty), else an assumed role.
func (s *Sessions) Config(ctx context.Context, a inventory.Account) (aws.Config, error) {
	if a.ID == "" {
		return s.Main, nil
	}
	id, err := s.Identity(ctx)
	if err != nil {
		return aws.Config{}, err
	}
	if aws.ToString(id.Account) == a.ID {
		return s.Main, nil
	}
	role := s.RoleName
	if role == "" {
		role = "keywarden-audit"
	}
	arn := fmt.Sprintf("arn:%s:iam::%s:role/%s", partition(aws.ToString(id.Arn)), a.ID, role)
	cfg := s.Main.Copy()
	prov := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(s.Main, s.stsOpts), arn, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = SessionName
		if s.ExternalID != "" {
			o.ExternalID = aws.String(s.ExternalID)
		}
	})
	cfg.Credentials = aws.NewCredentialsCache(prov)
	// Assume the role now: a refusal names the role, not the first IAM call.
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return aws.Config{}, fmt.Errorf("assume role %s: %w", arn, err)
	}
	return cfg, nil
}

// IAM returns a read-only IAM client for account a.
func (s *Sessions) IAM(ctx context.Context, a inventory.Account) (inventory.IAMReader, error) {
	cfg, err := s.Config(ctx, a)
	if err != nil {
		return nil, err
	}
	return iam.NewFromConfig(cfg, func(o *iam.Options) {
		o.Retryer, o.RetryMaxAttempts = s.Retry.Retryer(), s.Retry.attempts()
	}), nil
}

// Organizations returns an Organizations client with the main credentials.
func (s *Sessions) Organizations() *organizations.Client {
	return organizations.NewFromConfig(s.Main, func(o *organizations.Options) {
		o.Retryer, o.RetryMaxAttempts = s.Retry.Retryer(), s.Retry.attempts()
	})
}

// Discover lists the organization's ACTIVE accounts that f selects, with
// the main credentials.
func (s *Sessions) Discover(ctx context.Context, f Filter) (*Discovered, error) {
	return Discover(ctx, s.Organizations(), f)
}

func (s *Sessions) stsOpts(o *sts.Options) {
	o.Retryer, o.RetryMaxAttempts = s.Retry.Retryer(), s.Retry.attempts()
}

func partition(arn string) string {
	// arn:PARTITION:...
	if len(arn) > 4 && arn[:4] == "arn:" {
		for i := 4; i < len(arn); i++ {
			if arn[i] == ':' {
				return arn[4:i]
			}
		}
	}
	return "aws"
}
