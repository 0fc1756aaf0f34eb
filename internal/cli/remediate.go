package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/accounts"
	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/job"
	"github.com/keywarden/keywarden/internal/output"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/progress"
	"github.com/keywarden/keywarden/internal/remediate"
)

// actFlags are shared by remediate and rollback.
type actFlags struct {
	dryRun  bool
	yes     bool
	asOf    string
	profile string
	region  string
	// backoff is the first wait when AWS throttles (hidden; tests).
	backoff time.Duration
	// verifyFor is how long a change not yet visible is re-read (hidden;
	// tests). Each AWS call is bounded by the global --call-timeout.
	verifyFor time.Duration
}

// defaults sets remediate's and rollback's defaults, for the command line
// and for run.
func (f *actFlags) defaults() {
	f.backoff, f.verifyFor = time.Second, remediate.DefaultVerifyFor
}

func (f *actFlags) register(cmd *cobra.Command) {
	f.defaults()
	fl := cmd.Flags()
	fl.BoolVar(&f.dryRun, "dry-run", false, "print the plan and change nothing (no AWS call is made)")
	fl.BoolVarP(&f.yes, "yes", "y", false, "act without asking (required when stdin is not a terminal)")
	fl.StringVar(&f.profile, "profile", "", "AWS shared config profile (default: the standard credential chain)")
	fl.StringVar(&f.region, "region", "", "AWS region for IAM/STS calls (default: from the profile/environment, else us-east-1)")
	fl.DurationVar(&f.backoff, "retry-backoff", f.backoff, "first wait before retrying a throttled AWS call (doubled each time)")
	_ = fl.MarkHidden("retry-backoff")
	fl.DurationVar(&f.verifyFor, "verify-for", f.verifyFor, "how long to re-read a change IAM does not show yet before journaling it unverified")
	_ = fl.MarkHidden("verify-for")
}

type remediateFlags struct {
	actFlags
	kinds    []string
	accounts []string
	issueIDs []int64
	// afterDryReport: run --dry-run's remediate step, after a report that
	// sent nothing (hidden).
	afterDryReport bool
}

func newRemediateCmd(g *globals) *cobra.Command {
	f := &remediateFlags{}
	cmd := &cobra.Command{
		Use:   "remediate",
		Short: "Deactivate stale access keys and delete unused passwords of open issues, behind guard rails",
		Long: `remediate acts on open issues from the store (run keywarden scan first):
user_inactivekeys and user_keysrotation: UpdateAccessKey Status=Inactive on
the issue's key ID; user_inactivepasswords: DeleteLoginProfile.

An issue is acted on only when remediation is on for its kind ("remediation":
true in config.json, or the kind named with --kind), its account is in
remediation_accounts (default: all), it is a violation, it is not
whitelisted, and remediation_retention_period days have passed since the
violation was reported (delivered on Slack, JIRA or SNS: keywarden report),
as in Hammer. A kind with "reporting": true is never remediated before its
owner was told; with reporting off (or no channel configured, or every
channel switched off for the kind: its "jira": false, "slack": false) the
retention counts from detection, and the plan says so.
keywarden's own access key is never deactivated. An account with more
credentials due than remediation.max_remediations_per_run (default 10) is
left alone entirely.

Right before each action the credential is re-read live (the credential
report can be four hours old); one used since, already inactive or deleted
is not touched and its issue is resolved. After acting, the new state is
verified. Every action is journaled (keywarden journal) with the state before
it, and keys can be re-activated with keywarden rollback.

On a terminal it asks for each credential (yes / no / all / quit);
otherwise --yes is required. --dry-run prints the plan and changes nothing;
with --as-of DATE it prints the plan as of that date (what would be due then).
Acting is always on the present: --as-of without --dry-run is refused.`,
		Example: `  keywarden remediate --dry-run
  keywarden remediate --kind user_inactivekeys --account 123456789012
  keywarden remediate --yes -o json
  keywarden remediate --dry-run --as-of 2027-03-01   # what will be due by 1 March?`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := runRemediate(cmd.Context(), g, f)
			return err
		},
	}
	withFormats(cmd, output.Table, output.JSON)
	f.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.asOf, "as-of", "", "with --dry-run: the plan as of this date (YYYY-MM-DD, UTC) or RFC 3339 time, i.e. what would be due then")
	fl.StringSliceVar(&f.kinds, "kind", nil, "only these kinds; naming a kind turns its remediation on for this run (other guards still apply)")
	fl.StringSliceVar(&f.accounts, "account", nil, "only these account IDs")
	fl.Int64SliceVar(&f.issueIDs, "issue", nil, "only these issue IDs")
	fl.BoolVar(&f.afterDryReport, "after-dry-report", false, "the plan follows a report that was a dry run (keywarden run --dry-run)")
	_ = fl.MarkHidden("after-dry-report")
	return cmd
}

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

