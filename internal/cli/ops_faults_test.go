package cli

import (
	"strings"
	"testing"

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
