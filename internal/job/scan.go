package job

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/keywarden/keywarden/internal/accounts"
	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/engine"
	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/issues"
)

// ScanDeps are a scan's collaborators, passed in.
type ScanDeps struct {
	Config *config.Config
	// AWS is the main credentials' configuration and the AWS clients'
	// retries (not called for a credential report file).
	AWS func(context.Context) (aws.Config, accounts.Retry, error)
	// OpenStore opens the issue store; called only when tracking.
	OpenStore func(context.Context) (issues.Store, error)
	Log       *slog.Logger
	// Started, when set, is told how many accounts the scan covers before
	// the first is scanned (a progress bar); Progress after each.
	Started  func(accounts int)
	Progress func(engine.Progress)
	// Output, when set, receives each account's result while the scan goes
	// on, in the accounts' order (streamed formats); the findings are then
	// dropped once given unless ScanOptions.KeepFindings.
	Output func(*engine.AccountResult)
	// Getenv: GOGC in the environment wins over the scan's GC target.
	Getenv func(string) string
}

// AccountNotConfiguredError: an account asked for is not in aws.accounts.
type AccountNotConfiguredError struct{ ID string }

func (e *AccountNotConfiguredError) Error() string {
	return fmt.Sprintf("account %s is not in aws.accounts of config.json", e.ID)
}

// scanGCPercent is the GC target of a scan of several accounts.
const scanGCPercent = 200

// Scan evaluates the enabled checks on every account the options select
// and, when tracking, reconciles the findings with the issue store. The
// result is nil when the scan did not start; once it did, the result is
// returned with the scan's error (an interrupted scan keeps what was done).
func Scan(ctx context.Context, d ScanDeps, o ScanOptions) (*ScanResult, error) {
	cfg, log := d.Config, d.Log
	rules := cfg.Rules()
	// Only the present is tracked: a future as-of would record findings
	// (and resolutions) that have not happened.
	future := o.Track && !o.Now.IsZero() && o.AsOf.After(o.Now)
	if future {
		o.Track = false
	}
	// In-flight calls per account: the option, else aws.account_concurrency,
	// else the inventory's default.
	if o.AccountConcurrency <= 0 {
		o.AccountConcurrency = cfg.AWS.AccountConcurrency
	}
	if o.AccountConcurrency <= 0 {
		o.AccountConcurrency = inventory.DefaultAccountConcurrency
	}
	filter := accounts.Filter{Include: cfg.AWS.Organization.Include, Exclude: cfg.AWS.Organization.Exclude}
	if len(o.Include) > 0 {
		filter.Include = o.Include
	}
	filter.Exclude = append(append([]string{}, filter.Exclude...), o.Exclude...)
	if err := filter.Validate(); err != nil {
		return nil, fmt.Errorf("--include/--exclude: %w", err)
	}
	eng := &engine.Engine{Rules: rules, Exemptions: cfg.Exemptions(), Log: log,
		Concurrency: o.Concurrency, AccountTimeout: o.AccountTimeout}
	var accts []inventory.Account
	var discovered *accounts.Discovered
	switch {
	case o.ReportFile != "":
		if o.Org {
			return nil, fmt.Errorf("--org needs AWS access: drop --credential-report")
		}
		eng.Source = &inventory.FileSource{Path: o.ReportFile}
		accts = []inventory.Account{{}}
	default:
		ac, retry, err := d.AWS(ctx)
		if err != nil {
			return nil, err
		}
		sess := &accounts.Sessions{Main: ac, RoleName: cfg.AWS.ScanRole(), ExternalID: cfg.AWS.ExternalID, Retry: retry}
		accts, discovered, err = scanAccounts(ctx, sess, cfg, filter, o.Org || cfg.AWS.Organization.Discover)
		if err != nil {
			return nil, err
		}
		for _, inactive := range InactiveOf(discovered) {
			log.Info("organization account skipped", "account", inactive)
		}
		switch o.Source {
		case "report", "":
			src := &inventory.ReportSource{Clients: sess.IAM, Screen: engine.Screen(rules, o.AsOf), LastUse: engine.ScreenLastUse(rules, o.AsOf),
				PollInterval: o.PollInterval, PollTimeout: o.ReportTimeout, Concurrency: o.AccountConcurrency}
			if o.Track {
				// Key IDs of tracked keys come from the store; the
				// remediation re-reads every key live before acting.
				src.KnownKeys = eng.KnownKeys
			}
			eng.Source = src
		case "live":
			eng.Source = &inventory.LiveSource{Clients: sess.IAM, Concurrency: o.AccountConcurrency}
		default:
			return nil, fmt.Errorf("source %q: use report or live", o.Source)
		}
	}
	if len(o.Accounts) > 0 {
		var err error
		if accts, err = selectAccounts(accts, o.Accounts); err != nil {
			return nil, err
		}
	}
	if o.Track {
		st, err := d.OpenStore(ctx)
		if err != nil {
			return nil, err
		}
		defer st.Close()
		eng.Store = st
		if err := AddExemptions(ctx, st, cfg, &eng.Exemptions); err != nil {
			return nil, err
		}
	}
	if d.Started != nil {
		d.Started(len(accts))
	}
	eng.Progress = d.Progress
	eng.Ages = o.Ages
	if d.Output != nil {
		eng.Output = d.Output
		eng.DropFindings = !o.KeepFindings
	}
	if d.Getenv != nil && d.Getenv("GOGC") == "" && len(accts) > 1 {
		// An organization scan allocates ~12 KiB per AWS call in the SDK
		// while its live heap stays small (facts of the accounts in
		// flight, findings streamed out): at the default GOGC=100 the
		// collector runs every few MiB and takes ~10% of the CPU. Half as
		// many cycles for a somewhat larger heap; GOGC in the environment
		// wins.
		defer debug.SetGCPercent(debug.SetGCPercent(scanGCPercent))
	}
	res, err := eng.Scan(ctx, accts, o.AsOf)
	if err != nil {
		return &ScanResult{Result: res, Tracked: o.Track, FutureAsOf: future, Discovered: discovered}, err
	}
	for i := range res.Accounts {
		if res.Accounts[i].Account.Name == "" {
			res.Accounts[i].Account.Name = cfg.AccountName(res.Accounts[i].Account.ID)
		}
	}
	return &ScanResult{Result: res, Tracked: o.Track, FutureAsOf: future, Discovered: discovered}, nil
}

// selectAccounts keeps the accounts asked for (--account), which must be
// configured.
func selectAccounts(all []inventory.Account, want []string) ([]inventory.Account, error) {
	var out []inventory.Account
	for _, id := range want {
		found := false
		for _, a := range all {
			if a.ID == id || (a.ID == "" && len(all) == 1) {
				out = append(out, inventory.Account{ID: id, Name: a.Name})
				found = true
				break
			}
		}
		if !found {
			return nil, &AccountNotConfiguredError{ID: id}
		}
	}
	return out, nil
}
