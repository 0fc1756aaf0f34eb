package notify

import (
	"reflect"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/policy"
)

func TestRouting(t *testing.T) {
	owners := config.TicketOwners{
		Global: config.Owner{JiraProject: "AWSSEC", JiraOwner: "Support-General", JiraParentTicket: "AWSSEC-1234",
			SlackOwner: []string{"#devops-channel", "bob"}},
		Accounts: map[string]config.Owner{
			"111111111111": {JiraOwner: "Support-Cloud", SlackOwner: []string{"#team-one"}},
			"222222222222": {JiraProject: "TWO"},
		},
	}
	for _, tc := range []struct {
		name    string
		owners  config.TicketOwners
		account string
		slack   config.Slack
		want    []string
		jira    [3]string
	}{
		{"account overrides owner and slack, keeps global project", owners, "111111111111", config.Slack{},
			[]string{"#team-one"}, [3]string{"AWSSEC", "Support-Cloud", "AWSSEC-1234"}},
		{"account overrides project only; global slack list", owners, "222222222222", config.Slack{},
			[]string{"#devops-channel", "bob"}, [3]string{"TWO", "Support-General", "AWSSEC-1234"}},
		{"unknown account: global", owners, "333333333333", config.Slack{},
			[]string{"#devops-channel", "bob"}, [3]string{"AWSSEC", "Support-General", "AWSSEC-1234"}},
		{"string slack_owner (one entry)", config.TicketOwners{Global: config.Owner{SlackOwner: []string{"#sec"}}}, "1", config.Slack{},
			[]string{"#sec"}, [3]string{}},
		{"nobody: default channel", config.TicketOwners{}, "1", config.Slack{DefaultChannel: "#hammer-dev"},
			[]string{"#hammer-dev"}, [3]string{}},
		{"notify_default_owner adds the global slack_owner, as Hammer does", owners, "111111111111",
			config.Slack{DefaultChannel: "#hammer-dev", NotifyDefaultOwner: true},
			[]string{"#team-one", "#devops-channel", "bob"}, [3]string{"AWSSEC", "Support-Cloud", "AWSSEC-1234"}},
		{"notify_default_owner without a global slack_owner: the account's only", config.TicketOwners{
			Accounts: map[string]config.Owner{"1": {SlackOwner: []string{"#one"}}}}, "1",
			config.Slack{DefaultChannel: "#hammer-dev", NotifyDefaultOwner: true}, []string{"#one"}, [3]string{}},
		{"nobody at all", config.TicketOwners{}, "1", config.Slack{}, nil, [3]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.owners.For(tc.account)
			if got := Recipients(o, tc.owners.Global, tc.slack); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Recipients = %q, want %q", got, tc.want)
			}
			if got := [3]string{o.JiraProject, o.JiraOwner, o.JiraParentTicket}; got != tc.jira {
				t.Errorf("jira routing = %q, want %q", got, tc.jira)
			}
		})
	}
}

func TestMention(t *testing.T) {
	for _, tc := range []struct {
		tags      map[string]string
		text, why string
	}{
		{map[string]string{"Slack": "UPML12345"}, "<@UPML12345>", ""},
		{map[string]string{"Slack": " W0123ABC "}, "<@W0123ABC>", ""},
		{map[string]string{"Slack": "subteam-SP12345"}, "<!subteam^SP12345>", ""},
		{map[string]string{"Slack": "subteam-^SP12345"}, "", `Slack tag "subteam-^SP12345" is neither a user ID (U…, W…) nor a group (subteam-S…)`},
		{map[string]string{"Slack": "tfunke"}, "", `Slack tag "tfunke" is neither a user ID (U…, W…) nor a group (subteam-S…)`},
		{map[string]string{"Name": "Tobias Funke"}, "", "the IAM user has no Slack tag"},
		{nil, "", "the IAM user has no Slack tag"},
	} {
		if got := MentionFor(tc.tags); got.Text != tc.text || got.Why != tc.why {
			t.Errorf("MentionFor(%v) = %+v, want %q / %q", tc.tags, got, tc.text, tc.why)
		}
	}
}

var now = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func sentAt(days int) *time.Time { t := now.AddDate(0, 0, -days).Add(3 * time.Hour); return &t }

