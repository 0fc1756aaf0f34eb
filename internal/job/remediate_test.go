package job

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/issues/sqlite"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
)

// TestScanThenRemediateDryRun runs two steps of the application layer with
// no CLI: a tracked scan of the examples' credential report into a SQLite
// store, then a dry-run remediation of every kind, which plans and makes
// no AWS call.
func TestScanThenRemediateDryRun(t *testing.T) {
	ctx := context.Background()
	cfg, err := config.Load("../../examples")
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "keywarden.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sr, err := Scan(ctx, ScanDeps{Config: cfg, Getenv: func(string) string { return "" },
		OpenStore: func(context.Context) (issues.Store, error) { return nopClose{st}, nil }},
		ScanOptions{AsOf: t0, Track: true, ReportFile: "../../examples/credential-report.csv"})
	if err != nil {
		t.Fatal(err)
	}
	if !sr.Tracked || sr.Result.Accounts[0].Changes == nil || len(sr.Result.Accounts[0].Changes.New) == 0 {
		t.Fatalf("scan tracked nothing: %+v", sr.Result.Accounts[0])
	}
	ex := &remediate.Executor{Journal: st, Store: st, DryRun: true, Now: func() time.Time { return t0 }, Log: discard(),
		Clients: func(context.Context, inventory.Account) (remediate.IAM, error) {
			t.Fatal("a dry run asked for AWS clients")
			return nil, nil
		}}
	d := RemediateDeps{Config: cfg, Store: st, Exec: ex, Getenv: func(string) string { return "" }, Log: discard()}
	mr, err := Remediate(ctx, d, RemediateOptions{AsOf: t0, DryRun: true, Kinds: policy.Kinds})
	if err != nil {
		t.Fatal(err)
	}
	would := 0
	for _, o := range mr.Outcomes {
		if o.Result == remediate.WouldRemediate {
			would++
		}
	}
	if would == 0 || mr.Plan == nil || len(mr.Plan.Items) != would {
		t.Errorf("%d would be remediated, plan %+v", would, mr.Plan)
	}
	_, err = Remediate(ctx, d, RemediateOptions{AsOf: t0, DryRun: true, IssueIDs: []int64{9999}})
	var no *NoIssueError
	if !errors.As(err, &no) || no.ID != 9999 || !errors.Is(err, issues.ErrNotFound) {
		t.Errorf("issue 9999: %v", err)
	}
}

// nopClose keeps the store open when the scan closes it.
type nopClose struct{ *sqlite.Store }

func (nopClose) Close() error { return nil }

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
