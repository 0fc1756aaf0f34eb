package engine

import (
	"context"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/issues/sqlite"
	"github.com/keywarden/keywarden/internal/policy"
)

// staticSource returns the same facts for every account.
type staticSource struct{ users []inventory.User }

func (s staticSource) Collect(_ context.Context, a inventory.Account) (*inventory.Facts, error) {
	return &inventory.Facts{Account: a, Users: s.users}, nil
}

// TestTrackRecordsEveryScan: a tracked scan records its as-of even when
// nothing changed; a scan as of an earlier time is evaluated (findings
// kept) but changes nothing and reports the later scan.
func TestTrackRecordsEveryScan(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	old := benchAsOf.AddDate(-1, 0, 0)
	stale := []inventory.User{{Name: "u", Created: old, Keys: []inventory.AccessKey{{ID: "AKIAU1", Slot: 1, Status: inventory.StatusActive, Created: old}}}}
	rules := []policy.Rule{{Kind: policy.InactiveKeys, LimitDays: 90}}
	acct := []inventory.Account{{ID: "111111111111"}}

	// Nothing to find: still recorded.
	e := &Engine{Source: staticSource{}, Store: st, Rules: rules}
	if _, err := e.Scan(ctx, acct, benchAsOf); err != nil {
		t.Fatal(err)
	}
	if at, ok, err := st.LastScan(ctx, "111111111111"); err != nil || !ok || !at.Equal(benchAsOf) {
		t.Fatalf("LastScan after a scan with no changes: %s %v %v", at, ok, err)
	}

	// Earlier: findings shown, store untouched, LaterScan set.
	e.Source = staticSource{stale}
	res, err := e.Scan(ctx, acct, benchAsOf.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	a := res.Accounts[0]
	if a.Err != nil || a.Changes != nil || !a.LaterScan.Equal(benchAsOf) || a.Tally.Violations != 1 {
		t.Errorf("earlier scan: err %v, changes %+v, later scan %s, tally %+v", a.Err, a.Changes, a.LaterScan, a.Tally)
	}
	if is, err := st.List(ctx, issues.Filter{}); err != nil || len(is) != 0 {
		t.Errorf("earlier scan stored %d issues (%v)", len(is), err)
	}

	// Later: tracked.
	res, err = e.Scan(ctx, acct, benchAsOf.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if a := res.Accounts[0]; a.Err != nil || a.Changes == nil || len(a.Changes.New) != 1 || !a.LaterScan.IsZero() {
		t.Errorf("later scan: %+v", a)
	}
}
