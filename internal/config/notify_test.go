package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/internal/policy"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestNotifySections(t *testing.T) {
	cfg := mustLoad(t, writeConfig(t, `{
  "aws": {"accounts": {"123456789012": "demo"}},
  "user_keysrotation": {"rotation_criteria_days": "180", "reporting": "true", "warning_interval_days": "7",
    "notification_title": "Key Rotation Instructions", "notification_text": "Please run aws-vault rotate"},
  "user_inactivekeys": {"inactive_criteria_days": 90},
  "slack": {"enabled": "true", "token_env": "MY_SLACK_TOKEN", "api_url": "http://127.0.0.1:9/api",
    "default_channel": "#security", "notify_default_owner": "true", "channels": {"#x": ["ERROR"]}, "ignore": [],
    "remediation_warning_days": [7, "3", 1]},
  "jira": {"enabled": true, "server": "https://jira.example.com/", "user": "bot@example.com", "issue_type": "Bug", "labels": ["iam"]},
  "sns": {"topic_arn": "arn:aws:sns:eu-west-1:123456789012:keywarden", "show_key_ids": true}
}`))
	n := cfg.Notify
	eq(t, "Slack", n.Slack, Slack{Set: true, Enabled: true, WebhookURLEnv: DefaultSlackWebhookURLEnv, TokenEnv: "MY_SLACK_TOKEN",
		APIURL: "http://127.0.0.1:9/api/", DefaultChannel: "#security", NotifyDefaultOwner: true, RemediationWarningDays: []int{7, 3, 1}})
	eq(t, "Jira", n.Jira, Jira{Set: true, Enabled: true, Server: "https://jira.example.com", User: "bot@example.com",
		TokenEnv: DefaultJiraTokenEnv, IssueType: "Bug", DoneTransition: "Done", LinkType: "Relates", Labels: []string{"iam"},
		Priority: "Major", Risk: "Low"})
	eq(t, "SNS", n.SNS, SNS{Set: true, Enabled: true, TopicARN: "arn:aws:sns:eu-west-1:123456789012:keywarden", ShowKeyIDs: true})
	eq(t, "rotation interval", n.WarningInterval(policy.KeysRotation), 7)
	eq(t, "inactive interval (default)", n.WarningInterval(policy.InactiveKeys), 1)
	eq(t, "rotation title", n.Kinds[policy.KeysRotation].Title, "Key Rotation Instructions")
	eq(t, "ignored", len(cfg.Ignored), 0)
}

// Hammer's slack.remediation_warning_days: a list of days (Hammer's "3"
// strings too), or one number; anything else names the key and the fix.
func TestRemediationWarningDaysKey(t *testing.T) {
	cfg := mustLoad(t, writeConfig(t, `{"user_inactivekeys": {"inactive_criteria_days": 90}, "slack": {"remediation_warning_days": 2}}`))
	eq(t, "one number", cfg.Notify.Slack.RemediationWarningDays, []int{2})
	for body, want := range map[string]string{
		`{"slack": {"remediation_warning_days": {"a": 1}}}`: "slack.remediation_warning_days: an object is not a list of days",
		`{"slack": {"remediation_warning_days": [-1]}}`:     "slack.remediation_warning_days",
	} {
		_, err := Load(writeConfig(t, body))
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "[7, 3, 1]") {
			t.Errorf("%s: %v, want %q and the fix", body, err, want)
		}
	}
}

