package cli

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/awstest"
)

// orgConfig has no aws.accounts: the accounts come from Organizations.
const orgConfig = `{
  "aws": {"role_name": "audit-role", "external_id": "kw-ext-1",
          "organization": {"exclude": ["sandbox-*"]}},
  "user_inactivekeys": {"inactive_criteria_days": 90},
  "user_inactivepasswords": {"inactive_criteria_days": 90}
}`

// memberAccount is a small account: one stale key (a finding), one healthy.
func memberAccount(id string) awstest.Account {
	return awstest.Account{ID: id, Users: []awstest.User{
		{Name: "stale-" + id[:3], Created: daysAgo(400), Keys: []awstest.Key{{ID: "AKIASTALE" + id[:11], Created: daysAgo(300), LastUsed: at(daysAgo(120))}}},
		{Name: "fine", Created: daysAgo(400), Keys: []awstest.Key{{ID: "AKIAFINE0" + id[:11], Created: daysAgo(30), LastUsed: at(daysAgo(1))}}},
	}}
}

// orgWorld seeds an organization managed by account A with n members
// (IDs 3000000000NN), every fifth SUSPENDED, plus a sandbox.
func orgWorld(t *testing.T, config string, n int) (w *world, active, suspended []string) {
	w = newWorld(t, config)
	w.srv.AddAccount(seedAlpha())
	org := []awstest.OrgAccount{{ID: acctA, Name: "management"}}
	active = []string{acctA}
	for i := range n {
		id := fmt.Sprintf("3000000000%02d", i)
		w.srv.AddAccount(memberAccount(id))
		a := awstest.OrgAccount{ID: id, Name: fmt.Sprintf("member-%02d", i)}
		if i%5 == 4 {
			a.Status = "SUSPENDED"
			suspended = append(suspended, id)
		} else {
			active = append(active, id)
		}
		org = append(org, a)
	}
	w.srv.AddAccount(memberAccount("999999999999"))
	org = append(org, awstest.OrgAccount{ID: "999999999999", Name: "sandbox-play"})
	w.srv.SetOrganization(acctA, org)
	return w, active, suspended
}

func TestOrgDiscovery(t *testing.T) {
	w, active, suspended := orgWorld(t, orgConfig, 24) // 26 accounts: two ListAccounts pages
	r := w.scan(0, "--org", "-o", "json", "--show-key-ids", "--no-track", "--log-level", "info")
	if n := w.srv.CountCalls(acctA, "ListAccounts"); n != 2 {
		t.Errorf("ListAccounts calls: %d, want 2 pages", n)
	}
	findings := findingKeys(t, r.stdout)
	scanned := map[string]bool{}
	for _, f := range findings {
		scanned[strings.Fields(f)[0]] = true
	}
	for _, id := range active {
		if !scanned[id] {
			t.Errorf("active account %s has no findings (not scanned?)", id)
		}
	}
	for _, id := range append(suspended, "999999999999") {
		if n := w.srv.CountCalls(id, ""); n != 0 || scanned[id] {
			t.Errorf("account %s (suspended or excluded) was touched: %d calls", id, n)
		}
	}
	var assumed []string
	for _, c := range w.srv.Calls() {
		if c.Action == "AssumeRole" {
			assumed = append(assumed, c.Account)
			if c.Params.Get("ExternalId") != "kw-ext-1" || c.Params.Get("RoleSessionName") != "keywarden" ||
				!strings.HasSuffix(c.Params.Get("RoleArn"), ":role/audit-role") {
				t.Errorf("AssumeRole params: %v", c.Params)
			}
		}
		if c.Account == acctA && c.Service == "iam" && !strings.HasSuffix(c.Caller, ":user/keywarden") {
			t.Errorf("the management account was scanned as %s, want the main credentials", c.Caller)
		}
	}
	if len(assumed) != len(active)-1 {
		t.Errorf("AssumeRole into %d accounts, want %d (every active member, not the management account)", len(assumed), len(active)-1)
	}
	want := fmt.Sprintf("scanned %d account(s)", len(active))
	if !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, fmt.Sprintf("%d suspended/closed organization account(s) skipped", len(suspended))) {
		t.Errorf("summary lacks %q / suspended count:\n%s", want, r.stderr)
	}
	// --include narrows to a name glob; the management account is out.
	w.srv.ResetCalls()
	r = w.scan(0, "--org", "--include", "member-0*", "-o", "json", "--no-track")
	if !strings.Contains(r.stderr, "scanned 8 account(s)") || w.srv.CountCalls(acctA, "GenerateCredentialReport") != 0 {
		t.Errorf("--include member-0*: %s", r.stderr)
	}
	// Organizations refuses (not the management account): the run fails.
	w.srv.Inject(awstest.Fault{Action: "ListAccounts", Code: "AccessDenied"})
	if r := w.run("scan", "--org", "--no-track"); r.code != 1 || !strings.Contains(r.stderr, "AccessDeniedException") || !strings.Contains(r.stderr, "management account") {
		t.Errorf("ListAccounts denied: exit %d\n%s", r.code, r.stderr)
	}
}

