package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/awstest"
	"github.com/keywarden/keywarden/internal/issues/dynamodb/dynamotest"
	"github.com/keywarden/keywarden/internal/issues/sqlite"
	"github.com/keywarden/keywarden/internal/remediate"
)

// Issue 10: the journal never lies, under eventual consistency, crashes,
// hung calls and people acting; rollback holds; a dry run needs no
// credentials.

const bobKey = "AKIABOB0000000000001"

// journalRows lists the journal as "op state" per action, and the rows.
func journalRows(t *testing.T, w *world) ([]string, []map[string]any) {
	t.Helper()
	j := jsonLines(t, w.run("journal", "-o", "json", "--show-key-ids").stdout)
	var states []string
	for _, a := range j {
		states = append(states, a["op"].(string)+" "+a["state"].(string))
	}
	return states, j
}

func keyStatus(t *testing.T, w *world, id string) string {
	t.Helper()
	k, ok := w.srv.Key(acctA, id)
	if !ok {
		t.Fatalf("key %s is gone", id)
	}
	return k.Status
}

// TestRemediateStaleReads (defect 5): IAM answers reads after the
// UpdateAccessKey with the old state. Within the verification window the
// action is verified (done); beyond it, it is journaled unverified, counts
// as keywarden's (issue remediated, "not yet verified"), a scan does not
// resolve it as "already Inactive", and the next run verifies it from the
// live state.
func TestRemediateStaleReads(t *testing.T) {
	t.Run("verified within the window", func(t *testing.T) {
		w := newWorld(t, remediationConfig)
		w.srv.AddAccount(seedAlpha())
		w.scan(0, "-o", "json")
		w.srv.SetStaleReads(acctA, 3)
		w.srv.ResetCalls()
		r := w.remediate(0, "--yes", "--issue", "3", "--verify-for", "1s")
		if got := strings.Join(outcomes(t, r.stdout), "\n"); got != "remediated <nil> bob "+bobKey {
			t.Errorf("outcomes: %s", got)
		}
		states, j := journalRows(t, w)
		if strings.Join(states, ",") != "deactivate_key done" || j[0]["note"] != "verified: key Inactive" || j[0]["called"] == nil {
			t.Errorf("journal: %v", j)
		}
		if n := w.srv.CountCalls(acctA, "ListAccessKeys"); n != 5 { // the re-check, three stale reads, the fresh one
			t.Errorf("%d ListAccessKeys calls, want 5", n)
		}
	})

	t.Run("unverified, then settled", func(t *testing.T) {
		w := newWorld(t, remediationConfig)
		w.srv.AddAccount(seedAlpha())
		w.scan(0, "-o", "json")
		// --verify-for 5ms at a 1ms backoff: reads after 0, 1, 3 and 5 ms,
		// all four stale.
		w.srv.SetStaleReads(acctA, 4)
		r := w.remediate(0, "--yes", "--issue", "3", "--verify-for", "5ms")
		if got := strings.Join(outcomes(t, r.stdout), "\n"); got != "unverified <nil> bob "+bobKey {
			t.Errorf("outcomes: %s", got)
		}
		if !strings.Contains(r.stderr, "1 unverified") {
			t.Errorf("summary: %s", r.stderr)
		}
		if s := keyStatus(t, w, bobKey); s != "Inactive" {
			t.Fatalf("bob's key is %s", s)
		}
		states, j := journalRows(t, w)
		note, _ := j[0]["note"].(string)
		if strings.Join(states, ",") != "deactivate_key unverified" || !strings.Contains(note, "UpdateAccessKey succeeded, but after 5ms of re-reads IAM still shows key Active: not yet verified") {
			t.Errorf("journal: %v", j)
		}
		want := "remediated key deactivated by keywarden (action 1), not yet verified"
		if s := issueStatus(t, w)["user_inactivekeys bob"]; !strings.HasPrefix(s, want) {
			t.Errorf("bob's issue: %q, want %q...", s, want)
		}
		// The next scan sees the key Inactive: the issue stays keywarden's.
		sc := w.scan(0, "-o", "json")
		if s := issueStatus(t, w)["user_inactivekeys bob"]; !strings.HasPrefix(s, want) || strings.Contains(s, "already") {
			t.Errorf("bob's issue after a scan: %q\n%s", s, sc.stderr)
		}
		// The next run verifies it from a live (fresh) read.
		w.srv.ResetCalls()
		r = w.remediate(0, "--yes", "--issue", "3")
		wantMutations(t, w.srv)
		if got := strings.Join(outcomes(t, r.stdout), "\n"); got != "reconciled <nil> bob "+bobKey {
			t.Errorf("outcomes: %s", got)
		}
		states, j = journalRows(t, w)
		if strings.Join(states, ",") != "deactivate_key done" || !strings.HasSuffix(j[0]["note"].(string), "; verified on a later run the live state shows key Inactive") {
			t.Errorf("journal: %v", j)
		}
		if s := issueStatus(t, w)["user_inactivekeys bob"]; s != "remediated key deactivated by keywarden (action 1), verified on a later run" {
			t.Errorf("bob's issue after verification: %q", s)
		}
	})

	t.Run("unverified, undone since", func(t *testing.T) {
		w := newWorld(t, remediationConfig)
		w.srv.AddAccount(seedAlpha())
		w.scan(0, "-o", "json")
		w.srv.SetStaleReads(acctA, 4)
		w.remediate(0, "--yes", "--issue", "3", "--verify-for", "5ms")
		w.srv.SetStaleReads(acctA, 0)
		w.srv.SetKeyStatus(acctA, bobKey, "Active") // someone re-activates it
		w.srv.ResetCalls()
		r := w.remediate(0, "--yes", "--issue", "3")
		// Settled as failed, the issue reopened; the same run acts again.
		wantMutations(t, w.srv, deactivation("bob", bobKey))
		states, j := journalRows(t, w)
		if strings.Join(states, ",") != "deactivate_key failed,deactivate_key done" ||
			!strings.Contains(j[0]["note"].(string), "on a later run the live state shows key Active: the change did not take effect, or was undone since; its issues are reopened") {
			t.Errorf("journal: %v\n%s", j, r.stdout)
		}
		if s := issueStatus(t, w)["user_inactivekeys bob"]; s != "remediated key deactivated by keywarden (action 2)" {
			t.Errorf("bob's issue: %q", s)
		}
	})

	t.Run("unverified is rolled back", func(t *testing.T) {
		w := newWorld(t, remediationConfig)
		w.srv.AddAccount(seedAlpha())
		w.scan(0, "-o", "json")
		w.srv.SetStaleReads(acctA, 4)
		w.remediate(0, "--yes", "--issue", "3", "--verify-for", "5ms")
		w.srv.ResetCalls()
		rb := w.run("rollback", "--issue", "3", "--yes", "--retry-backoff", "1ms", "-o", "json", "--show-key-ids")
		if rb.code != 0 {
			t.Fatalf("rollback: exit %d\n%s\n%s", rb.code, rb.stdout, rb.stderr)
		}
		wantMutations(t, w.srv, "111111111111 "+callerA+" UpdateAccessKey UserName=bob AccessKeyId="+bobKey+" Status=Active")
		if s := keyStatus(t, w, bobKey); s != "Active" {
			t.Errorf("bob's key after rollback: %s", s)
		}
		states, _ := journalRows(t, w)
		if strings.Join(states, ",") != "deactivate_key done,reactivate_key done" {
			t.Errorf("journal: %v", states)
		}
	})
}

