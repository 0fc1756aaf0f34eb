package issues_test

import (
	"testing"

	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/policy"
)

// An issue without a finding snapshot (a row Hammer wrote, or rewrote with
// put_item, which keeps none of keywarden's attributes: no stage, no
// threshold, dates in Hammer's form) takes the scan's snapshot silently:
// refreshed, never "updated", so Hammer's issues brought under keywarden
// send no notice of a change nobody made. A change of whitelisting is still
// one.
func TestSnapshotlessIssueRefreshedSilently(t *testing.T) {
	facts := factsOf(alice())
	var live []issues.Issue
	for i, is := range opened(t, facts, policy.Exemptions{}) {
		// As the DynamoDB store reads Hammer's row.
		is.Stage, is.LimitDays, is.AgeDays, is.DaysLeft, is.UserARN, is.KeySlot = "", 0, 0, 0, "", 0
		is.Details.LastUsed = ""
		is.ID, is.Version = int64(i+1), 0
		live = append(live, is)
	}
	ch := scan(live, facts, rules, policy.Exemptions{}, asOf.Add(policy.Day))
	if len(ch.Updated) != 0 || len(ch.New) != 0 || len(ch.Closed) != 0 || len(ch.Refreshed) != len(live) {
		t.Fatalf("changes %+v, want every issue refreshed", ch)
	}
	for _, is := range ch.Refreshed {
		if is.Stage != policy.Violation || is.LimitDays == 0 || is.ID == 0 {
			t.Errorf("refreshed without the scan's snapshot: %+v", is)
		}
	}

	// Whitelisted by Hammer, no longer whitelisted here: that is news.
	live[0].Status = issues.Whitelisted
	ch = scan(live, facts, rules, policy.Exemptions{}, asOf.Add(policy.Day))
	if len(ch.Updated) != 1 || ch.Updated[0].Why != "no longer whitelisted" || ch.Updated[0].Issue.Status != issues.Open {
		t.Errorf("updated %+v", ch.Updated)
	}

	// With a snapshot, the same differences are reported.
	withSnap := opened(t, facts, policy.Exemptions{})
	for i := range withSnap {
		withSnap[i].ID = int64(i + 1)
		withSnap[i].LimitDays = 1
	}
	if ch := scan(withSnap, facts, rules, policy.Exemptions{}, asOf.Add(policy.Day)); len(ch.Updated) != len(withSnap) {
		t.Errorf("a threshold change with a snapshot: %+v", ch)
	}
}
