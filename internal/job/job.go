// Package job is keywarden's application layer: one unattended run is
// scan -> report -> remediate, in that order, over typed options and typed
// results. keywarden run, serve and the Lambda call Run; none of them
// rebuilds a command from argv. The steps themselves, their prompts,
// progress, logger and clock are passed in.
package job

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/keywarden/keywarden/internal/accounts"
	"github.com/keywarden/keywarden/internal/engine"
	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/output"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
)

// Schema is the JSON schema of RunSummary.
const Schema = "keywarden.run/v1"

// ScanOptions is what a run asks of its scan.
type ScanOptions struct {
	AsOf time.Time
	// Now is the present: an AsOf after it is never tracked (zero: no
	// such check).
	Now time.Time
	// Track: reconcile the findings with the issue store (false: a dry run).
	Track bool
	// KeepFindings: keep every account's findings in the result (the
	// summary counts them) even when they are streamed out.
	KeepFindings    bool
	Profile, Region string
	// Source: report (default) or live; ReportFile: a credential report
	// CSV instead of AWS.
	Source, ReportFile string
	// Accounts: only these configured accounts. Org: discover the accounts
	// with AWS Organizations; Include replaces and Exclude adds to
	// aws.organization's filters.
	Accounts         []string
	Org              bool
	Include, Exclude []string
	// Concurrency: accounts at once; AccountConcurrency: IAM calls in
	// flight per account (0: aws.account_concurrency, else the default);
	// AccountTimeout bounds one account (0: none).
	Concurrency, AccountConcurrency int
	AccountTimeout                  time.Duration
	// PollInterval and ReportTimeout of credential report generation.
	PollInterval, ReportTimeout time.Duration
	// Ages: count every credential's age (the HTML report's chart).
	Ages bool
}

// ScanResult is what a scan did. Result is nil when nothing was scanned.
type ScanResult struct {
	Result  *engine.Result
	Tracked bool
	// FutureAsOf: tracking was asked for, but the as-of is after now, so
	// nothing was written.
	FutureAsOf bool
	// Discovered: the organization's accounts, when discovered.
	Discovered *accounts.Discovered
}

// ReportOptions is what a run asks of its report.
type ReportOptions struct {
	AsOf    time.Time
	DryRun  bool
	Profile string
}

// ReportResult is what a report did.
type ReportResult struct {
	Notices []notify.Result
	// SetupErrs: channels that could not be set up.
	SetupErrs []error
}

// RemediateOptions is what is asked of a remediation: acting on the
// present unless DryRun (then, with PlanAsOf, planned as of AsOf). A run's
// remediation is automatic (no prompt).
type RemediateOptions struct {
	AsOf time.Time
	// PlanAsOf: the plan is as of AsOf, not the issues' stored stage (a
	// dry run's --as-of).
	PlanAsOf        bool
	DryRun          bool
	Profile, Region string
	// AfterDryReport: this run's report was a dry run.
	AfterDryReport bool
	// Kinds named explicitly (their remediation is on for this call),
	// Accounts and IssueIDs: only these (none: all).
	Kinds    []policy.Kind
	Accounts []string
	IssueIDs []int64
}

// RemediateResult is what a remediation did.
type RemediateResult struct {
	// Outcomes: the journal's reconciled actions first, then the plan's
	// skips, then one per item handled.
	Outcomes   []remediate.Outcome
	Reconciled int
	Plan       *remediate.Plan
}

// Steps are the three steps of a run. A step returns its result, if it got
// that far, and the error that stopped or failed it; a nil result with an
// error means the step did nothing.
type Steps struct {
	Scan      func(context.Context, ScanOptions) (*ScanResult, error)
	Report    func(context.Context, ReportOptions) (*ReportResult, error)
	Remediate func(context.Context, RemediateOptions) (*RemediateResult, error)
}

// RunOptions is one run.
type RunOptions struct {
	AsOf            time.Time
	DryRun          bool
	Profile, Region string
	// Reporting and Remediation: some enabled kind reports / remediates.
	Reporting, Remediation bool
	ShowKeyIDs             bool
	// Lock takes the run lock (nil: none); a run that finds it held
	// (issues.ErrLocked) is skipped. A dry run takes no lock.
	Lock func(context.Context) (release func(), err error)
	Now  func() time.Time
	Log  *slog.Logger
}

// Results are the steps' typed results (nil: the step did not run or did
// nothing).
type Results struct {
	Scan      *ScanResult
	Report    *ReportResult
	Remediate *RemediateResult
}

