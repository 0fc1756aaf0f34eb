package config

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/keywarden/keywarden/internal/policy"
)

// Defaults of the reporting settings.
const (
	DefaultSlackWebhookURLEnv  = "KEYWARDEN_SLACK_WEBHOOK_URL"
	DefaultSlackTokenEnv       = "KEYWARDEN_SLACK_TOKEN"
	DefaultJiraTokenEnv        = "KEYWARDEN_JIRA_TOKEN"
	DefaultJiraIssueType       = "Task"
	DefaultJiraDoneTransition  = "Done"
	DefaultJiraLinkType        = "Relates"
	DefaultWarningIntervalDays = 1
	// DefaultJiraPriority is the priority Hammer gives its IAM key tickets.
	DefaultJiraPriority = "Major"
	// DefaultJiraRisk is the risk Hammer states for its IAM key tickets
	// ("*Risk*: Low"), set in jira.risk_field_id when that is configured.
	DefaultJiraRisk = "Low"
)

// Notify is the reporting configuration: the "slack", "jira" and "sns"
// sections of config.json, and the reporting keys of each kind section.
// Secrets are never here: only the names of the environment variables that
// hold them.
type Notify struct {
	Slack Slack
	Jira  Jira
	SNS   SNS
	// Kinds holds the per-kind reporting keys of the kinds that set any.
	Kinds map[policy.Kind]KindNotify
	// WhitelistingProcedureURL is Hammer's top-level
	// whitelisting_procedure_url: tickets link to it ("please follow the
	// whitelisting procedure") when set.
	WhitelistingProcedureURL string
}

// Slack is the "slack" section. Hammer's keys (enabled, default_channel,
// notify_default_owner, channels, ignore) are read as Hammer means them;
// channels and ignore (Hammer's log forwarding) are accepted and unused.
type Slack struct {
	// Set: the section is present. Without it Slack is on exactly when one
	// of the environment variables is set.
	Set     bool
	Enabled bool
	// WebhookURLEnv and TokenEnv name the environment variables holding the
	// incoming webhook URL and the bot token (xoxb-...). The webhook wins
	// when both are set.
	WebhookURLEnv string
	TokenEnv      string
	// APIURL is the Web API base URL ("" = https://slack.com/api/).
	APIURL string
	// DefaultChannel receives the notices of accounts that ticket_owners.json
	// routes nowhere; NotifyDefaultOwner sends every notice there too.
	DefaultChannel     string
	NotifyDefaultOwner bool
	ShowKeyIDs         bool
	// RemediationWarningDays is Hammer's slack.remediation_warning_days:
	// the days before a remediation on which the owner is warned ("will be
	// deactivated on DATE"); with any set, nothing is remediated before a
	// warning was sent.
	RemediationWarningDays []int
}

// Jira is the "jira" section (Hammer's enabled, server, issue_type,
// text_field_character_limit, and keywarden's keys).
type Jira struct {
	Set     bool
	Enabled bool
	// Server is the base URL, e.g. https://example.atlassian.net.
	Server string
	// User for basic authentication with an API token; empty means the token
	// is a personal access token (Bearer).
	User      string
	TokenEnv  string
	IssueType string
	// DoneTransition is the name of the transition that closes a ticket.
	DoneTransition string
	// LinkType links a ticket to jira_parent_ticket.
	LinkType                string
	Labels                  []string
	TextFieldCharacterLimit int
	ShowKeyIDs              bool
	// Priority is the new tickets' priority name (Hammer's "Major").
	Priority string
	// RiskFieldID is a custom field (customfield_NNNNN) set to Risk on new
	// tickets; empty: the risk is stated in the description only.
	RiskFieldID string
	Risk        string
	// Watchers are JIRA user names added as watchers of every new ticket
	// (the assignee is added too, as Hammer does).
	Watchers []string
}

// SNS is the "sns" section.
type SNS struct {
	Set        bool
	Enabled    bool
	TopicARN   string
	ShowKeyIDs bool
}