// TestRemediateCrashThenHuman (defect 6): keywarden journals its intent
// for bob's key and dies before calling; then a person deactivates the key.
// The next run does not claim the change (indeterminate, the issue resolved
// saying so), and rollback does not re-activate the key a person disabled
// unless forced.
func TestRemediateCrashThenHuman(t *testing.T) {
	w := newWorld(t, remediationConfig)
	w.srv.AddAccount(seedAlpha())
	w.scan(0, "-o", "json")
	st, err := sqlite.Open(context.Background(), w.db)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Begin(context.Background(), &remediate.Action{Op: remediate.OpDeactivateKey, AccountID: acctA, UserName: "bob",
		KeyID: bobKey, IssueIDs: []int64{3}, BeforeStatus: "Active", Started: asOf}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	w.srv.SetKeyStatus(acctA, bobKey, "Inactive") // a person acts
	w.srv.ResetCalls()

	r := w.remediate(0, "--yes")
	wantMutations(t, w.srv, deactivation("alice", "AKIAALICE0000000OLD1"), "111111111111 "+callerA+" DeleteLoginProfile UserName=dave")
	states, j := journalRows(t, w)
	if strings.Join(states, ",") != "deactivate_key indeterminate,deactivate_key done,delete_login_profile done" {
		t.Fatalf("journal: %v", states)
	}
	if note := j[0]["note"].(string); !strings.Contains(note, "keywarden stopped before recording its UpdateAccessKey call") ||
		!strings.Contains(note, "the change may be a person's") || !strings.Contains(r.stdout, "indeterminate") {
		t.Errorf("note: %s\n%s", note, r.stdout)
	}
	if s := issueStatus(t, w)["user_inactivekeys bob"]; !strings.HasPrefix(s, "resolved key Inactive, not claimed by keywarden: action 1 is in doubt") {
		t.Errorf("bob's issue: %q", s)
	}

	// Rollback leaves it alone, and says why.
	w.srv.ResetCalls()
	for _, args := range [][]string{{"--action", "1"}, {"--since", "2026-01-01"}, {"--issue", "3"}} {
		rb := w.run(append([]string{"rollback", "--yes", "--retry-backoff", "1ms"}, args...)...)
		if rb.code != 1 || !strings.Contains(rb.stderr, "the deactivation may be a person's") || !strings.Contains(rb.stderr, "--force") {
			t.Errorf("rollback %v: exit %d\n%s\n%s", args, rb.code, rb.stdout, rb.stderr)
		}
	}
	untouched(t, w, bobKey)
	if s := keyStatus(t, w, bobKey); s != "Inactive" {
		t.Errorf("bob's key re-activated: %s", s)
	}

	// Forced, it is re-activated.
	w.srv.ResetCalls()
	rb := w.run("rollback", "--action", "1", "--force", "--yes", "--retry-backoff", "1ms")
	if rb.code != 0 {
		t.Fatalf("rollback --force: exit %d\n%s\n%s", rb.code, rb.stdout, rb.stderr)
	}
	wantMutations(t, w.srv, "111111111111 "+callerA+" UpdateAccessKey UserName=bob AccessKeyId="+bobKey+" Status=Active")
	if s := issueStatus(t, w)["user_inactivekeys bob"]; s != "whitelisted <nil>" {
		t.Errorf("bob's issue after a forced rollback: %q", s)
	}
}

// TestRemediateHungCall (defect 7): UpdateAccessKey never answers (the write
// is carried out, its answer lost). Each call ends at --call-timeout; the
// journal records what the live state shows: done where the effect shows
// (the run still exits 1: AWS did not answer), left an intent with its call
// recorded where it does not yet, settled by the next run.
func TestRemediateHungCall(t *testing.T) {
	w := newWorld(t, remediationConfig)
	w.srv.AddAccount(seedAlpha())
	w.scan(0, "-o", "json")
	w.srv.Inject(awstest.Fault{Action: "UpdateAccessKey", Mode: awstest.ModeHang})
	start := time.Now()
	r := w.remediate(1, "--yes", "--call-timeout", "300ms", "--verify-for", "20ms", "--kind", "user_inactivekeys")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("remediate took %s with a 300ms call timeout", d)
	}
	if !strings.Contains(r.stderr, "no answer from AWS within 300ms") {
		t.Errorf("stderr: %s", r.stderr)
	}
	states, j := journalRows(t, w)
	if strings.Join(states, ",") != "deactivate_key done,deactivate_key done" {
		t.Fatalf("journal: %v", states)
	}
	for _, a := range j {
		if note := a["note"].(string); !strings.HasPrefix(note, "verified: key Inactive (UpdateAccessKey gave no answer") {
			t.Errorf("note: %s", note)
		}
	}
	st := issueStatus(t, w)
	if !strings.HasPrefix(st["user_inactivekeys alice"], "remediated") || !strings.HasPrefix(st["user_inactivekeys bob"], "remediated") {
		t.Errorf("issues: %v", st)
	}

	t.Run("effect not visible yet", func(t *testing.T) {
		w := newWorld(t, remediationConfig)
		w.srv.AddAccount(seedAlpha())
		w.scan(0, "-o", "json")
		w.srv.Inject(awstest.Fault{Action: "UpdateAccessKey", Mode: awstest.ModeHang})
		w.srv.SetStaleReads(acctA, 4)
		r := w.remediate(1, "--yes", "--call-timeout", "300ms", "--verify-for", "5ms", "--issue", "3")
		if !strings.Contains(r.stderr, "the next run settles it from the live state") {
			t.Errorf("stderr: %s", r.stderr)
		}
		states, j := journalRows(t, w)
		if strings.Join(states, ",") != "deactivate_key intent" || j[0]["called"] == nil ||
			!strings.Contains(j[0]["note"].(string), "after 5ms of re-reads the live state shows key Active") {
			t.Fatalf("journal: %v", j)
		}
		if s := issueStatus(t, w)["user_inactivekeys bob"]; s != "open <nil>" {
			t.Errorf("bob's issue: %q", s)
		}
		w.srv.ClearFaults()
		w.srv.ResetCalls()
		w.remediate(0, "--yes", "--issue", "3")
		wantMutations(t, w.srv)
		if states, _ := journalRows(t, w); strings.Join(states, ",") != "deactivate_key done" {
			t.Errorf("journal after the next run: %v", states)
		}
		if s := issueStatus(t, w)["user_inactivekeys bob"]; s != "remediated key deactivated by keywarden (action 1)" {
			t.Errorf("bob's issue: %q", s)
		}
	})
}

