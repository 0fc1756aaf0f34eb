package config

import (
	"os"
	"path/filepath"
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
    "default_channel": "#security", "notify_default_owner": "true", "channels": {"#x": ["ERROR"]}, "ignore": []},
  "jira": {"enabled": true, "server": "https://jira.example.com/", "user": "bot@example.com", "issue_type": "Bug", "labels": ["iam"]},
  "sns": {"topic_arn": "arn:aws:sns:eu-west-1:123456789012:keywarden", "show_key_ids": true}
}`))
	n := cfg.Notify
	eq(t, "Slack", n.Slack, Slack{Set: true, Enabled: true, WebhookURLEnv: DefaultSlackWebhookURLEnv, TokenEnv: "MY_SLACK_TOKEN",
		APIURL: "http://127.0.0.1:9/api/", DefaultChannel: "#security", NotifyDefaultOwner: true})
	eq(t, "Jira", n.Jira, Jira{Set: true, Enabled: true, Server: "https://jira.example.com", User: "bot@example.com",
		TokenEnv: DefaultJiraTokenEnv, IssueType: "Bug", DoneTransition: "Done", LinkType: "Relates", Labels: []string{"iam"}})
	eq(t, "SNS", n.SNS, SNS{Set: true, Enabled: true, TopicARN: "arn:aws:sns:eu-west-1:123456789012:keywarden", ShowKeyIDs: true})
	eq(t, "rotation interval", n.WarningInterval(policy.KeysRotation), 7)
	eq(t, "inactive interval (default)", n.WarningInterval(policy.InactiveKeys), 1)
	eq(t, "rotation title", n.Kinds[policy.KeysRotation].Title, "Key Rotation Instructions")
	eq(t, "ignored", len(cfg.Ignored), 0)
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
