package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/awstest"
	"github.com/keywarden/keywarden/internal/issues/sqlite"
	"github.com/keywarden/keywarden/internal/remediate"
)

func deactivation(user, key string) string {
	return "111111111111 " + callerA + " UpdateAccessKey UserName=" + user + " AccessKeyId=" + key + " Status=Inactive"
}

// TestRemediateRetentionToTheDay: with a 5-day retention period an issue
// detected 5 days ago minus a second is not due; at 5 days it is.
func TestRemediateRetentionToTheDay(t *testing.T) {
	w := newWorld(t, strings.Replace(remediationConfig, `"remediation_retention_period": 0`, `"remediation_retention_period": 5`, 1))
	w.srv.AddAccount(seedAlpha())
	w.scan(0, "-o", "json", "--as-of", daysAgo(5).Format(time.RFC3339)) // detected 5 days ago
	w.srv.ResetCalls()
	// Acting is on the present only: the plan a second early is a dry run's.
	r := w.remediate(0, "--dry-run", "--kind", "user_inactivekeys", "--as-of", daysAgo(5).Add(5*24*time.Hour-time.Second).Format(time.RFC3339))
	wantMutations(t, w.srv)
	if got := strings.Join(outcomes(t, r.stdout), "\n"); !strings.Contains(got, "skipped not_due alice") || !strings.Contains(got, "skipped not_due bob") {
		t.Errorf("a second early:\n%s", got)
	}
	w.remediate(0, "--yes", "--kind", "user_inactivekeys") // now: 5 days after detection
	wantMutations(t, w.srv, deactivation("alice", "AKIAALICE0000000OLD1"), deactivation("bob", "AKIABOB0000000000001"))
}

// TestRemediateLiveRecheck: a key used after the scan, or exempted by
// whitelist.json, is not deactivated; the used one's issue is resolved.
func TestRemediateLiveRecheck(t *testing.T) {
	w := newWorld(t, remediationConfig)
	w.srv.AddAccount(seedAlpha())
	w.writeFile("whitelist.json", `{"user_inactivepasswords": {"111111111111": ["dave"]}}`)
	w.scan(0, "-o", "json")
	w.srv.UseKey(acctA, "AKIABOB0000000000001", daysAgo(0.01), "s3", "us-east-1")
	w.srv.ResetCalls()
	r := w.remediate(0, "--yes")
	wantMutations(t, w.srv, deactivation("alice", "AKIAALICE0000000OLD1"))
	if got := strings.Join(outcomes(t, r.stdout), "\n"); !strings.Contains(got, "resolved no_longer_qualifies bob") ||
		!strings.Contains(got, "skipped whitelisted dave") {
		t.Errorf("outcomes:\n%s", got)
	}
	if st := issueStatus(t, w); !strings.HasPrefix(st["user_inactivekeys bob"], "resolved used again since the scan") {
		t.Errorf("bob's issue: %q", st["user_inactivekeys bob"])
	}
}

// TestRemediateCap: a plan larger than max_remediations_per_run is not
// executed for the account, and the error says how to raise the cap.
func TestRemediateCap(t *testing.T) {
	w := newWorld(t, strings.Replace(remediationConfig, `"user_keysrotation"`, `"remediation": {"max_remediations_per_run": 2}, "user_keysrotation"`, 1))
	w.srv.AddAccount(seedAlpha()) // alice, bob and dave are due: 3 > 2
	w.scan(0, "-o", "json")
	w.srv.ResetCalls()
	r := w.remediate(1, "--yes")
	wantMutations(t, w.srv)
	if !strings.Contains(r.stderr, "the cap is 2 per run") || !strings.Contains(r.stderr, "remediation.max_remediations_per_run") {
		t.Errorf("cap message: %s", r.stderr)
	}
	// Narrowed under the cap, it runs.
	w.remediate(0, "--yes", "--kind", "user_inactivekeys")
	wantMutations(t, w.srv, deactivation("alice", "AKIAALICE0000000OLD1"), deactivation("bob", "AKIABOB0000000000001"))
}

