package dynamodb

import (
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/policy"
)

// Attribute names. account_id, issue_id, status, issue_details, timestamps
// and jira_details are Hammer's.
const (
	attrPK      = "pk" // meta, journal and notify tables
	attrSK      = "sk" // journal and notify tables
	attrAccount = "account_id"
	attrIssueID = "issue_id"
	attrID      = "id"
	attrVersion = "version"
)

// timeFormat is RFC 3339 in UTC with a fixed nine-digit fraction, as the
// SQLite store writes it: exact, and sortable as text.
const timeFormat = "2006-01-02T15:04:05.000000000Z07:00"

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// putS sets a string attribute, leaving empty ones out.
func putS(m map[string]types.AttributeValue, k, v string) {
	if v != "" {
		m[k] = str(v)
	}
}

func putT(m map[string]types.AttributeValue, k string, t *time.Time) {
	if t != nil && !t.IsZero() {
		m[k] = str(t.UTC().Format(timeFormat))
	}
}

// encode is the item of is at l.
func encode(is *issues.Issue, l location) map[string]types.AttributeValue {
	details := map[string]types.AttributeValue{}
	putS(details, "username", is.Details.Username)
	putS(details, "create_date", is.Details.CreateDate)
	putS(details, "last_used", is.Details.LastUsed)
	encodeTags(details, is)
	ts := map[string]types.AttributeValue{}
	putT(ts, "identified", &is.Detected)
	putT(ts, "updated", &is.Updated)
	putT(ts, "reported", is.Reported)
	putT(ts, "remediated", is.Remediated)
	putT(ts, "closed", is.Closed)
	it := map[string]types.AttributeValue{
		attrAccount:     str(l.account),
		attrIssueID:     str(l.issueID),
		attrID:          num(is.ID),
		attrVersion:     num(is.Version),
		"kind":          str(string(is.Kind)),
		"subject":       str(is.Subject),
		"status":        str(string(is.Status)),
		"issue_details": &types.AttributeValueMemberM{Value: details},
		"timestamps":    &types.AttributeValueMemberM{Value: ts},
		"jira_details":  &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{}},
		"key_slot":      num(int64(is.KeySlot)),
		"age_days":      num(int64(is.AgeDays)),
		"limit_days":    num(int64(is.LimitDays)),
		"days_left":     num(int64(is.DaysLeft)),
	}
	putS(it, "stage", string(is.Stage))
	putS(it, "exemption", is.Exemption)
	putS(it, "user_arn", is.UserARN)
	putS(it, "close_reason", is.CloseReason)
	putT(it, "deadline", &is.Deadline)
	return it
}

func getS(m map[string]types.AttributeValue, k string) string {
	if v, ok := m[k].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func getN(m map[string]types.AttributeValue, k string) (int64, error) {
	v, ok := m[k]
	if !ok {
		return 0, nil
	}
	n, ok := v.(*types.AttributeValueMemberN)
	if !ok {
		return 0, fmt.Errorf("%s is not a number", k)
	}
	i, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", k, err)
	}
	return i, nil
}

func getM(m map[string]types.AttributeValue, k string) map[string]types.AttributeValue {
	if v, ok := m[k].(*types.AttributeValueMemberM); ok {
		return v.Value
	}
	return nil
}

func getT(m map[string]types.AttributeValue, k string) (*time.Time, error) {
	s := getS(m, k)
	if s == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k, err)
	}
	t = t.UTC()
	return &t, nil
}

// decode reads an issue item.
func decode(it map[string]types.AttributeValue) (issues.Issue, error) {
	is := issues.Issue{
		Kind:        policy.Kind(getS(it, "kind")),
		AccountID:   getS(it, attrAccount),
		Subject:     getS(it, "subject"),
		Status:      issues.Status(getS(it, "status")),
		Stage:       policy.Stage(getS(it, "stage")),
		Exemption:   getS(it, "exemption"),
		UserARN:     getS(it, "user_arn"),
		CloseReason: getS(it, "close_reason"),
	}
	d := getM(it, "issue_details")
	is.Details = issues.Details{Username: getS(d, "username"), CreateDate: getS(d, "create_date"), LastUsed: getS(d, "last_used")}
	decodeTags(d, &is)
	var err error
	ints := []struct {
		k   string
		dst *int64
	}{{attrID, &is.ID}, {attrVersion, &is.Version}}
	for _, p := range ints {
		if *p.dst, err = getN(it, p.k); err != nil {
			return is, fmt.Errorf("item %s/%s: %w", is.AccountID, getS(it, attrIssueID), err)
		}
	}
	for _, p := range []struct {
		k   string
		dst *int
	}{{"key_slot", &is.KeySlot}, {"age_days", &is.AgeDays}, {"limit_days", &is.LimitDays}, {"days_left", &is.DaysLeft}} {
		n, err := getN(it, p.k)
		if err != nil {
			return is, fmt.Errorf("issue %d: %w", is.ID, err)
		}
		*p.dst = int(n)
	}
	ts := getM(it, "timestamps")
	times := []struct {
		m   map[string]types.AttributeValue
		k   string
		dst **time.Time
	}{{ts, "reported", &is.Reported}, {ts, "remediated", &is.Remediated}, {ts, "closed", &is.Closed}}
	for _, p := range times {
		if *p.dst, err = getT(p.m, p.k); err != nil {
			return is, fmt.Errorf("issue %d: %w", is.ID, err)
		}
	}
	for _, p := range []struct {
		m   map[string]types.AttributeValue
		k   string
		dst *time.Time
	}{{ts, "identified", &is.Detected}, {ts, "updated", &is.Updated}, {it, "deadline", &is.Deadline}} {
		t, err := getT(p.m, p.k)
		if err != nil {
			return is, fmt.Errorf("issue %d: %w", is.ID, err)
		}
		if t != nil {
			*p.dst = *t
		}
	}
	return is, nil
}
