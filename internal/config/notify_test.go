package config

import (
	"os"
	"path/filepath"
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
  "jira": {"server": "https://jira.example.com/", "user": "bot@example.com", "issue_type": "Bug", "labels": ["iam"]},
  "sns": {"topic_arn": "arn:aws:sns:eu-west-1:123456789012:keywarden", "show_key_ids": true}
}`))
	n := cfg.Notify
	eq(t, "Slack", n.Slack, Slack{Set: true, Enabled: true, WebhookURLEnv: DefaultSlackWebhookURLEnv, TokenEnv: "MY_SLACK_TOKEN",
		APIURL: "http://127.0.0.1:9/api/", DefaultChannel: "#security", NotifyDefaultOwner: true, RemediationWarningDays: []int{7, 3, 1}})
	eq(t, "Jira", n.Jira, Jira{Set: true, Enabled: true, Server: "https://jira.example.com", User: "bot@example.com",
		TokenEnv: DefaultJiraTokenEnv, IssueType: "Bug", DoneTransition: "Done", LinkType: "Relates", Labels: []string{"iam"},
		TextFieldCharacterLimit: 32767})
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

func TestNotifyAbsent(t *testing.T) {
	cfg := mustLoad(t, writeConfig(t, `{"user_inactivekeys": {"inactive_criteria_days": 90}}`))
	eq(t, "Notify", cfg.Notify, Notify{})
}

func TestHammerNotifySections(t *testing.T) {
	cfg := mustLoad(t, filepath.Join("testdata", "hammer"))
	eq(t, "Slack", cfg.Notify.Slack, Slack{Set: true, Enabled: true, WebhookURLEnv: DefaultSlackWebhookURLEnv,
		TokenEnv: DefaultSlackTokenEnv, DefaultChannel: "#hammer-dev", NotifyDefaultOwner: true})
	eq(t, "Jira.Enabled", cfg.Notify.Jira.Enabled, false)
	eq(t, "Jira.Server", cfg.Notify.Jira.Server, "https://issues.example.com")
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