// TestHammerTicketKeys: the keys Hammer's tickets are built from reach the
// notifier: whitelisting_procedure_url, per-check labels and jira/slack
// toggles (a boolean, a Hammer string boolean, or a block), priority, the
// risk field and watchers.
func TestHammerTicketKeys(t *testing.T) {
	cfg := mustLoad(t, writeConfig(t, `{
  "aws": {"accounts": {"123456789012": "demo"}},
  "whitelisting_procedure_url": "https://wiki.example.com/whitelisting",
  "user_inactivekeys": {"inactive_criteria_days": "90", "labels": ["iam", "stale-keys"], "slack": "false"},
  "user_keysrotation": {"rotation_criteria_days": 180, "jira": {"enabled": "true", "labels": ["rotate"]}},
  "user_inactivepasswords": {"inactive_criteria_days": 90, "jira": false, "labels": []},
  "jira": {"server": "https://jira.example.com", "priority": "Critical", "risk_field_id": "customfield_10400",
    "risk": "Medium", "watchers": ["secops", "auditor"]}
}`))
	n := cfg.Notify
	eq(t, "URL", n.WhitelistingProcedureURL, "https://wiki.example.com/whitelisting")
	eq(t, "inactive labels", n.KindLabels(policy.InactiveKeys), []string{"iam", "stale-keys"})
	eq(t, "rotation labels", n.KindLabels(policy.KeysRotation), []string{"rotate"})
	eq(t, "passwords labels (empty: Hammer's default)", n.KindLabels(policy.InactivePasswords), []string{"iam-password-inactive"})
	eq(t, "toggles", [4]bool{n.Kinds[policy.InactiveKeys].NoSlack, n.Kinds[policy.InactiveKeys].NoJira,
		n.Kinds[policy.KeysRotation].NoJira, n.Kinds[policy.InactivePasswords].NoJira}, [4]bool{true, false, false, true})
	eq(t, "jira", [3]string{n.Jira.Priority, n.Jira.RiskFieldID, n.Jira.Risk}, [3]string{"Critical", "customfield_10400", "Medium"})
	eq(t, "watchers", n.Jira.Watchers, []string{"secops", "auditor"})
	for _, k := range []string{"whitelisting_procedure_url"} {
		if slices.Contains(cfg.Ignored, k) {
			t.Errorf("%s listed as ignored", k)
		}
	}

	// Hammer's sample: "" is no link; defaults are Hammer's.
	cfg = mustLoad(t, filepath.Join("testdata", "hammer", "master-latest"))
	eq(t, "sample URL", cfg.Notify.WhitelistingProcedureURL, "")
	eq(t, "sample labels", cfg.Notify.KindLabels(policy.InactiveKeys), []string{"iam-key-inactive"})
	eq(t, "sample priority", cfg.Notify.Jira.Priority, "Major")

	_, probs, err := Validate(writeConfig(t, `{
  "user_inactivekeys": {"inactive_criteria_days": 90, "jira": {"label": ["x"]}},
  "whitelisting_procedure_url": "wiki/whitelisting",
  "jira": {"server": "https://jira.example.com", "risk_field_id": "Risk"}
}`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range probs {
		got = append(got, p.String())
	}
	eq(t, "problems", strings.Join(got, "\n"), strings.Join([]string{
		`config.json: user_inactivekeys.jira.label: unknown key; did you mean "labels"?`,
		`config.json: whitelisting_procedure_url: "wiki/whitelisting" is not an http(s) URL; write it like "https://example.atlassian.net"`,
		`config.json: jira.risk_field_id: "Risk" is not a JIRA custom field ID; write it as "customfield_" and the field's number, e.g. "customfield_10400"`,
	}, "\n"))
}

func TestNotifyAbsent(t *testing.T) {
	cfg := mustLoad(t, writeConfig(t, `{"user_inactivekeys": {"inactive_criteria_days": 90}}`))
	eq(t, "Notify", cfg.Notify, Notify{})
}

func TestSplitTopicARN(t *testing.T) {
	for arn, want := range map[string]bool{
		"arn:aws:sns:us-east-1:123456789012:t":            true,
		"arn:aws:sns:us-east-1:123456789012:t.fifo":       true,
		"arn:aws-us-gov:sns:us-gov-west-1:123456789012:t": true,
		"arn:aws:sqs:us-east-1:123456789012:t":            false,
		"arn:aws:sns:us-east-1:1234:t":                    false,
		"arn:aws:sns::123456789012:t":                     false,
	} {
		if _, _, ok := SplitTopicARN(arn); ok != want {
			t.Errorf("SplitTopicARN(%q) = %v", arn, ok)
		}
	}
}
