package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/policy"
)

var update = flag.Bool("update", false, "rewrite testdata/bad/*/expected.txt")

func mustLoad(t *testing.T, dir string) *Config {
	t.Helper()
	cfg, err := Load(dir)
	if err != nil {
		t.Fatalf("Load(%s): %v", dir, err)
	}
	return cfg
}

func eq(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

func TestGood(t *testing.T) {
	cfg := mustLoad(t, filepath.Join("testdata", "good"))
	eq(t, "AWS", cfg.AWS, AWS{
		Accounts: []Account{{"123456789012", "master"}, {"210987654321", "slave1"}, {"654321210987", "slave2"}},
		RoleName: "keywarden-audit-ro", RoleNameIdentification: "hammer-cloudsec-crossact-id",
		Region: "us-east-1",
	})
	eq(t, "Kinds[user_inactivekeys]", cfg.Kinds[policy.InactiveKeys], &Kind{
		Kind:                       policy.InactiveKeys,
		Enabled:                    true,
		TableName:                  "hammer-iam-user-keys-inactive",
		Accounts:                   []string{"123456789012", "210987654321"},
		RemediationAccounts:        []string{"210987654321"},
		LimitDays:                  90,
		WarningDays:                14,
		Reporting:                  true,
		Remediation:                false,
		RemediationRetentionPeriod: 7,
		TopicName:                  "hammer-describe-iam-user-inactive-keys-lambda",
	})
	eq(t, "Kinds[user_keysrotation]", cfg.Kinds[policy.KeysRotation], &Kind{
		Kind:                       policy.KeysRotation,
		Enabled:                    true,
		TableName:                  "hammer-iam-user-keys-rotation",
		Accounts:                   []string{"123456789012", "210987654321"},
		RemediationAccounts:        []string{"123456789012", "210987654321"},
		LimitDays:                  180,
		WarningDays:                30,
		Remediation:                true,
		RemediationRetentionPeriod: 21,
		IgnoreAccounts:             []string{"654321210987"},
	})
	eq(t, "Kinds[user_inactivepasswords]", cfg.Kinds[policy.InactivePasswords], &Kind{
		Kind:      policy.InactivePasswords,
		Enabled:   false,
		TableName: "hammer-iam-user-passwords-inactive",
	})
	eq(t, "Store", cfg.Store, Store{Type: "sqlite", Path: "/var/lib/keywarden/keywarden.db"})
	eq(t, "Whitelist", cfg.Whitelist, map[policy.Kind]map[string][]string{
		policy.InactiveKeys:      {"123456789012": {"break-glass", "AKIAIOSFODNN7EXAMPLE"}},
		policy.KeysRotation:      {"210987654321": {"ci-deployer"}},
		policy.InactivePasswords: {"123456789012": {"root-like-admin"}},
	})
	eq(t, "TicketOwners", cfg.TicketOwners, TicketOwners{
		Global: Owner{JiraProject: "AWSSEC", JiraOwner: "Support-General", JiraParentTicket: "AWSSEC-1234", SlackOwner: []string{"#devops-channel", "bob"}},
		Accounts: map[string]Owner{
			"210987654321": {JiraOwner: "Support-Cloud", SlackOwner: []string{"#team-slave1"}},
		},
	})
	eq(t, "Ignored", cfg.Ignored, []string{"s3_bucket_acl"}) // "slack" is read: notify.go
	eq(t, "IgnoredKeys", cfg.IgnoredKeys, []string{"config.json: aws.main_account_id", "config.json: slack.channels",
		"config.json: user_inactivekeys.topic_name", "whitelist.json: s3_bucket_acl"})
	eq(t, "IgnoredLine", cfg.IgnoredLine(), "config.json: aws.main_account_id, s3_bucket_acl, slack.channels, user_inactivekeys.topic_name; whitelist.json: s3_bucket_acl")
	eq(t, "Rules", cfg.Rules(), []policy.Rule{
		{Kind: policy.InactiveKeys, LimitDays: 90, WarningDays: 14, Accounts: []string{"123456789012", "210987654321"}},
		{Kind: policy.KeysRotation, LimitDays: 180, WarningDays: 30, Accounts: []string{"123456789012", "210987654321"},
			ExcludeAccounts: []string{"654321210987"}},
	})
	eq(t, "AccountName", cfg.AccountName("210987654321"), "slave1")
}

// Hammer's ignore_accounts with accounts discovered from the organization
// (aws.accounts empty): the rule excludes them at run time.
func TestIgnoreAccountsWithOrgDiscovery(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(`{
  "aws": {"organization": {"discover": true}},
  "user_inactivekeys": {"inactive_criteria_days": "90", "ignore_accounts": "111111111111,222222222222"}
}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Rules()[0]
	if r.AppliesTo("111111111111") || r.AppliesTo("222222222222") || !r.AppliesTo("333333333333") {
		t.Errorf("rule %+v: ignored accounts must be excluded, others checked", r)
	}
}

// TestHammerVersions loads every fixture of a Hammer configuration version
// (testdata/hammer/*/, see its README): none may fail, and what keywarden
// says of each (warnings, then what it ignores) is golden.
func TestHammerVersions(t *testing.T) {
	root := filepath.Join("testdata", "hammer")
	dirs, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		n++
		t.Run(d.Name(), func(t *testing.T) {
			dir := filepath.Join(root, d.Name())
			cfg, probs, err := Validate(dir)
			if err != nil || len(probs) > 0 || cfg == nil {
				t.Fatalf("Hammer's %s does not load: %v %v", d.Name(), probs, err)
			}
			var b strings.Builder
			for _, w := range cfg.Warnings {
				b.WriteString("warning: " + w.String() + "\n")
			}
			b.WriteString("ignored: " + cfg.IgnoredLine() + "\n")
			path := filepath.Join(dir, "expected.txt")
			if *update {
				if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if b.String() != string(want) {
				t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
			}
			// Every version: Hammer's role names, its thresholds, its
			// 13-digit routing entry dropped with a warning.
			eq(t, "ScanRole", cfg.AWS.ScanRole(), "kw-fixture-id-role")
			eq(t, "RemediationRole", cfg.AWS.RemediationRole(), "kw-fixture-rr-role")
			if _, ok := cfg.TicketOwners.Accounts["1234567890123"]; ok {
				t.Error("the 13-digit routing entry is kept")
			}
			if len(cfg.Warnings) == 0 || cfg.Warnings[0].Key != "account.1234567890123" {
				t.Errorf("warnings %v: want the 13-digit routing entry named", cfg.Warnings)
			}
			for _, k := range []policy.Kind{policy.InactiveKeys, policy.KeysRotation} {
				if kc := cfg.Kinds[k]; kc == nil || !kc.Enabled || kc.LimitDays < 1 {
					t.Errorf("%s = %+v: want Hammer's check, enabled, with its threshold", k, kc)
				}
			}
		})
	}
	if n < 11 {
		t.Errorf("%d Hammer versions, want at least 11", n)
	}
}

// The latest master sample, read as Hammer means it.
func TestHammerMasterLatest(t *testing.T) {
	cfg := mustLoad(t, filepath.Join("testdata", "hammer", "master-latest"))
	eq(t, "AWS", cfg.AWS, AWS{
		Accounts: []Account{{"123456789012", "main"}, {"210987654321", "member1"}, {"654321210987", "member2"}},
		RoleName: DefaultRoleName, RoleNameIdentification: "kw-fixture-id-role", RoleNameReporting: "kw-fixture-rr-role",
		Region: "eu-central-1",
	})
	ik := cfg.Kinds[policy.InactiveKeys]
	eq(t, "inactivekeys.LimitDays", ik.LimitDays, 1)
	// ignore_accounts ["654321210987"] is applied as Hammer does.
	eq(t, "inactivekeys.Accounts", ik.Accounts, []string{"123456789012", "210987654321"})
	eq(t, "inactivekeys.RemediationAccounts", ik.RemediationAccounts, []string{"123456789012", "210987654321"})
	kr := cfg.Kinds[policy.KeysRotation]
	eq(t, "keysrotation", *kr, Kind{Kind: policy.KeysRotation, Enabled: true, TableName: "hammer-iam-user-keys-rotation",
		LimitDays: 10, TopicName: "kw-fixture-describe-iam-rotation"})
	if _, ok := cfg.Kinds[policy.InactivePasswords]; ok {
		t.Error("user_inactivepasswords is not in Hammer's sample, yet present")
	}
	eq(t, "Whitelist", cfg.Whitelist, map[policy.Kind]map[string][]string{
		policy.InactiveKeys: {"123456789012": {"fixture-user", "AKIAFIXTURE000000001"}},
		policy.KeysRotation: {"123456789012": {"fixture-user", "AKIAFIXTURE000000002"}},
	})
	eq(t, "Store", cfg.Store, Store{Type: "sqlite", Path: "keywarden.db"})
	eq(t, "Slack", cfg.Notify.Slack, Slack{Set: true, Enabled: true, WebhookURLEnv: DefaultSlackWebhookURLEnv,
		TokenEnv: DefaultSlackTokenEnv, DefaultChannel: "#kw-fixture", NotifyDefaultOwner: true})
	eq(t, "Jira.Enabled", cfg.Notify.Jira.Enabled, false)
	eq(t, "Jira.Server", cfg.Notify.Jira.Server, "https://jira.fixture.example")
	eq(t, "TicketOwners", cfg.TicketOwners, TicketOwners{Global: Owner{JiraProject: "KWSEC", JiraParentTicket: "KWSEC-1",
		SlackOwner: []string{"#kw-fixture"}}})
}

// The keys the playbooks, the docs and Hammer's code define, in the forms
// Hammer accepts.
func TestHammerPlaybookQuirks(t *testing.T) {
	cfg := mustLoad(t, filepath.Join("testdata", "hammer", "playbook-quirks"))
	ik := cfg.Kinds[policy.InactiveKeys]
	eq(t, "inactivekeys", *ik, Kind{Kind: policy.InactiveKeys, Enabled: true, TableName: "hammer-iam-user-keys-inactive",
		Accounts: []string{"123456789012", "210987654321"}, RemediationAccounts: []string{"210987654321"},
		LimitDays: 10, Reporting: true})
	kr := cfg.Kinds[policy.KeysRotation]
	eq(t, "keysrotation accounts", kr.Accounts, []string{"123456789012", "210987654321"})
	eq(t, "keysrotation retention", kr.RemediationRetentionPeriod, 7)
	n := cfg.Notify
	eq(t, "Jira", n.Jira, Jira{Set: true, Enabled: true, Server: "https://jira.fixture.example",
		TokenEnv: DefaultJiraTokenEnv, IssueType: "Task", DoneTransition: DefaultJiraDoneTransition, LinkType: DefaultJiraLinkType,
		TextFieldCharacterLimit: 32767, RiskFieldID: "customfield_10400", Priority: DefaultJiraPriority, Risk: DefaultJiraRisk})
	// The per-check jira block's labels (read after "labels"), Hammer's
	// default label for a check that sets none.
	eq(t, "KindLabels(inactive)", n.KindLabels(policy.InactiveKeys), []string{"kw-iam"})
	eq(t, "KindLabels(rotation)", n.KindLabels(policy.KeysRotation), []string{"iam-key-rotation"})
	eq(t, "per-check switches", [2]bool{n.Kinds[policy.InactiveKeys].NoSlack, n.Kinds[policy.KeysRotation].NoSlack}, [2]bool{false, true})
	eq(t, "Slack", n.Slack, Slack{Set: true, WebhookURLEnv: DefaultSlackWebhookURLEnv, TokenEnv: DefaultSlackTokenEnv,
		DefaultChannel: "kw-fixture", RemediationWarningDays: []int{7, 3, 1}})
	eq(t, "WhitelistingProcedureURL", n.WhitelistingProcedureURL, "https://wiki.fixture.example/exemptions")
	eq(t, "Whitelist", cfg.Whitelist, map[policy.Kind]map[string][]string{
		policy.InactiveKeys: {"123456789012": {"fixture-user", "AKIAFIXTURE000000001"}},
	})
	eq(t, "For(member1)", cfg.TicketOwners.For("210987654321"), Owner{JiraProject: "KWSEC", JiraOwner: "member1-owner",
		JiraParentTicket: "KWSEC-1", SlackOwner: []string{"#kw-member1", "fixture.user@example.com"}})
}

// Hammer's defaults for the keys keywarden shares (hammer/library/config.py):
// a present "jira" or "slack" section is off unless enabled, and
// notify_default_owner is on.
func TestHammerDefaults(t *testing.T) {
	cfg := mustLoad(t, writeConfig(t, `{
  "user_inactivekeys": {"inactive_criteria_days": 90},
  "jira": {"server": "https://jira.example.com"},
  "slack": {"default_channel": "#sec"}
}`))
	eq(t, "Jira.Enabled", cfg.Notify.Jira.Enabled, false)
	eq(t, "Jira.TextFieldCharacterLimit", cfg.Notify.Jira.TextFieldCharacterLimit, 0)
	eq(t, "Slack.Enabled", cfg.Notify.Slack.Enabled, false)
	eq(t, "Slack.NotifyDefaultOwner", cfg.Notify.Slack.NotifyDefaultOwner, true)
	k := cfg.Kinds[policy.InactiveKeys]
	eq(t, "enabled, reporting, remediation, retention", []any{k.Enabled, k.Reporting, k.Remediation, k.RemediationRetentionPeriod},
		[]any{true, false, false, 0})
}

// A routing entry that can never match is a warning naming the entry; the
// entry of a known account is used.
func TestRoutingEntriesThatNeverMatch(t *testing.T) {
	dir := writeConfig(t, `{"aws": {"accounts": {"123456789012": "a"}}, "user_inactivekeys": {"inactive_criteria_days": 9}}`)
	os.WriteFile(filepath.Join(dir, TicketOwnersFile), []byte(`{"account": {
  "acct-prod": {"jira_owner": "x"}, "210987654321": {"jira_owner": "y"}, "123456789012": {"jira_owner": "z"}}}`), 0o600)
	cfg := mustLoad(t, dir)
	var got []string
	for _, w := range cfg.Warnings {
		got = append(got, w.String())
	}
	eq(t, "Warnings", got, []string{
		`ticket_owners.json: account.acct-prod: "acct-prod" is not a 12-digit AWS account ID, so this routing entry never matches (notices of every account go to the global owners); write the account's 12 digits, or remove the entry`,
		`ticket_owners.json: account.210987654321: account 210987654321 is not in config.json's aws.accounts, so this routing entry never matches; add the account to aws.accounts, or remove the entry`,
	})
	eq(t, "For(123456789012)", cfg.TicketOwners.For("123456789012").JiraOwner, "z")
	// With accounts discovered from the organization, any 12-digit entry may match.
	os.WriteFile(filepath.Join(dir, ConfigFile), []byte(`{"aws": {"accounts": {"123456789012": "a"}, "organization": {"discover": true}},
  "user_inactivekeys": {"inactive_criteria_days": 9}}`), 0o600)
	if cfg := mustLoad(t, dir); len(cfg.Warnings) != 1 {
		t.Errorf("with discovery: warnings %v, want only the non-ID entry", cfg.Warnings)
	}
}