// KindNotify are the reporting keys of a kind section.
type KindNotify struct {
	// WarningIntervalDays: a warning is repeated at most once per this many
	// days (0 = the default, 1).
	WarningIntervalDays int
	// Title and Text head the kind's notices (as aws-iam-sleuth's
	// EXPIRE_NOTIFICATION_TITLE and _TEXT); empty means keywarden's default.
	Title, Text string
	// Labels are the kind's JIRA labels (Hammer's per-check "labels", also
	// read from a per-check "jira": {"labels": [...]} block); nil means
	// Hammer's default for the check (DefaultKindLabels).
	Labels []string
	// NoJira and NoSlack switch the kind's tickets or Slack notices off
	// (a per-check "jira": false / "slack": false, or {"enabled": false}),
	// as Hammer's per-check toggles do.
	NoJira, NoSlack bool
}

// DefaultKindLabels are the JIRA labels of each kind's tickets when its
// section sets none: Hammer's defaults for its two key checks
// (library/jiraoperations.py), and one in the same style for passwords.
var DefaultKindLabels = map[policy.Kind][]string{
	policy.InactiveKeys:      {"iam-key-inactive"},
	policy.KeysRotation:      {"iam-key-rotation"},
	policy.InactivePasswords: {"iam-password-inactive"},
}

// KindLabels returns the JIRA labels of kind k: its section's, else
// Hammer's default.
func (n Notify) KindLabels(k policy.Kind) []string {
	if l := n.Kinds[k].Labels; l != nil {
		return l
	}
	return DefaultKindLabels[k]
}

// SwitchedOff reports whether kind k's section switches channel ("jira",
// "slack") off: Hammer's per-check "jira": false / "slack": false.
func (n Notify) SwitchedOff(k policy.Kind, channel string) bool {
	kn := n.Kinds[k]
	return channel == "jira" && kn.NoJira || channel == "slack" && kn.NoSlack
}

// WarningInterval returns the warning interval of kind k in days.
func (n Notify) WarningInterval(k policy.Kind) int {
	if d := n.Kinds[k].WarningIntervalDays; d > 0 {
		return d
	}
	return DefaultWarningIntervalDays
}

// notifyKindKeys are the reporting keys a kind section may hold.
var notifyKindKeys = []string{"warning_interval_days", "notification_title", "notification_text", "labels", "jira", "slack"}

var (
	slackKeys = []string{"enabled", "webhook_url_env", "token_env", "api_url", "default_channel",
		"notify_default_owner", "show_key_ids", "remediation_warning_days"}
	// hammerSlackKeys are Hammer's log forwarding: accepted and ignored.
	hammerSlackKeys = []string{"channels", "ignore"}
	jiraKeys        = []string{"enabled", "server", "user", "token_env", "issue_type", "done_transition",
		"link_type", "labels", "text_field_character_limit", "show_key_ids", "priority", "risk_field_id",
		"risk", "watchers"}
	snsKeys = []string{"enabled", "topic_arn", "show_key_ids"}
	// secretKeys are keys people write by habit that would put a secret in
	// a committed file.
	secretKeys = map[string]string{
		"webhook_url": "webhook_url_env", "url": "webhook_url_env", "token": "token_env",
		"api_token": "token_env", "password": "token_env", "bot_token": "token_env",
	}
)

// isNotifySection reports whether a top-level key is a reporting section
// (or Hammer's whitelisting_procedure_url, which tickets link to).
func isNotifySection(key string) bool {
	return key == "slack" || key == "jira" || key == "sns" || key == whitelistingURLKey
}

const whitelistingURLKey = "whitelisting_procedure_url"

