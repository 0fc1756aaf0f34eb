package job

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/engine"
	"github.com/keywarden/keywarden/internal/issues"
)

// TestScanFromAReportFile calls the application layer's scan with no CLI:
// the examples' configuration and credential report, no AWS, no store.
func TestScanFromAReportFile(t *testing.T) {
	cfg, err := config.Load("../../examples")
	if err != nil {
		t.Fatal(err)
	}
	var started, progressed int
	var streamed []string
	d := ScanDeps{Config: cfg, Getenv: func(string) string { return "" },
		Started:  func(n int) { started = n },
		Progress: func(engine.Progress) { progressed++ },
		Output: func(r *engine.AccountResult) {
			for _, f := range r.Findings {
				streamed = append(streamed, f.UserName)
			}
		},
	}
	sr, err := Scan(context.Background(), d, ScanOptions{AsOf: t0, ReportFile: "../../examples/credential-report.csv", KeepFindings: true})
	if err != nil {
		t.Fatal(err)
	}
	if sr.Tracked || len(sr.Result.Accounts) != 1 || started != 1 || progressed != 1 {
		t.Fatalf("tracked %v, accounts %d, started %d, progress %d", sr.Tracked, len(sr.Result.Accounts), started, progressed)
	}
	fs := sr.Result.Findings()
	if len(fs) == 0 || len(fs) != len(streamed) {
		t.Fatalf("%d findings kept, %d streamed", len(fs), len(streamed))
	}
	// Without KeepFindings the streamed findings are dropped once given.
	streamed = nil
	sr, err = Scan(context.Background(), d, ScanOptions{AsOf: t0, ReportFile: "../../examples/credential-report.csv"})
	if err != nil {
		t.Fatal(err)
	}
	if len(sr.Result.Findings()) != 0 || len(streamed) != len(fs) {
		t.Fatalf("%d findings kept, %d streamed", len(sr.Result.Findings()), len(streamed))
	}
	if _, err := Scan(context.Background(), d, ScanOptions{AsOf: t0, ReportFile: "x.csv", Org: true}); err == nil {
		t.Error("--org with a report file: no error")
	}
}

// TestScanNeverTracksTheFuture: a tracked scan as of a time after now
// evaluates without opening the store.
func TestScanNeverTracksTheFuture(t *testing.T) {
	cfg, err := config.Load("../../examples")
	if err != nil {
		t.Fatal(err)
	}
	opened := 0
	d := ScanDeps{Config: cfg, Getenv: func(string) string { return "" },
		OpenStore: func(context.Context) (issues.Store, error) { opened++; return nil, errors.New("not expected") }}
	sr, err := Scan(context.Background(), d, ScanOptions{AsOf: t0.Add(time.Hour), Now: t0, Track: true,
		ReportFile: "../../examples/credential-report.csv", KeepFindings: true})
	if err != nil {
		t.Fatal(err)
	}
	if sr.Tracked || !sr.FutureAsOf || opened != 0 || len(sr.Result.Findings()) == 0 {
		t.Fatalf("tracked %v, future %v, store opened %d times, %d findings", sr.Tracked, sr.FutureAsOf, opened, len(sr.Result.Findings()))
	}
}
