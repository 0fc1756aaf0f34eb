package dynamodb

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/issues/dynamodb/dynamotest"
	"github.com/keywarden/keywarden/internal/policy"
)

func tptr(t time.Time) *time.Time { return &t }

// allRows reads a table whole, raw.
func allRows(t *testing.T, api *dynamodb.Client, table string) []map[string]types.AttributeValue {
	t.Helper()
	res, err := api.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	return res.Items
}

// Every row keywarden writes in Hammer's tables is one Hammer's own code
// reads (dynamotest.ReadHammer, its rules reimplemented): a status of
// Hammer's set, the five timestamps keys, every timestamp and
// issue_details date parseable as dateutil parses them, last_used for a key
// never used; and it means what Hammer means.
func TestHammerReadsKeywardenRows(t *testing.T) {
	ctx := context.Background()
	s := open(t, Options{})
	api := client(t)
	const acct = "123456789012"
	day := time.Date(2026, 3, 1, 10, 11, 12, 123456000, time.UTC) // microseconds, as Python has them
	mk := func(kind policy.Kind, subject string, st issues.Status, stage policy.Stage, lastUsed string) issues.Issue {
		return issues.Issue{Kind: kind, AccountID: acct, Subject: subject, Status: st, Stage: stage,
			Details:   issues.Details{Username: "alice", CreateDate: "2025-01-02T03:04:05Z", LastUsed: lastUsed},
			LimitDays: 90, AgeDays: 120, Detected: day, Updated: day}
	}
	ch := &issues.Changes{New: []issues.Issue{
		mk(policy.InactiveKeys, "AKIAUSED000000000001", issues.Open, policy.Violation, "2025-06-01T00:00:00Z"),
		mk(policy.InactiveKeys, "AKIANEVER00000000001", issues.Open, policy.Violation, ""),
		mk(policy.InactiveKeys, "AKIAWARN000000000001", issues.Open, policy.Warning, "2025-10-01T00:00:00Z"),
		mk(policy.InactiveKeys, "AKIAWHITE00000000001", issues.Whitelisted, policy.Violation, ""),
		mk(policy.KeysRotation, "AKIAUSED000000000001", issues.Open, policy.Violation, "2025-06-01T00:00:00Z"),
		mk(policy.InactivePasswords, "alice", issues.Open, policy.Violation, ""),
	}}
	if err := s.Apply(ctx, ch); err != nil {
		t.Fatal(err)
	}
	used, never, warn, white, rot := ch.New[0], ch.New[1], ch.New[2], ch.New[3], ch.New[4]
	reported, remediated, closed := day.Add(time.Hour), day.Add(48*time.Hour), day.Add(49*time.Hour)
	used.Reported = tptr(reported)
	used.Status, used.Remediated, used.Closed, used.CloseReason = issues.Remediated, tptr(remediated), tptr(closed), "key deactivated by keywarden (action 1)"
	never.Status, never.Closed, never.CloseReason = issues.Resolved, tptr(closed), "key deleted"
	white.Status, white.Closed, white.CloseReason = issues.Resolved, tptr(closed), "key deleted"
	if err := s.Apply(ctx, &issues.Changes{Closed: []issues.Change{{Issue: used}, {Issue: never}, {Issue: white}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.setReported(ctx, warn.ID, reported); err != nil {
		t.Fatal(err)
	}
	// A new issue for a credential whose issue closed: the closed one
	// goes to keywarden's history, never to Hammer's table.
	again := mk(policy.InactiveKeys, "AKIAWHITE00000000001", issues.Open, policy.Violation, "")
	if err := s.Apply(ctx, &issues.Changes{New: []issues.Issue{again}}); err != nil {
		t.Fatal(err)
	}
	_ = rot

	kinds, _ := s.Tables()
	want := map[string]struct {
		status                       string
		remediated, resolved, report bool
	}{
		"user_inactivekeys AKIAUSED000000000001": {"resolved", true, true, true},
		"user_inactivekeys AKIANEVER00000000001": {"resolved", false, true, false},
		"user_inactivekeys AKIAWARN000000000001": {"open", false, false, true},
		"user_inactivekeys AKIAWHITE00000000001": {"open", false, false, false},
		"user_keysrotation AKIAUSED000000000001": {"open", false, false, false},
		"user_inactivepasswords alice":           {"open", false, false, false},
	}
	seen := 0
	for _, k := range policy.Kinds {
		rule := dynamotest.HammerInactiveKeys
		if k == policy.KeysRotation {
			rule = dynamotest.HammerKeysRotation
		}
		for _, it := range allRows(t, api, kinds[k]) {
			h, err := dynamotest.ReadHammer(it, rule)
			if err != nil {
				t.Errorf("%s %s: Hammer cannot read it: %v", k, getS(it, "issue_id"), err)
				continue
			}
			seen++
			w, ok := want[string(k)+" "+h.IssueID]
			if !ok {
				t.Errorf("%s: unexpected row %q (history in Hammer's table?)", k, h.IssueID)
				continue
			}
			if h.Status != w.status {
				t.Errorf("%s %s: status %q, want %q", k, h.IssueID, h.Status, w.status)
			}
			for _, key := range dynamotest.HammerTimestampKeys {
				if !h.TimestampKeys[key] {
					t.Errorf("%s %s: timestamps.%s missing", k, h.IssueID, key)
				}
			}
			if h.Timestamps["identified"] != "2026-03-01T10:11:12.123456+00:00" {
				t.Errorf("%s %s: identified %q is not Python's isoformat", k, h.IssueID, h.Timestamps["identified"])
			}
			if _, ok := h.Parsed["remediated"]; ok != w.remediated || ok && !h.Parsed["remediated"].Equal(remediated) {
				t.Errorf("%s %s: remediated %q", k, h.IssueID, h.Timestamps["remediated"])
			}
			if _, ok := h.Parsed["resolved"]; ok != w.resolved || ok && !h.Parsed["resolved"].Equal(closed) {
				t.Errorf("%s %s: resolved %q", k, h.IssueID, h.Timestamps["resolved"])
			}
			if _, ok := h.Parsed["reported"]; ok != w.report || ok && !h.Parsed["reported"].Equal(reported) {
				t.Errorf("%s %s: reported %q (the remediation's retention clock)", k, h.IssueID, h.Timestamps["reported"])
			}
			if h.Timestamps["closed"] != "" {
				t.Errorf("%s %s: closed %q: Hammer's closed is its reporting closing the ticket", k, h.IssueID, h.Timestamps["closed"])
			}
			if h.IssueDetails["create_date"] != "2025-01-02T03:04:05+00:00" {
				t.Errorf("%s %s: create_date %q", k, h.IssueID, h.IssueDetails["create_date"])
			}
			switch {
			case strings.HasPrefix(h.IssueID, "AKIAUSED"):
				if h.IssueDetails["last_used"] != "2025-06-01T00:00:00+00:00" {
					t.Errorf("%s %s: last_used %q", k, h.IssueID, h.IssueDetails["last_used"])
				}
			case strings.HasPrefix(h.IssueID, "AKIAWARN"):
				if h.IssueDetails["last_used"] != "2025-10-01T00:00:00+00:00" {
					t.Errorf("%s %s: last_used %q", k, h.IssueID, h.IssueDetails["last_used"])
				}
			case h.IssueDetails["last_used"] != h.IssueDetails["create_date"]:
				t.Errorf("%s %s: never used: last_used %q, want create_date (Hammer's form)", k, h.IssueID, h.IssueDetails["last_used"])
			}
		}
	}
	if seen != len(want) {
		t.Errorf("%d rows in Hammer's tables, want %d", seen, len(want))
	}
	// keywarden reads its rows back as it wrote them.
	got, err := s.List(ctx, issues.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[int64]issues.Issue{}
	for _, is := range got {
		byID[is.ID] = is
	}
	if is := byID[used.ID]; is.Status != issues.Remediated || !is.Remediated.Equal(remediated) || !is.Closed.Equal(closed) {
		t.Errorf("remediated issue read back: %+v", is)
	}
	if is := byID[never.ID]; is.Status != issues.Resolved || is.Details.LastUsed != "" || is.Details.CreateDate != "2025-01-02T03:04:05Z" {
		t.Errorf("never-used issue read back: %+v", is)
	}
	if is := byID[white.ID]; is.Status != issues.Resolved || is.CloseReason != "key deleted" {
		t.Errorf("the issue in history: %+v", is)
	}
	if len(got) != 7 {
		t.Errorf("%d issues, want 7", len(got))
	}
}

// Rows Hammer wrote are keywarden's issues as they are: the key ID is the
// subject, identified and reported are kept, the status mapped, each row
// one issue with one ID whatever Hammer does to the row since.
func TestHammerRowsAdopted(t *testing.T) {
	ctx := context.Background()
	s := open(t, Options{})
	api := client(t)
	kinds, _ := s.Tables()
	const acct = "210987654321"
	ident := time.Date(2026, 2, 1, 6, 0, 0, 654321000, time.UTC)
	rep := time.Date(2026, 2, 1, 7, 30, 0, 111111000, time.UTC)
	created := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	usedAt := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	rows := map[string]dynamotest.HammerRow{
		"reported": {AccountID: acct, IssueID: "AKIAREPORTED00000001", Status: "open", Username: "alice", CreateDate: &created, LastUsed: &usedAt,
			Cloudtrail: true, Identified: ident, Updated: ident, Reported: &rep, Ticket: "SEC-1", Assignee: "jdoe"},
		"never": {AccountID: acct, IssueID: "AKIANEVER00000000001", Status: "open", Username: "bob", CreateDate: &created, LastUsed: &created,
			Identified: ident, Updated: ident},
		"whitelisted": {AccountID: acct, IssueID: "AKIAWHITE00000000001", Status: "whitelisted", Username: "carol", CreateDate: &created, LastUsed: &usedAt,
			Identified: ident, Updated: ident},
		"temp": {AccountID: acct, IssueID: "AKIATEMP000000000001", Status: "tempwhitelist", Username: "carol", CreateDate: &created, LastUsed: &usedAt,
			Identified: ident, Updated: ident},
		"resolved": {AccountID: acct, IssueID: "AKIARESOLVED00000001", Status: "resolved", Username: "dave", CreateDate: &created, LastUsed: &usedAt,
			Identified: ident, Updated: ident, Reported: &rep, Resolved: tptr(rep.Add(24 * time.Hour)), Ticket: "SEC-2"},
		"remediated": {AccountID: acct, IssueID: "AKIAREMEDIATED000001", Status: "closed", Username: "erin", CreateDate: &created, LastUsed: &usedAt,
			Identified: ident, Updated: ident, Reported: &rep, Remediated: tptr(rep.Add(72 * time.Hour)),
			Resolved: tptr(rep.Add(96 * time.Hour)), Closed: tptr(rep.Add(97 * time.Hour)), Ticket: "SEC-3"},
		"nostatus": {AccountID: acct, IssueID: "AKIANOSTATUS00000001", Username: "frank", CreateDate: &created, LastUsed: &usedAt,
			Identified: ident, Updated: ident},
	}
	for _, r := range rows {
		if _, err := api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(kinds[policy.InactiveKeys]), Item: r.Item()}); err != nil {
			t.Fatal(err)
		}
	}
	rot := dynamotest.HammerRow{AccountID: acct, IssueID: "AKIAREPORTED00000001", Status: "open", Username: "alice", CreateDate: &created,
		Identified: ident, Updated: ident}
	if _, err := api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(kinds[policy.KeysRotation]), Item: rot.Item()}); err != nil {
		t.Fatal(err)
	}

	list := func() map[string]issues.Issue {
		t.Helper()
		got, err := s.List(ctx, issues.Filter{AccountID: acct})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]issues.Issue{}
		for _, is := range got {
			k := string(is.Kind) + " " + is.Subject
			if _, dup := out[k]; dup {
				t.Errorf("two issues for %s", k)
			}
			out[k] = is
		}
		return out
	}
	first := list()
	if len(first) != len(rows)+1 {
		t.Fatalf("%d issues, want %d: %+v", len(first), len(rows)+1, first)
	}
	wantStatus := map[string]issues.Status{"reported": issues.Open, "never": issues.Open, "whitelisted": issues.Whitelisted,
		"temp": issues.Whitelisted, "resolved": issues.Resolved, "remediated": issues.Remediated, "nostatus": issues.Open}
	ids := map[int64]bool{}
	for name, r := range rows {
		is, ok := first["user_inactivekeys "+r.IssueID]
		if !ok {
			t.Errorf("%s: not adopted", name)
			continue
		}
		if is.ID == 0 || ids[is.ID] {
			t.Errorf("%s: ID %d", name, is.ID)
		}
		ids[is.ID] = true
		if is.Status != wantStatus[name] || is.AccountID != acct || is.Details.Username != r.Username || !is.Detected.Equal(ident) {
			t.Errorf("%s: %+v", name, is)
		}
		if (r.Reported == nil) != (is.Reported == nil) || r.Reported != nil && !is.Reported.Equal(*r.Reported) {
			t.Errorf("%s: reported %v, Hammer's %v", name, is.Reported, r.Reported)
		}
		if is.Details.CreateDate != "2025-01-02T03:04:05Z" {
			t.Errorf("%s: create_date %q", name, is.Details.CreateDate)
		}
	}
	if lu := first["user_inactivekeys AKIANEVER00000000001"].Details.LastUsed; lu != "" {
		t.Errorf("Hammer's never-used key (last_used = create_date) read as used %q", lu)
	}
	if is := first["user_inactivekeys AKIAREMEDIATED000001"]; is.Closed == nil || !is.Closed.Equal(rep.Add(96*time.Hour)) || !is.Remediated.Equal(rep.Add(72*time.Hour)) {
		t.Errorf("remediated: closed %v remediated %v", is.Closed, is.Remediated)
	}
	// The same IDs at every read, and through Get.
	second := list()
	for k, is := range first {
		if second[k].ID != is.ID {
			t.Errorf("%s: ID %d, then %d", k, is.ID, second[k].ID)
		}
		if got, err := s.Get(ctx, is.ID); err != nil || got.Subject != is.Subject {
			t.Errorf("Get(%d): %+v %v", is.ID, got, err)
		}
	}

	// keywarden updates the reported row: Hammer's ticket, identified and
	// reported stay as Hammer wrote them.
	key := map[string]types.AttributeValue{"account_id": str(acct), "issue_id": str("AKIAREPORTED00000001")}
	before := rows["reported"].Item()
	is := first["user_inactivekeys AKIAREPORTED00000001"]
	is.Stage, is.LimitDays, is.AgeDays = policy.Violation, 90, 120
	if err := s.Apply(ctx, &issues.Changes{Refreshed: []issues.Issue{is}}); err != nil {
		t.Fatal(err)
	}
	res, err := api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(kinds[policy.InactiveKeys]), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	row := res.Item
	ts, ts0 := getM(row, "timestamps"), getM(before, "timestamps")
	for _, k := range []string{"identified", "reported"} {
		if getS(ts, k) != getS(ts0, k) {
			t.Errorf("timestamps.%s %q, Hammer wrote %q", k, getS(ts, k), getS(ts0, k))
		}
	}
	if j := getM(row, "jira_details"); getS(j, "ticket") != "SEC-1" || getS(j, "ticket_assignee_id") != "jdoe" {
		t.Errorf("jira_details %+v", j)
	}
	if _, ok := getM(row, "issue_details")["cloudtrail"]; !ok {
		t.Error("issue_details.cloudtrail (Hammer's) dropped")
	}
	if _, err := dynamotest.ReadHammer(row, dynamotest.HammerInactiveKeys); err != nil {
		t.Errorf("Hammer cannot read the updated row: %v", err)
	}

	// Hammer rewrites it with put_item (its reporting, say): keywarden's
	// attributes are gone; the issue keeps its ID, and keywarden can
	// update it and mark it reported again.
	if _, err := api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(kinds[policy.InactiveKeys]), Item: dynamotest.HammerRewrite(row)}); err != nil {
		t.Fatal(err)
	}
	third := list()
	re := third["user_inactivekeys AKIAREPORTED00000001"]
	if re.ID != is.ID || re.Status != issues.Open || !re.Reported.Equal(rep) {
		t.Fatalf("after Hammer's rewrite: %+v (ID was %d)", re, is.ID)
	}
	re.Stage = policy.Violation
	if err := s.Apply(ctx, &issues.Changes{Refreshed: []issues.Issue{re}}); err != nil {
		t.Fatalf("update after Hammer's rewrite: %v", err)
	}
	if got, _ := s.Get(ctx, is.ID); got == nil || got.Version != 1 || got.Stage != policy.Violation {
		t.Errorf("after the update: %+v", got)
	}
	// Hammer rewrites another, never updated by keywarden; marking it
	// reported gives it keywarden's ID back.
	nv := third["user_inactivekeys AKIANEVER00000000001"]
	if err := s.setReported(ctx, nv.ID, rep); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, nv.ID); err != nil || got.Reported == nil || !got.Reported.Equal(rep) {
		t.Errorf("reported on Hammer's row: %+v %v", got, err)
	}

	// Hammer's identification reopens the resolved issue in its row, with
	// fresh timestamps: to Hammer a new issue, so a new ID to keywarden.
	reopened := rows["resolved"]
	reopened.Status, reopened.Identified, reopened.Updated = "open", ident.Add(240*time.Hour), ident.Add(240*time.Hour)
	reopened.Reported, reopened.Resolved, reopened.Ticket = nil, nil, ""
	if _, err := api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(kinds[policy.InactiveKeys]), Item: reopened.Item()}); err != nil {
		t.Fatal(err)
	}
	fourth := list()
	old, now := first["user_inactivekeys AKIARESOLVED00000001"], fourth["user_inactivekeys AKIARESOLVED00000001"]
	if now.ID == old.ID || now.Status != issues.Open || now.Reported != nil {
		t.Errorf("reopened by Hammer: %+v (was %d)", now, old.ID)
	}

	// keywarden opens a new issue where Hammer's closed one is: the closed
	// one moves to keywarden's history.
	fresh := issues.Issue{Kind: policy.InactiveKeys, AccountID: acct, Subject: "AKIAREMEDIATED000001", Status: issues.Open, Stage: policy.Violation,
		Details: issues.Details{Username: "erin", CreateDate: "2025-01-02T03:04:05Z"}, Detected: ident.Add(480 * time.Hour), Updated: ident.Add(480 * time.Hour)}
	if err := s.Apply(ctx, &issues.Changes{New: []issues.Issue{fresh}}); err != nil {
		t.Fatal(err)
	}
	if h, err := s.Get(ctx, first["user_inactivekeys AKIAREMEDIATED000001"].ID); err != nil || h.Status != issues.Remediated {
		t.Errorf("Hammer's closed issue in history: %+v %v", h, err)
	}
	if n := len(allRows(t, api, kinds[policy.InactiveKeys])); n != len(rows) {
		t.Errorf("%d rows in Hammer's table, want %d", n, len(rows))
	}

	// A status outside Hammer's set is an error naming the row.
	bad := dynamotest.HammerRow{AccountID: "999999999999", IssueID: "AKIABAD0000000000001", Status: "bogus", Username: "x",
		CreateDate: &created, LastUsed: &created, Identified: ident, Updated: ident}
	if _, err := api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(kinds[policy.InactiveKeys]), Item: bad.Item()}); err != nil {
		t.Fatal(err)
	}
	_, err = s.List(ctx, issues.Filter{AccountID: "999999999999"})
	if err == nil || !strings.Contains(err.Error(), `"bogus"`) || !strings.Contains(err.Error(), "AKIABAD0000000000001") {
		t.Errorf("bogus status: %v", err)
	}
}

