package notify

import (
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/policy"
)

// exemption_expired: once per end, only for an open issue detected before
// the end; a live one is retried while the issue is open and cancelled once
// it is not; a later exemption that ends too is told again.
func TestPlanExemptionExpired(t *testing.T) {
	end := time.Date(2026, 12, 10, 0, 0, 0, 0, time.UTC)
	ended := &policy.Exemption{Until: end, Owner: "alice", Reason: "vendor"}
	open := &issues.Issue{ID: 1, Status: issues.Open, Stage: policy.Violation, Detected: end.Add(-10 * policy.Day)}
	seq := int(dayNumber(end))
	if d := PlanExemptionExpired(open, nil, ended); len(d.Events) != 1 || d.Events[0] != ExemptionExpired || d.Seqs[0] != seq {
		t.Errorf("first: %+v", d)
	}
	if d := PlanExemptionExpired(open, nil, nil); len(d.Events) != 0 {
		t.Errorf("no exemption: %+v", d)
	}
	late := *open
	late.Detected = end.Add(policy.Day)
	if d := PlanExemptionExpired(&late, nil, ended); len(d.Events) != 0 {
		t.Errorf("detected after the end: %+v", d)
	}
	sent := &Delivery{Event: ExemptionExpired, Seq: seq, State: Sent}
	if d := PlanExemptionExpired(open, []*Delivery{sent}, ended); len(d.Events) != 0 {
		t.Errorf("told twice: %+v", d)
	}
	next := &policy.Exemption{Until: end.Add(30 * policy.Day)}
	if d := PlanExemptionExpired(open, []*Delivery{sent}, next); len(d.Events) != 1 {
		t.Errorf("a later end: %+v", d)
	}
	live := &Delivery{Event: ExemptionExpired, Seq: seq, State: Pending}
	if d := PlanExemptionExpired(open, []*Delivery{live}, ended); len(d.Retry) != 1 || len(d.Events) != 0 {
		t.Errorf("live: %+v", d)
	}
	closed := *open
	closed.Status = issues.Remediated
	if d := PlanExemptionExpired(&closed, []*Delivery{live}, ended); len(d.Cancel) != 1 || len(d.Events) != 0 {
		t.Errorf("closed: %+v", d)
	}
	// Plan leaves exemption_expired deliveries to PlanExemptionExpired.
	if d := Plan(open, []*Delivery{{Event: ExemptionExpired, Seq: seq, State: Pending}}, 1, end); len(d.Cancel) != 0 {
		t.Errorf("Plan cancelled it: %+v", d)
	}
}
