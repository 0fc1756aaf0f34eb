package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInputChecked: unknown subcommands and bad flag or configuration
// values are refused with a suggestion and exit code 2, through the CLI as
// a user types them.
func TestInputChecked(t *testing.T) {
	w := newWorld(t, baseConfig)
	w.srv.AddAccount(seedAlpha())
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"config", "valdate"}, `unknown command "valdate" for "keywarden config"; did you mean "validate"?`},
		{[]string{"issues", "lst"}, `unknown command "lst" for "keywarden issues"; did you mean "list"?`},
		{[]string{"scna"}, `did you mean "scan"?`},
		{[]string{"issues", "frobnicate"}, `run 'keywarden issues --help' for its commands`},
		{[]string{"--log-level", "verbose", "issues", "list"}, `--log-level "verbose": use debug, info, warn, error; did you mean "debug"?`},
		{[]string{"--log-level", "warning", "scan"}, `did you mean "warn"?`},
		{[]string{"scan", "--as-of", "yesterday"}, `--as-of "yesterday": want a date like 2026-03-01`},
		{[]string{"journal", "--since", "last week"}, `--since "last week": want a date`},
		{[]string{"issues", "list", "--status", "opne"}, `--status "opne": use open`},
		{[]string{"issues", "show", "x"}, `issue ID "x": want a positive number`},
		{[]string{"scan", "--source", "fast"}, `--source "fast": use report or live`},
		{[]string{"policy", "--role", "admin"}, `--role "admin": use audit, remediation or runner`},
		{[]string{"--max-attempts", "0", "scan"}, `--max-attempts 0: use 1 or more`},
		{[]string{"--max-attempts", "many", "scan"}, `invalid argument "many" for "--max-attempts"`},
		{[]string{"scan", "--no-such-flag"}, `unknown flag: --no-such-flag`},
		{[]string{"scan", "--account", "12345"}, `--account "12345": an AWS account ID is 12 digits`},
		{[]string{"remediate", "--dry-run", "--account", "11111111111a"}, `--account "11111111111a": an AWS account ID is 12 digits`},
		{[]string{"issues", "list", "--account", "alpha"}, `--account "alpha": an AWS account ID is 12 digits, such as 123456789012; did you mean 111111111111 (alpha in aws.accounts)?`},
		{[]string{"scan", "--region", "us-east1"}, `--region "us-east1" is not an AWS region; did you mean "us-east-1"?`},
		{[]string{"-o", "xml", "scan"}, `-o xml: keywarden scan supports table, json, csv, html, asff`},
	} {
		r := w.run(c.args...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, c.want) {
			t.Errorf("keywarden %s: exit %d, stderr %q; want exit 2 saying %q", strings.Join(c.args, " "), r.code, r.stderr, c.want)
		}
	}
	if r := w.run("--version"); r.code != 0 || r.stdout != "keywarden "+Version+"\n" {
		t.Errorf("keywarden --version: exit %d, stdout %q", r.code, r.stdout)
	}
	if r := w.run("version", "-o", "json"); r.code != 0 || strings.TrimSpace(r.stdout) != `{"version":"`+Version+`"}` {
		t.Errorf("keywarden version -o json: exit %d, stdout %q", r.code, r.stdout)
	}
	if r := w.run("config"); r.code != 0 || !strings.Contains(r.stdout, "validate") {
		t.Errorf("keywarden config (no subcommand) should print its help: exit %d, stdout %q", r.code, r.stdout)
	}
}

// TestRegionInConfig: a malformed region in config.json is a problem of
// config validate (exit 1, as it documents) with the suggestion, and every
// other command refuses the configuration with exit code 2.
func TestRegionInConfig(t *testing.T) {
	w := newWorld(t, strings.Replace(baseConfig, `"region": "us-east-1"`, `"region": "us-east1"`, 1))
	const want = `config.json: aws.region: "us-east1" is not an AWS region; did you mean "us-east-1"?`
	if r := w.run("config", "validate"); r.code != 1 || !strings.Contains(r.stdout, want) {
		t.Errorf("config validate: exit %d, stdout %q; want 1 saying %q", r.code, r.stdout, want)
	}
	if r := w.run("scan"); r.code != ExitUsage || !strings.Contains(r.stderr, want) {
		t.Errorf("scan: exit %d, stderr %q; want 2 saying %q", r.code, r.stderr, want)
	}
}

// TestRemediateUnknownIssue: remediate --issue with an ID the store does not
// hold says so (exit 2) instead of doing nothing quietly.
func TestRemediateUnknownIssue(t *testing.T) {
	w := newWorld(t, remediationConfig)
	w.srv.AddAccount(seedWithOwnKey())
	w.scan(0, "-o", "json")
	r := w.run("remediate", "--dry-run", "--issue", "9999", "-o", "json")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "--issue 9999: the issue does not exist") {
		t.Errorf("remediate --issue 9999: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := w.run("remediate", "--dry-run", "--issue", "3", "-o", "json"); r.code != 0 {
		t.Errorf("remediate --issue 3 (exists): exit %d, stderr %q", r.code, r.stderr)
	}
	r = w.run("rollback", "--dry-run", "--issue", "9999", "-o", "json")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "--issue 9999: the issue does not exist") {
		t.Errorf("rollback --issue 9999: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestReadingCommandsCreateNoStore: issues list, show, export and journal in
// a folder without a store say so and leave no keywarden.db behind.
func TestReadingCommandsCreateNoStore(t *testing.T) {
	w := newWorld(t, baseConfig)
	for _, args := range [][]string{{"issues", "list"}, {"issues", "show", "1"}, {"issues", "export"}, {"journal"}} {
		r := w.run(append(args, "-o", "json")...)
		if r.code != 1 || !strings.Contains(r.stderr, "no issue store at "+w.db) || !strings.Contains(r.stderr, "run keywarden scan") {
			t.Errorf("%v without a store: exit %d, stderr %q", args, r.code, r.stderr)
		}
		if _, err := os.Stat(w.db); err == nil {
			t.Fatalf("%v created %s", args, filepath.Base(w.db))
		}
	}
}
