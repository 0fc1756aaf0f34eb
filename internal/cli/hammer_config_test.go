package cli

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite internal/cli/testdata/*.golden")

// golden compares got with testdata/name (rewritten with -update-golden).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./internal/cli -run %s -update-golden writes it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("output differs from %s:\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// hammerStyleConfig is a config.json as a Hammer user has it: Hammer's
// sections and quirks (string booleans and numbers, labels, role names, its
// log forwarding, other checks), keywarden's checks on two accounts.
const hammerStyleConfig = `{
  "cronjobs": {"reporting": "55 * * * *", "remediation": "45 10 * * *"},
  "jira": {"enabled": false, "server": "https://issues.example.com", "issue_type": "Task", "text_field_character_limit": 32767},
  "slack": {"enabled": false, "notify_default_owner": true, "channels": {"#hammer-logs": ["ERROR|WARNING"]}, "ignore": [],
    "default_channel": "#hammer-dev"},
  "aws": {
    "main_account_id": "111111111111",
    "region": "us-east-1",
    "role_name_identification": "hammer-id-role",
    "role_name_reporting": "hammer-rr-role",
    "ddb_backup": {"retention_days": 7, "enabled": true},
    "s3_backup_bucket": "hammer-backup",
    "accounts": {"111111111111": "master", "222222222222": "slave1"}
  },
  "api": {"ddb.table_name": "hammer-api-requests"},
  "whitelisting_procedure_url": "",
  "credentials": {"ddb.table_name": "hammer-credentials"},
  "s3_bucket_acl": {"enabled": true, "ddb.table_name": "hammer-s3-public-bucket-acl", "reporting": false, "labels": ["publics3"]},
  "user_inactivekeys": {
    "enabled": "true",
    "ddb.table_name": "hammer-iam-user-keys-inactive",
    "topic_name": "hammer-describe-iam-user-inactive-keys-lambda",
    "inactive_criteria_days": "90",
    "reporting": false,
    "remediation": "true",
    "remediation_retention_period": 0,
    "labels": ["inactive-iam-keys"]
  },
  "user_keysrotation": {
    "enabled": true,
    "ddb.table_name": "hammer-iam-user-keys-rotation",
    "rotation_criteria_days": "180",
    "reporting": false,
    "remediation": false,
    "remediation_retention_period": "0"
  }
}`

// hammerTicketOwners keys its account entry with 13 digits, as Hammer's
// sample does.
const hammerTicketOwners = `{
  "account": {"1234567890123": {"jira_project": "AWSCORESEC", "jira_owner": "", "jira_parent_ticket": "AWSSEC-4321", "slack_owner": "#hammer-dev"}},
  "jira_project": "AWSSEC", "jira_owner": "", "jira_parent_ticket": "AWSSEC-1234", "slack_owner": ["#hammer-dev"]
}`

// assumedRoles lists the RoleArn of every AssumeRole call recorded.
func assumedRoles(w *world) []string {
	var out []string
	for _, c := range w.srv.Calls() {
		if c.Action == "AssumeRole" {
			out = append(out, c.Params.Get("RoleArn"))
		}
	}
	return out
}

// A Hammer user's files as they are: the scan runs, warns about the routing
// entry that never matches, and assumes Hammer's identification role.
func TestScanHammerConfig(t *testing.T) {
	w := newWorld(t, hammerStyleConfig)
	w.writeFile("ticket_owners.json", hammerTicketOwners)
	w.srv.AddAccount(seedAlpha())
	w.srv.AddAccount(seedBeta())
	r := w.scan(0, "-o", "json", "--show-key-ids")
	if !strings.Contains(r.stderr, `warning: ticket_owners.json: account.1234567890123: "1234567890123" is not a 12-digit AWS account ID, so this routing entry never matches`) {
		t.Errorf("the scan does not warn about the routing entry:\n%s", r.stderr)
	}
	found := false
	for _, f := range jsonLines(t, r.stdout) {
		if f["account"] == acctB && strings.Contains(r.stdout, "AKIAZOE0000000000001") {
			found = true
		}
	}
	if !found {
		t.Errorf("no finding in the member account:\n%s", r.stdout)
	}
	got := assumedRoles(w)
	if len(got) == 0 {
		t.Fatal("no AssumeRole call: the member account was not scanned through a role")
	}
	for _, arn := range got {
		if arn != "arn:aws:iam::222222222222:role/hammer-id-role" {
			t.Errorf("scan assumed %s, want Hammer's role_name_identification in 222222222222", arn)
		}
	}
}

// Remediation assumes Hammer's reporting role, and acts as it.
func TestRemediateAssumesReportingRole(t *testing.T) {
	w := newWorld(t, hammerStyleConfig)
	w.srv.AddAccount(seedAlpha())
	w.srv.AddAccount(seedBeta())
	w.scan(0, "-o", "json")
	w.srv.ResetCalls()
	w.remediate(0, "--yes", "--kind", "user_inactivekeys")
	got := assumedRoles(w)
	if len(got) == 0 {
		t.Fatal("no AssumeRole call: the member account was not remediated through a role")
	}
	for _, arn := range got {
		if arn != "arn:aws:iam::222222222222:role/hammer-rr-role" {
			t.Errorf("remediate assumed %s, want Hammer's role_name_reporting in 222222222222", arn)
		}
	}
	wantMutations(t, w.srv,
		"111111111111 "+callerA+" UpdateAccessKey UserName=alice AccessKeyId=AKIAALICE0000000OLD1 Status=Inactive",
		"111111111111 "+callerA+" UpdateAccessKey UserName=bob AccessKeyId=AKIABOB0000000000001 Status=Inactive",
		"222222222222 arn:aws:sts::222222222222:assumed-role/hammer-rr-role/keywarden UpdateAccessKey UserName=zoe AccessKeyId=AKIAZOE0000000000001 Status=Inactive",
	)
}

// config validate prints errors, then warnings, then what it ignores on one
// line; it exits 1 only for errors.
func TestConfigValidateOrder(t *testing.T) {
	// Hammer's latest sample: valid, one warning, Hammer's settings ignored.
	r := runIn(t, repoRoot, false, "config", "validate", "internal/config/testdata/hammer/master-latest")
	if r.code != 0 {
		t.Fatalf("Hammer's sample: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	golden(t, "config-validate-hammer.golden", r.stdout)

	// Errors, warnings and ignored settings together.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(strings.Replace(hammerStyleConfig,
		`"rotation_criteria_days": "180"`, `"rotation_criteria_day": "180"`, 1)), 0o600)
	os.WriteFile(filepath.Join(dir, "ticket_owners.json"), []byte(hammerTicketOwners), 0o600)
	r = runIn(t, repoRoot, false, "config", "validate", dir)
	if r.code != 1 || !strings.Contains(r.stderr, "2 problems found") {
		t.Fatalf("exit %d, stderr %q: want 1 and the count of errors", r.code, r.stderr)
	}
	lines := strings.Split(r.stdout, "\n")
	kinds := []string{}
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "error: "):
			kinds = append(kinds, "error")
		case strings.HasPrefix(l, "warning: "):
			kinds = append(kinds, "warning")
		case strings.HasPrefix(l, "ignored "):
			kinds = append(kinds, "ignored")
		}
	}
	if strings.Join(kinds, ",") != "error,error,warning,ignored" {
		t.Errorf("order %v, want errors, then warnings, then the ignored line:\n%s", kinds, r.stdout)
	}
	for _, want := range []string{
		`error: config.json: user_keysrotation.rotation_criteria_day: unknown key; did you mean "rotation_criteria_days"?`,
		`error: config.json: user_keysrotation.rotation_criteria_days: missing (Hammer has no default)`,
		`warning: ticket_owners.json: account.1234567890123:`,
		`ignored (not handled by keywarden): config.json: api, aws.ddb_backup, aws.main_account_id, aws.s3_backup_bucket, credentials, cronjobs, s3_bucket_acl, slack.channels, slack.ignore, user_inactivekeys.topic_name`,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}

	// Warnings alone do not fail.
	fixed := t.TempDir()
	os.WriteFile(filepath.Join(fixed, "config.json"), []byte(hammerStyleConfig), 0o600)
	os.WriteFile(filepath.Join(fixed, "ticket_owners.json"), []byte(hammerTicketOwners), 0o600)
	r = runIn(t, repoRoot, false, "config", "validate", fixed)
	if r.code != 0 || !strings.Contains(r.stdout, "configuration is valid, with 1 warning\n") || strings.Contains(r.stdout, "error: ") {
		t.Errorf("warnings only: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// keywarden policy prints the policies of the configured role names and
// SNS topic.
func TestPolicyForConfiguredRoles(t *testing.T) {
	w := newWorld(t, strings.Replace(hammerStyleConfig, `"cronjobs"`,
		`"sns": {"topic_arn": "arn:aws:sns:us-east-1:111111111111:hammer-iam"}, "cronjobs"`, 1))
	r := w.run("policy", "--role", "runner")
	if r.code != 0 {
		t.Fatalf("policy: exit %d %s", r.code, r.stderr)
	}
	var doc struct {
		Statement []struct {
			Sid      string
			Action   []string
			Resource any
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("not a policy: %v\n%s", err, r.stdout)
	}
	res := map[string]string{}
	for _, s := range doc.Statement {
		b, _ := json.Marshal(s.Resource)
		res[s.Sid] = string(b)
	}
	if want := `["arn:aws:iam::*:role/hammer-id-role","arn:aws:iam::*:role/hammer-rr-role"]`; res["AssumeMemberRoles"] != want {
		t.Errorf("AssumeMemberRoles on %s, want %s", res["AssumeMemberRoles"], want)
	}
	if want := `"arn:aws:sns:us-east-1:111111111111:hammer-iam"`; res["PublishNotifications"] != want {
		t.Errorf("PublishNotifications on %s, want %s", res["PublishNotifications"], want)
	}
	// The remediation role's policy holds the two mutating actions; the
	// scan role's does not.
	rem := w.run("policy", "--role", "remediation")
	aud := w.run("policy", "--role", "audit")
	if !strings.Contains(rem.stdout, "iam:UpdateAccessKey") || strings.Contains(aud.stdout, "iam:UpdateAccessKey") {
		t.Errorf("remediation role:\n%s\naudit role:\n%s", rem.stdout, aud.stdout)
	}
	// --role-name overrides the configuration.
	o := w.run("policy", "--role", "runner", "--role-name", "other")
	if !strings.Contains(o.stdout, `"arn:aws:iam::*:role/other"`) || strings.Contains(o.stdout, "hammer-id-role") {
		t.Errorf("--role-name: %s", o.stdout)
	}
}
