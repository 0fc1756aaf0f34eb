package cli

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/output"
)

var updateContract = flag.Bool("update-contract", false, "rewrite internal/cli/testdata/contract/*.golden")

// contractCase is one command of the output contract, with the arguments
// that give it something to show in the contract world.
type contractCase struct {
	path string // command path below keywarden, e.g. "issues list"
	args []string
}

// contractCases lists every runnable command. TestFormatContract fails when a
// command is missing here: a new command declares its formats and gets a case.
var contractCases = []contractCase{
	{"scan", []string{"--as-of", asOf.Format(time.RFC3339), "--report-poll-interval", "1ms", "--report-timeout", "200ms", "--no-track"}},
	{"report", []string{"--dry-run", "--as-of", asOf.Format(time.RFC3339)}},
	{"remediate", []string{"--dry-run", "--retry-backoff", "1ms"}},
	{"rollback", []string{"--dry-run", "--since", "2026-01-01", "--retry-backoff", "1ms"}},
	{"journal", nil},
	{"issues list", []string{"--status", "all"}},
	{"issues show", []string{"1"}},
	{"issues export", []string{"--status", "all"}},
	{"config validate", nil},
	{"version", nil},
	{"policy", nil},
	{"run", []string{"--dry-run", "--as-of", asOf.Format(time.RFC3339)}},
	{"serve", []string{"--listen", "127.0.0.1:0"}}, // declares no format: only the refusal runs
	// Last: each run of exempt add stores one more exemption.
	{"exempt add", []string{"bob", "--account", acctA, "--until", "2026-12-31", "--owner", "alice@example.com", "--reason", "=vendor migration"}},
	{"exempt list", nil},
	{"exempt remove", []string{"1"}},
}

var allFormats = []output.Format{output.Table, output.JSON, output.CSV, output.HTML, output.ASFF}

// contractWorld: a scanned account A, with one remediation done, so every
// command has issues, journal entries and rollbacks to show.
func contractWorld(t *testing.T) *world {
	w := newWorld(t, remediationConfig)
	w.srv.AddAccount(seedWithOwnKey())
	w.scan(0, "-o", "json")
	w.remediate(0, "--yes", "--issue", "3")
	return w
}

var (
	logTime = regexp.MustCompile(`"time":"[^"]*"`)
	tookRe  = regexp.MustCompile(`\b\d+(\.\d+)?(ns|µs|ms|s)\b`)
)

// normalize takes out of an output what changes from run to run: the
// world's folder, log times, durations.
func (w *world) normalize(s string) string {
	s = strings.ReplaceAll(s, w.dir, "$DIR")
	s = logTime.ReplaceAllString(s, `"time":"T"`)
	return tookRe.ReplaceAllString(s, "D")
}

// TestFormatContract runs every command with every format it declares
// (golden files in testdata/contract) and with one it does not (exit 2,
// naming the ones it supports); --output takes the format from its
// extension.
func TestFormatContract(t *testing.T) {
	root := NewRoot(DefaultEnv())
	declared := map[string][]output.Format{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Runnable() && !c.HasSubCommands() && c.Name() != "help" && c.Name() != "completion" {
			declared[strings.TrimPrefix(c.CommandPath(), "keywarden ")] = declaredFormats(c)
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	for path := range declared {
		if !slices.ContainsFunc(contractCases, func(c contractCase) bool { return c.path == path }) {
			t.Errorf("keywarden %s has no case in contractCases (declare its formats with withFormats and add one)", path)
		}
	}

	w := contractWorld(t)
	for _, c := range contractCases {
		fs, ok := declared[c.path]
		if !ok {
			t.Errorf("contractCases: no command %q", c.path)
			continue
		}
		base := append(strings.Fields(c.path), c.args...)
		for _, f := range fs {
			t.Run(strings.ReplaceAll(c.path, " ", "-")+"/"+string(f), func(t *testing.T) {
				r := w.run(append(base, "-o", string(f))...)
				got := fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, w.normalize(r.stdout), w.normalize(r.stderr))
				golden := filepath.Join("testdata", "contract", strings.ReplaceAll(c.path, " ", "-")+"."+string(f)+".golden")
				if *updateContract {
					if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test -run TestFormatContract -update-contract)", err)
				}
				if got != string(want) {
					t.Errorf("keywarden %s -o %s differs from %s:\n%s", c.path, f, golden, got)
				}
				if r.code == ExitUsage {
					t.Errorf("keywarden %s -o %s: a declared format is refused: %s", c.path, f, r.stderr)
				}
				// Nothing shows a full access key ID without --show-key-ids.
				if m := keyIDRe.FindString(r.stdout + r.stderr); m != "" {
					t.Errorf("keywarden %s -o %s shows the key ID %s in full", c.path, f, m)
				}
			})
		}
		t.Run(strings.ReplaceAll(c.path, " ", "-")+"/undeclared", func(t *testing.T) {
			bad := "xml"
			for _, f := range allFormats {
				if !slices.Contains(fs, f) {
					bad = string(f)
					break
				}
			}
			r := w.run(append(base, "-o", bad)...)
			if r.code != ExitUsage || r.stdout != "" {
				t.Errorf("keywarden %s -o %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", c.path, bad, r.code, ExitUsage, r.stdout, r.stderr)
			}
			wantMsg := "writes no formatted output"
			if len(fs) > 0 {
				names := make([]string, len(fs))
				for i, f := range fs {
					names[i] = string(f)
				}
				wantMsg = "supports " + strings.Join(names, ", ")
			}
			if !strings.Contains(r.stderr, "-o "+bad) || !strings.Contains(r.stderr, wantMsg) {
				t.Errorf("keywarden %s -o %s: stderr %q does not say %q", c.path, bad, r.stderr, wantMsg)
			}
		})
	}
}

