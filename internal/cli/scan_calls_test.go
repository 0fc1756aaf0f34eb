package cli

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/awstest"
)

// Issue 13: a daily scan at report-only cost. Exact call counts per action
// for a fresh report (first and second tracked scan) and a cached one (the
// confirmation budget).

// budgetAccount is n users in account A, in classes by i%10:
//
//	0: a key created 400 days ago, never used (inactive + rotation)
//	1: a key created 200 days ago, used yesterday (rotation only)
//	2: a login profile created 300 days ago, never used (password)
//	3: a key created 10 days ago, used yesterday (healthy)
//	others: no credential
func budgetAccount(n int) awstest.Account {
	a := awstest.Account{ID: acctA}
	for i := range n {
		u := awstest.User{Name: fmt.Sprintf("user%05d", i), Created: daysAgo(800)}
		key := func(created, used float64) awstest.Key {
			k := awstest.Key{ID: fmt.Sprintf("AKIABUDGET%010d", i), Created: daysAgo(created)}
			if used > 0 {
				k.LastUsed = at(daysAgo(used))
			}
			return k
		}
		switch i % 10 {
		case 0:
			u.Keys = []awstest.Key{key(400, 0)}
		case 1:
			u.Keys = []awstest.Key{key(200, 1)}
		case 2:
			u.LoginProfile = &awstest.LoginProfile{Created: daysAgo(300)}
		case 3:
			u.Keys = []awstest.Key{key(10, 1)}
		}
		a.Users = append(a.Users, u)
	}
	return a
}

// callsOf is the IAM calls to account A, by action (the scan's
// GetCallerIdentity, STS, is not the account's inventory).
func callsOf(w *world) map[string]int {
	out := map[string]int{}
	for _, c := range w.srv.Calls() {
		if c.Account == acctA && c.Service == "iam" {
			out[c.Action]++
		}
	}
	return out
}

