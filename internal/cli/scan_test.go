package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/keywarden/keywarden/internal/awstest"
)

// findingKeys reduces JSON findings to comparable one-line descriptions.
func findingKeys(t *testing.T, out string) []string {
	t.Helper()
	var keys []string
	for _, m := range jsonLines(t, out) {
		keys = append(keys, fmt.Sprintf("%s %s %v %s %s days_left=%v exemption=%v", m["account"], m["user"], m["key_id"], m["kind"], m["status"], m["days_left"], m["exemption"]))
	}
	sort.Strings(keys)
	return keys
}

var wantAlpha = []string{
	"111111111111 alice AKIAALICE0000000OLD1 user_inactivekeys violation days_left=-30 exemption=<nil>",
	"111111111111 alice AKIAALICE0000000OLD1 user_keysrotation violation days_left=-220 exemption=<nil>",
	"111111111111 bob AKIABOB0000000000001 user_inactivekeys violation days_left=-10 exemption=<nil>",
	"111111111111 carol <nil> user_inactivepasswords warning days_left=5 exemption=<nil>",
	"111111111111 dave <nil> user_inactivepasswords violation days_left=-110 exemption=<nil>",
	"111111111111 frank AKIAFRANK00000000001 user_keysrotation whitelisted days_left=-20 exemption=tag KeyAutoExpire=false",
}

func TestScanBothSourcesAgree(t *testing.T) {
	for _, source := range []string{"report", "live"} {
		t.Run(source, func(t *testing.T) {
			w := newWorld(t, baseConfig)
			w.srv.AddAccount(seedAlpha())
			r := w.scan(0, "--source", source, "-o", "json", "--show-key-ids", "--no-track")
			got := findingKeys(t, r.stdout)
			if strings.Join(got, "\n") != strings.Join(wantAlpha, "\n") {
				t.Errorf("findings via %s:\n%s\nwant:\n%s", source, strings.Join(got, "\n"), strings.Join(wantAlpha, "\n"))
			}
			for _, c := range w.srv.Calls() {
				switch c.Action {
				case "UpdateAccessKey", "DeleteLoginProfile", "CreateLoginProfile":
					t.Errorf("a scan made a mutating call: %s %v", c.Action, c.Params)
				}
			}
		})
	}
}

// iamCalls counts the IAM calls of one account in the server's record.
func iamCalls(srv *awstest.Server, account string) (total int, by map[string]int) {
	by = map[string]int{}
	for _, c := range srv.Calls() {
		if c.Service == "iam" && c.Account == account {
			total++
			by[c.Action]++
		}
	}
	return total, by
}

// TestFastPathCallBudget proves the fast path's API-call budget,
// 3 + ceil(users/1000) + users-with-findings + credentials-with-findings,
// measured from the server's call record, at 1, 100 and 2,000 users; and
// that the exact path, which reads every user, agrees on the findings.
func TestFastPathCallBudget(t *testing.T) {
	for _, n := range []int{1, 100, 2000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			w := newWorld(t, baseConfig)
			acct := awstest.Account{ID: acctA}
			usersWith, credsWith := 0, 0
			for i := 0; i < n; i++ {
				u := awstest.User{Name: fmt.Sprintf("user%05d", i), Created: daysAgo(1000)}
				switch i % 10 {
				case 0: // stale key: inactive + rotation findings on one key
					u.Keys = []awstest.Key{{ID: fmt.Sprintf("AKIASTALE%011d", i), Created: daysAgo(400), LastUsed: at(daysAgo(200))}}
					usersWith++
					credsWith++
				case 5: // unused password
					u.LoginProfile = &awstest.LoginProfile{Created: daysAgo(300)}
					usersWith++
					credsWith++
				default: // healthy key and password
					u.Keys = []awstest.Key{{ID: fmt.Sprintf("AKIAFINE%012d", i), Created: daysAgo(30), LastUsed: at(daysAgo(1))}}
					u.LoginProfile = &awstest.LoginProfile{Created: daysAgo(30)}
					u.PasswordLastUsed = at(daysAgo(2))
				}
				acct.Users = append(acct.Users, u)
			}
			w.srv.AddAccount(acct)
			fast := w.scan(0, "-o", "json", "--show-key-ids", "--no-track")
			fastCalls, fastBy := iamCalls(w.srv, acctA)
			w.srv.ResetCalls()
			live := w.scan(0, "--source", "live", "-o", "json", "--show-key-ids", "--no-track")
			liveCalls, _ := iamCalls(w.srv, acctA)

			budget := 3 + (n+999)/1000 + usersWith + credsWith
			t.Logf("users=%d users-with-findings=%d: fast path %d IAM calls (budget %d) %v; exact path %d IAM calls",
				n, usersWith, fastCalls, budget, fastBy, liveCalls)
			if fastCalls > budget {
				t.Errorf("fast path made %d IAM calls, budget %d: %v", fastCalls, budget, fastBy)
			}
			if a, b := findingKeys(t, fast.stdout), findingKeys(t, live.stdout); strings.Join(a, "\n") != strings.Join(b, "\n") {
				t.Errorf("fast and exact paths disagree:\nfast: %d findings\nlive: %d findings", len(a), len(b))
			}
			if got := len(jsonLines(t, fast.stdout)); got != 2*((n+9)/10)+(n+4)/10 {
				t.Errorf("findings: %d", got)
			}
		})
	}
}