// TestRemediateFailureContained: AccessDenied in account B leaves A
// remediated and B's issue open; throttling is retried.
func TestRemediateFailureContained(t *testing.T) {
	cfg := strings.Replace(remediationConfig, `{"111111111111": "alpha"}`, `{"111111111111": "alpha", "222222222222": "beta"}`, 1)
	w := newWorld(t, cfg)
	w.srv.AddAccount(seedAlpha())
	w.srv.AddAccount(awstest.Account{ID: acctB, Users: []awstest.User{{Name: "bruno", Created: daysAgo(400), Keys: []awstest.Key{
		{ID: "AKIABRUNO0000000001", Created: daysAgo(300)}}}}})
	w.scan(0, "-o", "json")
	w.srv.ResetCalls()
	w.srv.Inject(awstest.Fault{Account: acctB, Action: "UpdateAccessKey", Code: "AccessDenied"})
	w.srv.Inject(awstest.Fault{Account: acctA, Action: "UpdateAccessKey", Code: "Throttling", Times: 4})
	r := w.remediate(1, "--yes")
	if k, _ := w.srv.Key(acctA, "AKIABOB0000000000001"); k.Status != "Inactive" {
		t.Errorf("account A not remediated: bob's key %s\n%s", k.Status, r.stderr)
	}
	if k, _ := w.srv.Key(acctB, "AKIABRUNO0000000001"); k.Status != "Active" {
		t.Errorf("bruno's key %s", k.Status)
	}
	if !strings.Contains(r.stderr, "AccessDenied") || !strings.Contains(r.stderr, "222222222222") {
		t.Errorf("failure not reported: %s", r.stderr)
	}
	st := issueStatus(t, w)
	if st["user_inactivekeys bruno"] != "open <nil>" || !strings.HasPrefix(st["user_inactivekeys bob"], "remediated") {
		t.Errorf("issues: %v", st)
	}
	for _, c := range w.srv.Calls() {
		if c.Action == "UpdateAccessKey" && c.Account == acctB && (c.Params.Get("AccessKeyId") != "AKIABRUNO0000000001" || c.Params.Get("UserName") != "bruno" || c.Params.Get("Status") != "Inactive") {
			t.Errorf("account B call: %v", c.Params)
		}
	}
}