func TestPlan(t *testing.T) {
	open := func(stage policy.Stage) *issues.Issue {
		return &issues.Issue{ID: 1, Status: issues.Open, Stage: stage}
	}
	remediatedAt := func(days int) *issues.Issue {
		t := now.AddDate(0, 0, -days)
		return &issues.Issue{ID: 1, Status: issues.Remediated, Remediated: &t}
	}
	d := func(e Event, seq int, st State, sent *time.Time) *Delivery {
		return &Delivery{Event: e, Seq: seq, State: st, SentAt: sent}
	}
	for _, tc := range []struct {
		name     string
		is       *issues.Issue
		past     []*Delivery
		interval int
		events   []Event
		seqs     []int
		retry    int
		cancel   int
	}{
		{"new warning", open(policy.Warning), nil, 1, []Event{Warning}, []int{1}, 0, 0},
		{"warned yesterday (other hour), interval 1: again", open(policy.Warning), []*Delivery{d(Warning, 1, Sent, sentAt(1))}, 1, []Event{Warning}, []int{2}, 0, 0},
		{"warned today: not again", open(policy.Warning), []*Delivery{d(Warning, 1, Sent, sentAt(0))}, 1, nil, nil, 0, 0},
		{"interval 3, warned 2 days ago: not yet", open(policy.Warning), []*Delivery{d(Warning, 1, Sent, sentAt(2))}, 3, nil, nil, 0, 0},
		{"interval 3, warned 3 days ago: due", open(policy.Warning), []*Delivery{d(Warning, 1, Sent, sentAt(5)), d(Warning, 2, Sent, sentAt(3))}, 3, []Event{Warning}, []int{3}, 0, 0},
		{"pending warning is retried, not doubled", open(policy.Warning), []*Delivery{d(Warning, 1, Pending, nil)}, 1, nil, nil, 1, 0},
		{"in-doubt warning is retried", open(policy.Warning), []*Delivery{d(Warning, 1, Sending, nil)}, 1, nil, nil, 1, 0},
		{"first violation; pending warning superseded", open(policy.Violation), []*Delivery{d(Warning, 1, Pending, nil)}, 1, []Event{Violation}, []int{1}, 0, 1},
		{"violation only once", open(policy.Violation), []*Delivery{d(Violation, 1, Sent, sentAt(3))}, 1, nil, nil, 0, 0},
		{"resolved after a notice", &issues.Issue{Status: issues.Resolved}, []*Delivery{d(Violation, 1, Sent, sentAt(3))}, 1, []Event{Resolved}, []int{1}, 0, 0},
		{"resolved, never announced: nothing", &issues.Issue{Status: issues.Resolved}, nil, 1, nil, nil, 0, 0},
		{"resolved once", &issues.Issue{Status: issues.Resolved}, []*Delivery{d(Violation, 1, Sent, sentAt(3)), d(Resolved, 1, Sent, sentAt(1))}, 1, nil, nil, 0, 0},
		{"remediated, never announced, fresh: always", remediatedAt(0), nil, 1, []Event{Remediated}, []int{1}, 0, 0},
		{"remediated long ago, never announced: history", remediatedAt(30), nil, 1, nil, nil, 0, 0},
		{"remediated long ago, announced: sent", remediatedAt(30), []*Delivery{d(Warning, 1, Sent, sentAt(40))}, 1, []Event{Remediated}, []int{1}, 0, 0},
		{"whitelisted after a notice", &issues.Issue{Status: issues.Whitelisted}, []*Delivery{d(Warning, 1, Sent, sentAt(1))}, 1, []Event{Whitelisted}, []int{1}, 0, 0},
		{"whitelisted from the start: nothing", &issues.Issue{Status: issues.Whitelisted}, nil, 1, nil, nil, 0, 0},
		{"cancelled warning numbers on", open(policy.Warning), []*Delivery{d(Warning, 1, Cancelled, nil)}, 1, []Event{Warning}, []int{2}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Plan(tc.is, tc.past, tc.interval, now)
			if !reflect.DeepEqual(got.Events, tc.events) || !reflect.DeepEqual(got.Seqs, tc.seqs) ||
				len(got.Retry) != tc.retry || len(got.Cancel) != tc.cancel {
				t.Errorf("Plan = events %v seqs %v retry %d cancel %d; want %v %v %d %d",
					got.Events, got.Seqs, len(got.Retry), len(got.Cancel), tc.events, tc.seqs, tc.retry, tc.cancel)
			}
		})
	}
}

