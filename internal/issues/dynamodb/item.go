package dynamodb

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/policy"
)

// Attribute names. account_id, issue_id, status, issue_details, timestamps
// and jira_details are Hammer's (see hammer.go); the others are keywarden's,
// which Hammer neither reads nor keeps (its put_item writes its six).
const (
	attrPK      = "pk" // meta, journal, notify and history tables
	attrSK      = "sk" // journal, notify and history tables
	attrAccount = "account_id"
	attrIssueID = "issue_id"
	attrID      = "id"
	attrVersion = "version"
	// attrKWStatus is keywarden's own status (Hammer's status attribute
	// holds its mapping into Hammer's set).
	attrKWStatus = "keywarden_status"
	// attrUpdatedAt is keywarden's last change of the issue when it is
	// later than Hammer's timestamps.updated (a refresh of day counters,
	// which Hammer would not call an update).
	attrUpdatedAt = "updated_at"
)

// timeFormat is RFC 3339 in UTC with a fixed nine-digit fraction, as the
// SQLite store writes it: exact, and sortable as text. It is the format of
// keywarden's own tables (meta, journal, notify); Hammer's tables take
// hammerTime.
const timeFormat = "2006-01-02T15:04:05.000000000Z07:00"

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

var null types.AttributeValue = &types.AttributeValueMemberNULL{Value: true}

// putS sets a string attribute, leaving empty ones out.
func putS(m map[string]types.AttributeValue, k, v string) {
	if v != "" {
		m[k] = str(v)
	}
}

// putT sets a time attribute in keywarden's format, leaving zero ones out.
func putT(m map[string]types.AttributeValue, k string, t *time.Time) {
	if t != nil && !t.IsZero() {
		m[k] = str(t.UTC().Format(timeFormat))
	}
}

// putHT sets a timestamp of Hammer's timestamps map: Hammer's form, or NULL
// (Hammer's None) when there is none, as Hammer's own rows have it.
func putHT(m map[string]types.AttributeValue, k string, t *time.Time) {
	if t != nil && !t.IsZero() {
		m[k] = str(hammerTime(*t))
	} else {
		m[k] = null
	}
}

// copyM is a shallow copy of the map attribute k of item (empty when there
// is none): what keywarden does not write of Hammer's maps is kept.
func copyM(item map[string]types.AttributeValue, k string) map[string]types.AttributeValue {
	out := map[string]types.AttributeValue{}
	maps.Copy(out, getM(item, k))
	return out
}

