package job

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/engine"
	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// clock advances one second each time it is read.
func clock() func() time.Time {
	n := 0
	return func() time.Time { n++; return t0.Add(time.Duration(n) * time.Second) }
}

// fakes are steps that record what they were asked and answer typed
// results: no CLI, no AWS, no store.
type fakes struct {
	calls   []string
	scan    ScanOptions
	report  ReportOptions
	remed   RemediateOptions
	scanRes *ScanResult
	scanErr error
	repErr  error
}

func (f *fakes) steps() Steps {
	return Steps{
		Scan: func(_ context.Context, o ScanOptions) (*ScanResult, error) {
			f.calls, f.scan = append(f.calls, "scan"), o
			return f.scanRes, f.scanErr
		},
		Report: func(_ context.Context, o ReportOptions) (*ReportResult, error) {
			f.calls, f.report = append(f.calls, "report"), o
			return &ReportResult{Notices: []notify.Result{{Channel: "slack", Sent: 2, Failed: 1}}}, f.repErr
		},
		Remediate: func(_ context.Context, o RemediateOptions) (*RemediateResult, error) {
			f.calls, f.remed = append(f.calls, "remediate"), o
			return &RemediateResult{Outcomes: []remediate.Outcome{{Result: remediate.Remediated}, {Result: remediate.Skipped}, {Result: remediate.Remediated}}}, nil
		},
	}
}

func scanned() *ScanResult {
	return &ScanResult{Tracked: true, Result: &engine.Result{AsOf: t0, Accounts: []engine.AccountResult{
		{Account: inventory.Account{ID: "111111111111"}, Users: 3, Calls: map[string]int{"ListUsers": 2, "GetCredentialReport": 1},
			Findings: []policy.Finding{{Kind: policy.InactiveKeys, Stage: policy.Violation}, {Kind: policy.InactiveKeys, Stage: policy.Warning}},
			Changes:  &issues.Changes{New: make([]issues.Issue, 2), Closed: make([]issues.Change, 1)}},
		{Account: inventory.Account{ID: "222222222222"}, Err: errors.New("AccessDenied")},
	}}}
}

func TestRunOrdersStepsAndSummarisesTypedResults(t *testing.T) {
	f := &fakes{scanRes: scanned(), repErr: errors.New("1 notice(s) failed")}
	locked, released := false, false
	sum, res, err := Run(context.Background(), f.steps(), RunOptions{AsOf: t0, Reporting: true, Remediation: true, Profile: "audit", Region: "eu-west-1",
		Lock: func(context.Context) (func(), error) { locked = true; return func() { released = true }, nil },
		Now:  clock()})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.calls, []string{"scan", "report", "remediate"}) || !locked || !released {
		t.Fatalf("calls %v, locked %v, released %v", f.calls, locked, released)
	}
	if want := (ScanOptions{AsOf: t0, Track: true, KeepFindings: true, Profile: "audit", Region: "eu-west-1"}); !reflect.DeepEqual(f.scan, want) {
		t.Errorf("scan options %+v, want %+v", f.scan, want)
	}
	if f.remed.AfterDryReport || f.remed.DryRun || f.report.DryRun {
		t.Errorf("a real run: %+v %+v", f.report, f.remed)
	}
	if res.Scan != f.scanRes || res.Report == nil || res.Remediate == nil {
		t.Errorf("results %+v", res)
	}
	want := &RunSummary{Schema: Schema, Started: t0.Add(time.Second), Duration: "1s", AsOf: t0, Result: "partial",
		Accounts: 2, Users: 3, APICalls: 3,
		Findings:    map[policy.Kind]map[string]int{policy.InactiveKeys: {"violation": 1, "warning": 1}},
		Notices:     map[string]NoticeCounts{"slack": {Sent: 2, Failed: 1}},
		Remediation: map[string]int{"remediated": 2, "skipped": 1},
		Failures:    []string{"scan: account 222222222222: AccessDenied", "report: 1 notice(s) failed"},
		Steps:       []string{"scan", "report", "remediate"}}
	want.Issues.New, want.Issues.Resolved = 2, 1
	if !reflect.DeepEqual(sum, want) {
		t.Errorf("summary\n got %+v\nwant %+v", sum, want)
	}
}

func TestRunDryRunTakesNoLockAndTracksNothing(t *testing.T) {
	f := &fakes{scanRes: &ScanResult{Result: &engine.Result{}}}
	sum, _, err := Run(context.Background(), f.steps(), RunOptions{AsOf: t0, DryRun: true, Reporting: true, Remediation: true,
		Lock: func(context.Context) (func(), error) { t.Fatal("a dry run took the lock"); return nil, nil }, Now: clock()})
	if err != nil {
		t.Fatal(err)
	}
	if f.scan.Track || !f.report.DryRun || !f.remed.DryRun || !f.remed.AfterDryReport || sum.Result != "ok" || !sum.DryRun {
		t.Errorf("scan %+v report %+v remediate %+v summary %+v", f.scan, f.report, f.remed, sum)
	}
}

func TestRunStepsOnlyAsConfigured(t *testing.T) {
	f := &fakes{scanRes: &ScanResult{Result: &engine.Result{}}}
	sum, _, _ := Run(context.Background(), f.steps(), RunOptions{AsOf: t0, Remediation: true, DryRun: true, Now: clock()})
	if !reflect.DeepEqual(sum.Steps, []string{"scan", "remediate"}) || f.remed.AfterDryReport {
		t.Errorf("steps %v, remediate %+v", sum.Steps, f.remed)
	}
}

func TestRunScanThatScannedNothingFails(t *testing.T) {
	f := &fakes{scanErr: errors.New("no check is enabled")}
	sum, res, err := Run(context.Background(), f.steps(), RunOptions{AsOf: t0, Reporting: true, Now: clock()})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Result != "failed" || len(f.calls) != 1 || res.Scan != nil ||
		!reflect.DeepEqual(sum.Failures, []string{"scan: no check is enabled"}) {
		t.Errorf("summary %+v, calls %v", sum, f.calls)
	}
}

func TestRunSkippedWhenLocked(t *testing.T) {
	f := &fakes{}
	sum, _, err := Run(context.Background(), f.steps(), RunOptions{AsOf: t0, Now: clock(),
		Lock: func(context.Context) (func(), error) { return nil, fmt.Errorf("held by x: %w", issues.ErrLocked) }})
	if err != nil || sum.Result != "skipped" || len(f.calls) != 0 {
		t.Fatalf("summary %+v, err %v, calls %v", sum, err, f.calls)
	}
	other := errors.New("store down")
	if _, _, err := Run(context.Background(), f.steps(), RunOptions{AsOf: t0, Now: clock(),
		Lock: func(context.Context) (func(), error) { return nil, other }}); !errors.Is(err, other) {
		t.Fatalf("err %v", err)
	}
}

func TestRunMasksKeyIDsInFailures(t *testing.T) {
	f := &fakes{scanRes: &ScanResult{Result: &engine.Result{}}, repErr: errors.New("key AKIAIOSFODNN7EXAMPLE")}
	sum, _, _ := Run(context.Background(), f.steps(), RunOptions{AsOf: t0, Reporting: true, Now: clock()})
	if len(sum.Failures) != 1 || sum.Failures[0] == "report: key AKIAIOSFODNN7EXAMPLE" {
		t.Errorf("failures %q", sum.Failures)
	}
}