func checkCalls(t *testing.T, what string, got, want map[string]int) {
	t.Helper()
	for action, n := range want {
		if got[action] != n {
			t.Errorf("%s: %d %s calls, want %d", what, got[action], action, n)
		}
	}
	for action, n := range got {
		if _, ok := want[action]; !ok {
			t.Errorf("%s: %d %s calls, want none", what, n, action)
		}
	}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// A report generated for the scan is live state: the first tracked scan
// lists the keys of key suspects only (the store knows none), the second
// of an unchanged account makes only the report-only calls plus the user
// list; a new suspect key costs one ListAccessKeys.
func TestScanCallBudgetFreshReport(t *testing.T) {
	const users = 2500
	w := newWorld(t, baseConfig)
	w.srv.AddAccount(budgetAccount(users))
	now := asOf
	w.srv.SetClock(func() time.Time { return now })
	keySuspects := 2 * users / 10
	pages := ceilDiv(users, 1000)

	first := w.scan(0, "-o", "json", "--show-key-ids")
	checkCalls(t, "first tracked scan", callsOf(w), map[string]int{
		"GenerateCredentialReport": 2, "GetCredentialReport": 1,
		"GetAccountAuthorizationDetails": pages, "ListAccessKeys": keySuspects,
	})
	if want := fmt.Sprintf("%d AWS API calls; report generated 0s ago", 3+pages+keySuspects); !strings.Contains(first.stderr, want) {
		t.Errorf("summary lacks %q:\n%s", want, first.stderr)
	}
	found := findingKeys(t, first.stdout)
	// 250 inactive + 250 rotation (class 0), 250 rotation (class 1), 250 passwords.
	if len(found) != 4*users/10 {
		t.Fatalf("%d findings, want %d", len(found), 4*users/10)
	}
	for _, f := range jsonLines(t, first.stdout) {
		if f["kind"] != "user_inactivepasswords" && !strings.HasPrefix(fmt.Sprint(f["key_id"]), "AKIABUDGET") {
			t.Fatalf("a key finding without its key ID: %v", f)
		}
	}

	// A day later AWS generates a new report: the store knows every
	// suspect key.
	now = asOf.Add(24 * time.Hour)
	w.srv.ResetCalls()
	second := w.scan(0, "-o", "json", "--show-key-ids")
	checkCalls(t, "second tracked scan", callsOf(w), map[string]int{
		"GenerateCredentialReport": 2, "GetCredentialReport": 1, "GetAccountAuthorizationDetails": pages,
	})
	if got := findingKeys(t, second.stdout); strings.Join(got, "\n") != strings.Join(found, "\n") {
		t.Errorf("second scan findings differ from the first")
	}
	if second.stdout != first.stdout {
		t.Errorf("second scan output differs:\n%s", second.stdout)
	}
	if !strings.Contains(second.stderr, "issues: 0 new, 0 updated, 0 resolved") {
		t.Errorf("second scan changed issues: %s", second.stderr)
	}

	// A new suspect key of a known user and a new user with one: one
	// ListAccessKeys each.
	w.srv.AddUser(acctA, awstest.User{Name: "zed", Created: daysAgo(300), Keys: []awstest.Key{{ID: "AKIAZED0000000000001", Created: daysAgo(300)}}})
	now = asOf.Add(48 * time.Hour)
	w.srv.ResetCalls()
	third := w.scan(0, "-o", "json", "--show-key-ids")
	checkCalls(t, "scan with one new suspect", callsOf(w), map[string]int{
		"GenerateCredentialReport": 2, "GetCredentialReport": 1, "GetAccountAuthorizationDetails": pages, "ListAccessKeys": 1,
	})
	if !strings.Contains(third.stdout, "AKIAZED0000000000001") || !strings.Contains(third.stderr, "issues: 2 new, 0 updated, 0 resolved") {
		t.Errorf("the new key's findings are missing:\n%s", third.stderr)
	}
}

// A cached report: every suspect is confirmed live at the cheapest cost
// that proves it: ListAccessKeys per key suspect, GetAccessKeyLastUsed
// only for inactivity suspects (not rotation-only ones), the password's
// last use from ListUsers pages, GetLoginProfile only for passwords still
// suspect.
func TestScanCallBudgetCachedReport(t *testing.T) {
	const users = 2500
	w := newWorld(t, baseConfig)
	w.srv.AddAccount(budgetAccount(users))
	w.srv.CacheReport(acctA, asOf.Add(-2*time.Hour))
	// Since the report: two password suspects logged in, one inactive key
	// was used, one rotation-only key was deleted.
	w.srv.LoginAt(acctA, "user00002", asOf.Add(-time.Hour))
	w.srv.LoginAt(acctA, "user00012", asOf.Add(-time.Hour))
	w.srv.UseKey(acctA, "AKIABUDGET0000000010", asOf.Add(-time.Hour), "s3", "us-east-1")
	w.srv.DeleteKey(acctA, "AKIABUDGET0000000001")
	pages := ceilDiv(users, 1000)

	r := w.scan(0, "-o", "json", "--show-key-ids")
	checkCalls(t, "cached report", callsOf(w), map[string]int{
		"GenerateCredentialReport": 1, "GetCredentialReport": 1, "GetAccountAuthorizationDetails": pages,
		"ListAccessKeys":       2 * users / 10, // key suspects: classes 0 and 1
		"GetAccessKeyLastUsed": users / 10,     // inactivity suspects only: class 0
		"ListUsers":            pages,
		"GetLoginProfile":      users/10 - 2, // password suspects still suspect
	})
	confirmed := 3 * users / 10
	if want := fmt.Sprintf("report 2h old: %d suspects confirmed live", confirmed); !strings.Contains(r.stderr, want) {
		t.Errorf("summary lacks %q:\n%s", want, r.stderr)
	}
	for _, gone := range []string{" user00002 ", " user00012 ", "AKIABUDGET0000000001", "AKIABUDGET0000000010 user_inactivekeys"} {
		for _, line := range findingKeys(t, r.stdout) {
			if strings.Contains(line, gone) {
				t.Errorf("reported from the cached report: %s", line)
			}
		}
	}
	// 250 inactive - 1 used, 250 rotation (class 0), 250 - 1 rotation (class 1), 250 - 2 passwords.
	if got, want := len(findingKeys(t, r.stdout)), 4*users/10-4; got != want {
		t.Errorf("%d findings, want %d", got, want)
	}
}

// --account-concurrency (else aws.account_concurrency, else 8) bounds the
// IAM calls in flight per account; a throttled account slows down and the
// summary says so.
func TestScanAccountConcurrency(t *testing.T) {
	cases := []struct {
		name   string
		config string
		args   []string
		want   int
	}{
		{"default", baseConfig, nil, 8},
		{"flag", baseConfig, []string{"--account-concurrency", "2"}, 2},
		{"config", strings.Replace(baseConfig, `"region": "us-east-1",`, `"region": "us-east-1", "account_concurrency": 3,`, 1), nil, 3},
		{"flag over config", strings.Replace(baseConfig, `"region": "us-east-1",`, `"region": "us-east-1", "account_concurrency": 3,`, 1), []string{"--account-concurrency", "5"}, 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, tc.config)
			w.srv.AddAccount(budgetAccount(300))
			w.srv.CacheReport(acctA, asOf.Add(-2*time.Hour)) // 60 key and 30 password suspects to confirm
			w.srv.SetLatency(5 * time.Millisecond)
			w.scan(0, append([]string{"-o", "json", "--no-track"}, tc.args...)...)
			if got := w.srv.MaxConcurrent(acctA); got != tc.want {
				t.Errorf("%d IAM calls in flight at most, want %d", got, tc.want)
			}
		})
	}

	w := newWorld(t, baseConfig)
	w.srv.AddAccount(budgetAccount(300))
	w.srv.CacheReport(acctA, asOf.Add(-2*time.Hour))
	w.srv.Inject(awstest.Fault{Account: acctA, Action: "ListAccessKeys", Code: "Throttling", Times: 4})
	r := w.scan(0, append([]string{"--account-concurrency", "8"}, faultArgs...)...)
	if !strings.Contains(r.stderr, "4 calls throttled (in-flight calls halved)") {
		t.Errorf("summary lacks the throttling:\n%s", r.stderr)
	}
	if got := len(findingKeys(t, r.stdout)); got != 4*300/10 {
		t.Errorf("%d findings under throttling, want %d", got, 4*300/10)
	}

	bad := w.run("scan", "--account-concurrency", "-1")
	if bad.code == 0 || !strings.Contains(bad.stderr, "--account-concurrency -1: use 1 or more") {
		t.Errorf("--account-concurrency -1: exit %d %s", bad.code, bad.stderr)
	}
	w2 := newWorld(t, strings.Replace(baseConfig, `"region": "us-east-1",`, `"region": "us-east-1", "account_concurrency": 0,`, 1))
	if r := w2.run("config", "validate"); r.code == 0 || !strings.Contains(r.stdout+r.stderr, "aws.account_concurrency") {
		t.Errorf("account_concurrency 0 accepted: exit %d %s%s", r.code, r.stdout, r.stderr)
	}
}
