package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/awstest"
)

// twoMembersConfig audits two member accounts, both reached by AssumeRole
// (the caller is in 111111111111).
const twoMembersConfig = `{
  "aws": {"region": "us-east-1", "accounts": {"222222222222": "beta", "333333333333": "gamma"}},
  "user_inactivekeys": {"inactive_criteria_days": 90}
}`

// TestAllowPartialNeedsOneAccount (issue 10, defect 11): --allow-partial
// exits 0 when some account was scanned, 1 when every account failed, and
// the summary says that none succeeded.
func TestAllowPartialNeedsOneAccount(t *testing.T) {
	const acctC = "333333333333"
	for _, tc := range []struct {
		name     string
		deny     []string
		want     int
		stderr   []string
		noStderr []string
	}{
		{"one of two fails", []string{acctC}, 0,
			[]string{"1 account(s) FAILED", "FAILED " + acctC + " (gamma)"},
			[]string{"no account", "accounts failed"}},
		{"both fail", []string{acctB, acctC}, 1,
			[]string{"2 account(s) FAILED: no account succeeded", "FAILED " + acctB + " (beta)", "FAILED " + acctC + " (gamma)",
				"2 of 2 accounts failed: no account was scanned"},
			nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, twoMembersConfig)
			w.srv.AddAccount(awstest.Account{ID: acctB, Users: []awstest.User{{Name: "bea", Created: daysAgo(10)}}})
			w.srv.AddAccount(awstest.Account{ID: acctC, Users: []awstest.User{{Name: "gus", Created: daysAgo(10)}}})
			for _, a := range tc.deny {
				w.srv.Inject(awstest.Fault{Account: a, Action: "AssumeRole", Code: "AccessDenied"})
			}
			r := w.scan(tc.want, "--allow-partial", "-o", "json")
			for _, s := range tc.stderr {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
				}
			}
			for _, s := range tc.noStderr {
				if strings.Contains(r.stderr, s) {
					t.Errorf("stderr has %q:\n%s", s, r.stderr)
				}
			}
			// Without --allow-partial, any failure exits 1.
			w.scan(1, "-o", "json")
		})
	}
}

// TestConcurrentScansShareSQLite (issue 10, defect 9): scans of one SQLite
// file at the same time wait their turn: every one exits 0 and the store
// holds one live issue per credential.
func TestConcurrentScansShareSQLite(t *testing.T) {
	w := newWorld(t, baseConfig)
	w.srv.AddAccount(seedAlpha())
	const n = 6
	var wg sync.WaitGroup
	results := make([]result, n)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = w.run("scan", "--as-of", asOf.Format(time.RFC3339), "--report-poll-interval", "1ms", "-o", "json")
		}(i)
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("scan %d: exit %d\n%s", i, r.code, r.stderr)
		}
	}
	list := jsonLines(t, w.run("issues", "list", "--status", "all", "-o", "json").stdout)
	seen := map[string]int{}
	for _, m := range list {
		seen[fmt.Sprint(m["kind"], "/", m["subject"])]++
		if m["status"] != "open" && m["status"] != "whitelisted" {
			t.Errorf("issue %v is %v", m["id"], m["status"])
		}
	}
	if len(list) != 6 {
		t.Errorf("%d issues, want 6 (one per finding's credential): %v", len(list), seen)
	}
	for k, c := range seen {
		if c != 1 {
			t.Errorf("%d issues for %s", c, k)
		}
	}
}

// dirState is every file of dir with its size, mode and modification time.
func dirState(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %d %v %s\n", e.Name(), fi.Size(), fi.Mode(), fi.ModTime().Format(time.RFC3339Nano))
	}
	return b.String()
}

