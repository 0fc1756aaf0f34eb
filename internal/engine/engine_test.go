package engine

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/policy"
)

// slowFirst is a source whose earlier accounts finish later: account i
// has i+1 stale users and sleeps (n-i) ms.
type slowFirst struct{ n int }

func (s slowFirst) Collect(ctx context.Context, a inventory.Account) (*inventory.Facts, error) {
	var i int
	fmt.Sscanf(a.ID, "%012d", &i)
	time.Sleep(time.Duration(s.n-i) * time.Millisecond)
	f := &inventory.Facts{Account: a}
	old := benchAsOf.AddDate(-2, 0, 0)
	for j := range i + 1 {
		lu := old
		f.Users = append(f.Users, inventory.User{Name: fmt.Sprintf("u%03d", j), Created: old,
			Tags: map[string]string{"Team": "x"},
			Keys: []inventory.AccessKey{{ID: fmt.Sprintf("AKIA%d_%d", i, j), Slot: 1, Status: inventory.StatusActive, Created: old, LastUsed: &lu}}})
	}
	return f, nil
}

func TestScanOutputInAccountOrder(t *testing.T) {
	const n = 12
	var accts []inventory.Account
	for i := range n {
		accts = append(accts, inventory.Account{ID: fmt.Sprintf("%012d", i)})
	}
	for _, drop := range []bool{false, true} {
		var got []string
		e := &Engine{Source: slowFirst{n}, Concurrency: 4, DropFindings: drop,
			Rules: []policy.Rule{{Kind: policy.InactiveKeys, LimitDays: 90}},
			Output: func(r *AccountResult) {
				got = append(got, r.Account.ID)
				if len(r.Findings) != r.Tally.Total() || r.Tally.Violations == 0 {
					t.Errorf("account %s: %d findings, tally %+v", r.Account.ID, len(r.Findings), r.Tally)
				}
				for _, f := range r.Findings {
					if f.Tags != nil || f.LastUsed == nil {
						t.Errorf("finding not compacted: %+v", f)
					}
				}
			}}
		res, err := e.Scan(context.Background(), accts, benchAsOf)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(ids(accts)) {
			t.Errorf("output order %v, want %v", got, ids(accts))
		}
		for i, a := range res.Accounts {
			if (a.Findings == nil) != drop || a.Tally.Violations != i+1 {
				t.Errorf("drop=%v account %d: findings %d, tally %+v", drop, i, len(a.Findings), a.Tally)
			}
		}
	}
}

func ids(as []inventory.Account) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.ID)
	}
	return out
}