// TestRollbackHold (defect 8): a rolled-back key is exempt from remediation
// for --hold days: the next run leaves it Active and the scan shows it
// whitelisted "exempt until DATE: rolled back (action N) (keywarden
// rollback)" (a hold is an exemption with an end); past the hold it is due
// again.
func TestRollbackHold(t *testing.T) {
	w := newWorld(t, remediationConfig)
	w.srv.AddAccount(seedAlpha())
	w.scan(0, "-o", "json")
	w.remediate(0, "--yes", "--kind", "user_inactivekeys")
	for _, bad := range []string{"-1", "36501"} {
		if rb := w.run("rollback", "--issue", "3", "--yes", "--hold", bad); rb.code != ExitUsage || !strings.Contains(rb.stderr, "--hold "+bad+": use 0 (no hold) to 36500 days") {
			t.Errorf("--hold %s: exit %d %s", bad, rb.code, rb.stderr)
		}
	}
	rb := w.run("rollback", "--issue", "3", "--yes", "--hold", "10", "--retry-backoff", "1ms", "-o", "json")
	if rb.code != 0 || !strings.Contains(rb.stdout, "on hold (exempt from remediation) until 2026-12-05T12:00:00Z") {
		t.Fatalf("rollback: exit %d\n%s\n%s", rb.code, rb.stdout, rb.stderr)
	}
	_, j := journalRows(t, w)
	if len(j) != 3 || j[2]["op"] != "reactivate_key" || j[2]["hold_until"] != "2026-12-05T12:00:00Z" {
		t.Fatalf("journal: %v", j)
	}
	// The hold is an exemption with an end: exempt list shows it.
	if l := jsonLines(t, w.run("exempt", "list", "-o", "json", "--show-key-ids").stdout); len(l) != 1 || l[0]["source"] != "rollback" ||
		l[0]["action"] != 3.0 || l[0]["owner"] != "keywarden rollback" || l[0]["reason"] != "rolled back (action 3)" ||
		l[0]["subject"] != bobKey || l[0]["until"] != "2026-12-05T12:00:00Z" || l[0]["state"] != "active" || l[0]["kind"] != "all" {
		t.Errorf("exempt list: %v", l)
	}

	// The next run: scan and remediate. Bob's key stays Active.
	w.srv.ResetCalls()
	run := w.run("run", "--as-of", asOf.Format(time.RFC3339))
	if run.code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", run.code, run.stdout, run.stderr)
	}
	untouched(t, w, bobKey)
	if s := keyStatus(t, w, bobKey); s != "Active" {
		t.Errorf("bob's key after the next run: %s", s)
	}
	sc := w.scan(0, "--show-key-ids", "-o", "table")
	if !strings.Contains(sc.stdout, "(exempt until 2026-12-05: rolled back (action 3) (keywarden rollback))") {
		t.Errorf("scan output:\n%s", sc.stdout)
	}
	r := w.remediate(0, "--yes")
	untouched(t, w, bobKey)
	if got := strings.Join(outcomes(t, r.stdout), "\n"); !strings.Contains(got, "skipped rolled_back bob "+bobKey) {
		t.Errorf("outcomes:\n%s", got)
	}
	if s := issueStatus(t, w)["user_inactivekeys bob"]; s != "whitelisted <nil>" {
		t.Errorf("bob's issue: %q", s)
	}

	// Past the hold, it is due again.
	past := "2026-12-06T00:00:00Z"
	dry := w.remediate(0, "--dry-run", "--as-of", past)
	if got := strings.Join(outcomes(t, dry.stdout), "\n"); !strings.Contains(got, "would remediate <nil> bob "+bobKey) {
		t.Errorf("dry run past the hold:\n%s", got)
	}
	if sc := w.scan(0, "--as-of", past, "--no-track", "-o", "json"); strings.Contains(sc.stdout, "rolled back") {
		t.Errorf("scan past the hold still exempt:\n%s", sc.stdout)
	}

	// --hold 0: no hold.
	w2 := newWorld(t, remediationConfig)
	w2.srv.AddAccount(seedAlpha())
	w2.scan(0, "-o", "json")
	w2.remediate(0, "--yes", "--kind", "user_inactivekeys")
	if rb := w2.run("rollback", "--issue", "3", "--yes", "--hold", "0", "--retry-backoff", "1ms"); rb.code != 0 {
		t.Fatalf("rollback --hold 0: %d %s", rb.code, rb.stderr)
	}
	w2.srv.ResetCalls()
	w2.remediate(0, "--yes", "--kind", "user_inactivekeys")
	wantMutations(t, w2.srv, deactivation("bob", bobKey))
}

