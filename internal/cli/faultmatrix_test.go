package cli

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/awstest"
)

// The fault matrix: scan, remediate and rollback under every fault mode on
// every AWS action they call (the actions come from the call record of a
// clean run, so a new call is covered as soon as it is made). Each case
// asserts: no panic, no hang past the deadline, no issue resolved from an
// incomplete inventory, a journal that matches the live state, and exit
// code 1 naming the failing account whenever the fault reached keywarden.

// matrixFault is one way an AWS action goes wrong.
type matrixFault struct {
	name string
	mode awstest.FaultMode
	code string
}

var matrixFaults = []matrixFault{
	{"service-failure", awstest.ModeError, "ServiceFailure"},
	{"access-denied", awstest.ModeError, "AccessDenied"},
	{"truncated", awstest.ModeTruncated, ""},
	{"empty-body", awstest.ModeEmptyBody, ""},
	{"malformed-body", awstest.ModeMalformedBody, ""},
	{"missing-element", awstest.ModeMissingElement, ""},
	{"hang", awstest.ModeHang, ""},
}

// matrixBound is how long one command may take under any fault: the
// per-call deadline times the attempts, for a few calls in sequence.
const matrixBound = 20 * time.Second

// matrixArgs keep every command quick under faults: a short deadline per
// call and few attempts.
var matrixArgs = []string{}

// paginated are the actions with IsTruncated/Marker pages.
var paginated = map[string]bool{"GetAccountAuthorizationDetails": true, "ListUsers": true, "ListAccessKeys": true, "ListUserTags": true}

// writes are the mutating actions: their answer carries no result element.
var writes = map[string]bool{"UpdateAccessKey": true, "DeleteLoginProfile": true}

// applies reports whether the fault changes the answer of action at all.
func (f matrixFault) applies(action string) bool {
	switch f.mode {
	case awstest.ModeTruncated:
		return paginated[action]
	case awstest.ModeMissingElement:
		return !writes[action]
	}
	return true
}

func (f matrixFault) inject(srv *awstest.Server, action string) {
	srv.Inject(awstest.Fault{Account: acctA, Action: action, Mode: f.mode, Code: f.code})
}

// actionsOf lists the distinct actions in the server's call record.
func actionsOf(srv *awstest.Server) []string {
	var out []string
	for _, c := range srv.Calls() {
		if !slices.Contains(out, c.Action) {
			out = append(out, c.Action)
		}
	}
	sort.Strings(out)
	return out
}

