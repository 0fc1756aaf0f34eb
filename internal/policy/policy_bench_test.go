package policy

import (
	"fmt"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/inventory"
)

// benchFacts builds n users with a realistic mix: 0-2 keys, half with
// passwords, some tags, about one in ten with a finding.
func benchFacts(n int) *inventory.Facts {
	f := &inventory.Facts{Account: inventory.Account{ID: "123456789012"}, Users: make([]inventory.User, n)}
	for i := range f.Users {
		u := &f.Users[i]
		u.Name = fmt.Sprintf("user%06d", i)
		u.Created = daysAgo(float64(400 + i%300))
		if i%7 == 0 {
			u.Tags = map[string]string{"Slack": "U123", "KeyAutoExpire": "false"}
		}
		for k := 0; k < i%3; k++ {
			used := daysAgo(float64(i % 40))
			if i%10 == 0 {
				used = daysAgo(200)
			}
			u.Keys = append(u.Keys, inventory.AccessKey{Slot: k + 1, Status: "Active", Created: daysAgo(float64(30 + i%150)), LastUsed: &used})
		}
		if i%2 == 0 {
			last := daysAgo(float64(i % 60))
			u.Password = &inventory.Password{Enabled: true, Created: u.Created, LastUsed: &last}
		}
	}
	return f
}

var benchRules = []Rule{
	{Kind: InactiveKeys, LimitDays: 90, WarningDays: 14},
	{Kind: KeysRotation, LimitDays: 180, WarningDays: 14},
	{Kind: InactivePasswords, LimitDays: 90, WarningDays: 14},
}

// BenchmarkEvaluate evaluates the three rules over 100,000 users.
func BenchmarkEvaluate(b *testing.B) {
	facts := benchFacts(100_000)
	ex := Exemptions{Whitelist: map[Kind]map[string][]string{InactiveKeys: {"123456789012": {"user000010"}}}}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var n int
	for i := 0; i < b.N; i++ {
		n = len(Evaluate(facts, benchRules, ex, asOf))
	}
	b.ReportMetric(float64(len(facts.Users)*b.N)/time.Since(start).Seconds(), "users/s")
	b.ReportMetric(float64(n), "findings")
}