func TestAssumeRoleDeniedIsListed(t *testing.T) {
	w, active, _ := orgWorld(t, orgConfig, 4)
	w.srv.Inject(awstest.Fault{Account: active[2], Action: "AssumeRole", Code: "AccessDenied",
		Message: "User: arn:aws:iam::111111111111:user/keywarden is not authorized to perform: sts:AssumeRole"})
	r := w.scan(1, "--org", "-o", "json", "--no-track")
	for _, want := range []string{
		"1 account(s) FAILED",
		"FAILED " + active[2] + " (member-01): ",
		"AccessDenied",
		"not authorized to perform: sts:AssumeRole",
		"1 of 5 accounts failed",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if !strings.Contains(r.stdout, active[1]) || !strings.Contains(r.stdout, active[3]) {
		t.Errorf("the other accounts' findings are missing:\n%s", r.stdout)
	}
	r = w.scan(0, "--org", "-o", "json", "--no-track", "--allow-partial")
	if !strings.Contains(r.stderr, "FAILED "+active[2]) || strings.Contains(r.stderr, "accounts failed") {
		t.Errorf("--allow-partial: the failed account must still be listed, without the error:\n%s", r.stderr)
	}
}

func TestThrottlingStormSameFindings(t *testing.T) {
	w, active, _ := orgWorld(t, orgConfig, 5)
	// Cached reports: every account confirms its suspects live, so the
	// storm reaches the confirming calls too (a fresh report needs none).
	for _, id := range active {
		w.srv.CacheReport(id, asOf.Add(-2*time.Hour))
	}
	args := []string{"--org", "-o", "json", "--show-key-ids", "--no-track", "--retry-max-backoff", "5ms"}
	calm := w.scan(0, args...)
	calmCalls := len(w.srv.Calls())
	w.srv.ResetCalls()
	// The next 5 requests are throttled, then 3 of every action's (a fault
	// counts down only when it answers, so ListAccounts, first, takes 8).
	w.srv.Inject(awstest.Fault{Code: "Throttling", Times: 5})
	for _, action := range []string{"ListAccounts", "AssumeRole", "GenerateCredentialReport", "GetCredentialReport", "GetAccountAuthorizationDetails", "ListAccessKeys", "GetAccessKeyLastUsed", "ListUsers", "GetLoginProfile"} {
		w.srv.Inject(awstest.Fault{Action: action, Code: "Throttling", Times: 3})
	}
	storm := w.scan(0, args...)
	throttled := len(w.srv.Calls()) - calmCalls
	if throttled < 20 {
		t.Errorf("only %d more requests under the storm: faults not exercised", throttled)
	}
	if a, b := strings.Join(findingKeys(t, calm.stdout), "\n"), strings.Join(findingKeys(t, storm.stdout), "\n"); a != b || a == "" {
		t.Errorf("findings differ under throttling:\ncalm:\n%s\nstorm:\n%s", a, b)
	}
}

func TestConcurrencyBound(t *testing.T) {
	w, active, _ := orgWorld(t, orgConfig, 10)
	w.srv.SetLatency(5 * time.Millisecond)
	for _, n := range []int{1, 3} {
		w.srv.ResetCalls()
		w.scan(0, "--org", "-o", "json", "--no-track", "--concurrency", fmt.Sprint(n))
		got := w.srv.MaxConcurrentAccounts()
		t.Logf("--concurrency %d: at most %d accounts in flight (of %d)", n, got, len(active))
		if got > n || got < 1 {
			t.Errorf("--concurrency %d: the server saw %d accounts in flight at once", n, got)
		}
	}
}

func TestAccountTimeout(t *testing.T) {
	w, active, _ := orgWorld(t, orgConfig, 2)
	w.srv.Inject(awstest.Fault{Account: active[1], Action: "GetAccountAuthorizationDetails", Latency: 5 * time.Second})
	start := time.Now()
	r := w.scan(1, "--org", "-o", "json", "--no-track", "--account-timeout", "300ms")
	if !strings.Contains(r.stderr, "FAILED "+active[1]) || !strings.Contains(r.stderr, "timed out after 300ms") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if !strings.Contains(r.stdout, active[2]) {
		t.Errorf("the other account's findings are missing:\n%s", r.stdout)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the scan waited %s for the slow account", d)
	}
}
