package engine

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/policy"
)

var benchAsOf = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// benchReport is a credential report of n users: 0–2 keys (some inactive,
// some never used), passwords for half, about one user in ten stale.
func benchReport(n int) []byte {
	rng := rand.New(rand.NewPCG(7, 11))
	const layout = "2006-01-02T15:04:05+00:00"
	ago := func(lo, hi int) string {
		return benchAsOf.Add(-time.Duration(lo+rng.IntN(hi-lo))*24*time.Hour - time.Duration(rng.IntN(86400))*time.Second).Format(layout)
	}
	var b bytes.Buffer
	b.WriteString("user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n")
	b.WriteString("<root_account>,arn:aws:iam::123456789012:root,2024-01-01T00:00:00+00:00,not_supported,2026-10-02T08:14:55+00:00,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n")
	for i := range n {
		stale := i%10 == 0
		fmt.Fprintf(&b, "user-%06d,arn:aws:iam::123456789012:user/user-%06d,%s,", i, i, ago(400, 1500))
		switch {
		case i%2 == 1:
			b.WriteString("false,N/A,N/A,N/A,false,")
		case stale:
			fmt.Fprintf(&b, "true,%s,%s,N/A,true,", ago(100, 300), ago(300, 400))
		default:
			fmt.Fprintf(&b, "true,%s,%s,N/A,true,", ago(0, 60), ago(100, 300))
		}
		keys := rng.IntN(3)
		for slot := range 2 {
			switch {
			case slot >= keys:
				b.WriteString("false,N/A,N/A,N/A,N/A,")
			case stale && slot == 0:
				fmt.Fprintf(&b, "true,%s,%s,us-east-1,s3,", ago(400, 800), ago(120, 300))
			case rng.IntN(7) == 0:
				fmt.Fprintf(&b, "true,%s,N/A,N/A,N/A,", ago(0, 60))
			default:
				fmt.Fprintf(&b, "%t,%s,%s,eu-west-1,sts,", rng.IntN(10) != 0, ago(1, 150), ago(0, 60))
			}
		}
		b.WriteString("false,N/A,false,N/A\n")
	}
	return b.Bytes()
}

// BenchmarkParseEvaluate is the fast path's CPU work for one account of
// 100,000 users: parse the credential report in memory (as ReportSource
// parses GetCredentialReport's Content), evaluate the three rules.
func BenchmarkParseEvaluate(b *testing.B) {
	const users = 100_000
	data := benchReport(users)
	rules := []policy.Rule{
		{Kind: policy.InactiveKeys, LimitDays: 90, WarningDays: 14},
		{Kind: policy.KeysRotation, LimitDays: 180, WarningDays: 14},
		{Kind: policy.InactivePasswords, LimitDays: 90, WarningDays: 14},
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var findings int
	for b.Loop() {
		rep, err := inventory.ParseCredentialReportBytes(data, "bench.csv")
		if err != nil {
			b.Fatal(err)
		}
		facts := &inventory.Facts{Account: inventory.Account{ID: rep.AccountID}, Users: rep.Users}
		findings = len(policy.Evaluate(facts, rules, policy.Exemptions{}, benchAsOf))
	}
	b.ReportMetric(float64(users*b.N)/b.Elapsed().Seconds(), "users/s")
	b.ReportMetric(float64(findings), "findings")
}
