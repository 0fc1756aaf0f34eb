package cli

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/engine"
	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/output"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
)

// runCollector gathers what each step of keywarden run did. Its methods are
// no-ops on a nil collector, so the steps call them unconditionally.
type runCollector struct {
	mu        sync.Mutex
	scan      *engine.Result
	tracked   bool
	notices   []notify.Result
	setupErrs []error
	outcomes  []remediate.Outcome
}

func (c *runCollector) scanned(res *engine.Result, tracked bool) {
	if c != nil {
		c.mu.Lock()
		c.scan, c.tracked = res, tracked
		c.mu.Unlock()
	}
}

func (c *runCollector) reported(rs []notify.Result, setupErrs []error) {
	if c != nil {
		c.mu.Lock()
		c.notices, c.setupErrs = rs, setupErrs
		c.mu.Unlock()
	}
}

func (c *runCollector) remediated(outs []remediate.Outcome) {
	if c != nil {
		c.mu.Lock()
		c.outcomes = outs
		c.mu.Unlock()
	}
}

// RunSummary is the outcome of keywarden run (JSON schema version 1).
type RunSummary struct {
	Schema   string    `json:"schema"`
	Started  time.Time `json:"started"`
	Duration string    `json:"duration"`
	AsOf     time.Time `json:"as_of"`
	DryRun   bool      `json:"dry_run,omitempty"`
	// Result: ok, partial (some accounts or steps failed, others done) or failed.
	Result   string                         `json:"result"`
	Accounts int                            `json:"accounts"`
	Users    int                            `json:"users"`
	APICalls int                            `json:"api_calls"`
	Findings map[policy.Kind]map[string]int `json:"findings"`
	Issues   struct {
		New      int `json:"new"`
		Updated  int `json:"updated"`
		Resolved int `json:"resolved"`
	} `json:"issues"`
	Notices     map[string]noticeCounts `json:"notifications"`
	Remediation map[string]int          `json:"remediation"`
	Failures    []string                `json:"failures,omitempty"`
	Steps       []string                `json:"steps"`
}

type noticeCounts struct {
	Sent      int `json:"sent"`
	Failed    int `json:"failed"`
	Cancelled int `json:"cancelled"`
}

type runFlags struct {
	asOf         string
	dryRun       bool
	details      bool
	allowPartial bool
	profile      string
	region       string
	lockTTL      time.Duration
}

