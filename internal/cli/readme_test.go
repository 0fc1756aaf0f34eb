package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// repoRoot is where the README's commands run from.
const repoRoot = "../.."

// readmeCommand returns the arguments of the README's first
// "go run ./cmd/keywarden ..." command: the one a new user runs first.
func readmeCommand(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "go run ./cmd/keywarden "); ok {
			return strings.Fields(rest)
		}
	}
	t.Fatal("README.md has no 'go run ./cmd/keywarden' command")
	return nil
}

func runIn(t *testing.T, dir string, tty bool, args ...string) result {
	t.Helper()
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	var out, errb bytes.Buffer
	env := Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, StdoutTTY: tty,
		Getenv: func(string) string { return "" }, Now: func() time.Time { return asOf }}
	code := Run(context.Background(), env, args)
	return result{code, out.String(), errb.String()}
}

// TestReadmeFirstCommand runs the README's first command exactly as written
// (on a terminal, into a fresh store) and checks it prints a sensible table;
// running it again changes nothing.
func TestReadmeFirstCommand(t *testing.T) {
	args := readmeCommand(t)
	db := filepath.Join(t.TempDir(), "keywarden.db")
	args = append(args, "--db", db)
	r := runIn(t, repoRoot, true, args...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"ACCOUNT", "CREDENTIAL", "123456789012", "violation", "warning", "user_inactivekeys", "user_keysrotation", "user_inactivepasswords", "whitelisted"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the README's first command printed no %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "0 updated, 0 resolved") || strings.Contains(r.stderr, " 0 new") {
		t.Errorf("summary of the first run: %s", r.stderr)
	}
	again := runIn(t, repoRoot, true, args...)
	if again.stdout != r.stdout || !strings.Contains(again.stderr, "issues: 0 new, 0 updated, 0 resolved") {
		t.Errorf("the second run changed something:\n%s", again.stderr)
	}
	list := runIn(t, repoRoot, true, "issues", "list", "--config-dir", "examples", "--db", db)
	if list.code != 0 || strings.Count(list.stdout, "\n") < 2 {
		t.Errorf("issues list after the demo: %d %s %s", list.code, list.stdout, list.stderr)
	}
}

func TestConfigValidateCLI(t *testing.T) {
	r := runIn(t, repoRoot, false, "config", "validate", "examples")
	if r.code != 0 || !strings.Contains(r.stdout, "examples: configuration is valid") {
		t.Fatalf("examples: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// A broken copy: every problem is listed with file, key and fix.
	dir := t.TempDir()
	for _, f := range []string{"config.json", "whitelist.json", "ticket_owners.json"} {
		data, err := os.ReadFile(filepath.Join(repoRoot, "examples", f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), data, 0o600)
	}
	cfg, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	broken := strings.Replace(string(cfg), `"inactive_criteria_days"`, `"inactive_criteria_day"`, 1)
	broken = strings.Replace(broken, `"rotation_criteria_days": 180`, `"rotation_criteria_days": -180`, 1)
	if broken == string(cfg) {
		t.Fatal("could not break the example config")
	}
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(broken), 0o600)
	r = runIn(t, repoRoot, false, "config", "validate", dir)
	if r.code != 1 {
		t.Fatalf("broken config: exit %d", r.code)
	}
	for _, want := range []string{
		"error: config.json: user_inactivekeys.inactive_criteria_day:",
		"inactive_criteria_days",
		"error: config.json: user_keysrotation.rotation_criteria_days:",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("validate output lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "3 problems found") {
		t.Errorf("validate stderr: %s", r.stderr)
	}
	// scan refuses to run on it, naming the problem (exit 2: refused input).
	s := runIn(t, repoRoot, false, "scan", "--config-dir", dir, "--credential-report", "examples/credential-report.csv", "--no-track")
	if s.code != ExitUsage || !strings.Contains(s.stderr, "rotation_criteria_days") {
		t.Errorf("scan on a broken config: %d %s", s.code, s.stderr)
	}
}