// checkRun asserts what holds under every fault: no panic, in time, exit
// 0 or 1, and exit 1 names the account.
func checkRun(t *testing.T, r result, took time.Duration) {
	t.Helper()
	if strings.Contains(r.stdout+r.stderr, "panic") || strings.Contains(r.stdout+r.stderr, "goroutine ") {
		t.Fatalf("panic:\n%s\n%s", r.stdout, r.stderr)
	}
	if took > matrixBound {
		t.Errorf("took %s (bound %s)", took, matrixBound)
	}
	if r.code != 0 && r.code != 1 {
		t.Errorf("exit %d, want 0 or 1\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r.code == 1 && !strings.Contains(r.stdout+r.stderr, acctA) {
		t.Errorf("exit 1 without naming account %s:\n%s\n%s", acctA, r.stdout, r.stderr)
	}
}

func timed(f func() result) (result, time.Duration) {
	start := time.Now()
	r := f()
	return r, time.Since(start)
}

func (w *world) issuesJSON() string {
	w.t.Helper()
	r := w.run("issues", "list", "--status", "all", "-o", "json", "--show-key-ids")
	if r.code != 0 {
		w.t.Fatalf("issues list: %d %s", r.code, r.stderr)
	}
	return r.stdout
}

// checkJournal asserts that every journal action tells the truth about
// the live state, and that every change in the live state is journaled.
func checkJournal(t *testing.T, w *world, before awstest.Account) {
	t.Helper()
	r := w.run("journal", "-o", "json", "--show-key-ids")
	if r.code != 0 {
		t.Fatalf("journal: %d %s", r.code, r.stderr)
	}
	claimed := map[string]bool{}
	actions := jsonLines(t, r.stdout)
	// A deactivation undone by a rollback that took effect is not
	// contradicted by the key being Active again.
	undone := map[float64]bool{}
	for _, a := range actions {
		if of, ok := a["rollback_of"].(float64); ok && a["state"] != "failed" && a["state"] != "abandoned" {
			undone[of] = true
		}
	}
	for _, a := range actions {
		if undone[a["id"].(float64)] {
			continue
		}
		op, state, user, key := a["op"].(string), a["state"].(string), a["user"].(string), fmt.Sprint(a["key_id"])
		live, _ := w.srv.User(acctA, user)
		var got string
		switch op {
		case "deactivate_key", "reactivate_key":
			k, ok := w.srv.Key(acctA, key)
			if !ok {
				t.Errorf("action %v on a key that does not exist", a)
				continue
			}
			got = k.Status
		case "delete_login_profile":
			got = "present"
			if live.LoginProfile == nil {
				got = "deleted"
			}
		}
		want := map[string]string{"deactivate_key": "Inactive", "reactivate_key": "Active", "delete_login_profile": "deleted"}[op]
		switch state {
		case "done":
			if got != want {
				t.Errorf("journal says %s %s of %s %s is done; live state: %s", op, key, user, state, got)
			}
			claimed[user+"/"+key+"/"+op] = true
		case "failed", "abandoned":
			if got == want {
				t.Errorf("journal says %s of %s %s %s; but the live state shows it happened (%s)", op, user, key, state, got)
			}
		case "unverified", "indeterminate":
			claimed[user+"/"+key+"/"+op] = true
		case "intent":
			t.Errorf("a finished run left an intent: %v", a)
		}
	}
	// Every change to the live state is in the journal as ours.
	for _, u := range before.Users {
		live, ok := w.srv.User(acctA, u.Name)
		if !ok {
			continue
		}
		if u.LoginProfile != nil && live.LoginProfile == nil && !claimed[u.Name+"/<nil>/delete_login_profile"] {
			t.Errorf("%s's login profile was deleted but the journal does not say so", u.Name)
		}
		for _, k := range u.Keys {
			lk, _ := w.srv.Key(acctA, k.ID)
			was := k.Status
			if was == "" {
				was = "Active"
			}
			if was == "Active" && lk.Status == "Inactive" && !claimed[u.Name+"/"+k.ID+"/deactivate_key"] {
				t.Errorf("key %s of %s was deactivated but the journal does not say so", k.ID, u.Name)
			}
		}
	}
}

func TestFaultMatrixScan(t *testing.T) {
	// The actions a clean tracked scan calls.
	probe := newWorld(t, remediationConfig)
	probe.srv.AddAccount(seedAlpha())
	probe.scan(0, "-o", "json")
	probe.srv.ResetCalls()
	probe.scan(0, "-o", "json")
	actions := actionsOf(probe.srv)
	if len(actions) < 4 {
		t.Fatalf("a clean scan called only %v", actions)
	}
	for _, action := range actions {
		for _, f := range matrixFaults {
			t.Run(action+"/"+f.name, func(t *testing.T) {
				w := newWorld(t, remediationConfig)
				w.srv.AddAccount(seedAlpha())
				w.scan(0, "-o", "json")
				before := w.issuesJSON()
				f.inject(w.srv, action)
				r, took := timed(func() result {
					return w.run(append([]string{"scan", "--as-of", asOf.Format(time.RFC3339), "--report-poll-interval", "1ms", "--report-timeout", "2s", "--max-attempts", "2", "-o", "json"}, matrixArgs...)...)
				})
				checkRun(t, r, took)
				if f.applies(action) && r.code != 1 {
					t.Errorf("exit %d under a fault the scan met, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
				}
				w.srv.ClearFaults()
				if after := w.issuesJSON(); after != before {
					t.Errorf("the store changed under the fault:\nbefore:\n%s\nafter:\n%s", before, after)
				}
			})
		}
	}
}

func TestFaultMatrixRemediate(t *testing.T) {
	probe := newWorld(t, remediationConfig)
	probe.srv.AddAccount(seedAlpha())
	probe.scan(0, "-o", "json")
	probe.srv.ResetCalls()
	probe.remediate(0, "--yes")
	actions := actionsOf(probe.srv)
	if !slices.Contains(actions, "UpdateAccessKey") || !slices.Contains(actions, "DeleteLoginProfile") {
		t.Fatalf("a clean remediation called only %v", actions)
	}
	for _, action := range actions {
		for _, f := range matrixFaults {
			t.Run(action+"/"+f.name, func(t *testing.T) {
				w := newWorld(t, remediationConfig)
				seed := seedAlpha()
				w.srv.AddAccount(seed)
				w.scan(0, "-o", "json")
				f.inject(w.srv, action)
				r, took := timed(func() result {
					return w.run(append([]string{"remediate", "--yes", "--retry-backoff", "1ms", "-o", "json"}, matrixArgs...)...)
				})
				checkRun(t, r, took)
				w.srv.ClearFaults()
				checkJournal(t, w, seed)
			})
		}
	}
}

func TestFaultMatrixRollback(t *testing.T) {
	probe := newWorld(t, remediationConfig)
	probe.srv.AddAccount(seedAlpha())
	probe.scan(0, "-o", "json")
	probe.remediate(0, "--yes")
	probe.srv.ResetCalls()
	if r := probe.run("rollback", "--since", "2000-01-01", "--yes", "--retry-backoff", "1ms"); r.code != 1 { // the deleted password cannot be restored
		t.Fatalf("clean rollback: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	actions := actionsOf(probe.srv)
	if !slices.Contains(actions, "UpdateAccessKey") {
		t.Fatalf("a clean rollback called only %v", actions)
	}
	for _, action := range actions {
		for _, f := range matrixFaults {
			t.Run(action+"/"+f.name, func(t *testing.T) {
				w := newWorld(t, remediationConfig)
				seed := seedAlpha()
				w.srv.AddAccount(seed)
				w.scan(0, "-o", "json")
				w.remediate(0, "--yes")
				f.inject(w.srv, action)
				r, took := timed(func() result {
					return w.run(append([]string{"rollback", "--since", "2000-01-01", "--yes", "--retry-backoff", "1ms", "-o", "json"}, matrixArgs...)...)
				})
				checkRun(t, r, took)
				w.srv.ClearFaults()
				// After rollback every key is back as seeded, or the journal
				// says which deactivation still stands.
				checkJournal(t, w, seed)
			})
		}
	}
}
