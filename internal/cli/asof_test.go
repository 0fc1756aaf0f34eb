package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/awstest"
)

// hugeConfig: every threshold and retention at the largest accepted count
// (100 years), remediation on. Before date arithmetic saturated, a count
// this size was one overflow away from "every credential is a violation".
const hugeConfig = `{
  "aws": {"region": "us-east-1", "accounts": {"111111111111": "alpha"}},
  "user_inactivekeys": {"inactive_criteria_days": 36500, "warning_days": "36499", "remediation": true, "remediation_retention_period": "36500"},
  "user_keysrotation": {"rotation_criteria_days": "36500", "warning_days": 30, "remediation": true, "remediation_retention_period": 0},
  "user_inactivepasswords": {"inactive_criteria_days": "36500", "remediation": true, "remediation_retention_period": 0}
}`

// TestHugeThresholdsNeverFlagFreshKeys (issue 10, defect 3): thresholds of
// 36,500 days never make a fresh (or ten-year-old) credential a violation,
// and remediate --yes deactivates nothing.
func TestHugeThresholdsNeverFlagFreshKeys(t *testing.T) {
	w := newWorld(t, hugeConfig)
	w.srv.AddAccount(awstest.Account{ID: acctA, Users: []awstest.User{
		{Name: "alice", Created: daysAgo(800), Keys: []awstest.Key{
			{ID: "AKIAALICE0000000NEW1", Created: daysAgo(2), LastUsed: at(daysAgo(1))},
			{ID: "AKIAALICE0000000OLD2", Created: daysAgo(3650)},
		}},
		{Name: "carol", Created: daysAgo(3650), LoginProfile: &awstest.LoginProfile{Created: daysAgo(3650)}, PasswordLastUsed: at(daysAgo(1))},
	}})
	r := w.scan(0, "-o", "json", "--fail-on", "violation")
	fs := jsonLines(t, r.stdout)
	for _, f := range fs {
		if f["stage"] != "warning" || f["days_left"].(float64) < 30000 {
			t.Errorf("with 100-year thresholds: %v", f)
		}
	}
	if len(fs) != 2 {
		t.Errorf("%d findings, want the 2 inactive-key warnings (36,499-day warning window)\n%s", len(fs), r.stdout)
	}
	if !strings.Contains(r.stderr, "0 violations") {
		t.Errorf("summary: %s", r.stderr)
	}
	w.remediate(0, "--yes")
	wantMutations(t, w.srv)

	// One day more is refused, naming the key and the fix.
	w.writeFile("config.json", strings.Replace(hugeConfig, `"inactive_criteria_days": 36500`, `"inactive_criteria_days": 999999`, 1))
	r = w.run("scan", "--as-of", asOf.Format(time.RFC3339))
	if r.code != 1 || !strings.Contains(r.stderr, `user_inactivekeys.inactive_criteria_days: 999999 is more than 36500 days (100 years); set at most 36500, or use "enabled": false to switch a check off`) {
		t.Errorf("999999 days: exit %d\n%s", r.code, r.stderr)
	}
}