// Rows an earlier keywarden left in Hammer's tables (its own status, its
// time format, closed issues kept there under "<subject>#<id>") are brought
// to Hammer's form the first time they are listed; the issues are the same.
func TestMigrateEarlierRows(t *testing.T) {
	ctx := context.Background()
	s := open(t, Options{})
	api := client(t)
	kinds, _ := s.Tables()
	table := kinds[policy.InactiveKeys]
	const acct = "123456789012"
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	mk := func(subject string) issues.Issue {
		return issues.Issue{Kind: policy.InactiveKeys, AccountID: acct, Subject: subject, Status: issues.Open, Stage: policy.Violation,
			Details: issues.Details{Username: "alice", CreateDate: "2025-01-02T03:04:05Z"}, Detected: day, Updated: day}
	}
	ch := &issues.Changes{New: []issues.Issue{mk("AKIAOLDHIST000000001"), mk("AKIAOLDREM0000000001")}}
	if err := s.Apply(ctx, ch); err != nil {
		t.Fatal(err)
	}
	hist, rem := ch.New[0], ch.New[1]
	for _, is := range []*issues.Issue{&hist, &rem} {
		is.Status, is.Remediated, is.Closed = issues.Remediated, tptr(day.Add(time.Hour)), tptr(day.Add(2*time.Hour))
	}
	if err := s.Apply(ctx, &issues.Changes{Closed: []issues.Change{{Issue: hist}, {Issue: rem}}}); err != nil {
		t.Fatal(err)
	}
	// As the earlier keywarden wrote them.
	old := func(is issues.Issue, issueID string) map[string]types.AttributeValue {
		it := encode(&is, location{table: table, account: acct, issueID: issueID}, nil)
		delete(it, attrKWStatus)
		it["status"] = str("remediated")
		ts := map[string]types.AttributeValue{}
		putT(ts, "identified", &is.Detected)
		putT(ts, "updated", &is.Updated)
		putT(ts, "remediated", is.Remediated)
		putT(ts, "closed", is.Closed)
		it["timestamps"] = &types.AttributeValueMemberM{Value: ts}
		return it
	}
	histID := fmt.Sprintf("AKIAOLDHIST000000001#%020d", hist.ID)
	for _, it := range []map[string]types.AttributeValue{old(hist, histID), old(rem, rem.Subject)} {
		if _, err := api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: it}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := api.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table),
		Key: map[string]types.AttributeValue{attrAccount: str(acct), attrIssueID: str(hist.Subject)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.meta),
		Item: pointer(hist.ID, location{table: table, account: acct, issueID: histID})}); err != nil {
		t.Fatal(err)
	}
	if _, err := dynamotest.ReadHammer(old(rem, rem.Subject), dynamotest.HammerInactiveKeys); err == nil {
		t.Fatal("Hammer reads the earlier form: the test proves nothing")
	}

	got, err := s.List(ctx, issues.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d issues: %+v", len(got), got)
	}
	for _, is := range got {
		if is.Status != issues.Remediated || !is.Closed.Equal(day.Add(2*time.Hour)) || !is.Remediated.Equal(day.Add(time.Hour)) {
			t.Errorf("issue %d: %+v", is.ID, is)
		}
		if g, err := s.Get(ctx, is.ID); err != nil || g.Version != is.Version {
			t.Errorf("Get(%d) after the migration: %+v %v (listed at version %d)", is.ID, g, err, is.Version)
		}
	}
	rows := allRows(t, api, table)
	if len(rows) != 1 || getS(rows[0], attrIssueID) != rem.Subject {
		t.Fatalf("Hammer's table after the migration: %d rows", len(rows))
	}
	h, err := dynamotest.ReadHammer(rows[0], dynamotest.HammerInactiveKeys)
	if err != nil {
		t.Fatalf("Hammer cannot read the migrated row: %v", err)
	}
	if h.Status != "resolved" || h.Timestamps["closed"] != "" || h.Timestamps["resolved"] != "2026-03-01T02:00:00+00:00" {
		t.Errorf("migrated row: %+v", h)
	}
	// Hammer rewrites it: still the same issue.
	if _, err := api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: dynamotest.HammerRewrite(rows[0])}); err != nil {
		t.Fatal(err)
	}
	again, err := s.List(ctx, issues.Filter{Subject: rem.Subject})
	if err != nil || len(again) != 1 || again[0].ID != rem.ID {
		t.Errorf("after Hammer's rewrite: %+v %v", again, err)
	}
}