// RunSummary is the outcome of keywarden run (JSON schema keywarden.run/v1).
type RunSummary struct {
	Schema   string    `json:"schema"`
	Started  time.Time `json:"started"`
	Duration string    `json:"duration"`
	AsOf     time.Time `json:"as_of"`
	DryRun   bool      `json:"dry_run,omitempty"`
	// Result: ok, partial (some accounts or steps failed, others done),
	// failed or skipped (another run holds the lock).
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
	Notices     map[string]NoticeCounts `json:"notifications"`
	Remediation map[string]int          `json:"remediation"`
	Failures    []string                `json:"failures,omitempty"`
	Steps       []string                `json:"steps"`
}

// NoticeCounts are one channel's notices of a run.
type NoticeCounts struct {
	Sent      int `json:"sent"`
	Failed    int `json:"failed"`
	Cancelled int `json:"cancelled"`
}

// Run runs scan, report (when some kind reports) and remediate (when some
// kind remediates) and summarises them from their typed results. One
// account's or step's failure does not stop the others; it is in the
// summary. The error is one that stopped the run before it started.
func Run(ctx context.Context, steps Steps, o RunOptions) (*RunSummary, *Results, error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	started := o.Now()
	res := &Results{}
	if !o.DryRun && o.Lock != nil {
		release, err := o.Lock(ctx)
		if errors.Is(err, issues.ErrLocked) {
			log.Warn("another keywarden run holds the lock: skipping this run", "err", err)
			return &RunSummary{Schema: Schema, Started: started, AsOf: o.AsOf, Result: "skipped",
				Failures: []string{"lock: " + err.Error()}, Duration: "0s"}, res, nil
		}
		if err != nil {
			return nil, nil, err
		}
		defer release()
	}
	mask := output.Options{ShowKeyIDs: o.ShowKeyIDs}.Text
	sum := &RunSummary{Schema: Schema, Started: started, AsOf: o.AsOf, DryRun: o.DryRun,
		Findings: map[policy.Kind]map[string]int{}, Remediation: map[string]int{}, Notices: map[string]NoticeCounts{}}
	stepErr := func(step string, err error) {
		if err == nil {
			return
		}
		sum.Failures = append(sum.Failures, mask(step+": "+err.Error()))
		log.Error("run step failed", "step", step, "err", err.Error())
	}
	done := func() {
		sum.Duration = o.Now().Sub(started).Round(time.Millisecond).String()
	}

	// 1. scan
	sum.Steps = append(sum.Steps, "scan")
	sr, err := steps.Scan(ctx, ScanOptions{AsOf: o.AsOf, Track: !o.DryRun, KeepFindings: true, Profile: o.Profile, Region: o.Region})
	res.Scan = sr
	if sr != nil && sr.Result != nil {
		// Failed accounts are listed one by one; the scan's own aggregate
		// error says nothing more.
		for _, a := range sr.Result.Failed() {
			sum.Failures = append(sum.Failures, mask(fmt.Sprintf("scan: account %s: %v", a.Account.ID, a.Err)))
		}
	}
	stepErr("scan", err)
	if sr == nil || sr.Result == nil {
		sum.Result = "failed"
		done()
		return sum, res, nil
	}
	scannedOK := addScan(sum, sr.Result)

	// 2. report, when some kind reports.
	if o.Reporting {
		sum.Steps = append(sum.Steps, "report")
		rr, err := steps.Report(ctx, ReportOptions{AsOf: o.AsOf, DryRun: o.DryRun, Profile: o.Profile})
		stepErr("report", err)
		res.Report = rr
		if rr != nil {
			for _, r := range rr.Notices {
				sum.Notices[r.Channel] = NoticeCounts{r.Sent, r.Failed, r.Cancel}
			}
		}
	}

	// 3. remediate, when some kind remediates.
	if o.Remediation {
		sum.Steps = append(sum.Steps, "remediate")
		mr, err := steps.Remediate(ctx, RemediateOptions{AsOf: o.AsOf, DryRun: o.DryRun, Profile: o.Profile, Region: o.Region,
			AfterDryReport: o.DryRun && slices.Contains(sum.Steps, "report")})
		stepErr("remediate", err)
		res.Remediate = mr
		if mr != nil {
			for _, oc := range mr.Outcomes {
				sum.Remediation[string(oc.Result)]++
			}
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
	done()
	return sum, res, nil
}

// addScan counts a scan's accounts, users, calls, findings and issue
// changes; it returns the accounts scanned without error.
func addScan(sum *RunSummary, r *engine.Result) (scannedOK int) {
	for _, a := range r.Accounts {
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
	return scannedOK
}
