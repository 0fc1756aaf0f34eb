package cli

import (
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/awstest"
)

// The fault matrix (issue 10): scan, remediate and rollback under every
// fault mode on every AWS action they call. The actions come from the call
// record of a clean run, so a call added later is covered without editing
// a list. Each case asserts: no panic, no hang past the deadline, exit 1
// naming the failing account whenever the fault reached keywarden; for
// scan, an unchanged issue store (nothing resolved from an incomplete
// inventory); for remediate and rollback, a journal that matches the live
// state and issues that match the journal (checkTruth), also after a clean
// run that settles what the faulty one left.

// matrixFault is one way an AWS action goes wrong.
type matrixFault struct {
	name string
	mode awstest.FaultMode
	code string
}

var matrixFaults = []matrixFault{
	{"service-failure", awstest.ModeError, "ServiceFailure"},
	{"access-denied", awstest.ModeError, "AccessDenied"},
	{"throttling", awstest.ModeError, "Throttling"},
	{"truncated", awstest.ModeTruncated, ""},
	{"empty-body", awstest.ModeEmptyBody, ""},
	{"malformed-body", awstest.ModeMalformedBody, ""},
	{"missing-element", awstest.ModeMissingElement, ""},
	{"hang", awstest.ModeHang, ""},
}

// matrixBound is how long one command may take under any fault: a few
// calls in sequence, each bounded by --call-timeout times --max-attempts.
const matrixBound = 20 * time.Second

// matrixArgs keep every command quick under faults.
var matrixArgs = []string{"--call-timeout", "300ms", "--max-attempts", "2", "--retry-max-backoff", "1ms", "-o", "json"}

// actMatrixArgs add remediate's and rollback's own waits.
var actMatrixArgs = append([]string{"--yes", "--retry-backoff", "1ms", "--verify-for", "10ms"}, matrixArgs...)

// paginated are the actions with IsTruncated/Marker pages.
var paginated = map[string]bool{"GetAccountAuthorizationDetails": true, "ListUsers": true, "ListAccessKeys": true, "ListUserTags": true}

// writes answer no result element: an empty one is the right answer.
var writes = map[string]bool{"UpdateAccessKey": true, "DeleteLoginProfile": true}

// reaches reports whether the fault changes what keywarden receives.
func (f matrixFault) reaches(action string) bool {
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

// checkRun asserts what holds under every fault: no panic, in time.
func checkRun(t *testing.T, r result, took time.Duration) {
	t.Helper()
	if strings.Contains(r.stdout+r.stderr, "panic") || strings.Contains(r.stdout+r.stderr, "goroutine ") {
		t.Fatalf("panic:\n%s\n%s", r.stdout, r.stderr)
	}
	if took > matrixBound {
		t.Errorf("took %s (bound %s)", took, matrixBound)
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

func TestFaultMatrixScan(t *testing.T) {
	for _, source := range []string{"report", "live"} {
		scan := func(w *world) result {
			return w.run(append([]string{"scan", "--source", source, "--as-of", asOf.Format(time.RFC3339), "--report-poll-interval", "1ms", "--report-timeout", "2s"}, matrixArgs...)...)
		}
		probe := newWorld(t, remediationConfig)
		probe.srv.AddAccount(seedAlpha())
		if r := scan(probe); r.code != 0 {
			t.Fatalf("clean scan: %d\n%s", r.code, r.stderr)
		}
		probe.srv.ResetCalls()
		scan(probe)
		actions := actionsOf(probe.srv)
		if len(actions) < 4 {
			t.Fatalf("a clean %s scan called only %v", source, actions)
		}
		for _, action := range actions {
			for _, f := range matrixFaults {
				t.Run(source+"/"+action+"/"+f.name, func(t *testing.T) {
					w := newWorld(t, remediationConfig)
					w.srv.AddAccount(seedAlpha())
					if r := scan(w); r.code != 0 {
						t.Fatalf("clean scan: %d\n%s", r.code, r.stderr)
					}
					before := w.issuesJSON()
					f.inject(w.srv, action)
					r, took := timed(func() result { return scan(w) })
					checkRun(t, r, took)
					switch {
					case f.reaches(action) && r.code != 1:
						t.Errorf("exit %d under a fault the scan met, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
					case !f.reaches(action) && r.code != 0:
						t.Errorf("exit %d under a fault that changes nothing, want 0\n%s", r.code, r.stderr)
					case r.code == 1 && !strings.Contains(r.stderr, acctA):
						t.Errorf("failure without the account:\n%s", r.stderr)
					}
					w.srv.ClearFaults()
					if after := w.issuesJSON(); after != before {
						t.Errorf("the store changed under the fault:\nbefore:\n%s\nafter:\n%s", before, after)
					}
				})
			}
		}
	}
}

// TestFaultMatrixActions runs remediate and rollback under every fault on
// every action each calls, then once more without the fault.
func TestFaultMatrixActions(t *testing.T) {
	type command struct {
		name  string
		setup func(w *world) // before the fault
		run   func(w *world) result
	}
	commands := []command{
		{"remediate", func(w *world) {}, func(w *world) result {
			return w.run(append([]string{"remediate"}, actMatrixArgs...)...)
		}},
		{"rollback", func(w *world) { w.remediate(0, "--yes", "--kind", "user_inactivekeys") }, func(w *world) result {
			return w.run(append([]string{"rollback", "--since", "2026-01-01"}, actMatrixArgs...)...)
		}},
	}
	for _, c := range commands {
		probe := newWorld(t, remediationConfig)
		probe.srv.AddAccount(seedAlpha())
		probe.scan(0, "-o", "json")
		c.setup(probe)
		probe.srv.ResetCalls()
		if r := c.run(probe); r.code != 0 {
			t.Fatalf("clean %s: %d\n%s\n%s", c.name, r.code, r.stdout, r.stderr)
		}
		actions := actionsOf(probe.srv)
		if !slices.Contains(actions, "UpdateAccessKey") {
			t.Fatalf("a clean %s called only %v", c.name, actions)
		}
		for _, action := range actions {
			for _, f := range matrixFaults {
				t.Run(c.name+"/"+action+"/"+f.name, func(t *testing.T) {
					w := newWorld(t, remediationConfig)
					w.srv.AddAccount(seedAlpha())
					w.scan(0, "-o", "json")
					c.setup(w)
					f.inject(w.srv, action)
					r, took := timed(func() result { return c.run(w) })
					checkRun(t, r, took)
					checkTruth(t, w, r, false)
					w.srv.ClearFaults()
					r = c.run(w)
					if r.code != 0 {
						t.Fatalf("after the fault: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
					}
					checkTruth(t, w, r, true)
					if c.name == "rollback" {
						for _, k := range []string{"AKIAALICE0000000OLD1", bobKey} {
							if s := keyStatus(t, w, k); s != "Active" {
								t.Errorf("%s after the rollback: %s", k, s)
							}
						}
					}
				})
			}
		}
	}
}
