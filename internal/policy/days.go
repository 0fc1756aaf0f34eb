package policy

import (
	"math"
	"time"
)

// MaxDays is the largest day count a threshold may have (100 years):
// config validation refuses more. Turning a check off is "enabled": false,
// not a huge number.
const MaxDays = 36500

// maxDurationDays is the largest whole number of days a time.Duration holds
// (about 292 years); more overflows it.
const maxDurationDays = math.MaxInt64 / int64(Day)

// Days returns n days of 24 hours as a Duration, saturating at the largest
// (or smallest) Duration instead of overflowing: time.Duration(n) * Day
// wraps around past 106,751 days and turns "never" into "long ago".
func Days(n int) time.Duration {
	switch {
	case int64(n) > maxDurationDays:
		return math.MaxInt64
	case int64(n) < -maxDurationDays:
		return math.MinInt64
	}
	return time.Duration(n) * Day
}

// AddDays returns t plus n days of 24 hours (minus, for negative n). It is
// exact beyond the range of a Duration and never overflows: every date
// computation of a threshold, deadline or retention period goes through it.
func AddDays(t time.Time, n int) time.Time {
	if d := Days(n); d != math.MaxInt64 && d != math.MinInt64 {
		return t.Add(d)
	}
	// Beyond ~292 years: in whole seconds. Day counts are clamped to ±2^40
	// (three billion years), so the seconds stay far inside an int64.
	const lim = int64(1) << 40
	days := min(max(int64(n), -lim), lim)
	return time.Unix(t.Unix()+days*int64(Day/time.Second), int64(t.Nanosecond())).In(t.Location())
}

// DaysLeft is how many days left (a time until a deadline) makes: rounded
// up ahead of the deadline, down past it (-3 means three whole days over).
// It never overflows, even for a saturated left.
func DaysLeft(left time.Duration) int {
	n := left / Day // truncates toward zero: down past the deadline
	if left > 0 && left%Day != 0 {
		n++
	}
	return int(n)
}
