package engine

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/keywarden/keywarden/internal/awstest"
	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/policy"
)

// staleAccount is issue 13's measured estate: 1,000 users, 1,884 keys,
// 1,393 findings; the per-user algorithm makes 3,894 calls. Every user has
// a console password and one key, 884 a second; 600 users have a key
// unused for months and created over a year ago (inactive and rotation),
// 193 a password unused for months.
func staleAccount(id string) awstest.Account {
	a := awstest.Account{ID: id}
	ago := func(d int) time.Time { return benchAsOf.Add(-time.Duration(d) * 24 * time.Hour) }
	for i := range 1000 {
		u := awstest.User{Name: fmt.Sprintf("user-%04d", i), Created: ago(900)}
		used := ago(1 + i%30)
		k := awstest.Key{ID: fmt.Sprintf("AKIASTALE%011d", 2*i), Created: ago(20 + i%100), LastUsed: &used}
		if i%5 < 3 { // 600 users
			old := ago(120 + i%100)
			k.Created, k.LastUsed = ago(400+i%200), &old
		}
		u.Keys = []awstest.Key{k}
		if i < 884 {
			u.Keys = append(u.Keys, awstest.Key{ID: fmt.Sprintf("AKIASTALE%011d", 2*i+1), Created: ago(5), LastUsed: &used})
		}
		u.LoginProfile = &awstest.LoginProfile{Created: ago(300)}
		pw := ago(i % 40)
		if i%100 < 19 || (i%100 == 19 && i < 300) { // 193 users
			pw = ago(100 + i%50)
		}
		u.PasswordLastUsed = &pw
		a.Users = append(a.Users, u)
	}
	return a
}

var benchRules = []policy.Rule{
	{Kind: policy.InactiveKeys, LimitDays: 90, WarningDays: 10},
	{Kind: policy.KeysRotation, LimitDays: 180, WarningDays: 10},
	{Kind: policy.InactivePasswords, LimitDays: 90, WarningDays: 10},
}

// BenchmarkStaleAccount1000 scans a 1,000-user account with 1,393 findings
// whose IAM answers in 40 ms a call:
//   - first: the first tracked scan (a fresh report; the store knows no key),
//   - second: the next day's scan (a fresh report; the store knows the keys),
//   - report-only: GenerateCredentialReport until COMPLETE and
//     GetCredentialReport, parsed (what Prowler or Cloud Custodian read),
//   - per-user: the dormant-user Lambda's algorithm, sequential: ListUsers,
//     then per user ListAccessKeys, GetAccessKeyLastUsed per key,
//     GetLoginProfile. It takes minutes: KW_BENCH_PER_USER=1 runs it, else
//     its time is its calls (counted without latency) times the latency,
//     which is what a sequential algorithm costs.
//
// Run: go test -run '^$' -bench StaleAccount1000 -benchtime 1x ./internal/engine
func BenchmarkStaleAccount1000(b *testing.B) {
	const latency = 40 * time.Millisecond
	srv := awstest.New()
	defer srv.Close()
	now := benchAsOf
	var clock atomic.Pointer[time.Time]
	clock.Store(&now)
	srv.SetClock(func() time.Time { return *clock.Load() })
	const acct = "123456789012"
	srv.AddAccount(staleAccount(acct))
	srv.AddCaller("AKIABENCHMAIN0000001", "secret", acct, "bench")
	cfg := srv.Config("AKIABENCHMAIN0000001", "secret")
	client := iam.NewFromConfig(cfg)
	clients := func(context.Context, inventory.Account) (inventory.IAMReader, error) { return client, nil }
	ctx := context.Background()
	account := inventory.Account{ID: acct}
	// nextDay makes AWS generate a new report for the next scan.
	day := 0
	nextDay := func() {
		day++
		t := benchAsOf.Add(time.Duration(day) * 5 * time.Hour)
		clock.Store(&t)
	}
	src := func(known map[inventory.KeyRef]string) *inventory.ReportSource {
		s := &inventory.ReportSource{Clients: clients, Screen: Screen(benchRules, benchAsOf), LastUse: ScreenLastUse(benchRules, benchAsOf)}
		if known != nil {
			s.KnownKeys = func(context.Context, string) (map[inventory.KeyRef]string, error) { return known, nil }
		}
		return s
	}
	total := func(f *inventory.Facts) int {
		n := 0
		for _, c := range f.Calls {
			n += c
		}
		return n
	}

	// The per-user algorithm's calls, without latency.
	srv.SetLatency(0)
	perUserCalls, perUserFindings, err := perUser(ctx, client)
	if err != nil {
		b.Fatal(err)
	}
	srv.SetLatency(latency)
	perUserTime := time.Duration(perUserCalls) * latency
	if os.Getenv("KW_BENCH_PER_USER") != "" {
		start := time.Now()
		if _, _, err := perUser(ctx, client); err != nil {
			b.Fatal(err)
		}
		perUserTime = time.Since(start)
	}

	var first, second, reportOnly time.Duration
	var firstCalls, secondCalls, reportOnlyCalls, findings int
	for b.Loop() {
		nextDay()
		start := time.Now()
		facts, err := src(nil).Collect(ctx, account)
		if err != nil {
			b.Fatal(err)
		}
		first += time.Since(start)
		firstCalls = total(facts)
		fs := policy.Evaluate(facts, benchRules, policy.Exemptions{}, benchAsOf)
		findings = len(fs)
		known := map[inventory.KeyRef]string{}
		for _, u := range facts.Users {
			for _, k := range u.Keys {
				if k.ID != "" {
					known[inventory.RefOf(u.Name, k)] = k.ID
				}
			}
		}

		nextDay()
		start = time.Now()
		facts, err = src(known).Collect(ctx, account)
		if err != nil {
			b.Fatal(err)
		}
		second += time.Since(start)
		secondCalls = total(facts)
		if n := len(policy.Evaluate(facts, benchRules, policy.Exemptions{}, benchAsOf)); n != findings {
			b.Fatalf("second scan: %d findings, first %d", n, findings)
		}

		nextDay()
		start = time.Now()
		reportOnlyCalls, err = reportOnlyScan(ctx, client)
		if err != nil {
			b.Fatal(err)
		}
		reportOnly += time.Since(start)
	}
	if findings != perUserFindings {
		b.Fatalf("fast path %d findings, per-user algorithm %d", findings, perUserFindings)
	}
	n := float64(b.N)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(findings), "findings")
	b.ReportMetric(first.Seconds()/n, "first-s")
	b.ReportMetric(float64(firstCalls), "first-calls")
	b.ReportMetric(second.Seconds()/n, "second-s")
	b.ReportMetric(float64(secondCalls), "second-calls")
	b.ReportMetric(reportOnly.Seconds()/n, "report-only-s")
	b.ReportMetric(float64(reportOnlyCalls), "report-only-calls")
	b.ReportMetric(perUserTime.Seconds(), "per-user-s")
	b.ReportMetric(float64(perUserCalls), "per-user-calls")
	b.ReportMetric(perUserTime.Seconds()/(first.Seconds()/n), "first-speedup-x")
	b.ReportMetric((second.Seconds()/n)/(reportOnly.Seconds()/n), "second/report-only")
}

