package notify

import (
	"fmt"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/policy"
)

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
