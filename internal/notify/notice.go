package notify

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/output"
	"github.com/keywarden/keywarden/internal/policy"
)

// Notice is what one delivery tells: the issue as of the report, and the
// words around it. Channels render it; they never read the clock.
type Notice struct {
	Issue       issues.Issue
	Event       Event
	AccountName string
	// Owner is the issue's routing (ticket_owners.json, account over global);
	// DefaultOwner the global entry (Hammer's "default owner").
	Owner, DefaultOwner config.Owner
	// DaysLeft until the deadline as of the report (negative: days over).
	DaysLeft int
	// Title and Text are the kind's instructions (notification_title/_text).
	Title, Text string
	AsOf        time.Time
	// Delivery is the delivery this notice is for.
	Delivery *Delivery
	// RemediationDate is the day keywarden would act on the issue
	// (RemediationDate), zero when it will not: remediation off for the
	// kind or account, an exempt or closed issue.
	RemediationDate time.Time
	// WhitelistingURL is Hammer's whitelisting_procedure_url ("" = none).
	WhitelistingURL string
	// Labels are the kind's tracker labels (config.Notify.KindLabels).
	Labels []string
	// Expired is the exemption with an end that covered the issue and has
	// ended (an exemption_expired notice), nil otherwise.
	Expired *policy.Exemption
}

// Default titles and instructions per kind (aws-iam-sleuth's wording where
// it has one).
var (
	defaultTitles = map[policy.Kind]string{
		policy.KeysRotation:      "Key rotation instructions",
		policy.InactiveKeys:      "Unused access key",
		policy.InactivePasswords: "Unused console password",
	}
	defaultTexts = map[policy.Kind]string{
		policy.KeysRotation:      "Create a new access key, move your tools to it, then deactivate and delete the old one (`aws-vault rotate PROFILE` does all three).",
		policy.InactiveKeys:      "Still need the key? Use it (any AWS call) to keep it active. Otherwise delete it: `aws iam delete-access-key`.",
		policy.InactivePasswords: "Sign in to the AWS console to keep your password, or ask an administrator to remove it.",
	}
)

// TitleText returns the title and instructions of kind k.
func TitleText(n config.Notify, k policy.Kind) (string, string) {
	title, text := n.Kinds[k].Title, n.Kinds[k].Text
	if title == "" {
		title = defaultTitles[k]
	}
	if text == "" {
		text = defaultTexts[k]
	}
	return title, text
}

// KeyLabel names the credential for people: the access key ID (masked as
// AKIA…WXYZ unless show), "key slot N", or "console password".
func KeyLabel(is *issues.Issue, show bool) string {
	switch {
	case is.Kind == policy.InactivePasswords:
		return "console password"
	case strings.Contains(is.Subject, "/"):
		return fmt.Sprintf("access key in slot %d", is.KeySlot)
	case show:
		return "access key " + is.Subject
	}
	return "access key " + output.MaskKeyID(is.Subject)
}

// KeyID returns the issue's access key ID (masked unless show), "" for a
// password or an unknown ID.
func KeyID(is *issues.Issue, show bool) string {
	if is.Kind == policy.InactivePasswords || strings.Contains(is.Subject, "/") {
		return ""
	}
	if show {
		return is.Subject
	}
	return output.MaskKeyID(is.Subject)
}

// Account names the account: "name (id)" or the id.
func (n *Notice) Account() string {
	if n.AccountName != "" && n.AccountName != n.Issue.AccountID {
		return n.AccountName + " (" + n.Issue.AccountID + ")"
	}
	return n.Issue.AccountID
}

// Problem says what is wrong with the credential, for people:
// "unused for 85 days (limit 90)".
func (n *Notice) Problem() string {
	is := &n.Issue
	switch is.Kind {
	case policy.KeysRotation:
		return fmt.Sprintf("created %s ago (rotate every %s)", output.Count(is.AgeDays, "day"), output.Count(is.LimitDays, "day"))
	case policy.InactiveKeys, policy.InactivePasswords:
		if is.Details.LastUsed == "" {
			return fmt.Sprintf("never used, created %s ago (limit %s unused)", output.Count(is.AgeDays, "day"), output.Count(is.LimitDays, "day"))
		}
		return fmt.Sprintf("unused for %s (limit %d)", output.Count(is.AgeDays, "day"), is.LimitDays)
	}
	return fmt.Sprintf("%s old (limit %d)", output.Count(is.AgeDays, "day"), is.LimitDays)
}

// Deadline says when the limit is (was) reached: "expires in 5 days
// (2026-11-30)".
func (n *Notice) Deadline() string {
	stage := n.Issue.Stage
	if n.DaysLeft < 0 || (n.DaysLeft == 0 && stage == policy.Violation) {
		stage = policy.Violation
	}
	s := output.DaysLeft(n.DaysLeft, stage)
	if !n.Issue.Deadline.IsZero() {
		s += " (" + n.Issue.Deadline.UTC().Format("2006-01-02") + ")"
	}
	return s
}