// encode is the item of is at l. prev is the item there now (nil when
// none, or when Hammer's own data there is abandoned, as Hammer abandons a
// closed issue's ticket and timestamps on a reopen): the keys of Hammer's
// maps that keywarden does not own (jira_details, the dev branch's
// temp_whitelisted and slack_notified_date timestamps, issue_details'
// cloudtrail, ...) are kept as they are.
func encode(is *issues.Issue, l location, prev map[string]types.AttributeValue) map[string]types.AttributeValue {
	details := copyM(prev, "issue_details")
	delete(details, "tags")
	putS(details, "username", is.Details.Username)
	// Hammer writes create_date and last_used as Python's isoformat of
	// the AWS dates, and last_used = create_date for a key never used
	// (its reporting parses both with dateutil: None would crash it).
	if d := hammerDate(is.Details.CreateDate); d != "" {
		details["create_date"] = str(d)
		details["last_used"] = str(d)
	}
	if d := hammerDate(is.Details.LastUsed); d != "" {
		details["last_used"] = str(d)
	}
	encodeTags(details, is)

	ts := copyM(prev, "timestamps")
	putHT(ts, "identified", &is.Detected)
	putHT(ts, "updated", &is.Updated)
	putHT(ts, "reported", is.Reported)
	putHT(ts, "remediated", is.Remediated)
	// keywarden's closing time is Hammer's "resolved" (identification
	// found the issue gone or remediated); Hammer's "closed" is its
	// reporting closing the ticket, kept while the issue stays closed.
	putHT(ts, "resolved", is.Closed)
	if is.Closed == nil || ts["closed"] == nil {
		ts["closed"] = null
	}
	jira := copyM(prev, "jira_details")

	it := map[string]types.AttributeValue{
		attrAccount:     str(l.account),
		attrIssueID:     str(l.issueID),
		attrID:          num(is.ID),
		attrVersion:     num(is.Version),
		"kind":          str(string(is.Kind)),
		"subject":       str(is.Subject),
		"status":        str(hammerStatus(is.Status)),
		attrKWStatus:    str(string(is.Status)),
		"issue_details": &types.AttributeValueMemberM{Value: details},
		"timestamps":    &types.AttributeValueMemberM{Value: ts},
		"jira_details":  &types.AttributeValueMemberM{Value: jira},
		"key_slot":      num(int64(is.KeySlot)),
		"age_days":      num(int64(is.AgeDays)),
		"limit_days":    num(int64(is.LimitDays)),
		"days_left":     num(int64(is.DaysLeft)),
	}
	if l.hist {
		it[attrPK], it[attrSK] = str(l.pk), str(l.sk)
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

// getT reads a time: keywarden's format or Hammer's (Python's isoformat,
// with or without a fraction); absent, NULL or empty is nil.
func getT(m map[string]types.AttributeValue, k string) (*time.Time, error) {
	s := getS(m, k)
	if s == "" {
		return nil, nil
	}
	t, err := parseISO(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k, err)
	}
	return &t, nil
}

// decode reads the item of an issue of kind. An item Hammer wrote (or
// rewrote with put_item, which keeps only its own six attributes) has
// none of keywarden's: its kind is its table's, its subject its issue_id,
// its status mapped from Hammer's, and it has no stage (no finding
// snapshot: the next scan takes one without reporting a change). Its ID is
// the caller's to set.
func decode(it map[string]types.AttributeValue, kind policy.Kind) (issues.Issue, error) {
	is := issues.Issue{
		Kind:        policy.Kind(getS(it, "kind")),
		AccountID:   getS(it, attrAccount),
		Subject:     getS(it, "subject"),
		Stage:       policy.Stage(getS(it, "stage")),
		Exemption:   getS(it, "exemption"),
		UserARN:     getS(it, "user_arn"),
		CloseReason: getS(it, "close_reason"),
	}
	if is.Kind == "" {
		is.Kind = kind
	}
	if is.Subject == "" {
		is.Subject = getS(it, attrIssueID)
	}
	where := fmt.Sprintf("item %s/%s", is.AccountID, getS(it, attrIssueID))
	var err error
	ints := []struct {
		k   string
		dst *int64
	}{{attrID, &is.ID}, {attrVersion, &is.Version}}
	for _, p := range ints {
		if *p.dst, err = getN(it, p.k); err != nil {
			return is, fmt.Errorf("%s: %w", where, err)
		}
	}
	for _, p := range []struct {
		k   string
		dst *int
	}{{"key_slot", &is.KeySlot}, {"age_days", &is.AgeDays}, {"limit_days", &is.LimitDays}, {"days_left", &is.DaysLeft}} {
		n, err := getN(it, p.k)
		if err != nil {
			return is, fmt.Errorf("%s: %w", where, err)
		}
		*p.dst = int(n)
	}
	ts := getM(it, "timestamps")
	for _, p := range []struct {
		m   map[string]types.AttributeValue
		k   string
		dst **time.Time
	}{{ts, "reported", &is.Reported}, {ts, "remediated", &is.Remediated}} {
		if *p.dst, err = getT(p.m, p.k); err != nil {
			return is, fmt.Errorf("%s: timestamps: %w", where, err)
		}
	}
	for _, p := range []struct {
		m   map[string]types.AttributeValue
		k   string
		dst *time.Time
	}{{ts, "identified", &is.Detected}, {ts, "updated", &is.Updated}, {it, "deadline", &is.Deadline}} {
		t, err := getT(p.m, p.k)
		if err != nil {
			return is, fmt.Errorf("%s: %w", where, err)
		}
		if t != nil {
			*p.dst = *t
		}
	}
	if t, err := getT(it, attrUpdatedAt); err != nil {
		return is, fmt.Errorf("%s: %w", where, err)
	} else if t != nil {
		is.Updated = *t
	}
	hammers := getS(it, attrKWStatus) == "" // written or rewritten by Hammer
	if hammers && is.Updated.IsZero() {
		is.Updated = is.Detected // Hammer may leave updated None
	}
	if is.Status, err = keywardenStatus(getS(it, attrKWStatus), it["status"], is.Remediated != nil); err != nil {
		return is, fmt.Errorf("%s: %w", where, err)
	}
	if is.Status.Closed() {
		// keywarden's closing time is Hammer's resolved; rows of older
		// keywardens, and Hammer rows resolved before it kept that key,
		// have it in closed.
		for _, k := range []string{"resolved", "closed"} {
			if is.Closed, err = getT(ts, k); err != nil {
				return is, fmt.Errorf("%s: timestamps: %w", where, err)
			}
			if is.Closed != nil {
				break
			}
		}
		if is.Closed == nil && hammers {
			t := is.Updated
			is.Closed = &t
		}
	}
	if is.Details, err = decodeDetails(getM(it, "issue_details")); err != nil {
		return is, fmt.Errorf("%s: issue_details: %w", where, err)
	}
	decodeTags(getM(it, "issue_details"), &is)
	return is, nil
}

// decodeDetails reads issue_details into keywarden's form: dates in RFC
// 3339 UTC, and no last use when last_used is the creation (Hammer's form
// of a key never used).
func decodeDetails(d map[string]types.AttributeValue) (issues.Details, error) {
	out := issues.Details{Username: getS(d, "username")}
	var created, used *time.Time
	for _, p := range []struct {
		k   string
		dst *string
		t   **time.Time
	}{{"create_date", &out.CreateDate, &created}, {"last_used", &out.LastUsed, &used}} {
		t, err := getT(d, p.k)
		if err != nil {
			return out, err
		}
		if t != nil {
			*p.dst, *p.t = t.Format(time.RFC3339), t
		}
	}
	if created != nil && used != nil && created.Equal(*used) {
		out.LastUsed = ""
	}
	return out, nil
}

// parseISO reads an ISO 8601 time as Hammer writes them (Python's
// isoformat: "2026-03-01T10:11:12.123456+00:00", no fraction when it is
// zero; AWS dates "2018-02-14T16:48:02+00:00") and as keywarden does, and
// also a space for the T, as dateutil does.
func parseISO(s string) (time.Time, error) {
	v := s
	if len(v) > 10 && v[10] == ' ' {
		v = v[:10] + "T" + v[11:]
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		// A time without an offset (Python's naive isoformat) is UTC.
		var err2 error
		if t, err2 = time.Parse("2006-01-02T15:04:05.999999999", v); err2 != nil {
			return time.Time{}, fmt.Errorf("%q is not an ISO 8601 time", s)
		}
	}
	return t.UTC(), nil
}

// hammerTime is t as Python's datetime.isoformat writes an aware UTC time,
// which is Hammer's form for every timestamp: microseconds, or no fraction
// when they are zero, and "+00:00". A time finer than a microsecond keeps
// its nine digits (dateutil, which Hammer parses with, reads them).
func hammerTime(t time.Time) string {
	t = t.UTC()
	switch ns := t.Nanosecond(); {
	case ns == 0:
		return t.Format("2006-01-02T15:04:05-07:00")
	case ns%1000 == 0:
		return t.Format("2006-01-02T15:04:05.000000-07:00")
	default:
		return t.Format("2006-01-02T15:04:05.000000000-07:00")
	}
}

// hammerDate is an RFC 3339 date of issue_details in Hammer's form; a date
// keywarden cannot read is kept as it is.
func hammerDate(s string) string {
	if s == "" {
		return ""
	}
	t, err := parseISO(s)
	if err != nil {
		return s
	}
	return hammerTime(t)
}

// Hammer's IssueStatus values (hammer/library/ddb_issues.py).
const (
	hammerUnknown     = "unknown"
	hammerOpen        = "open"
	hammerWhitelisted = "whitelisted"
	hammerResolved    = "resolved"
	hammerClosed      = "closed"
	// hammerTempWhitelist is the dev branch's temporary whitelist
	// (IssueStatus.Tempwhitelist, set by its identification, read by its
	// reporting). The sources at hand use the member, not its value: the
	// likely spellings of it are all read as whitelisted.
	hammerTempWhitelist = "tempwhitelist"
)

var tempWhitelistSpellings = map[string]bool{
	hammerTempWhitelist: true, "temp_whitelist": true, "tempwhitelisted": true, "temp_whitelisted": true, "temporary_whitelist": true,
}

// hammerStatus maps keywarden's status into Hammer's set: a remediated
// issue is, for Hammer, one that identification found resolved
// ("resolved: issue was removed or remediated"), with its remediated
// timestamp set.
func hammerStatus(s issues.Status) string {
	switch s {
	case issues.Open:
		return hammerOpen
	case issues.Whitelisted:
		return hammerWhitelisted
	default:
		return hammerResolved
	}
}

// keywardenStatus is the status of an item: keywarden's own when it wrote
// it (and Hammer's status still says the same thing), else Hammer's mapped.
func keywardenStatus(own string, hammer types.AttributeValue, remediated bool) (issues.Status, error) {
	var h string
	switch v := hammer.(type) {
	case nil, *types.AttributeValueMemberNULL:
		h = hammerUnknown // Hammer: "used when no status field in DDB"
	case *types.AttributeValueMemberS:
		h = v.Value
	default:
		return "", fmt.Errorf("status is not a string")
	}
	var mapped issues.Status
	switch strings.ToLower(h) {
	case hammerOpen, hammerUnknown:
		mapped = issues.Open
	case hammerWhitelisted:
		mapped = issues.Whitelisted
	case hammerResolved, hammerClosed:
		mapped = issues.Resolved
		if remediated {
			mapped = issues.Remediated
		}
	case string(issues.Remediated):
		mapped = issues.Remediated // a row of an earlier keywarden (see migrate)
	default:
		if !tempWhitelistSpellings[strings.ToLower(h)] {
			return "", fmt.Errorf("status %q is not one of Hammer's (open, whitelisted, resolved, closed, unknown, tempwhitelist): "+
				"fix the row or remove it", h)
		}
		mapped = issues.Whitelisted
	}
	if st := issues.Status(own); st != "" && hammerStatus(st) == hammerStatus(mapped) {
		return st, nil
	}
	return mapped, nil
}
