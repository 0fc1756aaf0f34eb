package notify

import (
	"fmt"
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

// PlanRemediationWarning: Hammer's remediation_warning_days stages, the
// nearest reached sent once, never before the report, retried while live,
// cancelled once the issue will not be remediated.
func TestPlanRemediationWarning(t *testing.T) {
	reported := time.Date(2026, 11, 18, 12, 0, 0, 0, time.UTC)
	due := reported.Add(7 * policy.Day)
	open := issues.Issue{ID: 1, Status: issues.Open, Stage: policy.Violation, Reported: &reported}
	sent := func(seq int) *Delivery { return &Delivery{Event: RemediationWarning, Seq: seq, State: Sent} }
	pending := func(seq int) *Delivery { return &Delivery{Event: RemediationWarning, Seq: seq, State: Pending} }
	cases := []struct {
		name   string
		is     issues.Issue
		past   []*Delivery
		ok     bool
		at     time.Time
		events []int // seqs of new warnings
		retry  int
		cancel int
	}{
		{"too early", open, nil, true, due.Add(-3*policy.Day - time.Second), nil, 0, 0},
		{"stage 3", open, nil, true, due.Add(-3 * policy.Day), []int{3}, 0, 0},
		{"stage 3 sent", open, []*Delivery{sent(3)}, true, due.Add(-2 * policy.Day), nil, 0, 0},
		{"stage 1 after 3", open, []*Delivery{sent(3)}, true, due.Add(-policy.Day), []int{1}, 0, 0},
		{"missed stages: the nearest only", open, nil, true, due.Add(time.Hour), []int{1}, 0, 0},
		{"stage 1 sent", open, []*Delivery{sent(3), sent(1)}, true, due, nil, 0, 0},
		{"pending: retried", open, []*Delivery{pending(3)}, true, due.Add(-policy.Day), nil, 1, 0},
		{"not reported", issues.Issue{ID: 1, Status: issues.Open, Stage: policy.Violation}, nil, true, due, nil, 0, 0},
		{"remediation off", open, nil, false, due, nil, 0, 0},
		{"resolved: pending cancelled", issues.Issue{ID: 1, Status: issues.Resolved, Reported: &reported}, []*Delivery{pending(1)}, true, due, nil, 0, 1},
	}
	for _, c := range cases {
		d := PlanRemediationWarning(&c.is, c.past, []int{3, 1}, due, c.ok, c.at)
		if fmt.Sprint(d.Seqs) != fmt.Sprint(c.events) && !(len(d.Seqs) == 0 && len(c.events) == 0) || len(d.Retry) != c.retry || len(d.Cancel) != c.cancel {
			t.Errorf("%s: new %v retry %d cancel %d, want %v %d %d", c.name, d.Seqs, len(d.Retry), len(d.Cancel), c.events, c.retry, c.cancel)
		}
	}
	// The date a warning states: the due date, or a late first warning plus
	// the nearest stage.
	if got := RemediationWarningDate(due, nil, []int{3, 1}, due.Add(-3*policy.Day)); !got.Equal(due) {
		t.Errorf("on time: %v", got)
	}
	if got := RemediationWarningDate(due, nil, []int{3, 1}, due.Add(time.Hour)); !got.Equal(due.Add(policy.Day + time.Hour)) {
		t.Errorf("late: %v", got)
	}
	first := due.Add(-time.Hour)
	if got := RemediationWarningDate(due, &first, []int{3, 1}, due.Add(5*time.Hour)); !got.Equal(first.Add(policy.Day)) {
		t.Errorf("late, later notice: %v", got)
	}
}