func runRemediate(ctx context.Context, g *globals, f *remediateFlags) (mr *job.RemediateResult, err error) {
	var kinds []policy.Kind
	for _, k := range f.kinds {
		if !policy.Kind(k).Valid() {
			return mr, usageError(fmt.Sprintf("--kind %q: use user_inactivekeys, user_keysrotation or user_inactivepasswords", k))
		}
		kinds = append(kinds, policy.Kind(k))
	}
	s, err := openSession(ctx, g, &f.actFlags)
	if err != nil {
		return mr, err
	}
	defer s.Close()
	mr, err = job.Remediate(ctx, job.RemediateDeps{Config: s.cfg, Store: s.store, Exec: s.exec, Getenv: g.env.Getenv, Log: g.logger()},
		job.RemediateOptions{AsOf: s.asOf, PlanAsOf: f.asOf != "", DryRun: f.dryRun, Profile: f.profile, Region: f.region,
			AfterDryReport: f.afterDryReport, Kinds: kinds, Accounts: f.accounts, IssueIDs: f.issueIDs})
	var noIssue *job.NoIssueError
	if errors.As(err, &noIssue) {
		return nil, usageError(fmt.Sprintf("--issue %d: the issue does not exist (see keywarden issues list --status all)", noIssue.ID))
	}
	if mr == nil {
		return nil, err
	}
	outs := mr.Outcomes
	if err != nil && interrupted(ctx) {
		// Execute's outcomes: the plan's skips, then one per item handled.
		err = remediateInterrupted(ctx, s.store, outs[mr.Reconciled+min(len(mr.Plan.Skipped), len(outs)-mr.Reconciled):], len(mr.Plan.Items), "remediate")
	}
	if rerr := renderOutcomes(g.env.Stdout, outs, s.opts); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		return mr, err
	}
	return mr, finish(g.env.Stderr, outs, f.dryRun, "remediate", s.opts)
}

// hidden reports outcomes not worth a line: issues whose kind or account is
// not remediated at all (counted in the summary).
func hidden(o *remediate.Outcome) bool {
	return errors.Is(o.Err, remediate.ErrNotEnabled) && o.Result == remediate.Skipped ||
		errors.Is(o.Err, remediate.ErrAccountExcluded)
}

// finish prints the summary and turns failures into exit code 1.
func finish(w io.Writer, outs []remediate.Outcome, dryRun bool, what string, opts output.Options) error {
	counts := map[remediate.Result]int{}
	var failures []string
	overCap := map[string]bool{}
	off := 0
	for i := range outs {
		o := &outs[i]
		counts[o.Result]++
		if hidden(o) {
			off++
		}
		if errors.Is(o.Err, remediate.ErrOverCap) {
			if !overCap[o.Item.AccountID] {
				failures = append(failures, "  "+opts.Text(o.Detail))
			}
			overCap[o.Item.AccountID] = true
			continue
		}
		if o.Failure() {
			failures = append(failures, "  "+opts.Text(o.Item.AccountID+" "+o.Item.Credential()+": "+o.Detail))
		}
	}
	var parts []string
	for _, r := range []remediate.Result{remediate.Remediated, remediate.Unverified, remediate.WouldRemediate, remediate.RolledBack, remediate.WouldRollBack,
		remediate.Reconciled, remediate.Resolved, remediate.Updated, remediate.Skipped, remediate.Failed, remediate.CannotRestore} {
		if counts[r] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[r], r))
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "nothing to do")
	}
	line := what + ": " + strings.Join(parts, ", ")
	if off > 0 {
		line += fmt.Sprintf(" (%d of them: remediation off for the kind or account)", off)
	}
	if dryRun {
		line += "; dry run: nothing was changed"
	}
	fmt.Fprintln(w, line)
	if len(failures) > 0 {
		return &ExitError{Code: ExitError1, Msg: fmt.Sprintf("keywarden: %s: %d problem(s):\n%s", what, len(failures), strings.Join(failures, "\n"))}
	}
	return nil
}

