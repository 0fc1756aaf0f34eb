package job

import (
	"context"
	"testing"

	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/engine"
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