// An unknown key inside a section keywarden reads that Hammer does not
// define either stays an error: a typo must not disable a threshold.
func TestUnknownKeyStaysError(t *testing.T) {
	dir := writeConfig(t, `{
  "aws": {"role_name_identifcation": "x"},
  "user_inactivekeys": {"inactive_criteria_days": 90, "label": ["x"], "jira": {"labels": "not-a-list"}},
  "slack": {"remediation_warning_day": [1]},
  "jira": {"risk_field": "x", "enabled": false}
}`)
	_, err := Load(dir)
	var p *Problems
	if !errors.As(err, &p) {
		t.Fatalf("Load: %v", err)
	}
	for _, want := range []string{
		`config.json: aws.role_name_identifcation: unknown key; did you mean "role_name_identification"?`,
		`config.json: user_inactivekeys.label: unknown key; did you mean "labels"?`,
		`config.json: user_inactivekeys.jira.labels: "not-a-list" is not a list`,
		`config.json: slack.remediation_warning_day: unknown key; did you mean "remediation_warning_days"?`,
		`config.json: jira.risk_field: unknown key`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("problems lack %q:\n%s", want, err)
		}
	}
}

func TestBad(t *testing.T) {
	dirs, err := os.ReadDir(filepath.Join("testdata", "bad"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		t.Run(d.Name(), func(t *testing.T) {
			dir := filepath.Join("testdata", "bad", d.Name())
			cfg, err := Load(dir)
			if err == nil {
				t.Fatalf("Load succeeded: %+v", cfg)
			}
			var probs *Problems
			if !errors.As(err, &probs) {
				t.Fatalf("error %T is not *Problems: %v", err, err)
			}
			for _, p := range probs.List {
				if p.File == "" || p.Msg == "" || p.Fix == "" {
					t.Errorf("problem lacks file, message or fix: %#v", p)
				}
			}
			path := filepath.Join(dir, "expected.txt")
			if *update {
				if err := os.WriteFile(path, []byte(err.Error()+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, rerr := os.ReadFile(path)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if got := err.Error(); got != strings.TrimRight(string(want), "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestQuirks(t *testing.T) {
	for _, tc := range []struct {
		name string
		json string
		want Kind
	}{
		{"strings", `{"enabled": "true", "inactive_criteria_days": "10", "reporting": "TRUE", "remediation": " false ", "remediation_retention_period": "3", "warning_days": "2"}`,
			Kind{Enabled: true, LimitDays: 10, Reporting: true, RemediationRetentionPeriod: 3, WarningDays: 2}},
		{"native", `{"enabled": true, "inactive_criteria_days": 10, "reporting": true, "remediation": true}`,
			Kind{Enabled: true, LimitDays: 10, Reporting: true, Remediation: true}},
		{"defaults", `{"inactive_criteria_days": 5}`,
			Kind{Enabled: true, LimitDays: 5}},
		{"disabled without threshold", `{"enabled": "false"}`,
			Kind{}},
		{"null is absent", `{"inactive_criteria_days": 5, "reporting": null, "ddb.table_name": null, "accounts": null}`,
			Kind{Enabled: true, LimitDays: 5}},
		{"comma string", `{"inactive_criteria_days": 5, "accounts": "123456789012,210987654321", "remediation_accounts": " 210987654321 ,, "}`,
			Kind{Enabled: true, LimitDays: 5, Accounts: []string{"123456789012", "210987654321"}, RemediationAccounts: []string{"210987654321"}}},
		{"list", `{"inactive_criteria_days": 5, "accounts": ["123456789012"], "remediation_accounts": []}`,
			Kind{Enabled: true, LimitDays: 5, Accounts: []string{"123456789012"}, RemediationAccounts: []string{}}},
		{"float with zero fraction", `{"inactive_criteria_days": 5, "warning_days": 0}`,
			Kind{Enabled: true, LimitDays: 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			data := `{"aws": {"accounts": {"123456789012": "a", "210987654321": "b"}}, "user_inactivekeys": ` + tc.json + `}`
			if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg := mustLoad(t, dir)
			want := tc.want
			want.Kind, want.TableName = policy.InactiveKeys, DefaultTableNames[policy.InactiveKeys]
			eq(t, "Kind", *cfg.Kinds[policy.InactiveKeys], want)
		})
	}
}

func TestSlackOwnerString(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ConfigFile), []byte(`{"user_inactivekeys": {"inactive_criteria_days": 1}}`), 0o644)
	os.WriteFile(filepath.Join(dir, TicketOwnersFile), []byte(`{"slack_owner": "#sec", "bu": {"x": {}}, "account": {"123456789012": {"slack_owner": ""}}}`), 0o644)
	cfg := mustLoad(t, dir)
	eq(t, "TicketOwners", cfg.TicketOwners, TicketOwners{
		Global:   Owner{SlackOwner: []string{"#sec"}},
		Accounts: map[string]Owner{"123456789012": {}},
	})
	eq(t, "IgnoredKeys", cfg.IgnoredKeys, []string{"ticket_owners.json: bu"})
	// no aws.accounts: accounts are not cross-checked
	eq(t, "AWS", cfg.AWS, AWS{RoleName: DefaultRoleName})
}

func TestExamples(t *testing.T) {
	dir := filepath.Join("..", "..", "examples")
	cfg := mustLoad(t, dir)
	eq(t, "Accounts", cfg.AWS.Accounts, []Account{{"123456789012", "demo"}})
	eq(t, "Rules", cfg.Rules(), []policy.Rule{
		{Kind: policy.InactiveKeys, LimitDays: 90, WarningDays: 14},
		{Kind: policy.KeysRotation, LimitDays: 180, WarningDays: 14},
		{Kind: policy.InactivePasswords, LimitDays: 90, WarningDays: 14},
	})
	for _, k := range policy.Kinds {
		if s := cfg.Kinds[k]; s.Reporting || s.Remediation {
			t.Errorf("%s: reporting/remediation on in the example", k)
		}
	}
	eq(t, "Store", cfg.Store, Store{Type: "sqlite", Path: "keywarden.db"})
	eq(t, "Whitelist", cfg.Whitelist[policy.InactiveKeys]["123456789012"], []string{"break-glass", "AKIAEXAMPLEWHITELIST"})
	if cfg.TicketOwners.Global.JiraProject == "" {
		t.Error("example ticket_owners.json has no global jira_project")
	}
	eq(t, "Ignored", len(cfg.Ignored), 0)
}

func TestSuggest(t *testing.T) {
	keys := kindKeys(policy.InactiveKeys)
	for in, want := range map[string]string{
		"inactive_criteria_day":  "inactive_criteria_days",
		"Enabled":                "enabled",
		"remediation_acounts":    "remediation_accounts",
		"warnings_days":          "warning_days",
		"ddb_table_name":         "ddb.table_name",
		"something_else":         "",
		"remediation_retention":  "",
		"remediation_retentions": "",
	} {
		if got := suggest(in, keys); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTicketOwnersFor(t *testing.T) {
	cfg := mustLoad(t, filepath.Join("testdata", "good"))
	eq(t, "For(210987654321)", cfg.TicketOwners.For("210987654321"), Owner{
		JiraProject: "AWSSEC", JiraOwner: "Support-Cloud", JiraParentTicket: "AWSSEC-1234", SlackOwner: []string{"#team-slave1"},
	})
	eq(t, "For(other)", cfg.TicketOwners.For("123456789012"), cfg.TicketOwners.Global)
}

// 36,500 days (100 years) is the largest day count accepted, as a number or
// as Hammer's string.
func TestMaxDaysAccepted(t *testing.T) {
	dir := t.TempDir()
	const cfgJSON = `{
    "aws": {"accounts": {"123456789012": "demo"}},
    "user_inactivekeys": {"inactive_criteria_days": 36500, "warning_days": "36499", "remediation_retention_period": "36500", "warning_interval_days": 36500},
    "user_keysrotation": {"rotation_criteria_days": "36500", "warning_days": 36499, "remediation_retention_period": 36500},
    "user_inactivepasswords": {"inactive_criteria_days": "36500", "warning_interval_days": "36500"}
}`
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(cfgJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := mustLoad(t, dir)
	for _, k := range policy.Kinds {
		if got := cfg.Kinds[k].LimitDays; got != policy.MaxDays {
			t.Errorf("%s limit = %d, want %d", k, got, policy.MaxDays)
		}
	}
	eq(t, "warning_days", cfg.Kinds[policy.KeysRotation].WarningDays, 36499)
	eq(t, "remediation_retention_period", cfg.Kinds[policy.InactiveKeys].RemediationRetentionPeriod, 36500)
	eq(t, "warning_interval_days", cfg.Notify.WarningInterval(policy.InactivePasswords), 36500)
}

// whitelist.json entries with an end sit beside Hammer's plain strings: a
// plain string and an object without "expires" are permanent entries; an
// object with "expires" is an exemption with an end (the start of that day,
// UTC); one that has ended loads with a warning (config validate, scan).
func TestWhitelistDated(t *testing.T) {
	cfg := mustLoad(t, filepath.Join("testdata", "dated"))
	eq(t, "Whitelist", cfg.Whitelist[policy.InactiveKeys], map[string][]string{"123456789012": {"break-glass", "documented"}})
	want := []policy.Exemption{
		{Kind: policy.InactiveKeys, AccountID: "123456789012", Subject: "AKIAIOSFODNN7EXAMPLE",
			Until: time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC), Owner: "alice@example.com", Reason: "vendor migration", Source: policy.SourceWhitelist},
		{Kind: policy.InactivePasswords, AccountID: "210987654321", Subject: "ops-admin",
			Until: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Owner: "carol", Reason: "ended already", Source: policy.SourceWhitelist},
	}
	eq(t, "Dated", cfg.Dated, want)
	if len(cfg.Warnings) != 0 {
		t.Errorf("warnings at load: %v", cfg.Warnings)
	}
	ended := cfg.EndedWhitelist(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC))
	if len(ended) != 1 || ended[0].String() != `whitelist.json: user_inactivepasswords.210987654321: the exemption of "ops-admin" (carol) ended on 2026-01-01: it exempts nothing; remove the entry, or move its "expires" date` {
		t.Errorf("ended: %v", ended)
	}
	ex := cfg.Exemptions()
	if _, ok := ex.Dated.Find(policy.InactiveKeys, "123456789012", "svc", "AKIAIOSFODNN7EXAMPLE", time.Date(2027, 1, 30, 23, 0, 0, 0, time.UTC)); !ok {
		t.Error("the dated entry does not exempt its key the day before its end")
	}
}