// reasonCode names an outcome's sentinel for machines.
func reasonCode(err error) string {
	for _, c := range []struct {
		err  error
		code string
	}{
		{remediate.ErrHeld, "rolled_back"}, {remediate.ErrOverCap, "over_cap"}, {remediate.ErrOwnKey, "own_key"}, {remediate.ErrNotEnabled, "not_enabled"},
		{remediate.ErrAccountExcluded, "account_excluded"}, {remediate.ErrNotDue, "not_due"}, {remediate.ErrNotReported, "not_reported"},
		{remediate.ErrNotViolation, "not_violation"}, {remediate.ErrWhitelisted, "whitelisted"},
		{remediate.ErrNoKeyID, "no_key_id"}, {remediate.ErrPending, "pending"}, {remediate.ErrDeclined, "declined"},
		{remediate.ErrNoLongerQualifies, "no_longer_qualifies"}, {remediate.ErrVerifyFailed, "verify_failed"},
		{remediate.ErrCannotRestore, "cannot_restore"}, {remediate.ErrNotRollbackable, "not_rollbackable"},
		{remediate.ErrInDoubt, "in_doubt"}, {remediate.ErrNoAnswer, "no_answer"},
	} {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	if err != nil {
		return "error"
	}
	return ""
}

type outcomeJSON struct {
	Result   string        `json:"result"`
	Reason   string        `json:"reason,omitempty"`
	Account  string        `json:"account"`
	User     string        `json:"user"`
	KeyID    string        `json:"key_id,omitempty"`
	Op       string        `json:"op"`
	Issues   []int64       `json:"issues"`
	Kinds    []policy.Kind `json:"kinds"`
	Due      string        `json:"due,omitempty"`
	ActionID int64         `json:"action_id,omitempty"`
	Detail   string        `json:"detail"`
}

func renderOutcomes(w io.Writer, outs []remediate.Outcome, o output.Options) error {
	var shown []remediate.Outcome
	for i := range outs {
		if !hidden(&outs[i]) {
			shown = append(shown, outs[i])
		}
	}
	if o.Format != output.Table {
		enc := json.NewEncoder(w)
		for _, x := range shown {
			r := outcomeJSON{Result: string(x.Result), Reason: reasonCode(x.Err), Account: x.Item.AccountID, User: x.Item.UserName,
				Op: string(x.Item.Op), Issues: x.Item.IssueIDs(), Kinds: x.Item.Kinds(), ActionID: x.ActionID, Detail: o.Text(x.Detail)}
			if x.Item.KeyID != "" {
				r.KeyID = keyText(x.Item.KeyID, o)
			}
			if !x.Item.Due.IsZero() {
				r.Due = x.Item.Due.UTC().Format(time.RFC3339)
			}
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	if len(shown) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RESULT\tACCOUNT\tUSER\tCREDENTIAL\tISSUES\tACTION\tDETAIL")
	for _, x := range shown {
		act := ""
		if x.ActionID != 0 {
			act = strconv.FormatInt(x.ActionID, 10)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", x.Result, x.Item.AccountID, x.Item.UserName,
			credText(x.Item.Op, x.Item.KeyID, o), idList(x.Item.IssueIDs()), act, o.Text(x.Detail))
	}
	return tw.Flush()
}

func keyText(id string, o output.Options) string {
	if o.ShowKeyIDs || strings.Contains(id, "/") {
		return id
	}
	return output.MaskKeyID(id)
}

func credText(op remediate.Op, keyID string, o output.Options) string {
	if keyID == "" || op == remediate.OpDeleteLoginProfile {
		return "password"
	}
	return keyText(keyID, o)
}

func idList(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(s, ",")
}

// prompter asks on w and reads answers from r, one line each: y(es), n(o),
// a(ll), q(uit). End of input means quit. While it waits, w (a terminal)
// holds every other write: no log record is printed into the prompt. An
// interrupt (ctx) ends the wait with ctx's error.
func prompter(ctx context.Context, r io.Reader, w io.Writer, o output.Options) remediate.Confirm {
	in := bufio.NewReader(r)
	type answer struct {
		line string
		err  error
	}
	// pending is the line being read: the read goes on in its goroutine
	// when an interrupt ends the wait.
	var pending chan answer
	read := func() (string, error) {
		if pending == nil {
			pending = make(chan answer, 1)
			go func(ch chan<- answer) {
				line, err := in.ReadString('\n')
				ch <- answer{line, err}
			}(pending)
		}
		select {
		case a := <-pending:
			pending = nil
			return a.line, a.err
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	n := 0
	return func(it *remediate.Item) (remediate.Decision, error) {
		n++
		w, done := progress.Prompt(w)
		defer done()
		verb := map[remediate.Op]string{
			remediate.OpDeactivateKey:      "deactivate access key",
			remediate.OpDeleteLoginProfile: "delete the console password (login profile)",
			remediate.OpReactivateKey:      "re-activate access key",
		}[it.Op]
		cred := ""
		if it.Op != remediate.OpDeleteLoginProfile {
			cred = " " + keyText(it.KeyID, o)
		}
		fmt.Fprintf(w, "[%d] %s%s of %s in account %s\n", n, verb, cred, it.UserName, it.AccountID)
		if why := it.Why(); it.Op != remediate.OpReactivateKey && why != "" {
			fmt.Fprintf(w, "    %s\n", o.Text(why))
		}
		for {
			fmt.Fprint(w, "    proceed? [y]es / [n]o / [a]ll / [q]uit: ")
			line, err := read()
			if ctx.Err() != nil {
				fmt.Fprintln(w)
				return remediate.Quit, ctx.Err()
			}
			ans := strings.ToLower(strings.TrimSpace(line))
			switch ans {
			case "y", "yes":
				return remediate.Yes, nil
			case "n", "no":
				return remediate.No, nil
			case "a", "all":
				return remediate.All, nil
			case "q", "quit":
				return remediate.Quit, nil
			}
			if err != nil {
				fmt.Fprintln(w)
				return remediate.Quit, nil
			}
			fmt.Fprintf(w, "    %q: answer y, n, a or q\n", ans)
		}
	}
}
