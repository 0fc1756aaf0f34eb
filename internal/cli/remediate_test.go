package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/awstest"
)

// remediationConfig turns remediation on for inactive keys and passwords
// (not rotation), in account A, at the next run.
const remediationConfig = `{
  "aws": {"region": "us-east-1", "accounts": {"111111111111": "alpha"}},
  "user_inactivekeys": {"enabled": "true", "inactive_criteria_days": "90", "warning_days": 10, "remediation": "true", "remediation_retention_period": 0},
  "user_keysrotation": {"enabled": true, "rotation_criteria_days": 180, "warning_days": "10"},
  "user_inactivepasswords": {"enabled": "true", "inactive_criteria_days": 90, "warning_days": 10, "remediation": true}
}`

// seedWithOwnKey is seedAlpha plus keywarden's own user, whose key (the one
// the tests run with) is old and never used: a finding like any other.
func seedWithOwnKey() awstest.Account {
	a := seedAlpha()
	a.Users = append(a.Users, awstest.User{Name: "keywarden", Created: daysAgo(400), Keys: []awstest.Key{
		{ID: mainAKID, Created: daysAgo(400)},
	}}, awstest.User{Name: "heidi", Created: daysAgo(400), Tags: map[string]string{"KeyAutoExpire": "false"}, Keys: []awstest.Key{
		{ID: "AKIAHEIDI00000000001", Created: daysAgo(300), LastUsed: at(daysAgo(200))}, // inactive, exempt by tag
	}})
	return a
}

// mutations lists the mutating calls in the server's record, one line each
// with their exact inputs.
func mutations(srv *awstest.Server) []string {
	var out []string
	for _, c := range srv.Calls() {
		switch c.Action {
		case "UpdateAccessKey":
			out = append(out, fmt.Sprintf("%s %s UpdateAccessKey UserName=%s AccessKeyId=%s Status=%s", c.Account, c.Caller,
				c.Params.Get("UserName"), c.Params.Get("AccessKeyId"), c.Params.Get("Status")))
		case "DeleteLoginProfile", "CreateLoginProfile", "DeleteAccessKey", "CreateAccessKey":
			out = append(out, fmt.Sprintf("%s %s %s UserName=%s", c.Account, c.Caller, c.Action, c.Params.Get("UserName")))
		}
	}
	return out
}