func TestDaysLeftAt(t *testing.T) {
	dl := now.Add(36 * time.Hour)
	if got := DaysLeftAt(dl, now, 0); got != 2 {
		t.Errorf("1.5 days ahead = %d, want 2", got)
	}
	if got := DaysLeftAt(now.Add(-36*time.Hour), now, 0); got != -1 {
		t.Errorf("1.5 days past = %d, want -1", got)
	}
	if got := DaysLeftAt(time.Time{}, now, 7); got != 7 {
		t.Errorf("no deadline = %d, want the fallback", got)
	}
}

// TestRemediationDate: the date a notice states is the report of the
// violation plus remediation_retention_period, as Hammer's tickets state
// "now + retention", and as the planner counts it (remediate.DueAt): a
// violation already reported counts from that report (Issue.Reported); none
// when keywarden will not act.
func TestRemediationDate(t *testing.T) {
	day := func(d int) time.Time { return now.AddDate(0, 0, d) }
	on := &config.Kind{Remediation: true, RemediationRetentionPeriod: 7}
	viol := issues.Issue{Kind: policy.InactiveKeys, AccountID: "111111111111", Subject: "AKIABOB0000000000001",
		Status: issues.Open, Stage: policy.Violation, Deadline: day(-10)}
	warn := viol
	warn.Stage, warn.Deadline = policy.Warning, day(4)
	for _, tc := range []struct {
		name string
		is   issues.Issue
		k    *config.Kind
		ev   Event
		want time.Time
	}{
		{"violation reported now: now + 7", viol, on, Violation, day(7)},
		{"violation already reported: its report + 7", func() issues.Issue { i := viol; r := day(-2); i.Reported = &r; return i }(), on, Violation, day(5)},
		{"reported after the notice's time: now + 7", func() issues.Issue { i := viol; r := day(1); i.Reported = &r; return i }(), on, Violation, day(7)},
		{"warning: its deadline + 7", warn, on, Warning, day(11)},
		{"retention 0: at the next run after the report", viol, &config.Kind{Remediation: true}, Violation, now},
		{"retention 0, warning: the deadline", warn, &config.Kind{Remediation: true}, Warning, day(4)},
		{"remediation off", viol, &config.Kind{RemediationRetentionPeriod: 7}, Violation, time.Time{}},
		{"no kind section", viol, nil, Violation, time.Time{}},
		{"account not remediated", viol, &config.Kind{Remediation: true, RemediationAccounts: []string{"222222222222"}}, Violation, time.Time{}},
		{"account remediated", viol, &config.Kind{Remediation: true, RemediationAccounts: []string{"111111111111"}}, Violation, now},
		{"exempt", func() issues.Issue { i := viol; i.Exemption = "tag KeyAutoExpire=false"; return i }(), on, Violation, time.Time{}},
		{"whitelisted", func() issues.Issue { i := viol; i.Status = issues.Whitelisted; return i }(), on, Violation, time.Time{}},
		{"key ID unknown: cannot be acted on", func() issues.Issue { i := viol; i.Subject = "bob/access_key_1"; return i }(), on, Violation, time.Time{}},
		{"password", func() issues.Issue { i := viol; i.Kind, i.Subject = policy.InactivePasswords, "bob"; return i }(), on, Violation, day(7)},
		{"huge retention saturates", viol, &config.Kind{Remediation: true, RemediationRetentionPeriod: policy.MaxDays}, Violation, policy.AddDays(now, policy.MaxDays)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := RemediationDate(&tc.is, tc.k, tc.ev, now)
			if !got.Equal(tc.want) || ok != !tc.want.IsZero() {
				t.Errorf("RemediationDate = %v, %v; want %v", got, ok, tc.want)
			}
			n := Notice{Issue: tc.is, RemediationDate: got}
			what := "deactivates it"
			if tc.is.Kind == policy.InactivePasswords {
				what = "removes it"
			}
			if want := "keywarden " + what + " on " + tc.want.Format("2006-01-02"); ok && n.Remediation() != want {
				t.Errorf("Remediation() = %q, want %q", n.Remediation(), want)
			}
		})
	}
}