// TestReadOnlyStore (issue 10, defect 9): a store whose file is 0444, or
// whose directory is 0555, is read by the commands that only read (issues
// list, show, export, journal) without creating or changing any file, and
// refused by the commands that write, naming the file. Permission bits
// decide, so this holds for root too (whom the kernel lets write anyway).
func TestReadOnlyStore(t *testing.T) {
	w := newWorld(t, runConfig)
	w.srv.AddTopic("arn:aws:sns:us-east-1:111111111111:keywarden-notifications")
	w.srv.AddAccount(seedAlpha())
	w.srv.AddAccount(awstest.Account{ID: acctB})
	if r := w.run("run", "--as-of", asOf.Format(time.RFC3339), "-o", "json"); r.code != 0 {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	// The store in a folder of its own, so that its folder can be made
	// read-only.
	storeDir := filepath.Join(t.TempDir(), "store")
	os.Mkdir(storeDir, 0o755)
	db := filepath.Join(storeDir, "keywarden.db")
	if err := os.Rename(w.db, db); err != nil {
		t.Fatal(err)
	}
	w.db = db
	wantIssues := w.run("issues", "list", "--status", "all", "-o", "json").stdout
	wantJournal := w.run("journal", "-o", "json").stdout
	if len(jsonLines(t, wantIssues)) == 0 || len(jsonLines(t, wantJournal)) != 2 {
		t.Fatalf("setup: issues\n%s\njournal\n%s", wantIssues, wantJournal)
	}

	for _, tc := range []struct {
		name   string
		lock   func()
		unlock func()
		reason string
	}{
		{"file 0444", func() { os.Chmod(db, 0o444) }, func() { os.Chmod(db, 0o644) }, "file mode 0444"},
		{"directory 0555", func() { os.Chmod(storeDir, 0o555) }, func() { os.Chmod(storeDir, 0o755) }, "its directory " + storeDir + " has mode 0555"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.lock()
			defer tc.unlock()
			before := dirState(t, storeDir)
			if r := w.run("issues", "list", "--status", "all", "-o", "json"); r.code != 0 || r.stdout != wantIssues {
				t.Errorf("issues list: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			if r := w.run("issues", "show", "1"); r.code != 0 || !strings.Contains(r.stdout, `"id":1,`) {
				t.Errorf("issues show: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			if r := w.run("issues", "export", "-o", "csv"); r.code != 0 || !strings.HasPrefix(r.stdout, "id,kind") {
				t.Errorf("issues export: exit %d\n%s", r.code, r.stderr)
			}
			if r := w.run("journal", "-o", "json"); r.code != 0 || r.stdout != wantJournal {
				t.Errorf("journal: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			want := "issue store " + db + " is read-only (" + tc.reason + ")"
			for _, args := range [][]string{
				{"scan", "--as-of", asOf.Format(time.RFC3339), "--report-poll-interval", "1ms", "-o", "json"},
				{"remediate", "--yes"},
				{"rollback", "--issue", "1", "--yes"},
				{"run", "--as-of", asOf.Format(time.RFC3339), "-o", "json"},
			} {
				r := w.run(args...)
				if r.code != 1 || !strings.Contains(r.stderr+r.stdout, want) {
					t.Errorf("%s: exit %d, want 1 and %q\n%s\n%s", args[0], r.code, want, r.stdout, r.stderr)
				}
			}
			if after := dirState(t, storeDir); after != before {
				t.Errorf("the store's folder changed:\n%s\nbecame\n%s", before, after)
			}
		})
	}
	// Writable again: scans work.
	w.scan(0, "-o", "json")
}

// cliProcessEnv makes the test binary, started again with it set, run
// keywarden with the JSON-encoded arguments it holds (see
// TestCLIProcessHelper): a keywarden process of its own.
const cliProcessEnv = "KEYWARDEN_TEST_CLI_ARGS"

// TestCLIProcessHelper is keywarden itself when cliProcessEnv is set (and
// a no-op otherwise).
func TestCLIProcessHelper(t *testing.T) {
	raw := os.Getenv(cliProcessEnv)
	if raw == "" {
		return
	}
	var args []string
	if err := json.Unmarshal([]byte(raw), &args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(Run(context.Background(), DefaultEnv(), args))
}

// TestConcurrentScanProcesses (issue 10, defect 9): scans in separate
// processes sharing one SQLite file wait their turn: each exits 0, and the
// store holds one live issue per credential.
func TestConcurrentScanProcesses(t *testing.T) {
	w := newWorld(t, baseConfig)
	w.srv.AddAccount(seedAlpha())
	args, _ := json.Marshal([]string{"--config-dir", w.dir, "--db", w.db, "--log-level", "warn",
		"scan", "--as-of", asOf.Format(time.RFC3339), "--report-poll-interval", "1ms", "-o", "json"})
	const n = 3
	cmds := make([]*exec.Cmd, n)
	outs := make([]*bytes.Buffer, n)
	for i := range cmds {
		cmds[i] = exec.Command(os.Args[0], "-test.run=^TestCLIProcessHelper$")
		cmds[i].Env = append(os.Environ(), cliProcessEnv+"="+string(args))
		outs[i] = &bytes.Buffer{}
		cmds[i].Stdout, cmds[i].Stderr = outs[i], outs[i]
	}
	for _, c := range cmds {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Errorf("scan process %d: %v\n%s", i, err, outs[i])
		}
	}
	list := jsonLines(t, w.run("issues", "list", "--status", "all", "-o", "json").stdout)
	seen := map[string]int{}
	for _, m := range list {
		seen[fmt.Sprint(m["kind"], "/", m["subject"])]++
	}
	if len(list) != 6 || len(seen) != 6 {
		t.Errorf("%d issues for %d credentials, want 6 and 6: %v", len(list), len(seen), seen)
	}
}