// notifySection reads the "slack", "jira" or "sns" section.
func (l *loader) notifySection(name string, v *jvalue) {
	const f = ConfigFile
	if name == whitelistingURLKey {
		// Hammer's sample has "": no link.
		if s, ok := l.str(f, name, v); ok && strings.TrimSpace(s) != "" {
			l.cfg.Notify.WhitelistingProcedureURL = l.httpURL(name, v)
		}
		return
	}
	if !l.object(f, name, v) {
		return
	}
	n := &l.cfg.Notify
	switch name {
	case "slack":
		// Hammer's defaults (hammer/library/config.py SlackConfig):
		// enabled false, notify_default_owner true.
		s := Slack{Set: true, WebhookURLEnv: DefaultSlackWebhookURLEnv, TokenEnv: DefaultSlackTokenEnv,
			NotifyDefaultOwner: true}
		for _, m := range v.obj {
			key := joinKey(name, m.key)
			switch m.key {
			case "enabled":
				s.Enabled, _ = l.boolean(f, key, m.val)
			case "webhook_url_env":
				s.WebhookURLEnv = l.envName(key, m.val, s.WebhookURLEnv)
			case "token_env":
				s.TokenEnv = l.envName(key, m.val, s.TokenEnv)
			case "api_url":
				s.APIURL = l.httpURL(key, m.val)
				if s.APIURL != "" && !strings.HasSuffix(s.APIURL, "/") {
					s.APIURL += "/"
				}
			case "default_channel":
				s.DefaultChannel, _ = l.str(f, key, m.val)
			case "notify_default_owner":
				s.NotifyDefaultOwner, _ = l.boolean(f, key, m.val)
			case "show_key_ids":
				s.ShowKeyIDs, _ = l.boolean(f, key, m.val)
			case "remediation_warning_days":
				s.RemediationWarningDays = l.dayList(key, m.val)
			default:
				if slices.Contains(hammerSlackKeys, m.key) {
					l.ignore(f, key)
					continue
				}
				l.notifyUnknown(key, m.key, slackKeys)
			}
		}
		n.Slack = s
	case "jira":
		// Hammer's defaults (hammer/library/config.py JiraConfig): enabled
		// false, text_field_character_limit 0 (no limit); its IAM tickets'
		// priority and risk.
		j := Jira{Set: true, TokenEnv: DefaultJiraTokenEnv, IssueType: DefaultJiraIssueType,
			DoneTransition: DefaultJiraDoneTransition, LinkType: DefaultJiraLinkType,
			Priority: DefaultJiraPriority, Risk: DefaultJiraRisk}
		for _, m := range v.obj {
			key := joinKey(name, m.key)
			switch m.key {
			case "enabled":
				j.Enabled, _ = l.boolean(f, key, m.val)
			case "server":
				j.Server = strings.TrimSuffix(l.httpURL(key, m.val), "/")
			case "user":
				j.User, _ = l.str(f, key, m.val)
			case "token_env":
				j.TokenEnv = l.envName(key, m.val, j.TokenEnv)
			case "issue_type":
				l.nonEmpty(f, key, m.val, &j.IssueType)
			case "done_transition":
				l.nonEmpty(f, key, m.val, &j.DoneTransition)
			case "link_type":
				l.nonEmpty(f, key, m.val, &j.LinkType)
			case "labels":
				j.Labels = l.strings(key, m.val)
			case "text_field_character_limit":
				if n, ok := l.integer(f, key, m.val); ok {
					if n < 0 {
						l.add(f, key, m.val.String()+" is negative", "set 0 (no limit) or the field's limit, e.g. 32767")
					} else {
						j.TextFieldCharacterLimit = n
					}
				}
			case "show_key_ids":
				j.ShowKeyIDs, _ = l.boolean(f, key, m.val)
			case "priority":
				l.nonEmpty(f, key, m.val, &j.Priority)
			case "risk":
				l.nonEmpty(f, key, m.val, &j.Risk)
			case "risk_field_id":
				if s, ok := l.str(f, key, m.val); ok && s != "" {
					if !customFieldID.MatchString(s) {
						l.add(f, key, fmt.Sprintf("%q is not a JIRA custom field ID", s), `write it as "customfield_" and the field's number, e.g. "customfield_10400"`)
					} else {
						j.RiskFieldID = s
					}
				}
			case "watchers":
				j.Watchers = l.strings(key, m.val)
			default:
				l.notifyUnknown(key, m.key, jiraKeys)
			}
		}
		if j.Enabled && j.Server == "" && !l.hasProblem(joinKey(name, "server")) {
			l.add(f, joinKey(name, "server"), "missing", `set the JIRA base URL, e.g. "https://example.atlassian.net", or "enabled": false`)
		}
		n.Jira = j
	case "sns":
		s := SNS{Set: true, Enabled: true}
		for _, m := range v.obj {
			key := joinKey(name, m.key)
			switch m.key {
			case "enabled":
				s.Enabled, _ = l.boolean(f, key, m.val)
			case "topic_arn":
				if a, ok := l.str(f, key, m.val); ok {
					if _, _, valid := SplitTopicARN(a); !valid {
						l.add(f, key, fmt.Sprintf("%q is not an SNS topic ARN", a), `write it as "arn:aws:sns:<region>:<account>:<topic>"`)
					} else {
						s.TopicARN = a
					}
				}
			case "show_key_ids":
				s.ShowKeyIDs, _ = l.boolean(f, key, m.val)
			default:
				l.notifyUnknown(key, m.key, snsKeys)
			}
		}
		if s.Enabled && s.TopicARN == "" && !l.hasProblem(joinKey(name, "topic_arn")) {
			l.add(f, joinKey(name, "topic_arn"), "missing", `set the topic's ARN, e.g. "arn:aws:sns:us-east-1:123456789012:keywarden", or "enabled": false`)
		}
		n.SNS = s
	}
}

