package slack

import (
	"fmt"
	"strings"

	slackapi "github.com/slack-go/slack"

	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/policy"
)

// Message is one Slack message of a digest and the notices it carries.
type Message struct {
	Text    string
	Blocks  []slackapi.Block
	Notices []*notify.Notice
}

func (m Message) payload() map[string]any {
	return map[string]any{"text": m.Text, "blocks": m.Blocks}
}

// Slack's limits: 50 blocks a message, 3,000 characters a section text.
const (
	maxBlocks      = 50
	maxSectionText = 2900
	// maxNotices keeps a message readable (and far below Slack's size limit).
	maxNotices = 100
)

type group struct {
	title  string
	events []notify.Event
}

var groups = []group{
	{":hourglass_flowing_sand: *Expires soon*", []notify.Event{notify.Warning}},
	{":rotating_light: *Violations*", []notify.Event{notify.Violation}},
	{":warning: *To be remediated*", []notify.Event{notify.RemediationWarning}},
	{":lock: *Remediated by keywarden*", []notify.Event{notify.Remediated}},
	{":white_check_mark: *Resolved*", []notify.Event{notify.Resolved, notify.Whitelisted}},
	{":alarm_clock: *Exemption expired*", []notify.Event{notify.ExemptionExpired}},
}

// Digest renders the notices of one recipient as Block Kit messages: a
// header, then the groups "expires soon" (with days left), "violations",
// "remediated" and "resolved"; warnings and violations under their kind's
// title and instructions. A digest too long for one message is split.
func Digest(target string, ns []*notify.Notice, showKeyIDs bool) []Message {
	if len(ns) == 0 {
		return nil
	}
	var msgs []Message
	cur := &Message{}
	count := map[notify.Event]int{}
	for _, n := range ns {
		count[n.Event]++
	}
	header := func() {
		cur.Blocks = append(cur.Blocks,
			slackapi.NewHeaderBlock(slackapi.NewTextBlockObject(slackapi.PlainTextType, "AWS IAM credentials that need you", true, false)),
			slackapi.NewContextBlock("", slackapi.NewTextBlockObject(slackapi.MarkdownType,
				fmt.Sprintf("keywarden report of %s for %s", ns[0].AsOf.UTC().Format("2006-01-02"), escape(target)), false, false)))
	}
	flush := func() {
		if len(cur.Notices) > 0 {
			msgs = append(msgs, *cur)
		}
		cur = &Message{}
		header()
	}
	header()
	section := func(text string) {
		if len(cur.Blocks) >= maxBlocks-1 {
			flush()
		}
		cur.Blocks = append(cur.Blocks, slackapi.NewSectionBlock(slackapi.NewTextBlockObject(slackapi.MarkdownType, text, false, false), nil, nil))
	}
	for gi, g := range groups {
		var in []*notify.Notice
		for _, n := range ns {
			for _, e := range g.events {
				if n.Event == e {
					in = append(in, n)
				}
			}
		}
		if len(in) == 0 {
			continue
		}
		if len(cur.Blocks) > 2 {
			cur.Blocks = append(cur.Blocks, slackapi.NewDividerBlock())
		}
		section(g.title)
		instructions := gi < 2
		for _, kind := range policy.Kinds {
			var lines []string
			var carried []*notify.Notice
			for _, n := range in {
				if n.Issue.Kind == kind {
					lines = append(lines, Line(n, showKeyIDs))
					carried = append(carried, n)
				}
			}
			if len(lines) == 0 {
				continue
			}
			if instructions {
				section("*" + escape(carried[0].Title) + "*\n" + carried[0].Text)
			}
			// Lines packed into sections of at most maxSectionText.
			var buf []string
			var bufN []*notify.Notice
			size := 0
			emit := func() {
				if len(buf) == 0 {
					return
				}
				section(strings.Join(buf, "\n"))
				cur.Notices = append(cur.Notices, bufN...)
				buf, bufN, size = nil, nil, 0
			}
			for i, l := range lines {
				if len(cur.Notices)+len(buf) >= maxNotices {
					emit()
					flush()
					section(g.title + " (continued)")
				}
				if size+len(l)+1 > maxSectionText {
					emit()
				}
				buf = append(buf, l)
				bufN = append(bufN, carried[i])
				size += len(l) + 1
			}
			emit()
		}
	}
	if len(cur.Notices) > 0 {
		msgs = append(msgs, *cur)
	}
	text := summaryText(count)
	for i := range msgs {
		msgs[i].Text = text
		if len(msgs) > 1 {
			msgs[i].Text = fmt.Sprintf("%s (part %d of %d)", text, i+1, len(msgs))
		}
	}
	return msgs
}

func summaryText(count map[notify.Event]int) string {
	var parts []string
	for _, p := range []struct {
		e    notify.Event
		what string
	}{{notify.Warning, "expiring soon"}, {notify.Violation, "in violation"}, {notify.RemediationWarning, "to be remediated"}, {notify.Remediated, "remediated"},
		{notify.Resolved, "resolved"}, {notify.Whitelisted, "exempted"}, {notify.ExemptionExpired, "exemption expired"}} {
		if count[p.e] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", count[p.e], p.what))
		}
	}
	return "keywarden: AWS IAM credentials " + strings.Join(parts, ", ")
}

// Line is one notice in a digest: who, where, which credential, what.
func Line(n *notify.Notice, showKeyIDs bool) string {
	is := &n.Issue
	who := "`" + escape(is.Details.Username) + "`"
	if m := notify.MentionFor(is.Tags); m.Text != "" {
		who = m.Text + " (" + who + ")"
	}
	cred := notify.KeyLabel(is, showKeyIDs)
	if id := notify.KeyID(is, showKeyIDs); id != "" {
		cred = strings.Replace(cred, id, "`"+id+"`", 1)
	}
	head := fmt.Sprintf("• %s in %s: %s", who, escape(n.Account()), cred)
	switch n.Event {
	case notify.RemediationWarning:
		return head + " " + n.Problem() + ": *" + n.RemediationWarning() + "*"
	case notify.Warning, notify.Violation:
		line := head + " " + n.Problem() + ": *" + n.Deadline() + "*"
		if rem := n.Remediation(); rem != "" {
			line += ", " + rem
		}
		return line
	}
	return head + " " + escape(n.Outcome())
}

// escape makes text safe for mrkdwn: Slack's three control characters.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