var keyIDRe = regexp.MustCompile(`\b(AKIA|ASIA)[A-Z0-9]{16}\b`)

// TestOutputFileExtension: --output without -o takes the format from the
// file's extension, and refuses one the command does not write or cannot be
// told from the name.
func TestOutputFileExtension(t *testing.T) {
	w := contractWorld(t)
	html := filepath.Join(w.dir, "r.html")
	if r := w.run("issues", "export", "--output", html); r.code != 0 {
		t.Fatalf("issues export --output r.html: exit %d: %s", r.code, r.stderr)
	}
	if b, _ := os.ReadFile(html); !strings.HasPrefix(string(b), "<!DOCTYPE html>") {
		t.Errorf("issues export --output r.html wrote %.80q, want HTML", b)
	}
	csvFile := filepath.Join(w.dir, "i.csv")
	if r := w.run("issues", "list", "--output", csvFile); r.code != 0 {
		t.Fatalf("issues list --output i.csv: exit %d: %s", r.code, r.stderr)
	}
	if b, _ := os.ReadFile(csvFile); !strings.HasPrefix(string(b), "id,kind") {
		t.Errorf("issues list --output i.csv wrote %.80q, want CSV", b)
	}
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"issues", "list", "--output", filepath.Join(w.dir, "l.html")}, "keywarden issues list does not write html; it supports table, json, csv"},
		{[]string{"journal", "--output", filepath.Join(w.dir, "j.xlsx")}, `cannot tell the format from ".xlsx"; add -o`},
		{[]string{"run", "--dry-run", "--output", filepath.Join(w.dir, "run.csv")}, "keywarden run does not write csv"},
	} {
		r := w.run(c.args...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, c.msg) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 saying %q", c.args, r.code, r.stderr, c.msg)
		}
		if _, err := os.Stat(c.args[len(c.args)-1]); err == nil {
			t.Errorf("%v: refused, yet the file was written", c.args)
		}
	}
}

// TestKeyIDsMaskedEverywhere: remediate, rollback and journal, in each of
// their formats, show no full key ID (in any field: details, notes) unless
// --show-key-ids.
func TestKeyIDsMaskedEverywhere(t *testing.T) {
	w := contractWorld(t)
	rb := w.run("rollback", "--issue", "3", "--yes", "--retry-backoff", "1ms", "-o", "json")
	if rb.code != 0 {
		t.Fatalf("rollback: exit %d\n%s", rb.code, rb.stderr)
	}
	if m := keyIDRe.FindString(rb.stdout + rb.stderr); m != "" {
		t.Errorf("rollback shows %s in full:\n%s\n%s", m, rb.stdout, rb.stderr)
	}
	for _, args := range [][]string{
		{"journal", "-o", "json"}, {"journal", "-o", "table"},
		{"rollback", "--issue", "3", "--yes", "--retry-backoff", "1ms", "-o", "table"},
		{"issues", "list", "--status", "all", "-o", "csv"}, {"issues", "export", "--status", "all", "-o", "html"},
	} {
		r := w.run(args...)
		if m := keyIDRe.FindString(r.stdout + r.stderr); m != "" {
			t.Errorf("%v shows %s in full:\n%s\n%s", args, m, r.stdout, r.stderr)
		}
	}
	if r := w.run("journal", "-o", "json", "--show-key-ids"); !keyIDRe.MatchString(r.stdout) {
		t.Errorf("journal --show-key-ids shows no full key ID:\n%s", r.stdout)
	}
}

// TestWebViewHonest: serve's web view (like issues export -o html) shows a
// remediated issue as remediated, not as a violation, one row per credential,
// with the account's name and its users with issues.
func TestWebViewHonest(t *testing.T) {
	w := contractWorld(t) // bob's key (issue 3) remediated
	d := startServe(t, w, &fakeClock{now: asOf, limited: true}, "--schedule", "0 10 * * *")
	code, page := get(t, d.url+"/")
	if code != 200 {
		t.Fatalf("web view: %d", code)
	}
	for _, want := range []string{
		`id="total-violations">5<`, `id="total-remediated">1<`,
		`<td>bob</td><td>AKIA…0001</td><td>user_inactivekeys</td><td><span class="badge remediated">remediated</span>`,
		`<td>alice</td><td>AKIA…OLD1</td><td>user_inactivekeys<br>user_keysrotation</td>`,
		`<td>111111111111</td><td>alpha</td><td class="num">7</td>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("web view lacks %s", want)
		}
	}
	if strings.Count(page, "<td>alice</td><td>AKIA…OLD1</td>") != 2 { // the findings table and the oldest violations
		t.Errorf("alice's old key is not one row per credential in the findings table")
	}
}