func wantMutations(t *testing.T, srv *awstest.Server, want ...string) {
	t.Helper()
	got := mutations(srv)
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("mutating calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

const callerA = "arn:aws:iam::111111111111:user/keywarden"

// runOpts are the outside world of one run beyond the harness's defaults.
type runOpts struct {
	stdin    string
	stdinTTY bool
	ctx      context.Context
}

func (w *world) runWith(o runOpts, args ...string) result {
	w.t.Helper()
	var out, errb strings.Builder
	ctx := o.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	env := Env{Stdin: strings.NewReader(o.stdin), Stdout: &out, Stderr: &errb, StdinTTY: o.stdinTTY,
		Getenv: func(string) string { return "" }, Now: func() time.Time { return asOf },
		AWSHTTPClient: w.srv.HTTPClient()}
	full := append([]string{"--config-dir", w.dir, "--db", w.db, "--log-level", "warn"}, args...)
	code := Run(ctx, env, full)
	return result{code, out.String(), errb.String()}
}

// remediate runs keywarden remediate and fails the test unless the exit code
// is want.
func (w *world) remediate(want int, args ...string) result {
	w.t.Helper()
	r := w.run(append([]string{"remediate", "--retry-backoff", "1ms", "--show-key-ids", "-o", "json"}, args...)...)
	if r.code != want {
		w.t.Fatalf("remediate %v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, r.code, want, r.stdout, r.stderr)
	}
	return r
}

// outcomes reduces remediate's JSON output to "result reason user key".
func outcomes(t *testing.T, out string) []string {
	t.Helper()
	var got []string
	for _, m := range jsonLines(t, out) {
		got = append(got, fmt.Sprintf("%v %v %v %v", m["result"], m["reason"], m["user"], m["key_id"]))
	}
	sort.Strings(got)
	return got
}

func issueStatus(t *testing.T, w *world) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, is := range jsonLines(t, w.run("issues", "list", "--status", "all", "-o", "json", "--show-key-ids").stdout) {
		d := is["issue_details"].(map[string]any)
		m[fmt.Sprintf("%s %s", is["kind"], d["username"])] = fmt.Sprintf("%v %v", is["status"], is["close_reason"])
	}
	return m
}

// TestRemediateEndToEnd: dry run (zero mutating calls), then the real run:
// exactly the due, non-exempt credentials are acted on, by key ID; the
// KeyAutoExpire=false tag, a warning and keywarden's own key are spared;
// issues are remediated; the journal lists the actions; rollback restores
// exactly the keys keywarden disabled and says the password cannot be.
func TestRemediateEndToEnd(t *testing.T) {
	w := newWorld(t, remediationConfig)
	w.srv.AddAccount(seedWithOwnKey())
	w.scan(0, "-o", "json")
	w.srv.ResetCalls()

	dry := w.remediate(0, "--dry-run")
	if n := len(w.srv.Calls()); n != 0 {
		t.Errorf("--dry-run made %d AWS calls: %v", n, w.srv.Calls())
	}
	wantMutations(t, w.srv)
	wantDry := []string{
		"skipped own_key keywarden AKIAMAINCALLER000001",
		"skipped not_violation carol <nil>",
		"would remediate <nil> alice AKIAALICE0000000OLD1",
		"would remediate <nil> bob AKIABOB0000000000001",
		"would remediate <nil> dave <nil>",
		"skipped whitelisted heidi AKIAHEIDI00000000001",
	}
	sort.Strings(wantDry)
	if got := outcomes(t, dry.stdout); strings.Join(got, "\n") != strings.Join(wantDry, "\n") {
		t.Errorf("dry-run plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantDry, "\n"))
	}
	if !strings.Contains(dry.stderr, "dry run: nothing was changed") {
		t.Errorf("dry-run summary: %s", dry.stderr)
	}

	// Non-interactive without --yes: refused before any call.
	if r := w.run("remediate"); r.code != 1 || !strings.Contains(r.stderr, "--yes") {
		t.Errorf("remediate without --yes off a terminal: %d %s", r.code, r.stderr)
	}
	wantMutations(t, w.srv)

	r := w.remediate(0, "--yes")
	wantMutations(t, w.srv,
		"111111111111 "+callerA+" UpdateAccessKey UserName=alice AccessKeyId=AKIAALICE0000000OLD1 Status=Inactive",
		"111111111111 "+callerA+" UpdateAccessKey UserName=bob AccessKeyId=AKIABOB0000000000001 Status=Inactive",
		"111111111111 "+callerA+" DeleteLoginProfile UserName=dave",
	)
	if k, _ := w.srv.Key(acctA, "AKIAALICE0000000NEW2"); k.Status != "Active" {
		t.Errorf("alice's healthy key is %s", k.Status)
	}
	if k, _ := w.srv.Key(acctA, mainAKID); k.Status != "Active" {
		t.Errorf("keywarden's own key is %s", k.Status)
	}
	if !strings.Contains(r.stderr, "3 remediated") {
		t.Errorf("summary: %s", r.stderr)
	}
	st := issueStatus(t, w)
	for k, want := range map[string]string{
		"user_inactivekeys alice":      "remediated key deactivated by keywarden (action 1)",
		"user_inactivekeys bob":        "remediated key deactivated by keywarden (action 2)",
		"user_inactivepasswords dave":  "remediated password (login profile) deleted by keywarden (action 3)",
		"user_keysrotation alice":      "open <nil>", // rotation remediation is off
		"user_inactivepasswords carol": "open <nil>",
		"user_inactivekeys heidi":      "whitelisted <nil>",
		"user_inactivekeys keywarden":  "open <nil>",
	} {
		if st[k] != want {
			t.Errorf("issue %s: %q, want %q", k, st[k], want)
		}
	}
	// A second run finds nothing left to do and calls nothing mutating.
	w.srv.ResetCalls()
	w.remediate(0, "--yes")
	wantMutations(t, w.srv)

	j := jsonLines(t, w.run("journal", "-o", "json", "--show-key-ids").stdout)
	if len(j) != 3 {
		t.Fatalf("journal: %d actions, want 3: %v", len(j), j)
	}
	if j[0]["state"] != "done" || j[0]["key_id"] != "AKIAALICE0000000OLD1" || j[0]["before_status"] != "Active" ||
		j[0]["before_last_used"] != daysAgo(120).Format(time.RFC3339) || j[1]["before_last_used"] != nil {
		t.Errorf("journal rows: %v", j)
	}

	// Rollback: dry run first, then for real.
	w.srv.ResetCalls()
	rb := w.run("rollback", "--since", "2026-01-01", "--dry-run", "-o", "json", "--show-key-ids")
	if rb.code != 1 || len(w.srv.Calls()) != 0 {
		t.Errorf("rollback --dry-run: exit %d, %d calls", rb.code, len(w.srv.Calls()))
	}
	rb = w.run("rollback", "--since", "2026-01-01", "--yes", "--retry-backoff", "1ms", "-o", "json", "--show-key-ids")
	if rb.code != 1 || !strings.Contains(rb.stderr, "cannot restore a deleted password") && !strings.Contains(rb.stderr, "AWS cannot restore a deleted password") ||
		!strings.Contains(rb.stderr, "create-login-profile --user-name dave") {
		t.Errorf("rollback: exit %d\n%s\n%s", rb.code, rb.stdout, rb.stderr)
	}
	wantMutations(t, w.srv,
		"111111111111 "+callerA+" UpdateAccessKey UserName=alice AccessKeyId=AKIAALICE0000000OLD1 Status=Active",
		"111111111111 "+callerA+" UpdateAccessKey UserName=bob AccessKeyId=AKIABOB0000000000001 Status=Active",
	)
	// Reopened, and on the rollback's hold (default 30 days): whitelisted.
	st = issueStatus(t, w)
	if st["user_inactivekeys alice"] != "whitelisted <nil>" || st["user_inactivekeys bob"] != "whitelisted <nil>" {
		t.Errorf("issues after rollback: %v", st)
	}
	// Rolled back once: a second rollback re-activates nothing.
	w.srv.ResetCalls()
	w.run("rollback", "--action", "1", "--yes")
	wantMutations(t, w.srv)
	j = jsonLines(t, w.run("journal", "-o", "json").stdout)
	if len(j) != 5 || j[3]["op"] != "reactivate_key" || j[3]["rollback_of"] != float64(1) {
		t.Errorf("journal after rollback: %v", j)
	}
}
