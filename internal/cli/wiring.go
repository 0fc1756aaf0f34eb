package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"

	"github.com/keywarden/keywarden/internal/awsguard"
	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/issues/sqlite"
)

func loadConfig(g *globals) (*config.Config, error) {
	if g.cfg != nil {
		return g.cfg, nil
	}
	cfg, err := config.Load(g.configDir)
	if err != nil {
		var p *config.Problems
		if errors.As(err, &p) {
			return nil, &ExitError{Code: ExitUsage, Msg: fmt.Sprintf("keywarden: configuration in %s is invalid (run keywarden config validate):\n%v", g.configDir, err)}
		}
		return nil, fmt.Errorf("configuration in %s: %w", g.configDir, err)
	}
	warnConfig(g.env.Stderr, cfg, g.env.Now())
	return cfg, nil
}

func openStore(ctx context.Context, g *globals, cfg *config.Config) (*sqlite.Store, error) {
	return sqlite.Open(ctx, storePath(g, cfg))
}

// storePath is the SQLite file: --db, else store.path, else the default.
func storePath(g *globals, cfg *config.Config) string {
	switch {
	case g.db != "":
		return g.db
	case cfg.Store.Path != "":
		return cfg.Store.Path
	}
	return config.DefaultStorePath
}

func awsConfig(ctx context.Context, g *globals, f *scanFlags, cfg *config.Config) (aws.Config, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if f.offline {
		// Nothing may leave the machine: credentials only from the
		// environment and the shared files, never from the instance
		// metadata service.
		opts = append(opts, awsconfig.WithEC2IMDSClientEnableState(imds.ClientDisabled))
	}
	if g.env.AWSHTTPClient != nil {
		opts = append(opts, awsconfig.WithHTTPClient(g.env.AWSHTTPClient))
	} else if idle := f.concurrency * (max(f.accountConcurrency, inventory.DefaultAccountConcurrency) + 1); idle > awshttp.DefaultHTTPTransportMaxIdleConnsPerHost {
		// Every IAM call goes to one host (iam.amazonaws.com). The SDK's
		// client keeps 10 idle connections a host: at --concurrency 64
		// the hundreds of requests in flight would each need a new TLS
		// connection once their burst ends.
		opts = append(opts, awsconfig.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
			tr.MaxIdleConnsPerHost = idle
			tr.MaxIdleConns = max(tr.MaxIdleConns, 2*idle) // STS and Organizations too
		})))
	}
	if f.profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(f.profile))
	}
	region := f.region
	if region == "" {
		region = cfg.AWS.Region
	}
	if region != "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	ac, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if ac.Region == "" {
		ac.Region = "us-east-1" // IAM is global; any region signs
	}
	// Every client is built from ac (IAM, STS, Organizations, SNS, SSM,
	// DynamoDB, the remediation's IAM): a hung call, an empty or cut-off
	// answer, or one missing what the API guarantees is an error, retried
	// and then failed, never an empty result.
	awsguard.Install(&ac, awsguard.Options{AttemptTimeout: g.callTimeout})
	return ac, nil
}

// DefaultAccountTimeout bounds one account's scan unless --account-timeout
// says otherwise.
const DefaultAccountTimeout = 30 * time.Minute