// reportOnlyScan is what a report-only tool does: generate, poll (the same
// 250 ms first wait), read and parse the report.
func reportOnlyScan(ctx context.Context, c *iam.Client) (calls int, err error) {
	wait := inventory.DefaultPollInterval
	for {
		calls++
		out, err := c.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{})
		if err != nil {
			return calls, err
		}
		if out.State == "COMPLETE" {
			break
		}
		time.Sleep(wait)
		wait = min(2*wait, inventory.MaxPollInterval)
	}
	calls++
	out, err := c.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
	if err != nil {
		return calls, err
	}
	_, err = inventory.ParseCredentialReportBytes(out.Content, "report")
	return calls, err
}

// perUser is the per-user algorithm, sequential; it returns its calls and
// findings.
func perUser(ctx context.Context, c *iam.Client) (calls, findings int, err error) {
	facts := &inventory.Facts{Account: inventory.Account{ID: "123456789012"}}
	p := iam.NewListUsersPaginator(c, &iam.ListUsersInput{})
	for p.HasMorePages() {
		calls++
		page, err := p.NextPage(ctx)
		if err != nil {
			return calls, 0, err
		}
		for _, u := range page.Users {
			usr := inventory.User{Name: aws.ToString(u.UserName), Created: aws.ToTime(u.CreateDate)}
			calls++
			keys, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: u.UserName})
			if err != nil {
				return calls, 0, err
			}
			for _, k := range keys.AccessKeyMetadata {
				key := inventory.AccessKey{ID: aws.ToString(k.AccessKeyId), Status: string(k.Status), Created: aws.ToTime(k.CreateDate)}
				calls++
				lu, err := c.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: k.AccessKeyId})
				if err != nil {
					return calls, 0, err
				}
				key.LastUsed = lu.AccessKeyLastUsed.LastUsedDate
				usr.Keys = append(usr.Keys, key)
			}
			calls++
			lp, err := c.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: u.UserName})
			if err == nil {
				usr.Password = &inventory.Password{Enabled: true, Created: aws.ToTime(lp.LoginProfile.CreateDate), LastUsed: u.PasswordLastUsed}
			} else if !inventory.IsNoSuchEntity(err) {
				return calls, 0, err
			}
			facts.Users = append(facts.Users, usr)
		}
	}
	return calls, len(policy.Evaluate(facts, benchRules, policy.Exemptions{}, benchAsOf)), nil
}
