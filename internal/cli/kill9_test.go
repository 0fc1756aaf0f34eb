package cli

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/internal/awstest"
)

// TestRemediateKill9: the real binary is killed with SIGKILL while its
// UpdateAccessKey is in flight (the call takes effect, its answer never
// comes, the journal holds only the intent). The next run cannot know
// whether the change was keywarden's: it does not claim it (indeterminate),
// never calls again for that key, and goes on with the rest.
func TestRemediateKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "keywarden")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/keywarden/keywarden/cmd/keywarden").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	w := newWorld(t, remediationConfig)
	w.srv.AddAccount(seedAlpha())
	w.scan(0, "-o", "json")
	w.srv.ResetCalls()
	w.srv.Inject(awstest.Fault{Action: "UpdateAccessKey", Mode: awstest.ModeHang, Times: 1})

	cmd := exec.Command(bin, "--config-dir", w.dir, "--db", w.db, "--log-level", "warn",
		"remediate", "--yes", "--kind", "user_inactivekeys", "-o", "json")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the first UpdateAccessKey", func() bool { return w.srv.CountCalls(acctA, "UpdateAccessKey") > 0 })
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no deferred code runs
		t.Fatal(err)
	}
	_ = cmd.Wait()
	var hung string
	for _, c := range w.srv.Calls() {
		if c.Action == "UpdateAccessKey" {
			hung = c.Params.Get("AccessKeyId")
			break
		}
	}
	if k, _ := w.srv.Key(acctA, hung); k.Status != "Inactive" {
		t.Fatalf("the hung call to %s did not take effect: %s\n%s", hung, k.Status, out.String())
	}
	if states, _ := journalRows(t, w); strings.Join(states, ",") != "deactivate_key intent" {
		t.Fatalf("journal after kill -9: %v\n%s", states, out.String())
	}

	w.srv.ResetCalls()
	r := w.remediate(0, "--yes", "--kind", "user_inactivekeys")
	for _, c := range w.srv.Calls() {
		if c.Action == "UpdateAccessKey" && c.Params.Get("AccessKeyId") == hung {
			t.Errorf("called UpdateAccessKey again for %s", hung)
		}
	}
	states, _ := journalRows(t, w)
	if strings.Join(states, ",") != "deactivate_key indeterminate,deactivate_key done" {
		t.Errorf("journal after the next run: %v\n%s\n%s", states, r.stdout, r.stderr)
	}
	// The other inactive key was acted on exactly once; the hung one stays
	// Inactive, and keywarden did not claim it.
	other := "AKIAALICE0000000OLD1"
	if hung == other {
		other = bobKey
	}
	if k, _ := w.srv.Key(acctA, other); k.Status != "Inactive" {
		t.Errorf("%s: %s", other, k.Status)
	}
	if r := w.run("rollback", "--since", "2026-01-01", "--yes", "--retry-backoff", "1ms"); r.code != 1 || !strings.Contains(r.stdout+r.stderr, "--force") {
		t.Errorf("rollback of the in-doubt action: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if k, _ := w.srv.Key(acctA, hung); k.Status != "Inactive" {
		t.Errorf("rollback re-activated %s without --force", hung)
	}
}