// Hammer's timestamps.updated is "open issue details were changed": a
// refresh of day counters leaves it, keywarden's own time of it is kept
// aside; a real update moves it.
func TestHammerUpdatedOnlyOnChange(t *testing.T) {
	ctx := context.Background()
	s := open(t, Options{})
	api := client(t)
	kinds, _ := s.Tables()
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	ch := &issues.Changes{New: []issues.Issue{{Kind: policy.KeysRotation, AccountID: "123456789012", Subject: "AKIAREFRESH000000001",
		Status: issues.Open, Stage: policy.Warning, Details: issues.Details{Username: "alice", CreateDate: "2025-01-02T03:04:05Z"},
		AgeDays: 170, Detected: day, Updated: day}}}
	if err := s.Apply(ctx, ch); err != nil {
		t.Fatal(err)
	}
	updated := func() string {
		t.Helper()
		res, err := api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(kinds[policy.KeysRotation]), ConsistentRead: aws.Bool(true),
			Key: map[string]types.AttributeValue{attrAccount: str("123456789012"), attrIssueID: str("AKIAREFRESH000000001")}})
		if err != nil {
			t.Fatal(err)
		}
		return getS(getM(res.Item, "timestamps"), "updated")
	}
	is := ch.New[0]
	is.AgeDays, is.Updated = 171, day.Add(24*time.Hour)
	if err := s.Apply(ctx, &issues.Changes{Refreshed: []issues.Issue{is}}); err != nil {
		t.Fatal(err)
	}
	if got := updated(); got != "2026-03-01T00:00:00+00:00" {
		t.Errorf("after a refresh, Hammer's updated is %q", got)
	}
	if got, _ := s.Get(ctx, is.ID); got == nil || !got.Updated.Equal(day.Add(24*time.Hour)) || got.AgeDays != 171 {
		t.Errorf("keywarden's issue after a refresh: %+v", got)
	}
	is, _ = func() (issues.Issue, error) { g, err := s.Get(ctx, is.ID); return *g, err }()
	is.Stage, is.Updated = policy.Violation, day.Add(48*time.Hour)
	if err := s.Apply(ctx, &issues.Changes{Updated: []issues.Change{{Issue: is, Why: "warning -> violation"}}}); err != nil {
		t.Fatal(err)
	}
	if got := updated(); got != "2026-03-03T00:00:00+00:00" {
		t.Errorf("after an update, Hammer's updated is %q", got)
	}
}

