package cli

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/internal/awstest"
)

const runConfig = `{
  "aws": {"accounts": {"111111111111": "alpha", "222222222222": "beta"}},
  "remediation": {"max_remediations_per_run": 5},
  "user_inactivekeys": {"inactive_criteria_days": 90, "warning_days": 10, "reporting": true, "remediation": true, "remediation_retention_period": 0},
  "user_keysrotation": {"rotation_criteria_days": 180, "warning_days": 10, "reporting": true, "remediation": false},
  "user_inactivepasswords": {"inactive_criteria_days": 90, "reporting": false, "remediation": false},
  "sns": {"topic_arn": "arn:aws:sns:us-east-1:111111111111:keywarden-notifications"}
}`

func decodeRun(t *testing.T, out string) RunSummary {
	t.Helper()
	var s RunSummary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("run summary is not JSON: %v\n%s", err, out)
	}
	return s
}

// TestRunTwoAccounts: keywarden run over two accounts with reporting and
// remediation on: scan, SNS notices for the reporting kinds only, automatic
// remediation of the remediating kind only; a second run the same day sends
// nothing new and acts on nothing.
func TestRunTwoAccounts(t *testing.T) {
	w := newWorld(t, runConfig)
	w.srv.AddTopic("arn:aws:sns:us-east-1:111111111111:keywarden-notifications")
	w.srv.AddAccount(seedAlpha())
	w.srv.AddAccount(awstest.Account{ID: acctB, Users: []awstest.User{
		{Name: "zoe", Created: daysAgo(400), Keys: []awstest.Key{{ID: "AKIAZOE0000000000001", Created: daysAgo(365)}}},
	}})
	r := w.run("run", "--as-of", asOf.Format("2006-01-02T15:04:05Z07:00"), "-o", "json")
	if r.code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	s := decodeRun(t, r.stdout)
	if s.Result != "ok" || s.Accounts != 2 || strings.Join(s.Steps, ",") != "scan,report,remediate" {
		t.Errorf("summary: %+v", s)
	}
	if s.Findings["user_inactivekeys"]["violation"] != 3 || s.Findings["user_keysrotation"]["violation"] != 2 {
		t.Errorf("findings: %v", s.Findings)
	}
	// Inactive keys: alice OLD1, bob, zoe are deactivated; rotation is
	// reported but not remediated; passwords neither.
	var updated []string
	for _, c := range w.srv.Calls() {
		switch c.Action {
		case "UpdateAccessKey":
			if c.Params.Get("Status") != "Inactive" {
				t.Errorf("UpdateAccessKey %v", c.Params)
			}
			updated = append(updated, c.Account+":"+c.Params.Get("UserName")+":"+c.Params.Get("AccessKeyId"))
		case "DeleteLoginProfile":
			t.Errorf("a password was deleted although user_inactivepasswords remediation is off: %v", c.Params)
		}
	}
	want := "111111111111:alice:AKIAALICE0000000OLD1,111111111111:bob:AKIABOB0000000000001,222222222222:zoe:AKIAZOE0000000000001"
	if strings.Join(slices.Sorted(slices.Values(updated)), ",") != want {
		t.Errorf("deactivated %v, want %s", updated, want)
	}
	if s.Remediation["remediated"] != 3 {
		t.Errorf("remediation: %v", s.Remediation)
	}
	if n := s.Notices["sns"]; n.Sent == 0 || n.Failed != 0 {
		t.Errorf("sns notices: %+v", s.Notices)
	}
	published := w.srv.CountCalls("", "Publish")
	for _, c := range w.srv.Calls() {
		if c.Action == "Publish" && strings.Contains(c.Params.Get("Message"), "user_inactivepasswords") {
			t.Errorf("a password notice was published although reporting is off for it")
		}
	}

	// The same run again: nothing new to send or do.
	w.srv.ResetCalls()
	r = w.run("run", "--as-of", asOf.Format("2006-01-02T15:04:05Z07:00"), "-o", "json")
	s2 := decodeRun(t, r.stdout)
	if r.code != 0 || s2.Issues.New != 0 || s2.Remediation["remediated"] != 0 || w.srv.CountCalls("", "UpdateAccessKey") != 0 {
		t.Errorf("second run: exit %d %+v", r.code, s2)
	}
	// The second run's report announces what the first run's remediation
	// did (report runs before remediate): one notice per deactivated key,
	// and the rotation issues of those keys resolved ("key deactivated").
	var events []string
	for _, c := range w.srv.Calls() {
		if c.Action == "Publish" {
			var m map[string]any
			json.Unmarshal([]byte(c.Params.Get("Message")), &m)
			events = append(events, fmt.Sprint(m["event"]))
		}
	}
	if strings.Join(slices.Sorted(slices.Values(events)), ",") != "remediated,remediated,remediated,resolved,resolved" {
		t.Errorf("second run published %v (first run: %d notices)", events, published)
	}
	w.srv.ResetCalls()
	w.run("run", "--as-of", asOf.Format("2006-01-02T15:04:05Z07:00"), "-o", "json")
	if n := w.srv.CountCalls("", "Publish"); n != 0 {
		t.Errorf("third run published %d notices", n)
	}

	// Table output for people.
	r = w.run("run", "--as-of", asOf.Format("2006-01-02T15:04:05Z07:00"), "-o", "table", "--dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, "dry run") || !strings.Contains(r.stdout, "steps") {
		t.Errorf("dry run table: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestRunPartialFailure: a member account that refuses AssumeRole is listed;
// the other account is still scanned and remediated; exit 1, or 0 with
// --allow-partial.
func TestRunPartialFailure(t *testing.T) {
	w := newWorld(t, runConfig)
	w.srv.AddTopic("arn:aws:sns:us-east-1:111111111111:keywarden-notifications")
	w.srv.AddAccount(seedAlpha())
	w.srv.AddAccount(awstest.Account{ID: acctB})
	w.srv.Inject(awstest.Fault{Account: acctB, Action: "AssumeRole", Code: "AccessDenied"})
	r := w.run("run", "--as-of", asOf.Format("2006-01-02T15:04:05Z07:00"), "-o", "json")
	s := decodeRun(t, r.stdout)
	if r.code != 1 || s.Result != "partial" || len(s.Failures) == 0 || !strings.Contains(strings.Join(s.Failures, ";"), "222222222222") {
		t.Errorf("exit %d summary %+v", r.code, s)
	}
	if s.Remediation["remediated"] != 2 {
		t.Errorf("the healthy account was not remediated: %v", s.Remediation)
	}
	r = w.run("run", "--as-of", asOf.Format("2006-01-02T15:04:05Z07:00"), "-o", "json", "--allow-partial")
	if r.code != 0 {
		t.Errorf("--allow-partial: exit %d", r.code)
	}
}