// TestRemediateCrashReconciled: the run is stopped (its context cancelled,
// as SIGTERM does) while UpdateAccessKey is in flight; the call takes effect
// but its answer is lost. The journal records that the call was made (an
// intent with a call record), so the next run claims it from the live state:
// done, no second call. An intent whose call was never recorded (the process
// died right after writing it) and whose key the live state shows unchanged
// is abandoned and acted on exactly once. (An unrecorded intent whose change
// the live state shows is never claimed: TestRemediateCrashThenHuman.)
func TestRemediateCrashReconciled(t *testing.T) {
	w := newWorld(t, remediationConfig)
	w.srv.AddAccount(seedAlpha())
	w.scan(0, "-o", "json")
	w.srv.ResetCalls()
	// The write is carried out, its answer never comes.
	w.srv.Inject(awstest.Fault{Action: "UpdateAccessKey", Mode: awstest.ModeHang, Times: 1})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for w.srv.CountCalls(acctA, "UpdateAccessKey") == 0 {
			time.Sleep(time.Millisecond)
		}
		for k, _ := w.srv.Key(acctA, "AKIAALICE0000000OLD1"); k.Status != "Inactive"; k, _ = w.srv.Key(acctA, "AKIAALICE0000000OLD1") {
			time.Sleep(time.Millisecond)
		}
		cancel() // the process is stopped mid-call
	}()
	r := w.runWith(runOpts{ctx: ctx}, "remediate", "--yes", "--retry-backoff", "1ms", "-o", "json")
	if r.code != 1 {
		t.Fatalf("stopped run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// The stop says what it left for the next run (issue 11: Ctrl-C).
	if want := "remediate interrupted: finished: 1 failed; 2 planned item(s) not started; 1 action(s) left as intents in the journal (1): the next run reconciles them"; !strings.Contains(r.stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
	}
	if k, _ := w.srv.Key(acctA, "AKIAALICE0000000OLD1"); k.Status != "Inactive" {
		t.Fatalf("the in-flight call never took effect: %s", k.Status)
	}
	j := jsonLines(t, w.run("journal", "-o", "json").stdout)
	if len(j) != 1 || j[0]["state"] != "intent" || j[0]["called"] == nil ||
		!strings.Contains(j[0]["note"].(string), "UpdateAccessKey gave no answer") || !strings.Contains(j[0]["note"].(string), "stopped before verifying") {
		t.Fatalf("journal after the stop: %v", j)
	}
	// A second intent, never called: bob's, as if the process died right
	// after writing it.
	st, err := sqlite.Open(context.Background(), w.db)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Begin(context.Background(), &remediate.Action{Op: remediate.OpDeactivateKey, AccountID: acctA, UserName: "bob",
		KeyID: "AKIABOB0000000000001", IssueIDs: []int64{3}, Started: asOf}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	w.srv.ResetCalls()
	r = w.remediate(0, "--yes")
	wantMutations(t, w.srv, deactivation("bob", "AKIABOB0000000000001"),
		"111111111111 "+callerA+" DeleteLoginProfile UserName=dave")
	j = jsonLines(t, w.run("journal", "-o", "json").stdout)
	states := []string{}
	for _, a := range j {
		states = append(states, a["op"].(string)+" "+a["state"].(string))
	}
	if strings.Join(states, ",") != "deactivate_key done,deactivate_key abandoned,deactivate_key done,delete_login_profile done" {
		t.Errorf("journal: %v", states)
	}
	if !strings.Contains(j[1]["note"].(string), "stopped before recording its UpdateAccessKey call") {
		t.Errorf("abandoned note: %v", j[1]["note"])
	}
	if s := issueStatus(t, w); !strings.HasPrefix(s["user_inactivekeys alice"], "remediated key deactivated by keywarden (action 1)") {
		t.Errorf("alice's issue after reconciliation: %q", s["user_inactivekeys alice"])
	}
}

// TestRemediateInteractive drives the prompt: no to alice, yes to bob, quit
// before dave.
func TestRemediateInteractive(t *testing.T) {
	w := newWorld(t, remediationConfig)
	w.srv.AddAccount(seedAlpha())
	w.scan(0, "-o", "json")
	w.srv.ResetCalls()
	r := w.runWith(runOpts{stdin: "n\nmaybe\ny\nq\n", stdinTTY: true}, "remediate", "--show-key-ids", "-o", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	wantMutations(t, w.srv, deactivation("bob", "AKIABOB0000000000001"))
	for _, want := range []string{"[1] deactivate access key AKIAALICE0000000OLD1 of alice", "[2] deactivate access key AKIABOB0000000000001 of bob",
		`"maybe": answer y, n, a or q`, "[3] delete the console password (login profile) of dave", "proceed? [y]es / [n]o / [a]ll / [q]uit"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("prompt lacks %q:\n%s", want, r.stderr)
		}
	}
	// "all" acts on the rest without asking again.
	w.srv.ResetCalls()
	r = w.runWith(runOpts{stdin: "a\n", stdinTTY: true}, "remediate", "-o", "json")
	wantMutations(t, w.srv, deactivation("alice", "AKIAALICE0000000OLD1"), "111111111111 "+callerA+" DeleteLoginProfile UserName=dave")
	if strings.Count(r.stderr, "proceed?") != 1 {
		t.Errorf("asked again after all:\n%s", r.stderr)
	}
}
