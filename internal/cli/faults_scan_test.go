package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/keywarden/keywarden/internal/awstest"
)

// Issue 10, defects 1, 2 and 11 (credential report): a scan under bad
// answers fails the account loudly and changes no issue; a one-off bad
// answer heals by retry; a cached credential report never brings back a
// credential removed since; a broken or cut report file resolves nothing.

// faultArgs make retries fast: three attempts, millisecond backoff, short
// attempt deadline.
var faultArgs = []string{"-o", "json", "--max-attempts", "3", "--retry-max-backoff", "1ms", "--call-timeout", "2s"}

// storeSnapshot is every issue in the store, as JSON lines.
func (w *world) storeSnapshot() string {
	w.t.Helper()
	r := w.run("issues", "list", "--status", "all", "-o", "json", "--show-key-ids")
	if r.code != 0 {
		w.t.Fatalf("issues list: exit %d: %s", r.code, r.stderr)
	}
	return r.stdout
}

func TestScanBadAnswersFailTheAccount(t *testing.T) {
	paginated := []awstest.FaultMode{awstest.ModeTruncated, awstest.ModeEmptyBody, awstest.ModeMalformedBody, awstest.ModeMissingElement}
	single := paginated[1:]
	tests := []struct {
		action string
		modes  []awstest.FaultMode
		source string
		// stale: the scans read a cached report (two hours old), so the
		// fast path confirms the suspects live (issue 13: a fresh report
		// of a tracked account needs none of the confirming calls).
		stale bool
		// change, when set, changes the live state after the report.
		change func(*awstest.Server)
	}{
		{action: "GetAccountAuthorizationDetails", modes: paginated},
		{action: "ListAccessKeys", modes: paginated, stale: true},
		// A user created since the cached report is read live (GetUser).
		{action: "GetUser", modes: single, stale: true, change: func(s *awstest.Server) {
			s.AddUser(acctA, awstest.User{Name: "henry", Created: asOf.Add(-time.Hour)})
		}},
		{action: "GetAccessKeyLastUsed", modes: single, stale: true},
		{action: "ListUsers", modes: paginated, stale: true},
		{action: "GetLoginProfile", modes: single, stale: true},
		{action: "GetCredentialReport", modes: single},
		{action: "GenerateCredentialReport", modes: single},
		{action: "ListUsers", modes: paginated, source: "live"},
		{action: "GetAccountAuthorizationDetails", modes: paginated, source: "live"},
		{action: "GetLoginProfile", modes: single, source: "live"},
	}
	for _, tt := range tests {
		name := tt.action
		if tt.source != "" {
			name += "/" + tt.source
		}
		if tt.stale {
			name += "/cached-report"
		}
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, baseConfig)
			w.srv.AddAccount(seedAlpha())
			args := slices.Clone(faultArgs)
			if tt.source != "" {
				args = append(args, "--source", tt.source)
			}
			if tt.stale {
				w.srv.CacheReport(acctA, asOf.Add(-2*time.Hour))
			}
			if tt.change != nil {
				tt.change(w.srv)
			}
			clean := w.scan(0, args...)
			if got := findingKeys(t, clean.stdout); len(got) != len(wantAlpha) {
				t.Fatalf("clean scan: %v", got)
			}
			before := w.storeSnapshot()
			for _, mode := range tt.modes {
				w.srv.ClearFaults()
				w.srv.ResetCalls()
				w.srv.Inject(awstest.Fault{Account: acctA, Action: tt.action, Mode: mode})
				r := w.scan(1, args...)
				if w.srv.CountCalls(acctA, tt.action) == 0 {
					t.Fatalf("%s: the scan never called %s", mode, tt.action)
				}
				for _, want := range []string{"FAILED " + acctA, tt.action, "1 of 1 accounts failed"} {
					if !strings.Contains(r.stderr, want) {
						t.Errorf("%s: stderr lacks %q:\n%s", mode, want, r.stderr)
					}
				}
				if r.stdout != "" {
					t.Errorf("%s: a failed account printed findings:\n%s", mode, r.stdout)
				}
				if after := w.storeSnapshot(); after != before {
					t.Errorf("%s: the store changed:\nbefore:\n%s\nafter:\n%s", mode, before, after)
				}

				// Once only: the retry heals it.
				w.srv.ClearFaults()
				w.srv.Inject(awstest.Fault{Account: acctA, Action: tt.action, Mode: mode, Times: 1})
				r = w.scan(0, args...)
				if got := findingKeys(t, r.stdout); !slices.Equal(got, findingKeys(t, clean.stdout)) {
					t.Errorf("%s once: findings\n%s\nwant\n%s", mode, strings.Join(got, "\n"), strings.Join(findingKeys(t, clean.stdout), "\n"))
				}
				if !strings.Contains(r.stderr, "issues: 0 new, 0 updated, 0 resolved") {
					t.Errorf("%s once: %s", mode, r.stderr)
				}
			}
		})
	}
}