// untouched fails the test if a mutating call named key.
func untouched(t *testing.T, w *world, key string) {
	t.Helper()
	for _, m := range mutations(w.srv) {
		if strings.Contains(m, key) {
			t.Errorf("%s touched: %s", key, m)
		}
	}
}

// TestRemediateDryRunNoCredentials (defect 11): a dry run makes no AWS call
// and needs no credentials; a real run still refuses without them.
func TestRemediateDryRunNoCredentials(t *testing.T) {
	w := newWorld(t, remediationConfig)
	w.srv.AddAccount(seedAlpha())
	w.scan(0, "-o", "json")
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	// The instance metadata service is left on, pointed at a loopback
	// stand-in that counts what reaches it: a dry run asks it nothing.
	var imdsHits atomic.Int64
	imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		imdsHits.Add(1)
		http.Error(w, "no role", http.StatusNotFound)
	}))
	defer imds.Close()
	t.Setenv("AWS_EC2_METADATA_DISABLED", "")
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.URL)
	w.srv.ResetCalls()
	r := w.remediate(0, "--dry-run")
	if n := len(w.srv.Calls()); n != 0 {
		t.Errorf("dry run made %d calls: %v", n, w.srv.Calls())
	}
	if n := imdsHits.Load(); n != 0 {
		t.Errorf("dry run asked the instance metadata service %d times", n)
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	if got := strings.Join(outcomes(t, r.stdout), "\n"); !strings.Contains(got, "would remediate <nil> bob "+bobKey) {
		t.Errorf("dry-run plan:\n%s", got)
	}
	if !strings.Contains(r.stderr, "dry run: nothing was changed") {
		t.Errorf("stderr: %s", r.stderr)
	}
	if states, _ := journalRows(t, w); len(states) != 0 {
		t.Errorf("journal: %v", states)
	}
	if r := w.run("remediate", "--yes"); r.code != 1 || !strings.Contains(r.stderr, "AWS credentials") {
		t.Errorf("real run without credentials: exit %d %s", r.code, r.stderr)
	}
	wantMutations(t, w.srv)
}