// notifyKindKey reads a reporting key of a kind section; false when m is
// not one (nor a likely typo of one).
func (l *loader) notifyKindKey(k policy.Kind, key string, m jmember) bool {
	const f = ConfigFile
	kn := l.cfg.Notify.Kinds[k]
	switch m.key {
	case "warning_interval_days":
		n, ok := l.days(f, key, m.val, fmt.Sprintf("set how many days apart warnings are repeated, at most %d, e.g. 1 (daily) or 7 (weekly)", policy.MaxDays))
		switch {
		case !ok:
		case n < 1:
			l.add(f, key, m.val.String()+" is less than 1", "set how many days apart warnings are repeated, e.g. 1 (daily) or 7 (weekly)")
		default:
			kn.WarningIntervalDays = n
		}
	case "notification_title":
		kn.Title, _ = l.str(f, key, m.val)
	case "notification_text":
		kn.Text, _ = l.str(f, key, m.val)
	case "labels":
		if m.val.t != jNull {
			kn.Labels = l.strings(key, m.val)
		}
	case "jira", "slack":
		off := false
		switch m.val.t {
		case jNull:
		case jObject:
			// Hammer's per-check block: {"enabled": ..., "labels": [...]}.
			l.object(f, key, m.val)
			for _, b := range m.val.obj {
				bkey := joinKey(key, b.key)
				switch {
				case b.key == "enabled":
					if on, ok := l.boolean(f, bkey, b.val); ok {
						off = !on
					}
				case b.key == "labels" && m.key == "jira":
					if b.val.t != jNull {
						kn.Labels = l.strings(bkey, b.val)
					}
				case m.key == "jira":
					l.unknown(f, bkey, b.key, []string{"enabled", "labels"})
				default:
					l.unknown(f, bkey, b.key, []string{"enabled"})
				}
			}
		default:
			if on, ok := l.boolean(f, key, m.val); ok {
				off = !on
			}
		}
		if m.key == "jira" {
			kn.NoJira = off
		} else {
			kn.NoSlack = off
		}
	default:
		if s := suggest(m.key, notifyKindKeys); s != "" && suggest(m.key, kindKeys(k)) == "" {
			l.add(f, key, "unknown key", fmt.Sprintf("did you mean %q?", s))
			return true
		}
		return false
	}
	if l.cfg.Notify.Kinds == nil {
		l.cfg.Notify.Kinds = map[policy.Kind]KindNotify{}
	}
	l.cfg.Notify.Kinds[k] = kn
	return true
}