// Two runners listing Hammer's rows at once adopt each row once: both see
// the same IDs.
func TestHammerRowsAdoptedOnceAcrossStores(t *testing.T) {
	ctx := context.Background()
	pre := prefix()
	a, b := open(t, Options{TablePrefix: pre}), open(t, Options{TablePrefix: pre})
	api := client(t)
	kinds, _ := a.Tables()
	created := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range 10 {
		r := dynamotest.HammerRow{AccountID: "123456789012", IssueID: fmt.Sprintf("AKIARACE%012d", i), Status: "open", Username: "u",
			CreateDate: &created, LastUsed: &created, Identified: created, Updated: created}
		if _, err := api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(kinds[policy.InactiveKeys]), Item: r.Item()}); err != nil {
			t.Fatal(err)
		}
	}
	var la, lb []issues.Issue
	var ea, eb error
	var wg sync.WaitGroup
	wg.Go(func() { la, ea = a.List(ctx, issues.Filter{}) })
	wg.Go(func() { lb, eb = b.List(ctx, issues.Filter{}) })
	wg.Wait()
	if ea != nil || eb != nil {
		t.Fatal(ea, eb)
	}
	if len(la) != 10 || len(lb) != 10 {
		t.Fatalf("a lists %d, b %d", len(la), len(lb))
	}
	for i := range la {
		if la[i].ID != lb[i].ID || la[i].Subject != lb[i].Subject {
			t.Errorf("a: %d %s, b: %d %s", la[i].ID, la[i].Subject, lb[i].ID, lb[i].Subject)
		}
	}
}
