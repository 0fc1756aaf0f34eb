package policy

import (
	"math"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/inventory"
)

func TestDaysSaturates(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want time.Duration
	}{
		{0, 0},
		{1, Day},
		{-1, -Day},
		{MaxDays, MaxDays * Day},
		{106751, 106751 * Day},
		{106752, math.MaxInt64},
		{999999, math.MaxInt64},
		{math.MaxInt, math.MaxInt64},
		{-106752, math.MinInt64},
		{math.MinInt, math.MinInt64},
	} {
		if got := Days(tc.n); got != tc.want {
			t.Errorf("Days(%d) = %v, want %v", tc.n, got, tc.want)
		}
	}
}

func TestAddDaysNeverOverflows(t *testing.T) {
	base := time.Date(2026, 11, 25, 12, 30, 0, 7, time.UTC)
	for _, tc := range []struct {
		n    int
		want time.Time
	}{
		{0, base},
		{90, base.AddDate(0, 0, 90)},
		{-90, base.AddDate(0, 0, -90)},
		{MaxDays, base.AddDate(0, 0, MaxDays)},
		{106752, base.AddDate(0, 0, 106752)},
		{999999, base.AddDate(0, 0, 999999)},
		{-999999, base.AddDate(0, 0, -999999)},
	} {
		if got := AddDays(base, tc.n); !got.Equal(tc.want) {
			t.Errorf("AddDays(%d) = %v, want %v", tc.n, got, tc.want)
		}
	}
	// Absurd counts clamp far in the future / past; never wrap around.
	if got := AddDays(base, math.MaxInt); !got.After(base.AddDate(1_000_000, 0, 0)) {
		t.Errorf("AddDays(MaxInt) = %v: wrapped", got)
	}
	if got := AddDays(base, math.MinInt); !got.Before(base.AddDate(-1_000_000, 0, 0)) {
		t.Errorf("AddDays(MinInt) = %v: wrapped", got)
	}
}

func TestDaysLeft(t *testing.T) {
	for _, tc := range []struct {
		left time.Duration
		want int
	}{
		{0, 0},
		{time.Second, 1},
		{Day, 1},
		{Day + time.Second, 2},
		{-time.Second, 0},
		{-Day, -1},
		{-Day - time.Second, -1},
		{math.MaxInt64, int(math.MaxInt64/int64(Day)) + 1},
		{math.MinInt64, int(math.MinInt64 / int64(Day))},
	} {
		if got := DaysLeft(tc.left); got != tc.want {
			t.Errorf("DaysLeft(%v) = %d, want %d", tc.left, got, tc.want)
		}
	}
}

// Huge thresholds ("never") never make a fresh credential a finding: the
// deadline does not wrap into the past.
func TestEvaluateHugeThresholds(t *testing.T) {
	u := inventory.User{Name: "alice", Created: daysAgo(400),
		Keys:     []inventory.AccessKey{key("AKIAFRESH", "Active", daysAgo(2), ptr(daysAgo(1)))},
		Password: &inventory.Password{Enabled: true, Created: daysAgo(2), LastUsed: ptr(daysAgo(1))}}
	facts := &inventory.Facts{Account: inventory.Account{ID: "111111111111"}, Users: []inventory.User{u}}
	for _, n := range []int{MaxDays, 106751, 106752, 999999, math.MaxInt32, math.MaxInt} { // MaxInt: clamped, warn 30 only
		for _, k := range Kinds {
			for _, warn := range []int{0, 30, min(n/2, math.MaxInt32)} {
				r := Rule{Kind: k, LimitDays: n, WarningDays: warn}
				if fs := Evaluate(facts, []Rule{r}, Exemptions{}, asOf); len(fs) != 0 {
					t.Errorf("%s limit %d warning %d: %d finding(s), first %+v; want none", k, n, warn, len(fs), fs[0])
				}
			}
		}
	}
	// And a credential older than a huge limit is still found with sane numbers.
	old := inventory.User{Name: "bob", Keys: []inventory.AccessKey{key("AKIAOLD", "Active", asOf.AddDate(-101, 0, 0), nil)}}
	fs := Evaluate(&inventory.Facts{Account: facts.Account, Users: []inventory.User{old}}, []Rule{{Kind: KeysRotation, LimitDays: MaxDays}}, Exemptions{}, asOf)
	if len(fs) != 1 || fs[0].Stage != Violation || fs[0].DaysLeft >= 0 || fs[0].AgeDays < MaxDays {
		t.Errorf("101-year-old key, limit %d: %+v", MaxDays, fs)
	}
}
