package dynamotest

// Dow Jones Hammer's side of its DynamoDB issue tables, reproduced from its
// source (dowjones/hammer: hammer/library/ddb_issues.py, the IAM key
// identification lambdas, reporting/create_iam_key_*_tickets.py and
// remediation/clean_iam_key*.py), written anew for keywarden's tests: how
// Hammer writes a row (HammerRow) and how it reads one (ReadHammer).
//
// Hammer's rows go through boto3's resource layer: a Python str is an S, None
// a NULL, a dict an M. Issue.as_dict has exactly six attributes:
// account_id, issue_id, issue_details, status, timestamps, jira_details;
// Operations.put writes them with put_item, so anything else on the row is
// dropped whenever Hammer writes it.

import (
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// HammerStatuses is IssueStatus of Hammer's master branch; "tempwhitelist"
// (the dev branch's Tempwhitelist) is read too, never written by keywarden.
var HammerStatuses = []string{"unknown", "open", "whitelisted", "resolved", "closed"}

// HammerTimestampKeys are the keys Issue.__init__ puts in timestamps (all
// five, None until set); set_status_resolved adds "resolved".
var HammerTimestampKeys = []string{"identified", "updated", "reported", "remediated", "closed"}

// PyISO is Python's datetime.isoformat of an aware UTC time, Hammer's form
// of every timestamp (datetime.now(timezone.utc).isoformat()) and of the AWS
// dates it keeps (CreateDate.isoformat()): microseconds unless they are
// zero, "+00:00".
func PyISO(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()/1000 == 0 {
		return t.Format("2006-01-02T15:04:05+00:00")
	}
	return t.Format("2006-01-02T15:04:05.") + fmt.Sprintf("%06d", t.Nanosecond()/1000) + "+00:00"
}

// HammerRow is one issue as Hammer's identification and reporting leave it.
type HammerRow struct {
	AccountID, IssueID string
	// Status is written as is; "" leaves the attribute out (Hammer reads
	// that as unknown).
	Status string
	// Username, CreateDate and LastUsed are issue_details; Hammer's
	// inactive-keys identification writes last_used = create_date for a key
	// never used; the rotation one writes no last_used.
	Username             string
	CreateDate, LastUsed *time.Time
	// Cloudtrail adds issue_details.cloudtrail = None, as the dev branch's
	// identification writes it.
	Cloudtrail bool
	// Timestamps, nil ones written as None; Resolved is added only when set
	// (set_status_resolved).
	Identified, Updated                    time.Time
	Reported, Remediated, Closed, Resolved *time.Time
	// Ticket and Assignee are jira_details.ticket and ticket_assignee_id,
	// set by reporting once the ticket exists.
	Ticket, Assignee string
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

var null types.AttributeValue = &types.AttributeValueMemberNULL{Value: true}

func pyTime(t *time.Time) types.AttributeValue {
	if t == nil {
		return null
	}
	return s(PyISO(*t))
}

// Item is the row as boto3 puts it.
func (r HammerRow) Item() map[string]types.AttributeValue {
	details := map[string]types.AttributeValue{"username": s(r.Username)}
	if r.CreateDate != nil {
		details["create_date"] = s(PyISO(*r.CreateDate))
	}
	if r.LastUsed != nil {
		details["last_used"] = s(PyISO(*r.LastUsed))
	}
	if r.Cloudtrail {
		details["cloudtrail"] = null
	}
	ts := map[string]types.AttributeValue{
		"identified": s(PyISO(r.Identified)), "updated": s(PyISO(r.Updated)),
		"reported": pyTime(r.Reported), "remediated": pyTime(r.Remediated), "closed": pyTime(r.Closed),
	}
	if r.Resolved != nil {
		ts["resolved"] = s(PyISO(*r.Resolved))
	}
	jira := map[string]types.AttributeValue{}
	if r.Ticket != "" {
		jira["ticket"] = s(r.Ticket)
		jira["ticket_assignee_id"] = s(r.Assignee)
	}
	it := map[string]types.AttributeValue{
		"account_id": s(r.AccountID), "issue_id": s(r.IssueID),
		"issue_details": &types.AttributeValueMemberM{Value: details},
		"timestamps":    &types.AttributeValueMemberM{Value: ts},
		"jira_details":  &types.AttributeValueMemberM{Value: jira},
	}
	if r.Status != "" {
		it["status"] = s(r.Status)
	}
	return it
}

// HammerRewrite is the row as Hammer's put_item leaves it after reading
// item with Issue.from_dict: its six attributes, the maps as they were.
func HammerRewrite(item map[string]types.AttributeValue) map[string]types.AttributeValue {
	out := map[string]types.AttributeValue{}
	for _, k := range []string{"account_id", "issue_id", "issue_details", "status", "timestamps", "jira_details"} {
		if v, ok := item[k]; ok {
			out[k] = v
		}
	}
	return out
}

// HammerIssue is a row as Hammer's code sees it.
type HammerIssue struct {
	AccountID, IssueID, Status string
	// Timestamps, IssueDetails and JiraDetails hold the maps' strings;
	// a key absent or None is absent.
	Timestamps, IssueDetails, JiraDetails map[string]string
	// TimestampKeys are every key of timestamps, None ones included.
	TimestampKeys map[string]bool
	// Parsed are the timestamps, and create_date / last_used, as dateutil
	// parses them.
	Parsed map[string]time.Time
}

// Kinds of Hammer's IAM key checks, for ReadHammer.
const (
	HammerInactiveKeys = "inactive"
	HammerKeysRotation = "rotation"
)

// ReadHammer reads item as Hammer's code does, failing where Hammer's would
// raise: Issue.from_dict (item['account_id'], item['issue_id'],
// item['timestamps'], item['issue_details'], item['jira_details'] are
// KeyErrors when absent; IssueStatus(status) a ValueError outside Hammer's
// set), then what its IAM reporting and remediation parse: every timestamp
// (dateutil.parser.parse; reported is the remediation's retention clock),
// issue_details.create_date, and, for the inactive-keys check, last_used,
// which create_iam_key_inactive_tickets parses for every issue it reports
// (None is a TypeError there). kind is HammerInactiveKeys or
// HammerKeysRotation.
func ReadHammer(item map[string]types.AttributeValue, kind string) (HammerIssue, error) {
	h := HammerIssue{Timestamps: map[string]string{}, IssueDetails: map[string]string{}, JiraDetails: map[string]string{},
		TimestampKeys: map[string]bool{}, Parsed: map[string]time.Time{}}
	str := func(k string) (string, error) {
		v, ok := item[k]
		if !ok {
			return "", fmt.Errorf("KeyError: %q", k)
		}
		sv, ok := v.(*types.AttributeValueMemberS)
		if !ok {
			return "", fmt.Errorf("%s is %T, not a str", k, v)
		}
		return sv.Value, nil
	}
	var err error
	if h.AccountID, err = str("account_id"); err != nil {
		return h, err
	}
	if h.IssueID, err = str("issue_id"); err != nil {
		return h, err
	}
	h.Status = "unknown"
	if _, ok := item["status"]; ok {
		if h.Status, err = str("status"); err != nil {
			return h, err
		}
	}
	known := false
	for _, st := range HammerStatuses {
		known = known || st == h.Status
	}
	if !known {
		return h, fmt.Errorf("ValueError: %q is not a valid IssueStatus", h.Status)
	}
	for _, m := range []struct {
		k     string
		dst   map[string]string
		nulls map[string]bool
	}{{"timestamps", h.Timestamps, h.TimestampKeys}, {"issue_details", h.IssueDetails, nil}, {"jira_details", h.JiraDetails, nil}} {
		v, ok := item[m.k]
		if !ok {
			return h, fmt.Errorf("KeyError: %q", m.k)
		}
		mv, ok := v.(*types.AttributeValueMemberM)
		if !ok {
			return h, fmt.Errorf("%s is %T, not a dict", m.k, v)
		}
		for k, e := range mv.Value {
			if m.nulls != nil {
				m.nulls[k] = true
			}
			switch e := e.(type) {
			case *types.AttributeValueMemberS:
				m.dst[k] = e.Value
			case *types.AttributeValueMemberNULL:
			default:
				if m.k == "timestamps" {
					return h, fmt.Errorf("timestamps.%s is %T, not a str or None", k, e)
				}
			}
		}
	}
	for k, v := range h.Timestamps {
		t, err := DateutilParse(v)
		if err != nil {
			return h, fmt.Errorf("timestamps.%s: %w", k, err)
		}
		h.Parsed[k] = t
	}
	fields := []string{"create_date"}
	if kind == HammerInactiveKeys {
		fields = append(fields, "last_used")
	}
	for _, k := range fields {
		v, ok := h.IssueDetails[k]
		if !ok {
			return h, fmt.Errorf("issue_details.%s is None: dateutil.parser.parse raises TypeError", k)
		}
		t, err := DateutilParse(v)
		if err != nil {
			return h, fmt.Errorf("issue_details.%s: %w", k, err)
		}
		h.Parsed[k] = t
	}
	if _, ok := h.IssueDetails["username"]; !ok {
		return h, fmt.Errorf("issue_details.username is None")
	}
	return h, nil
}

var isoRE = regexp.MustCompile(`^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:?\d{2})?$`)

// DateutilParse reads an ISO 8601 time as dateutil.parser.parse reads the
// forms Hammer meets (fraction of any length, its first six digits kept; Z
// or an offset; none is naive, taken as UTC here).
func DateutilParse(v string) (time.Time, error) {
	m := isoRE.FindStringSubmatch(v)
	if m == nil {
		return time.Time{}, fmt.Errorf("ParserError: Unknown string format: %q", v)
	}
	n := func(s string) int { i, _ := strconv.Atoi(s); return i }
	us := 0
	if f := m[7]; f != "" {
		f = (f + "000000")[:6]
		us = n(f)
	}
	loc := time.UTC
	if z := m[8]; z != "" && z != "Z" {
		sign := 1
		if z[0] == '-' {
			sign = -1
		}
		z = z[1:]
		if len(z) == 5 {
			z = z[:2] + z[3:]
		}
		loc = time.FixedZone("", sign*(n(z[:2])*3600+n(z[2:])*60))
	}
	return time.Date(n(m[1]), time.Month(n(m[2])), n(m[3]), n(m[4]), n(m[5]), n(m[6]), us*1000, loc), nil
}
