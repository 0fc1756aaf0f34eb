package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/output"
)

// Lambda environment variables.
const (
	// LambdaConfigDirEnv: folder of the bundled configuration (default
	// /var/task/config, the zip's config/ folder).
	LambdaConfigDirEnv = "KEYWARDEN_CONFIG_DIR"
	// LambdaConfigSSMEnv: SSM parameter prefix holding the three files
	// (<prefix>/config.json, /whitelist.json, /ticket_owners.json); when set
	// it wins over the bundled folder.
	LambdaConfigSSMEnv = "KEYWARDEN_CONFIG_SSM_PREFIX"
	// LambdaAllowPartialEnv: "true" makes a run where some accounts failed
	// succeed (no Lambda error, no retry).
	LambdaAllowPartialEnv = "KEYWARDEN_ALLOW_PARTIAL"
)

// LambdaHandler returns the handler of cmd/keywarden-lambda: an EventBridge
// scheduled event runs `keywarden run` as of the event's time, with the
// configuration bundled or read from SSM Parameter Store. A failed (or,
// unless KEYWARDEN_ALLOW_PARTIAL=true, partial) run returns an error so the
// invocation shows as failed and alarms fire; retries are safe (the journal
// and the delivery state make actions and notices idempotent).
func LambdaHandler(env Env) func(ctx context.Context, ev events.CloudWatchEvent) (*RunSummary, error) {
	return func(ctx context.Context, ev events.CloudWatchEvent) (*RunSummary, error) {
		log := (&globals{env: env, logLevel: "info"}).logger()
		dir := env.Getenv(LambdaConfigDirEnv)
		if dir == "" {
			dir = "/var/task/config"
		}
		if prefix := env.Getenv(LambdaConfigSSMEnv); prefix != "" {
			d, err := configFromSSM(ctx, env, prefix)
			if err != nil {
				return nil, err
			}
			dir = d
		}
		cfg, err := config.Load(dir)
		if err != nil {
			return nil, fmt.Errorf("configuration (%s): %w", dir, err)
		}
		for _, w := range cfg.Warnings {
			log.Warn("configuration: " + w.String())
		}
		if cfg.Store.Type != config.StoreDynamoDB {
			log.Warn(`the issue store is SQLite on the Lambda's ephemeral disk: issues, journal and delivery state are lost between invocations; set "store": {"type": "dynamodb"}`)
		}
		// As of the event's time, so a late invocation evaluates the
		// scheduled moment; never after this machine's now (a clock a
		// little behind EventBridge's), which would not be tracked. A
		// retried event older than the account's last tracked scan is
		// evaluated without changing its issues.
		asOf := ev.Time
		if now := env.Now(); asOf.IsZero() || asOf.After(now) {
			asOf = now
		}
		log.Info("scheduled run", "event_id", ev.ID, "rule", strings.Join(ev.Resources, ","), "as_of", asOf.Format(time.RFC3339))
		// The application layer's run, called directly: the summary is
		// its value, never parsed from output.
		sub := env
		sub.Stdout = io.Discard
		sub.Stdin = strings.NewReader("")
		sub.StdinTTY, sub.StdoutTTY = false, false
		g := newGlobals(sub)
		g.configDir, g.format = dir, string(output.JSON)
		if cfg.Store.Type != config.StoreDynamoDB {
			g.db = filepath.Join(os.TempDir(), "keywarden.db")
		}
		f := newRunFlags()
		f.asOf = asOf.UTC().Format(time.RFC3339)
		sum, _, err := runOnce(ctx, g, f)
		if err != nil {
			return nil, fmt.Errorf("keywarden run: %w", err)
		}
		switch {
		case sum.Result == "failed":
			return sum, fmt.Errorf("keywarden run failed: %s", strings.Join(sum.Failures, "; "))
		case sum.Result == "partial" && env.Getenv(LambdaAllowPartialEnv) != "true":
			return sum, fmt.Errorf("keywarden run partly failed: %s", strings.Join(sum.Failures, "; "))
		}
		return sum, nil
	}
}

// configFromSSM writes the configuration files held in SSM parameters under
// prefix to a private temporary folder. config.json is required; the other
// two are optional.
func configFromSSM(ctx context.Context, env Env, prefix string) (string, error) {
	g := &globals{env: env}
	ac, err := awsConfig(ctx, g, &scanFlags{}, &config.Config{})
	if err != nil {
		return "", err
	}
	c := ssm.NewFromConfig(ac)
	dir, err := os.MkdirTemp("", "keywarden-config-")
	if err != nil {
		return "", err
	}
	prefix = strings.TrimSuffix(prefix, "/")
	for _, f := range []struct {
		name     string
		required bool
	}{{config.ConfigFile, true}, {config.WhitelistFile, false}, {config.TicketOwnersFile, false}} {
		name := prefix + "/" + f.name
		out, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
		var nf *ssmtypes.ParameterNotFound
		switch {
		case errors.As(err, &nf) && !f.required:
			continue
		case err != nil:
			return "", fmt.Errorf("configuration from SSM parameter %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, f.name), []byte(aws.ToString(out.Parameter.Value)), 0o600); err != nil {
			return "", err
		}
	}
	return dir, nil
}
