package notify

import (
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/policy"
)

// The date a notice states is the planner's (remediate.DueAt): the report
// of the violation plus remediation_retention_period; the first report is
// the notice being sent; a warning states the earliest date (its deadline
// plus the retention).
func TestRemediationDate(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	earlier := now.Add(-2 * policy.Day)
	on := &config.Kind{Remediation: true, RemediationRetentionPeriod: 7}
	base := issues.Issue{Kind: policy.InactiveKeys, AccountID: "111111111111", Subject: "AKIA1", Status: issues.Open,
		Stage: policy.Violation, Deadline: now.Add(-10 * policy.Day)}
	day := func(s string) time.Time { t, _ := time.Parse("2006-01-02", s); return t }
	cases := []struct {
		name string
		k    *config.Kind
		ev   Event
		mod  func(*issues.Issue)
		want time.Time // zero: none
	}{
		{"first report: now + 7", on, Violation, nil, day("2026-12-02")},
		{"already reported: report + 7", on, Violation, func(i *issues.Issue) { i.Reported = &earlier }, day("2026-11-30")},
		{"retention 0", &config.Kind{Remediation: true}, Violation, nil, day("2026-11-25")},
		{"warning: deadline + 7", on, Warning, func(i *issues.Issue) { i.Stage, i.Deadline = policy.Warning, now.Add(5*policy.Day) }, day("2026-12-07")},
		{"remediation off", &config.Kind{RemediationRetentionPeriod: 7}, Violation, nil, time.Time{}},
		{"other account", &config.Kind{Remediation: true, RemediationAccounts: []string{"222222222222"}}, Violation, nil, time.Time{}},
		{"whitelisted", on, Violation, func(i *issues.Issue) { i.Status, i.Exemption = issues.Whitelisted, "whitelist.json" }, time.Time{}},
		{"key slot", on, Violation, func(i *issues.Issue) { i.Subject = "bob/access_key_1" }, time.Time{}},
	}
	for _, c := range cases {
		is := base
		if c.mod != nil {
			c.mod(&is)
		}
		got, ok := RemediationDate(&is, c.k, c.ev, now)
		if ok != !c.want.IsZero() || (ok && got.UTC().Format("2006-01-02") != c.want.Format("2006-01-02")) {
			t.Errorf("%s: %v %v, want %v", c.name, got, ok, c.want)
		}
		n := Notice{Issue: is, RemediationDate: got}
		if ok && n.Remediation() != "keywarden deactivates it on "+c.want.Format("2006-01-02")+" (Auto-Remediation Date)" {
			t.Errorf("%s: %q", c.name, n.Remediation())
		}
	}
}