// A call that never answers fails the account after the attempts, each
// bounded by --call-timeout.
func TestScanHungCallFailsTheAccount(t *testing.T) {
	w := newWorld(t, baseConfig)
	w.srv.AddAccount(seedAlpha())
	w.scan(0, faultArgs...)
	before := w.storeSnapshot()
	w.srv.Inject(awstest.Fault{Account: acctA, Action: "GetAccountAuthorizationDetails", Mode: awstest.ModeHang})
	start := time.Now()
	r := w.scan(1, "-o", "json", "--max-attempts", "2", "--retry-max-backoff", "1ms", "--call-timeout", "100ms")
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the hung scan took %s", d)
	}
	for _, want := range []string{"FAILED " + acctA, "GetAccountAuthorizationDetails gave no complete answer within 100ms"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if after := w.storeSnapshot(); after != before {
		t.Errorf("the store changed:\n%s", after)
	}
}

// A credential report AWS serves from its cache (up to 4 hours old) shows
// credentials removed or used since: none of them is reported again, and
// their issues resolve with the true reason.
func TestScanCachedReportConfirmsLive(t *testing.T) {
	tests := []struct {
		name   string
		change func(*awstest.Server)
		// resolved maps "user kind" to the close reason.
		resolved map[string]string
	}{
		{
			name:     "login profile deleted",
			change:   func(s *awstest.Server) { s.DeleteLoginProfile(acctA, "dave") },
			resolved: map[string]string{"dave user_inactivepasswords": "login profile deleted"},
		},
		{
			name:     "key deleted",
			change:   func(s *awstest.Server) { s.DeleteKey(acctA, "AKIABOB0000000000001") },
			resolved: map[string]string{"bob user_inactivekeys": "key deleted"},
		},
		{
			name:   "key deactivated",
			change: func(s *awstest.Server) { s.SetKeyStatus(acctA, "AKIAALICE0000000OLD1", "Inactive") },
			resolved: map[string]string{
				"alice user_inactivekeys": "key deactivated",
				"alice user_keysrotation": "key deactivated",
			},
		},
		{
			name: "key used",
			change: func(s *awstest.Server) {
				s.UseKey(acctA, "AKIABOB0000000000001", asOf.Add(-time.Hour), "s3", "us-east-1")
			},
			resolved: map[string]string{"bob user_inactivekeys": "key used again"},
		},
		{
			name:     "password used",
			change:   func(s *awstest.Server) { s.LoginAt(acctA, "dave", asOf.Add(-time.Hour)) },
			resolved: map[string]string{"dave user_inactivepasswords": "password used again"},
		},
		{
			name:     "user deleted",
			change:   func(s *awstest.Server) { s.DeleteUser(acctA, "dave") },
			resolved: map[string]string{"dave user_inactivepasswords": "user deleted"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, baseConfig)
			w.srv.AddAccount(seedAlpha())
			w.scan(0, faultArgs...)
			// AWS serves a report generated two hours ago; since then a
			// person (or keywarden's remediation) acted.
			w.srv.CacheReport(acctA, asOf.Add(-2*time.Hour))
			tt.change(w.srv)
			w.srv.ResetCalls()
			r := w.scan(0, faultArgs...)
			found := findingKeys(t, r.stdout)
			for _, line := range found {
				for subject := range tt.resolved {
					user, kind, _ := strings.Cut(subject, " ")
					if strings.Contains(line, " "+user+" ") && strings.Contains(line, " "+kind+" ") {
						t.Errorf("reported from the cached report: %s", line)
					}
				}
			}
			if want := len(wantAlpha) - len(tt.resolved); len(found) != want {
				t.Errorf("%d findings, want %d:\n%s", len(found), want, strings.Join(found, "\n"))
			}
			if want := fmt.Sprintf("issues: 0 new, 0 updated, %d resolved", len(tt.resolved)); !strings.Contains(r.stderr, want) {
				t.Errorf("summary lacks %q: %s", want, r.stderr)
			}
			list := w.run("issues", "list", "--status", "resolved", "-o", "json")
			reasons := map[string]string{}
			for _, m := range jsonLines(t, list.stdout) {
				reasons[m["issue_details"].(map[string]any)["username"].(string)+" "+m["kind"].(string)] = m["close_reason"].(string)
			}
			if !mapsEqual(reasons, tt.resolved) {
				t.Errorf("resolved issues: %v, want %v", reasons, tt.resolved)
			}
			if tt.name == "login profile deleted" && w.srv.CountCalls(acctA, "GetLoginProfile") == 0 {
				t.Errorf("the stale report's password suspects were not checked with GetLoginProfile")
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// A report generated by this scan is live state: no login profile is
// re-read (the call budget of a daily scan holds).
func TestScanFreshReportSkipsLoginProfiles(t *testing.T) {
	w := newWorld(t, baseConfig)
	w.srv.AddAccount(seedAlpha())
	w.scan(0, faultArgs...)
	if n := w.srv.CountCalls(acctA, "GetLoginProfile"); n != 0 {
		t.Errorf("GetLoginProfile called %d times on a fresh report", n)
	}
}

// alphaReport is account A's credential report as AWS renders it.
func alphaReport(t *testing.T, w *world) string {
	t.Helper()
	c := iam.NewFromConfig(w.srv.Config(mainAKID, "main-secret"))
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if _, err := c.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := c.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
	if err != nil {
		t.Fatal(err)
	}
	return string(out.Content)
}

// withoutLine drops the lines starting with prefix.
func withoutLine(report, prefix string) string {
	var keep []string
	for _, l := range strings.SplitAfter(report, "\n") {
		if !strings.HasPrefix(l, prefix) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "")
}

func TestScanReportFile(t *testing.T) {
	w := newWorld(t, baseConfig)
	w.srv.AddAccount(seedAlpha())
	good := alphaReport(t, w)
	file := filepath.Join(w.dir, "report.csv")
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(good)
	clean := w.scan(0, "-o", "json", "--credential-report", file)
	if !strings.Contains(clean.stderr, "issues: 6 new") {
		t.Fatalf("clean file scan: %s", clean.stderr)
	}
	before := w.storeSnapshot()

	bad := []struct {
		name, content, want string
	}{
		{"no root row", withoutLine(good, "<root_account>"), "no <root_account> row"},
		{"N/A password_enabled", strings.Replace(good, "dave,arn:aws:iam::111111111111:user/dave,"+isoDaysAgo(500)+",true,", "dave,arn:aws:iam::111111111111:user/dave,"+isoDaysAgo(500)+",N/A,", 1), `column password_enabled: invalid boolean "N/A"`},
		{"duplicate user", good + lineOf(good, "bob,"), "user bob appears twice"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if tt.content == good {
				t.Fatal("the fixture did not change the report")
			}
			write(tt.content)
			r := w.scan(1, "-o", "json", "--credential-report", file)
			if !strings.Contains(r.stderr, tt.want) || !strings.Contains(r.stderr, file) {
				t.Errorf("stderr lacks %q naming %s:\n%s", tt.want, file, r.stderr)
			}
			if after := w.storeSnapshot(); after != before {
				t.Errorf("the store changed:\n%s", after)
			}
		})
	}

	t.Run("file missing a user", func(t *testing.T) {
		// Cut at a line boundary: dave's row is gone. dave is not known to
		// be deleted, so his issue stays open; bob, listed, still
		// reconciles (his key was deactivated).
		cut := withoutLine(good, "dave,")
		cut = strings.Replace(cut, lineOf(cut, "bob,"), strings.Replace(lineOf(cut, "bob,"), ",true,"+isoDaysAgo(100)+",", ",false,"+isoDaysAgo(100)+",", 1), 1)
		if !strings.Contains(cut, "bob,") || strings.Contains(cut, "dave,") || strings.Contains(lineOf(cut, "bob,"), ",true,") {
			t.Fatalf("fixture:\n%s", cut)
		}
		write(cut)
		r := w.scan(0, "-o", "json", "--credential-report", file)
		if !strings.Contains(r.stderr, "issues: 0 new, 0 updated, 1 resolved (1 left open: their users are not in the credential report file") {
			t.Errorf("summary: %s", r.stderr)
		}
		open := w.run("issues", "list", "-o", "json")
		users := map[string]bool{}
		for _, m := range jsonLines(t, open.stdout) {
			users[m["issue_details"].(map[string]any)["username"].(string)] = true
		}
		if !users["dave"] || users["bob"] {
			t.Errorf("open issues' users: %v, want dave's still open and bob's resolved", users)
		}
	})
}

func isoDaysAgo(d float64) string { return daysAgo(d).UTC().Format("2006-01-02T15:04:05+00:00") }

// lineOf returns the first line of report starting with prefix, with its
// newline.
func lineOf(report, prefix string) string {
	for _, l := range strings.SplitAfter(report, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// A member account whose AssumeRole answer is bad fails alone; the
// others are scanned.
func TestScanBadAssumeRoleFailsTheMember(t *testing.T) {
	w := newWorld(t, `{
  "aws": {"accounts": {"111111111111": "alpha", "222222222222": "beta"}},
  "user_inactivekeys": {"inactive_criteria_days": 90}
}`)
	w.srv.AddAccount(seedAlpha())
	w.srv.AddAccount(awstest.Account{ID: acctB, Users: []awstest.User{
		{Name: "zoe", Keys: []awstest.Key{{ID: "AKIAZOE0000000000001", Created: daysAgo(365)}}},
	}})
	for _, mode := range []awstest.FaultMode{awstest.ModeEmptyBody, awstest.ModeMalformedBody, awstest.ModeMissingElement} {
		w.srv.ClearFaults()
		w.srv.Inject(awstest.Fault{Account: acctB, Action: "AssumeRole", Mode: mode})
		r := w.scan(1, append(faultArgs, "--no-track", "--show-key-ids")...)
		if !strings.Contains(r.stderr, "FAILED "+acctB) || !strings.Contains(r.stderr, "STS AssumeRole") {
			t.Errorf("%s: stderr:\n%s", mode, r.stderr)
		}
		if !strings.Contains(r.stdout, "AKIABOB0000000000001") || strings.Contains(r.stdout, "zoe") {
			t.Errorf("%s: findings:\n%s", mode, r.stdout)
		}
	}
}

// Organization discovery under bad answers fails the scan (exit 1) instead
// of scanning no account; a one-off bad answer heals.
func TestScanOrgBadListAccounts(t *testing.T) {
	w, active, _ := orgWorld(t, orgConfig, 2)
	for _, mode := range []awstest.FaultMode{awstest.ModeEmptyBody, awstest.ModeMalformedBody, awstest.ModeMissingElement} {
		w.srv.ClearFaults()
		w.srv.Inject(awstest.Fault{Action: "ListAccounts", Mode: mode})
		r := w.scan(1, append(faultArgs, "--org", "--no-track")...)
		if !strings.Contains(r.stderr, "discover organization accounts") {
			t.Errorf("%s: stderr:\n%s", mode, r.stderr)
		}
		if r.stdout != "" {
			t.Errorf("%s: findings printed:\n%s", mode, r.stdout)
		}
		w.srv.ClearFaults()
		w.srv.Inject(awstest.Fault{Action: "ListAccounts", Mode: mode, Times: 1})
		r = w.scan(0, append(faultArgs, "--org", "--no-track")...)
		if !strings.Contains(r.stderr, fmt.Sprintf("scanned %d account(s)", len(active))) {
			t.Errorf("%s once: %s", mode, r.stderr)
		}
	}
}
