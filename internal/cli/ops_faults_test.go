package cli

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/awstest"
)

// twoMembersConfig audits two member accounts, both reached by AssumeRole
// (the caller is in 111111111111).
const twoMembersConfig = `{
  "aws": {"region": "us-east-1", "accounts": {"222222222222": "beta", "333333333333": "gamma"}},
  "user_inactivekeys": {"inactive_criteria_days": 90}
}`

// TestAllowPartialNeedsOneAccount (issue 10, defect 11): --allow-partial
// exits 0 when some account was scanned, 1 when every account failed, and
// the summary says that none succeeded.
func TestAllowPartialNeedsOneAccount(t *testing.T) {
	const acctC = "333333333333"
	for _, tc := range []struct {
		name     string
		deny     []string
		want     int
		stderr   []string
		noStderr []string
	}{
		{"one of two fails", []string{acctC}, 0,
			[]string{"1 account(s) FAILED", "FAILED " + acctC + " (gamma)"},
			[]string{"no account", "accounts failed"}},
		{"both fail", []string{acctB, acctC}, 1,
			[]string{"all 2 account(s) FAILED: no account succeeded", "FAILED " + acctB + " (beta)", "FAILED " + acctC + " (gamma)",
				"no account was scanned: all 2 failed"},
			nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, twoMembersConfig)
			w.srv.AddAccount(awstest.Account{ID: acctB, Users: []awstest.User{{Name: "bea", Created: daysAgo(10)}}})
			w.srv.AddAccount(awstest.Account{ID: acctC, Users: []awstest.User{{Name: "gus", Created: daysAgo(10)}}})
			for _, a := range tc.deny {
				w.srv.Inject(awstest.Fault{Account: a, Action: "AssumeRole", Code: "AccessDenied"})
			}
			r := w.scan(tc.want, "--allow-partial", "-o", "json")
			for _, s := range tc.stderr {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
				}
			}
			for _, s := range tc.noStderr {
				if strings.Contains(r.stderr, s) {
					t.Errorf("stderr has %q:\n%s", s, r.stderr)
				}
			}
			// Without --allow-partial, any failure exits 1.
			w.scan(1, "-o", "json")
		})
	}
}

// TestConcurrentScansShareSQLite (issue 10, defect 9): scans of one SQLite
// file at the same time wait their turn: every one exits 0 and the store
// holds one live issue per credential.
func TestConcurrentScansShareSQLite(t *testing.T) {
	w := newWorld(t, baseConfig)
	w.srv.AddAccount(seedAlpha())
	const n = 6
	var wg sync.WaitGroup
	results := make([]result, n)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = w.run("scan", "--as-of", asOf.Format(time.RFC3339), "--report-poll-interval", "1ms", "-o", "json")
		}(i)
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("scan %d: exit %d\n%s", i, r.code, r.stderr)
		}
	}
	list := jsonLines(t, w.run("issues", "list", "--status", "all", "-o", "json").stdout)
	seen := map[string]int{}
	for _, m := range list {
		seen[fmt.Sprint(m["kind"], "/", m["subject"])]++
		if m["status"] != "open" && m["status"] != "whitelisted" {
			t.Errorf("issue %v is %v", m["id"], m["status"])
		}
	}
	if len(list) != 6 {
		t.Errorf("%d issues, want 6 (one per finding's credential): %v", len(list), seen)
	}
	for k, c := range seen {
		if c != 1 {
			t.Errorf("%d issues for %s", c, k)
		}
	}
}