func TestFastPathConfirmsLive(t *testing.T) {
	w := newWorld(t, baseConfig)
	w.srv.AddAccount(seedAlpha())
	w.scan(0, "-o", "json")
	if n := w.srv.CountCalls(acctA, "GenerateCredentialReport"); n != 2 {
		t.Fatalf("GenerateCredentialReport called %d times, want 2 (STARTED, then COMPLETE)", n)
	}
	// After the report was generated, bob uses his key and carol logs in:
	// the report still says otherwise (it is cached for four hours), the
	// live confirmation must win.
	w.srv.UseKey(acctA, "AKIABOB0000000000001", daysAgo(0.01), "sts", "eu-west-1")
	w.srv.LoginAt(acctA, "carol", daysAgo(0.01))
	r := w.scan(0, "-o", "json", "--show-key-ids")
	got := strings.Join(findingKeys(t, r.stdout), "\n")
	if strings.Contains(got, "AKIABOB") || strings.Contains(got, "carol") {
		t.Errorf("a credential used after the report was reported:\n%s", got)
	}
	if n := w.srv.CountCalls(acctA, "GenerateCredentialReport"); n != 3 {
		t.Errorf("the second scan should reuse the fresh report (1 more call), got %d in total", n)
	}
	list := w.run("issues", "list", "--status", "resolved", "-o", "json")
	reasons := map[string]string{}
	for _, m := range jsonLines(t, list.stdout) {
		reasons[m["issue_details"].(map[string]any)["username"].(string)] = m["close_reason"].(string)
	}
	if reasons["bob"] != "key used again" || reasons["carol"] != "password used again" {
		t.Errorf("close reasons: %v", reasons)
	}
}

func TestScanLifecycleThroughCLI(t *testing.T) {
	w := newWorld(t, baseConfig)
	w.srv.AddAccount(seedAlpha())
	r := w.scan(0, "-o", "json")
	if !strings.Contains(r.stderr, "issues: 6 new, 0 updated, 0 resolved") {
		t.Fatalf("first scan summary: %s", r.stderr)
	}
	r = w.scan(0, "-o", "json")
	if !strings.Contains(r.stderr, "issues: 0 new, 0 updated, 0 resolved") {
		t.Fatalf("rescan changed something: %s", r.stderr)
	}
	// alice's old key is deactivated out of band; bob's key is deleted.
	c := iam.NewFromConfig(w.srv.Config(mainAKID, "main-secret"))
	ctx := context.Background()
	if _, err := c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: aws.String("AKIAALICE0000000OLD1"), Status: types.StatusTypeInactive}); err != nil {
		t.Fatal(err)
	}
	u, _ := w.srv.User(acctA, "bob")
	u.Keys = nil
	acct := seedAlpha()
	for i := range acct.Users {
		if acct.Users[i].Name == "bob" {
			acct.Users[i] = u
		}
		if acct.Users[i].Name == "alice" {
			acct.Users[i].Keys[0].Status = "Inactive"
		}
	}
	w.srv.AddAccount(acct)
	r = w.scan(0, "-o", "json")
	if !strings.Contains(r.stderr, "issues: 0 new, 0 updated, 3 resolved") {
		t.Fatalf("summary after fixes: %s", r.stderr)
	}
	all := w.run("issues", "list", "--status", "resolved", "-o", "table", "--show-key-ids")
	for _, want := range []string{"AKIAALICE0000000OLD1", "key deactivated", "AKIABOB0000000000001", "key deleted"} {
		if !strings.Contains(all.stdout, want) {
			t.Errorf("resolved issues lack %q:\n%s", want, all.stdout)
		}
	}
	// Every issue is still there: 6 detected, 3 resolved, 3 live.
	if n := len(jsonLines(t, w.run("issues", "list", "--status", "all", "-o", "json").stdout)); n != 6 {
		t.Errorf("issues kept: %d, want 6", n)
	}
	show := w.run("issues", "show", "1", "-o", "table")
	if show.code != 0 || !strings.Contains(show.stdout, "Detected:") {
		t.Errorf("issues show 1: %d %s %s", show.code, show.stdout, show.stderr)
	}
	if r := w.run("issues", "show", "99"); r.code != 1 || !strings.Contains(r.stderr, "issue 99 not found") {
		t.Errorf("issues show 99: %d %s", r.code, r.stderr)
	}
}