// checkTruth checks the journal against the live state, and the issues
// against the journal. settled: no intent may be left.
func checkTruth(t *testing.T, w *world, r result, settled bool) {
	t.Helper()
	if r.code != 0 && r.code != 1 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r.code == 1 && !strings.Contains(r.stderr, acctA) {
		t.Errorf("failure without the account:\n%s", r.stderr)
	}
	_, j := journalRows(t, w)
	claimed := map[float64]bool{}
	for _, a := range j {
		op, state, note := a["op"].(string), a["state"].(string), a["note"].(string)
		if state == "done" || state == "unverified" {
			for _, id := range a["issues"].([]any) {
				claimed[id.(float64)] = op != "reactivate_key"
			}
		}
		// Later actions on the same credential may have changed it since:
		// only the newest action on a credential is checked against it.
		newest := true
		for _, b := range j {
			if b["key_id"] == a["key_id"] && b["user"] == a["user"] && b["id"].(float64) > a["id"].(float64) {
				newest = false
			}
		}
		if !newest {
			continue
		}
		took := false
		switch op {
		case "deactivate_key", "reactivate_key":
			want := map[string]string{"deactivate_key": "Inactive", "reactivate_key": "Active"}[op]
			took = keyStatus(t, w, a["key_id"].(string)) == want
		case "delete_login_profile":
			u, _ := w.srv.User(acctA, a["user"].(string))
			took = u.LoginProfile == nil
		}
		switch state {
		case "done":
			if !took {
				t.Errorf("action %v %s done, but the live state does not show it (%s)", a["id"], op, note)
			}
		case "failed", "abandoned":
			if took {
				t.Errorf("action %v %s %s, but the live state shows it (%s)", a["id"], op, state, note)
			}
		case "intent", "unverified":
			if settled {
				t.Errorf("action %v left %s after a clean run: %s", a["id"], state, note)
			}
			if r.code != 1 && state == "intent" {
				t.Errorf("action %v left an intent, exit 0", a["id"])
			}
		case "indeterminate":
			t.Errorf("action %v indeterminate: nobody else acted", a["id"])
		}
	}
	for _, is := range jsonLines(t, w.run("issues", "list", "--status", "all", "-o", "json").stdout) {
		switch is["status"] {
		case "resolved":
			t.Errorf("issue %v resolved from a bad answer: %v", is["id"], is["close_reason"])
		case "remediated":
			if !claimed[is["id"].(float64)] {
				t.Errorf("issue %v remediated without a done action: %v", is["id"], is["close_reason"])
			}
		}
	}
}