// RemediationDate returns when keywarden would remediate is, as a notice of
// event ev sent at sentAt tells it, and whether it will at all: only an
// open, non-exempt issue of a kind whose remediation is on, in one of its
// remediation accounts, with a known key ID.
//
// Hammer writes "now + remediation_retention_period" into the ticket it
// opens (create_iam_key_inactive_tickets.py) and counts the retention from
// the report (clean_iam_keys_inactive.py). keywarden's planner does the same
// (remediate.DueAt: the issue's report of its violation plus the
// retention), so the date is: for a violation, its report (Issue.Reported,
// or this notice's sending if it is the first) plus the retention; for a
// warning, the earliest its violation can be reported (its deadline) plus
// the retention. Remediation happens on the first run at or after it.
func RemediationDate(is *issues.Issue, k *config.Kind, ev Event, sentAt time.Time) (time.Time, bool) {
	switch {
	case k == nil || !k.Remediation,
		is.Status != issues.Open || is.Exemption != "",
		len(k.RemediationAccounts) > 0 && !slices.Contains(k.RemediationAccounts, is.AccountID),
		is.Kind != policy.InactivePasswords && strings.Contains(is.Subject, "/"):
		return time.Time{}, false
	}
	start := sentAt
	switch {
	case ev == Violation && is.Reported != nil && !is.Reported.After(sentAt):
		start = *is.Reported
	case ev == Warning && is.Deadline.After(start):
		start = is.Deadline
	}
	due := policy.AddDays(start, k.RemediationRetentionPeriod)
	if due.Before(is.Deadline) {
		due = is.Deadline
	}
	return due, true
}

// Remediation says what keywarden will do and when, for people ("" when it
// will not): "keywarden deactivates it on 2026-12-02" ("removes it" for a
// password).
func (n *Notice) Remediation() string {
	if n.RemediationDate.IsZero() {
		return ""
	}
	what := "deactivates it"
	if n.Issue.Kind == policy.InactivePasswords {
		what = "removes it"
	}
	return "keywarden " + what + " on " + n.RemediationDate.UTC().Format("2006-01-02")
}

// RemediationWarning is what a remediation warning says: "will be
// deactivated on 2026-12-02" ("will be removed" for a password).
func (n *Notice) RemediationWarning() string {
	what := "deactivated"
	if n.Issue.Kind == policy.InactivePasswords {
		what = "removed"
	}
	return "will be " + what + " on " + n.RemediationDate.UTC().Format("2006-01-02")
}

// Outcome says how a closed or exempt issue ended, for people.
func (n *Notice) Outcome() string {
	is := &n.Issue
	switch n.Event {
	case Remediated:
		what := "deactivated"
		if is.Kind == policy.InactivePasswords {
			what = "removed"
		}
		if is.Remediated != nil {
			return what + " by keywarden on " + is.Remediated.UTC().Format("2006-01-02")
		}
		return what + " by keywarden"
	case Resolved:
		if is.CloseReason != "" {
			return "resolved: " + is.CloseReason
		}
		return "resolved"
	case Whitelisted:
		return "exempt from now on: " + is.Exemption
	case ExemptionExpired:
		return n.ExpiredText()
	}
	return ""
}

// ExpiredText says which exemption expired and what follows: "exemption
// expired on 2027-01-31 (vendor migration, owner alice): back in the normal
// flow, in violation".
func (n *Notice) ExpiredText() string {
	s := "exemption expired"
	if e := n.Expired; e != nil {
		s += " on " + e.End()
		var why []string
		if e.Reason != "" {
			why = append(why, e.Reason)
		}
		if e.Owner != "" {
			why = append(why, "owner "+e.Owner)
		}
		if len(why) > 0 {
			s += " (" + strings.Join(why, ", ") + ")"
		}
	}
	s += ": back in the normal flow, " + describeState(&n.Issue)
	if !n.RemediationDate.IsZero() {
		s += ", to be remediated on " + n.RemediationDate.UTC().Format("2006-01-02")
	}
	return s
}

// DaysLeftAt computes days left until deadline as of asOf, as the policy
// does: rounded up ahead of it, down past it.
func DaysLeftAt(deadline, asOf time.Time, fallback int) int {
	if deadline.IsZero() {
		return fallback
	}
	return policy.DaysLeft(deadline.Sub(asOf))
}

// Mention is how a notice names the IAM user's owner in Slack.
type Mention struct {
	// Text is "<@U123>", "<!subteam^S123>", or "" when there is none.
	Text string
	// Why says why there is none (for the log).
	Why string
}

var (
	slackUserID  = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)
	slackSubteam = regexp.MustCompile(`^subteam-(S[A-Z0-9]{2,})$`)
)

// MentionFor reads the Slack tag of an IAM user as aws-iam-sleuth does: a
// user ID (U… or W…) becomes <@U…>, "subteam-S…" a group mention
// <!subteam^S…>; anything else, or no tag, is no mention (the notice names
// the user in plain text) and Why says why.
func MentionFor(tags map[string]string) Mention {
	v, ok := tags["Slack"]
	v = strings.TrimSpace(v)
	switch {
	case !ok || v == "":
		return Mention{Why: "the IAM user has no Slack tag"}
	case slackUserID.MatchString(v):
		return Mention{Text: "<@" + v + ">"}
	case slackSubteam.MatchString(v):
		return Mention{Text: "<!subteam^" + slackSubteam.FindStringSubmatch(v)[1] + ">"}
	}
	return Mention{Why: fmt.Sprintf("Slack tag %q is neither a user ID (U…, W…) nor a group (subteam-S…)", v)}
}

// Recipients are the Slack recipients of an account's notices, as
// Hammer's SlackNotification.report_issue routes them: the account's
// slack_owner entries (account over global, o), and with
// notify_default_owner the global entries (the default owner) too.
// keywarden's default_channel receives what would otherwise go nowhere
// (Hammer drops it; its default_channel is for its own log messages).
// Duplicates are dropped, order kept.
func Recipients(o, defaultOwner config.Owner, s config.Slack) []string {
	var out []string
	seen := map[string]bool{}
	add := func(r string) {
		r = strings.TrimSpace(r)
		if r != "" && !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	for _, r := range o.SlackOwner {
		add(r)
	}
	if s.NotifyDefaultOwner {
		for _, r := range defaultOwner.SlackOwner {
			add(r)
		}
	}
	if len(out) == 0 {
		add(s.DefaultChannel)
	}
	return out
}