func TestReportUnavailableFailsLoudly(t *testing.T) {
	w := newWorld(t, baseConfig)
	w.srv.AddAccount(seedAlpha())
	w.scan(0, "-o", "json")
	// A day later IAM refuses to generate reports: the account must fail,
	// and its open issues must not be resolved.
	w.srv.SetClock(func() time.Time { return asOf.Add(24 * time.Hour) })
	w.srv.Inject(awstest.Fault{Account: acctA, Action: "GenerateCredentialReport", Code: "LimitExceeded"})
	r := w.run("scan", "--as-of", asOf.Add(24*time.Hour).Format(time.RFC3339), "--report-poll-interval", "1ms", "--report-timeout", "50ms", "-o", "json")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"1 of 1 accounts failed", "credential report unavailable", "LimitExceeded", "account(s) FAILED"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if r.stdout != "" {
		t.Errorf("a failed account printed findings: %s", r.stdout)
	}
	if n := len(jsonLines(t, w.run("issues", "list", "-o", "json").stdout)); n != 6 {
		t.Errorf("open issues after a failed scan: %d, want 6 (nothing resolved)", n)
	}
}

func TestFailOn(t *testing.T) {
	w := newWorld(t, baseConfig)
	w.srv.AddAccount(seedAlpha())
	w.scan(3, "-o", "json", "--no-track", "--fail-on", "violation")
	w.scan(3, "-o", "json", "--no-track", "--fail-on", "warning")
	if r := w.run("scan", "--fail-on", "sometimes"); r.code != ExitUsage || !strings.Contains(r.stderr, "use warning or violation") {
		t.Errorf("bad --fail-on: %d %s", r.code, r.stderr)
	}
	// Only a whitelisted violation and a warning: --fail-on violation passes.
	w.srv.AddAccount(awstest.Account{ID: acctA, Users: []awstest.User{
		{Name: "frank", Tags: map[string]string{"KeyAutoExpire": "false"}, Keys: []awstest.Key{{ID: "AKIAFRANK00000000001", Created: daysAgo(200), LastUsed: at(daysAgo(1))}}},
		{Name: "carol", LoginProfile: &awstest.LoginProfile{Created: daysAgo(500)}, PasswordLastUsed: at(daysAgo(85))},
	}})
	w.scan(0, "-o", "json", "--no-track", "--fail-on", "violation")
	w.scan(3, "-o", "json", "--no-track", "--fail-on", "warning")
}

func TestWhitelistFile(t *testing.T) {
	w := newWorld(t, baseConfig)
	w.srv.AddAccount(seedAlpha())
	w.writeFile("whitelist.json", `{"user_inactivekeys": {"111111111111": ["", "bob"]}, "user_keysrotation": {"111111111111": ["AKIAALICE0000000OLD1"]}}`)
	r := w.scan(0, "-o", "json", "--show-key-ids", "--no-track")
	got := strings.Join(findingKeys(t, r.stdout), "\n")
	for _, want := range []string{
		"bob AKIABOB0000000000001 user_inactivekeys whitelisted days_left=-10 exemption=whitelist.json",
		"alice AKIAALICE0000000OLD1 user_keysrotation whitelisted days_left=-220 exemption=whitelist.json",
		"alice AKIAALICE0000000OLD1 user_inactivekeys violation", // whitelisted for rotation only
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
}

func TestAssumeRoleIntoMemberAccount(t *testing.T) {
	w := newWorld(t, `{
  "aws": {"accounts": {"111111111111": "alpha", "222222222222": "beta"}, "role_name": "audit-role"},
  "user_inactivekeys": {"inactive_criteria_days": 90}
}`)
	w.srv.AddAccount(seedAlpha())
	w.srv.AddAccount(awstest.Account{ID: acctB, Users: []awstest.User{
		{Name: "zoe", Keys: []awstest.Key{{ID: "AKIAZOE0000000000001", Created: daysAgo(365)}}},
	}})
	r := w.scan(0, "-o", "json", "--show-key-ids")
	got := strings.Join(findingKeys(t, r.stdout), "\n")
	if !strings.Contains(got, "222222222222 zoe AKIAZOE0000000000001 user_inactivekeys violation") ||
		!strings.Contains(got, "111111111111 bob") {
		t.Errorf("findings:\n%s", got)
	}
	var assumed []string
	for _, c := range w.srv.Calls() {
		if c.Action == "AssumeRole" {
			assumed = append(assumed, c.Params.Get("RoleArn")+" "+c.Params.Get("RoleSessionName"))
		}
	}
	if strings.Join(assumed, ",") != "arn:aws:iam::222222222222:role/audit-role keywarden" {
		t.Errorf("AssumeRole calls: %v (the main account must use the main credentials)", assumed)
	}
	// AccessDenied on the member's role: that account fails, the other is scanned.
	w.srv.Inject(awstest.Fault{Account: acctB, Action: "AssumeRole", Code: "AccessDenied"})
	r = w.run("scan", "--as-of", asOf.Format(time.RFC3339), "--report-poll-interval", "1ms", "-o", "json", "--show-key-ids", "--no-track")
	if r.code != 1 || !strings.Contains(r.stderr, "account 222222222222") || !strings.Contains(r.stderr, "AccessDenied") {
		t.Errorf("exit %d stderr:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "AKIABOB0000000000001") {
		t.Errorf("the healthy account's findings are missing:\n%s", r.stdout)
	}
}