// TestDynamoDBJournalTruth: the unverified state, its settlement and a
// rollback hold with store.type dynamodb (dynalite).
func TestDynamoDBJournalTruth(t *testing.T) {
	ep := dynamotest.Endpoint(t)
	prefix := fmt.Sprintf("jt%d-%d-", time.Now().UnixNano()%1_000_000, dynamoSeq.Add(1))
	cfg := strings.Replace(remediationConfig, `"aws": {`, `"store": {"type": "dynamodb", "endpoint": "`+ep+`", "table_prefix": "`+prefix+`", "create_tables": true},
  "aws": {`, 1)
	w := newWorld(t, cfg)
	w.srv.AddAccount(seedAlpha())
	w.scan(0, "-o", "json")
	bob := ""
	for _, is := range jsonLines(t, w.run("issues", "list", "-o", "json").stdout) {
		if is["kind"] == "user_inactivekeys" && is["issue_details"].(map[string]any)["username"] == "bob" {
			bob = fmt.Sprint(is["id"])
		}
	}
	if bob == "" {
		t.Fatal("no issue for bob's key")
	}
	w.srv.SetStaleReads(acctA, 4)
	r := w.remediate(0, "--yes", "--issue", bob, "--verify-for", "5ms")
	if got := strings.Join(outcomes(t, r.stdout), "\n"); got != "unverified <nil> bob "+bobKey {
		t.Fatalf("outcomes: %s", got)
	}
	if states, _ := journalRows(t, w); strings.Join(states, ",") != "deactivate_key unverified" {
		t.Fatalf("journal: %v", states)
	}
	w.remediate(0, "--yes", "--issue", bob)
	states, j := journalRows(t, w)
	if strings.Join(states, ",") != "deactivate_key done" || j[0]["called"] == nil {
		t.Fatalf("journal after settlement: %v", j)
	}
	if rb := w.run("rollback", "--issue", bob, "--yes", "--hold", "10", "--retry-backoff", "1ms"); rb.code != 0 {
		t.Fatalf("rollback: %d %s", rb.code, rb.stderr)
	}
	_, j = journalRows(t, w)
	if len(j) != 2 || j[1]["hold_until"] != "2026-12-05T12:00:00Z" {
		t.Fatalf("journal after rollback: %v", j)
	}
	if sc := w.scan(0, "-o", "json"); !strings.Contains(sc.stdout, `"exemption":"exempt until 2026-12-05: rolled back (action `) {
		t.Errorf("scan:\n%s", sc.stdout)
	}
	w.srv.ResetCalls()
	r = w.remediate(0, "--yes", "--kind", "user_inactivekeys")
	untouched(t, w, bobKey)
	if got := strings.Join(outcomes(t, r.stdout), "\n"); !strings.Contains(got, "skipped rolled_back bob "+bobKey) {
		t.Errorf("outcomes:\n%s", got)
	}
}