func newRunCmd(g *globals) *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "One unattended run: scan every account, report, remediate (as configured)",
		Long: `run is what the scheduler, the daemon (serve) and the Lambda execute:

  1. scan      every configured (or discovered) account; issues are tracked
  2. report    notices of the kinds with "reporting": true (Slack, JIRA, SNS)
  3. remediate the kinds with "remediation": true, automatically (no prompt),
               behind every guard rail of keywarden remediate; a kind that
               reports is remediated only once its violation was reported
               (this run's report counts) and its retention has passed

It prints a run summary (table, or JSON with -o json). One account's failure
does not stop the others or the later steps; the exit code is 1 when any
account or step failed (--allow-partial: only when nothing was scanned).
--dry-run tracks nothing, sends nothing and changes nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sum, _, err := runOnce(cmd.Context(), g, f)
			if err != nil {
				return err
			}
			if werr := writeRunSummary(g, sum); werr != nil {
				return werr
			}
			if sum.Result == "skipped" {
				fmt.Fprintln(g.env.Stderr, "keywarden run: skipped: another run holds the lock")
				return nil
			}
			if sum.Result == "failed" || (sum.Result == "partial" && !f.allowPartial) {
				return &ExitError{Code: ExitError1, Msg: "keywarden run: " + strings.Join(sum.Failures, "; ")}
			}
			return nil
		},
	}
	withFormats(cmd, output.Table, output.JSON)
	fl := cmd.Flags()
	fl.StringVar(&f.asOf, "as-of", "", "evaluate as of this date (YYYY-MM-DD, UTC) or RFC 3339 time (default now)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "track nothing, send nothing, change nothing; show what would be done")
	fl.BoolVar(&f.details, "details", false, "also print each step's own output (findings, notices, remediation table)")
	fl.BoolVar(&f.allowPartial, "allow-partial", false, "exit 0 when some accounts or steps failed but others succeeded")
	fl.StringVar(&f.profile, "profile", "", "AWS shared config profile (default: the standard credential chain)")
	fl.StringVar(&f.region, "region", "", "AWS region for IAM/STS calls")
	fl.DurationVar(&f.lockTTL, "lock-ttl", 2*time.Hour, "lease of the run lock in the store: a crashed run blocks others this long at most; must exceed the longest run")
	return cmd
}

// runOnce runs the three steps and summarises them. Errors returned are
// those that stop the run before it starts (bad flags, bad config); step
// failures are in the summary.
func runOnce(ctx context.Context, g *globals, f *runFlags) (*RunSummary, *runCollector, error) {
	started := g.env.Now()
	asOf, err := parseAsOf(f.asOf, g.env.Now)
	if err != nil {
		return nil, nil, err
	}
	if _, err := g.outputOptions(asOf); err != nil {
		return nil, nil, err
	}
	cfg, err := loadConfig(g)
	if err != nil {
		return nil, nil, err
	}
	// One run at a time per store: two daemons sharing DynamoDB, or cron and
	// a daemon sharing a SQLite file, never act at once. A dry run changes
	// nothing and takes no lock.
	if !f.dryRun {
		release, err := lockRun(ctx, g, cfg, f.lockTTL)
		if errors.Is(err, issues.ErrLocked) {
			g.logger().Warn("another keywarden run holds the lock: skipping this run", "err", err)
			sum := &RunSummary{Schema: "keywarden.run/v1", Started: started, AsOf: asOf, Result: "skipped",
				Failures: []string{"lock: " + err.Error()}, Duration: "0s"}
			return sum, &runCollector{}, nil
		}
		if err != nil {
			return nil, nil, err
		}
		defer release()
	}
	// The steps run as the commands do, with the run's clock and options;
	// their own output is shown only with --details.
	sub := *g
	sub.collect = &runCollector{}
	sub.cfg = cfg
	sub.outFile, sub.tmpOut = "", nil
	if !f.details {
		sub.env.Stdout = io.Discard
	}
	if sub.format == "" || sub.format == string(output.HTML) {
		sub.format = string(output.Table)
	}
	asOfArg := asOf.Format(time.RFC3339)
	sum := &RunSummary{Schema: "keywarden.run/v1", Started: started, AsOf: asOf, DryRun: f.dryRun,
		Findings: map[policy.Kind]map[string]int{}, Remediation: map[string]int{}}
	sum.Notices = map[string]noticeCounts{}
	stepErr := func(step string, err error) {
		if err == nil {
			return
		}
		var ee *ExitError
		if errors.As(err, &ee) && ee.Code == ExitFindings {
			return
		}
		msg := strings.TrimSpace(err.Error())
		if errors.As(err, &ee) && ee.Msg != "" {
			msg = strings.TrimSpace(strings.TrimPrefix(ee.Msg, "keywarden: "))
		}
		sum.Failures = append(sum.Failures, output.Options{ShowKeyIDs: g.showKeyIDs}.Text(step+": "+msg))
		g.logger().Error("run step failed", "step", step, "err", msg)
	}

	// 1. scan
	common := []string{"--as-of", asOfArg}
	aws := []string{}
	if f.profile != "" {
		aws = append(aws, "--profile", f.profile)
	}
	if f.region != "" {
		aws = append(aws, "--region", f.region)
	}
	scanArgs := append(append([]string{}, common...), aws...)
	if f.dryRun {
		scanArgs = append(scanArgs, "--no-track")
	}
	sum.Steps = append(sum.Steps, "scan")
	scanErr := runStep(ctx, newScanCmd(&sub), scanArgs)
	c := sub.collect
	if c.scan != nil {
		// Failed accounts are listed one by one; the scan's own aggregate
		// error says nothing more.
		for _, a := range c.scan.Failed() {
			sum.Failures = append(sum.Failures, output.Options{ShowKeyIDs: g.showKeyIDs}.Text(fmt.Sprintf("scan: account %s: %v", a.Account.ID, a.Err)))
		}
		var ee *ExitError
		if errors.As(scanErr, &ee) && ee.Code == ExitError1 && len(c.scan.Failed()) > 0 {
			scanErr = nil
		}
	}
	stepErr("scan", scanErr)
	if c.scan == nil {
		sum.Result = "failed"
		sum.Duration = g.env.Now().Sub(started).Round(time.Millisecond).String()
		return sum, c, nil
	}
	scannedOK := 0
	for _, a := range c.scan.Accounts {
		sum.Accounts++
		sum.Users += a.Users
		sum.APICalls += a.CallCount()
		if a.Err == nil {
			scannedOK++
		}
		for _, fd := range a.Findings {
			if sum.Findings[fd.Kind] == nil {
				sum.Findings[fd.Kind] = map[string]int{}
			}
			sum.Findings[fd.Kind][output.Status(fd)]++
		}
		if a.Changes != nil {
			sum.Issues.New += len(a.Changes.New)
			sum.Issues.Updated += len(a.Changes.Updated)
			sum.Issues.Resolved += len(a.Changes.Closed)
		}
	}

	// 2. report, when some kind reports.
	if anyKind(cfg, func(k *config.Kind) bool { return k.Reporting }) {
		sum.Steps = append(sum.Steps, "report")
		args := append([]string{}, common...)
		if f.profile != "" {
			args = append(args, "--profile", f.profile)
		}
		if f.dryRun {
			args = append(args, "--dry-run")
		}
		stepErr("report", runStep(ctx, newReportCmd(&sub), args))
		for _, r := range c.notices {
			sum.Notices[r.Channel] = noticeCounts{r.Sent, r.Failed, r.Cancel}
		}
	}

	// 3. remediate, when some kind remediates.
	if anyKind(cfg, func(k *config.Kind) bool { return k.Remediation }) {
		sum.Steps = append(sum.Steps, "remediate")
		// Remediation acts on the present: the run's as-of goes to a dry
		// run's plan only (remediate refuses --as-of otherwise).
		args := append(append([]string{}, aws...), "--yes")
		if f.dryRun {
			args = append(append(args, "--dry-run"), common...)
			if slices.Contains(sum.Steps, "report") {
				args = append(args, "--after-dry-report")
			}
		}
		stepErr("remediate", runStep(ctx, newRemediateCmd(&sub), args))
		for _, o := range c.outcomes {
			sum.Remediation[string(o.Result)]++
		}
	}

	switch {
	case scannedOK == 0 && sum.Accounts > 0:
		sum.Result = "failed"
	case len(sum.Failures) > 0:
		sum.Result = "partial"
	default:
		sum.Result = "ok"
	}
	sum.Duration = g.env.Now().Sub(started).Round(time.Millisecond).String()
	return sum, c, nil
}

// RunLockName is the store lock every run takes.
const RunLockName = "keywarden-run"

// lockRun takes the run lock in the configured store; release frees it and
// closes the store.
func lockRun(ctx context.Context, g *globals, cfg *config.Config, ttl time.Duration) (func(), error) {
	st, err := openIssueStore(ctx, g, cfg)
	if err != nil {
		return nil, err
	}
	lk, ok := st.(issues.Locker)
	if !ok {
		st.Close()
		return nil, fmt.Errorf("the %s store cannot hold the run lock", cfg.Store.Type)
	}
	host, _ := os.Hostname()
	// Unique per run, even for two runs of one process in the same instant.
	owner := fmt.Sprintf("%s/%d/%s", host, os.Getpid(), rand.Text())
	if ttl <= 0 {
		ttl = 2 * time.Hour
	}
	rel, err := lk.Lock(ctx, RunLockName, owner, ttl)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("run lock: %w", err)
	}
	return func() {
		if err := rel(context.WithoutCancel(ctx)); err != nil {
			g.logger().Error("releasing the run lock failed; it expires by itself", "err", err)
		}
		st.Close()
	}, nil
}

// anyKind reports whether an enabled kind satisfies pred.
func anyKind(cfg *config.Config, pred func(*config.Kind) bool) bool {
	for _, k := range cfg.Kinds {
		if k.Enabled && pred(k) {
			return true
		}
	}
	return false
}

// runStep runs one of keywarden's commands with args, as the command line
// would, so run and the commands never disagree about defaults.
func runStep(ctx context.Context, cmd *cobra.Command, args []string) error {
	cmd.SetContext(ctx)
	if err := cmd.ParseFlags(args); err != nil {
		return err
	}
	return cmd.RunE(cmd, cmd.Flags().Args())
}

func writeRunSummary(g *globals, sum *RunSummary) error {
	opts, err := g.outputOptions(sum.AsOf)
	if err != nil {
		return err
	}
	w := g.env.Stdout
	if opts.Format == output.JSON {
		return json.NewEncoder(w).Encode(sum)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "run\t%s in %s (as of %s)%s\n", sum.Result, sum.Duration, sum.AsOf.Format(time.RFC3339), map[bool]string{true: ", dry run", false: ""}[sum.DryRun])
	fmt.Fprintf(tw, "steps\t%s\n", strings.Join(sum.Steps, ", "))
	fmt.Fprintf(tw, "accounts\t%d (%s, %d AWS API calls)\n", sum.Accounts, output.Count(sum.Users, "user"), sum.APICalls)
	for _, k := range policy.Kinds {
		if m := sum.Findings[k]; m != nil {
			fmt.Fprintf(tw, "%s\t%s, %s, %d whitelisted\n", k, output.Count(m["violation"], "violation"), output.Count(m["warning"], "warning"), m["whitelisted"])
		}
	}
	fmt.Fprintf(tw, "issues\t%d new, %d updated, %d resolved\n", sum.Issues.New, sum.Issues.Updated, sum.Issues.Resolved)
	var chans []string
	for ch := range sum.Notices {
		chans = append(chans, ch)
	}
	sort.Strings(chans)
	for _, ch := range chans {
		n := sum.Notices[ch]
		fmt.Fprintf(tw, "notify %s\t%d sent, %d failed, %d cancelled\n", ch, n.Sent, n.Failed, n.Cancelled)
	}
	if len(sum.Remediation) > 0 {
		var parts []string
		for r, n := range sum.Remediation {
			parts = append(parts, fmt.Sprintf("%d %s", n, r))
		}
		sort.Strings(parts)
		fmt.Fprintf(tw, "remediation\t%s\n", strings.Join(parts, ", "))
	}
	for _, f := range sum.Failures {
		fmt.Fprintf(tw, "FAILED\t%s\n", f)
	}
	return tw.Flush()
}