func (l *loader) notifyUnknown(key, name string, cands []string) {
	if fix, ok := secretKeys[name]; ok {
		l.add(ConfigFile, key, "secrets do not belong in config.json",
			fmt.Sprintf("put it in an environment variable and name the variable with %q", fix))
		return
	}
	l.unknown(ConfigFile, key, name, cands)
}

// envName reads the name of an environment variable.
func (l *loader) envName(key string, v *jvalue, def string) string {
	s, ok := l.str(ConfigFile, key, v)
	if !ok || s == "" {
		return def
	}
	if strings.Contains(s, "://") || strings.HasPrefix(s, "xox") {
		// The secret itself: say so without repeating it.
		l.add(ConfigFile, key, "holds a secret, not the name of an environment variable",
			"remove the secret from the file (and revoke it if it was committed); set it in an environment variable and write the variable's name here, e.g. "+def)
		return def
	}
	if strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") != "" {
		l.add(ConfigFile, key, fmt.Sprintf("%q is not an environment variable name", s), "use letters, digits and _, e.g. "+def)
		return def
	}
	return s
}

// httpURL reads an http(s) URL.
func (l *loader) httpURL(key string, v *jvalue) string {
	s, ok := l.str(ConfigFile, key, v)
	if !ok || s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		l.add(ConfigFile, key, fmt.Sprintf("%q is not an http(s) URL", s), `write it like "https://example.atlassian.net"`)
		return ""
	}
	if u.User != nil {
		l.add(ConfigFile, key, "holds credentials in the URL", "remove them; credentials come from the environment")
		return ""
	}
	return s
}

// dayList reads a list of day counts (Hammer's remediation_warning_days):
// a list of numbers (or of Hammer's "3" strings), or one number.
func (l *loader) dayList(key string, v *jvalue) []int {
	const fix = "write a list of days, e.g. [7, 3, 1]"
	var items []*jvalue
	switch v.t {
	case jNull:
		return nil
	case jArray:
		items = v.arr
	case jNumber, jString:
		items = []*jvalue{v}
	default:
		l.add(ConfigFile, key, v.String()+" is not a list of days", fix)
		return nil
	}
	var out []int
	for _, e := range items {
		n, ok := l.days(ConfigFile, key, e, fix)
		if !ok {
			continue
		}
		if n < 0 {
			l.add(ConfigFile, key, e.String()+" is negative", fix)
			continue
		}
		out = append(out, n)
	}
	return out
}

// strings reads a list of strings.
func (l *loader) strings(key string, v *jvalue) []string {
	if v.t == jNull {
		return nil
	}
	if v.t != jArray {
		l.add(ConfigFile, key, v.String()+" is not a list", `write a list of strings, e.g. ["security"]`)
		return nil
	}
	var out []string
	for _, e := range v.arr {
		if s, ok := l.str(ConfigFile, key, e); ok && s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (l *loader) hasProblem(key string) bool {
	for _, p := range l.probs {
		if p.Key == key {
			return true
		}
	}
	return false
}

// customFieldID matches a JIRA custom field ID.
var customFieldID = regexp.MustCompile(`^customfield_[0-9]+$`)

// SplitTopicARN returns the region and account of an SNS topic ARN.
func SplitTopicARN(arn string) (region, account string, ok bool) {
	p := strings.Split(arn, ":")
	if len(p) != 6 || p[0] != "arn" || p[1] == "" || p[2] != "sns" || p[3] == "" || p[5] == "" {
		return "", "", false
	}
	if len(p[4]) != 12 || strings.Trim(p[4], "0123456789") != "" {
		return "", "", false
	}
	return p[3], p[4], true
}
