package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/issues/dynamodb/dynamotest"
)

// TestExemptionWithEnd: keywarden exempt add whitelists bob's key until a
// date — scan shows it whitelisted with the end, remediate leaves it alone,
// report says nothing; from the end on the issue reopens, its owner is
// told that the exemption expired (SNS and the Slack webhook, once), and
// remediate acts when due. exempt list shows it active, then expired;
// exempt remove deletes it.
func TestExemptionWithEnd(t *testing.T) {
	topic := "arn:aws:sns:us-east-1:111111111111:keywarden"
	w := newWorld(t, gateConfig(true, 0, `"sns": {"topic_arn": "`+topic+`"}`))
	w.srv.AddAccount(seedBob())
	w.srv.AddTopic(topic)
	hook := newWebhook(t)
	env := map[string]string{"KEYWARDEN_SLACK_WEBHOOK_URL": hook.URL + "/services/T0/B0/X"}

	// Refused: each names the flag and the fix, exit 2, nothing stored.
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"bob", "--account", acctA, "--owner", "o", "--reason", "r"}, "--until: required"},
		{[]string{"bob", "--account", acctA, "--until", "31/12/2026", "--owner", "o", "--reason", "r"}, `--until "31/12/2026": want a date`},
		{[]string{"bob", "--account", acctA, "--until", "2026-11-01", "--owner", "o", "--reason", "r"}, "--until 2026-11-01 is not after today"},
		{[]string{"bob", "--account", acctA, "--until", "2130-01-01", "--owner", "o", "--reason", "r"}, "more than 36500 days away"},
		{[]string{"bob", "--account", "1111", "--until", "2026-12-10", "--owner", "o", "--reason", "r"}, `--account "1111": an AWS account ID is 12 digits`},
		{[]string{"bob", "--account", acctA, "--kind", "s3_bucket_acl", "--until", "2026-12-10", "--owner", "o", "--reason", "r"}, `--kind "s3_bucket_acl"`},
		{[]string{"bob", "--account", acctA, "--until", "2026-12-10", "--reason", "r"}, "--owner"},
		{[]string{"bob", "--account", acctA, "--until", "2026-12-10", "--owner", "o"}, "--reason"},
	} {
		r := w.runAt(asOf, env, append([]string{"exempt", "add"}, bad.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, bad.want) {
			t.Errorf("exempt add %v: exit %d, stderr %q, want %q", bad.args, r.code, r.stderr, bad.want)
		}
	}
	// The refusals stored nothing: there is not even a store yet.
	if r := w.runAt(asOf, env, "exempt", "list", "-o", "table"); r.code != 1 || !strings.Contains(r.stderr, "no issue store") {
		t.Errorf("list after refusals: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	add := w.mustAt(asOf, env, 0, "exempt", "add", "bob", "--account", acctA, "--until", "2026-12-10",
		"--owner", "alice@example.com", "--reason", "vendor migration", "-o", "json")
	if got := jsonLines(t, add.stdout); len(got) != 1 || got[0]["id"] != 1.0 || got[0]["until"] != "2026-12-10T00:00:00Z" ||
		got[0]["state"] != "active" || got[0]["kind"] != "all" || got[0]["source"] != "store" {
		t.Fatalf("exempt add:\n%s", add.stdout)
	}

	// Exempt: whitelisted with its end, reason and owner; never remediated;
	// nothing to report.
	sc := w.mustAt(asOf, env, 0, "scan", "--as-of", asOf.Format(time.RFC3339), "-o", "table")
	if !strings.Contains(sc.stdout, "whitelisted") || !strings.Contains(sc.stdout, "(exempt until 2026-12-10: vendor migration (alice@example.com))") {
		t.Fatalf("scan:\n%s", sc.stdout)
	}
	w.mustAt(asOf, env, 0, "report")
	if pub := w.srv.Published(); len(pub) != 0 {
		t.Errorf("an exempt issue was reported: %+v", pub)
	}
	w.srv.ResetCalls()
	rem := w.mustAt(asOf, env, 0, "remediate", "--yes", "-o", "json")
	if o := bobOutcome(t, rem); o["result"] != "skipped" || !strings.Contains(o["detail"].(string), "exempt until 2026-12-10: vendor migration") {
		t.Errorf("remediate: %v", o)
	}
	wantMutations(t, w.srv)
	csvOut := w.mustAt(asOf, env, 0, "exempt", "list", "-o", "csv").stdout
	if !strings.Contains(csvOut, "1,store,,111111111111,all,bob,2026-12-10T00:00:00Z,active,alice@example.com,vendor migration,2026-11-25T12:00:00Z") {
		t.Errorf("exempt list csv:\n%s", csvOut)
	}

	// A day after the end: the scan reopens the issue in its finding's
	// stage; the report tells the owner once; remediate acts when due.
	later := time.Date(2026, 12, 11, 12, 0, 0, 0, time.UTC)
	sc = w.mustAt(later, env, 0, "scan", "--as-of", later.Format(time.RFC3339), "-o", "json")
	if strings.Contains(sc.stdout, "exempt until") {
		t.Errorf("scan after the end still exempt:\n%s", sc.stdout)
	}
	show := w.mustAt(later, env, 0, "issues", "list", "-o", "json")
	var bobIssue map[string]any
	for _, is := range jsonLines(t, show.stdout) {
		if d, _ := is["issue_details"].(map[string]any); d != nil && d["username"] == "bob" {
			bobIssue = is
		}
	}
	if bobIssue == nil || bobIssue["status"] != "open" {
		t.Fatalf("bob's issue after the end: %v\n%s", bobIssue, show.stdout)
	}
	if l := w.mustAt(later, env, 0, "exempt", "list", "-o", "json").stdout; !strings.Contains(l, `"state":"expired"`) {
		t.Errorf("exempt list after the end:\n%s", l)
	}
	w.mustAt(later, env, 0, "report")
	var expired []map[string]any
	for _, p := range w.srv.Published() {
		var m map[string]any
		if err := json.Unmarshal([]byte(p.Message), &m); err != nil {
			t.Fatal(err)
		}
		if m["event"] == "exemption_expired" {
			expired = append(expired, m)
		}
	}
	if len(expired) != 1 {
		t.Fatalf("SNS exemption_expired notices: %d\n%+v", len(expired), w.srv.Published())
	}
	ee, _ := expired[0]["expired_exemption"].(map[string]any)
	if ee["owner"] != "alice@example.com" || ee["reason"] != "vendor migration" || ee["until"] != "2026-12-10T00:00:00Z" {
		t.Errorf("SNS expired_exemption: %v", expired[0])
	}
	_, payloads := hook.got()
	body, _ := json.Marshal(payloads)
	if !strings.Contains(string(body), "Exemption expired") || !strings.Contains(string(body), "exemption expired on 2026-12-10 (vendor migration, owner alice@example.com)") {
		t.Errorf("Slack: no exemption expired notice:\n%s", body)
	}
	n := len(w.srv.Published())
	w.mustAt(later.Add(time.Hour), env, 0, "report")
	for _, p := range w.srv.Published()[n:] {
		if strings.Contains(p.Message, "exemption_expired") {
			t.Errorf("told twice: %s", p.Message)
		}
	}
	w.srv.ResetCalls()
	rem = w.mustAt(later.Add(time.Hour), env, 0, "remediate", "--yes", "-o", "json")
	wantOutcome(t, rem, "remediated", "")
	wantMutations(t, w.srv, bobDeactivated)

	// remove: once; an unknown ID is an error naming the fix.
	if r := w.mustAt(later, env, 0, "exempt", "remove", "1"); r.stdout != "removed exemption 1\n" {
		t.Errorf("remove: %q", r.stdout)
	}
	if r := w.runAt(later, env, "exempt", "remove", "1"); r.code != 1 || !strings.Contains(r.stderr, "exemption 1: no such exemption: list them with keywarden exempt list") {
		t.Errorf("remove twice: exit %d %s", r.code, r.stderr)
	}
	if r := w.runAt(later, env, "exempt", "remove", "x"); r.code != 2 {
		t.Errorf("remove x: exit %d %s", r.code, r.stderr)
	}
	if r := w.mustAt(later, env, 0, "exempt", "list", "-o", "table"); r.stdout != "no exemptions with an end\n" {
		t.Errorf("list after remove:\n%s", r.stdout)
	}
}

// whitelist.json entries with an end work beside Hammer's plain lists: the
// active one whitelists with its end, the ended one warns (config validate,
// scan) and exempts nothing; exempt list shows both.
func TestWhitelistEntriesWithEnd(t *testing.T) {
	w := newWorld(t, remediationConfig)
	w.srv.AddAccount(seedAlpha())
	w.writeFile("whitelist.json", `{
  "user_inactivekeys": {"111111111111": ["erin", {"id": "AKIABOB0000000000001", "expires": "2026-12-31", "owner": "ops", "reason": "vendor"}]},
  "user_inactivepasswords": {"111111111111": [{"id": "dave", "expires": "2026-11-01", "owner": "hr", "reason": "leaver"}]},
  "s3_bucket_acl": {"111111111111": ["bucket"]}
}`)
	const endedWarning = `warning: whitelist.json: user_inactivepasswords.111111111111: the exemption of "dave" (hr) ended on 2026-11-01: it exempts nothing; remove the entry, or move its "expires" date`
	if v := w.run("config", "validate"); v.code != 0 || !strings.Contains(v.stdout, endedWarning) {
		t.Errorf("config validate: exit %d\n%s", v.code, v.stdout)
	}
	sc := w.scan(0, "-o", "table")
	if !strings.Contains(sc.stderr, endedWarning) {
		t.Errorf("scan stderr:\n%s", sc.stderr)
	}
	var bobLine, daveLine string
	for _, l := range strings.Split(sc.stdout, "\n") {
		switch {
		case strings.Contains(l, " bob "):
			bobLine = l
		case strings.Contains(l, " dave "):
			daveLine = l
		}
	}
	if !strings.Contains(bobLine, "whitelisted") || !strings.Contains(bobLine, "(exempt until 2026-12-31: vendor (ops))") {
		t.Errorf("bob: %q", bobLine)
	}
	if !strings.Contains(daveLine, "violation") || strings.Contains(daveLine, "exempt") {
		t.Errorf("dave: %q", daveLine)
	}
	l := jsonLines(t, w.run("exempt", "list", "-o", "json").stdout)
	if len(l) != 2 || l[0]["subject"] != "dave" || l[0]["state"] != "expired" || l[1]["source"] != "whitelist.json" || l[1]["state"] != "active" || l[1]["subject"] != "AKIA…0001" {
		t.Errorf("exempt list: %v", l)
	}
}

// On the DynamoDB store (dynalite): exempt add, the scan whitelists with the
// end, exempt list and remove; the exemption lives in keywarden's journal
// table, not in Hammer's issue tables.
func TestExemptDynamoDB(t *testing.T) {
	ep := dynamotest.Endpoint(t)
	prefix := fmt.Sprintf("ex%d-%d-", time.Now().UnixNano()%1_000_000, dynamoSeq.Add(1))
	w := newWorld(t, `{
  "aws": {"region": "us-east-1", "accounts": {"111111111111": "alpha"}},
  "store": {"type": "dynamodb", "endpoint": "`+ep+`", "table_prefix": "`+prefix+`", "create_tables": true},
  "user_inactivekeys": {"enabled": true, "inactive_criteria_days": 90, "remediation": true}
}`)
	w.srv.AddAccount(seedBob())
	add := w.run("exempt", "add", "AKIABOB0000000000001", "--account", acctA, "--kind", "user_inactivekeys", "--until", "2026-12-10",
		"--owner", "alice", "--reason", "vendor", "-o", "json")
	if add.code != 0 || !strings.Contains(add.stdout, `"id":1,"source":"store"`) || !strings.Contains(add.stdout, `"subject":"AKIA…0001"`) {
		t.Fatalf("exempt add: %d\n%s\n%s", add.code, add.stdout, add.stderr)
	}
	if sc := w.scan(0, "-o", "json"); !strings.Contains(sc.stdout, `"exemption":"exempt until 2026-12-10: vendor (alice)"`) {
		t.Errorf("scan:\n%s", sc.stdout)
	}
	if l := jsonLines(t, w.run("exempt", "list", "-o", "json").stdout); len(l) != 1 || l[0]["reason"] != "vendor" || l[0]["kind"] != "user_inactivekeys" {
		t.Errorf("exempt list: %v", l)
	}
	if r := w.run("exempt", "remove", "1"); r.code != 0 {
		t.Errorf("exempt remove: %d %s", r.code, r.stderr)
	}
	if r := w.run("exempt", "remove", "1"); r.code != 1 || !strings.Contains(r.stderr, "no such exemption") {
		t.Errorf("exempt remove twice: %d %s", r.code, r.stderr)
	}
	if sc := w.scan(0, "-o", "json"); strings.Contains(sc.stdout, "exempt until") {
		t.Errorf("scan after remove:\n%s", sc.stdout)
	}
}
