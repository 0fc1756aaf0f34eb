package cli

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keywarden/keywarden/internal/awstest"
	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/issues/dynamodb"
	"github.com/keywarden/keywarden/internal/issues/dynamodb/dynamotest"
	"github.com/keywarden/keywarden/internal/notify/jira/jiratest"
	"github.com/keywarden/keywarden/internal/policy"
)

// hammerNow is the clock of Hammer's rows: datetime.now(timezone.utc),
// with microseconds, d days before the tests' as-of.
func hammerNow(d float64) time.Time { return daysAgo(d).Add(123456 * time.Microsecond) }

// TestHammerTablesBothWays: the DynamoDB store on Hammer's tables, holding
// rows Hammer wrote (written here as Hammer's code writes them, attribute
// by attribute), scanned through the CLI. Each Hammer issue is adopted as
// it is (same key ID, identified and reported kept, status mapped, one
// issue each); a closed one whose key is inactive again makes a new issue
// in its row and moves to keywarden's history; one whose key is gone is
// resolved in Hammer's terms. Every row is then one Hammer's code reads.
// Hammer rewriting rows with put_item between two scans changes nothing
// for keywarden: same issues, same IDs, nothing new.
func TestHammerTablesBothWays(t *testing.T) {
	ep := dynamotest.Endpoint(t)
	prefix := fmt.Sprintf("hmr%d-%d-", time.Now().UnixNano()%1_000_000, dynamoSeq.Add(1))
	cfg := `{
  "aws": {"region": "us-east-1", "accounts": {"111111111111": "alpha"}},
  "store": {"type": "dynamodb", "endpoint": "` + ep + `", "table_prefix": "` + prefix + `", "create_tables": true},
  "user_inactivekeys": {"enabled": "true", "inactive_criteria_days": "90"},
  "user_keysrotation": {"enabled": "true", "rotation_criteria_days": "180"}
}`
	w := newWorld(t, cfg)
	w.srv.AddAccount(awstest.Account{ID: acctA, Users: []awstest.User{
		{Name: "hal", Created: daysAgo(500), Keys: []awstest.Key{{ID: "AKIAHAL0000000000001", Created: daysAgo(400), LastUsed: at(daysAgo(200))}}},
		{Name: "ida", Created: daysAgo(500), Keys: []awstest.Key{{ID: "AKIAIDA0000000000001", Created: daysAgo(150)}}},
		{Name: "jo", Created: daysAgo(500), Keys: []awstest.Key{{ID: "AKIAJO00000000000001", Created: daysAgo(300), LastUsed: at(daysAgo(100))}}},
		{Name: "kim", Created: daysAgo(500)},
	}})
	ctx := context.Background()
	api := ddb.New(ddb.Options{BaseEndpoint: aws.String(ep), Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")})
	// Hammer's deployment created its tables.
	st, err := dynamodb.New(ctx, api, dynamodb.Options{TablePrefix: prefix, CreateTables: true})
	if err != nil {
		t.Fatal(err)
	}
	kinds, _ := st.Tables()
	inactive, rotation := kinds[policy.InactiveKeys], kinds[policy.KeysRotation]

	created := func(d float64) *time.Time { return at(daysAgo(d)) }
	rows := []struct {
		table string
		row   dynamotest.HammerRow
	}{
		// Reported by Hammer's reporting: ticket and reported set.
		{inactive, dynamotest.HammerRow{AccountID: acctA, IssueID: "AKIAHAL0000000000001", Status: "open", Username: "hal",
			CreateDate: created(400), LastUsed: created(200), Cloudtrail: true,
			Identified: hammerNow(30), Updated: hammerNow(30), Reported: at(hammerNow(29)), Ticket: "SEC-7", Assignee: "hal"}},
		{rotation, dynamotest.HammerRow{AccountID: acctA, IssueID: "AKIAHAL0000000000001", Status: "open", Username: "hal",
			CreateDate: created(400), Identified: hammerNow(30), Updated: hammerNow(30)}},
		// Never used: Hammer's last_used is the creation.
		{inactive, dynamotest.HammerRow{AccountID: acctA, IssueID: "AKIAIDA0000000000001", Status: "open", Username: "ida",
			CreateDate: created(150), LastUsed: created(150), Identified: hammerNow(20), Updated: hammerNow(20)}},
		// Resolved and closed long ago; inactive again now.
		{inactive, dynamotest.HammerRow{AccountID: acctA, IssueID: "AKIAJO00000000000001", Status: "closed", Username: "jo",
			CreateDate: created(300), LastUsed: created(250), Identified: hammerNow(200), Updated: hammerNow(200),
			Reported: at(hammerNow(199)), Resolved: at(hammerNow(150)), Closed: at(hammerNow(149)), Ticket: "SEC-3"}},
		// The key is gone.
		{inactive, dynamotest.HammerRow{AccountID: acctA, IssueID: "AKIAKIM0000000000001", Status: "open", Username: "kim",
			CreateDate: created(400), LastUsed: created(300), Identified: hammerNow(40), Updated: hammerNow(40), Reported: at(hammerNow(39)), Ticket: "SEC-9"}},
	}
	for _, r := range rows {
		if _, err := api.PutItem(ctx, &ddb.PutItemInput{TableName: aws.String(r.table), Item: r.row.Item()}); err != nil {
			t.Fatal(err)
		}
	}
	rowOf := func(table, keyID string) map[string]types.AttributeValue {
		t.Helper()
		res, err := api.GetItem(ctx, &ddb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
			Key: map[string]types.AttributeValue{"account_id": &types.AttributeValueMemberS{Value: acctA}, "issue_id": &types.AttributeValueMemberS{Value: keyID}}})
		if err != nil || res.Item == nil {
			t.Fatalf("%s %s: %v", table, keyID, err)
		}
		return res.Item
	}
	tsOf := func(item map[string]types.AttributeValue, k string) string {
		ts, _ := item["timestamps"].(*types.AttributeValueMemberM)
		if ts == nil {
			return ""
		}
		s, _ := ts.Value[k].(*types.AttributeValueMemberS)
		if s == nil {
			return ""
		}
		return s.Value
	}
	all := func() map[string][]issues.Issue {
		t.Helper()
		list, err := st.List(ctx, issues.Filter{AccountID: acctA})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]issues.Issue{}
		for _, is := range list {
			k := string(is.Kind) + " " + is.Subject
			out[k] = append(out[k], is)
		}
		return out
	}
	// checkHammerReads: every row of Hammer's tables is one Hammer's code
	// reads; one row per key.
	checkHammerReads := func(when string) {
		t.Helper()
		for table, rule := range map[string]string{inactive: dynamotest.HammerInactiveKeys, rotation: dynamotest.HammerKeysRotation} {
			res, err := api.Scan(ctx, &ddb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]int{inactive: 4, rotation: 2}[table]
			if len(res.Items) != want {
				t.Errorf("%s: %s holds %d rows, want %d", when, table, len(res.Items), want)
			}
			for _, it := range res.Items {
				if _, err := dynamotest.ReadHammer(it, rule); err != nil {
					t.Errorf("%s: %s: Hammer cannot read a row: %v", when, table, err)
				}
			}
		}
	}

	w.scan(0, "-o", "json")
	first := all()
	wantLive := map[string]string{
		"user_inactivekeys AKIAHAL0000000000001": "open", "user_keysrotation AKIAHAL0000000000001": "open",
		"user_inactivekeys AKIAIDA0000000000001": "open", "user_inactivekeys AKIAJO00000000000001": "open",
		"user_keysrotation AKIAJO00000000000001": "open",
	}
	for k, st := range wantLive {
		var live []issues.Issue
		for _, is := range first[k] {
			if !is.Status.Closed() {
				live = append(live, is)
			}
		}
		if len(live) != 1 || string(live[0].Status) != st {
			t.Errorf("%s: live issues %+v, want one %s", k, live, st)
		}
	}
	// Adopted as they are: identified and reported exactly as Hammer wrote
	// them, the ticket kept.
	for _, r := range rows[:3] {
		is := first[kindOfTable(kinds, r.table)+" "+r.row.IssueID][0]
		if !is.Detected.Equal(r.row.Identified) {
			t.Errorf("%s: detected %s, Hammer identified %s", r.row.IssueID, is.Detected, r.row.Identified)
		}
		if (is.Reported == nil) != (r.row.Reported == nil) || is.Reported != nil && !is.Reported.Equal(*r.row.Reported) {
			t.Errorf("%s: reported %v, Hammer's %v", r.row.IssueID, is.Reported, r.row.Reported)
		}
		item := rowOf(r.table, r.row.IssueID)
		for _, k := range []string{"identified", "reported"} {
			if got, want := tsOf(item, k), tsOf(r.row.Item(), k); got != want {
				t.Errorf("%s: timestamps.%s %q, Hammer wrote %q", r.row.IssueID, k, got, want)
			}
		}
	}
	if is := first["user_inactivekeys AKIAIDA0000000000001"][0]; is.Details.LastUsed != "" {
		t.Errorf("never-used key read as used %q", is.Details.LastUsed)
	}
	if j := rowOf(inactive, "AKIAHAL0000000000001")["jira_details"].(*types.AttributeValueMemberM).Value; j["ticket"] == nil {
		t.Errorf("Hammer's ticket dropped: %+v", j)
	}
	// Closed by Hammer, inactive again: a new issue in the row, the
	// closed one in keywarden's history.
	if jo := first["user_inactivekeys AKIAJO00000000000001"]; len(jo) != 2 || jo[0].Status != issues.Resolved || jo[1].Status != issues.Open ||
		!jo[0].Detected.Equal(rows[3].row.Identified) || jo[1].Detected.Equal(rows[3].row.Identified) {
		t.Errorf("jo: %+v", jo)
	}
	if tsOf(rowOf(inactive, "AKIAJO00000000000001"), "reported") != "" {
		t.Error("the reopened row kept the closed issue's report")
	}
	// Gone: resolved, in Hammer's terms (its reporting closes the ticket).
	kim := first["user_inactivekeys AKIAKIM0000000000001"]
	if len(kim) != 1 || kim[0].Status != issues.Resolved || kim[0].Reported == nil {
		t.Errorf("kim: %+v", kim)
	}
	kimRow := rowOf(inactive, "AKIAKIM0000000000001")
	if s := kimRow["status"].(*types.AttributeValueMemberS).Value; s != "resolved" || tsOf(kimRow, "resolved") == "" || tsOf(kimRow, "reported") != tsOf(rows[4].row.Item(), "reported") {
		t.Errorf("kim's row: status %s, timestamps resolved %q reported %q", s, tsOf(kimRow, "resolved"), tsOf(kimRow, "reported"))
	}
	checkHammerReads("after the first scan")
	// The CLI lists each live issue once, under its key ID.
	seen := map[string]bool{}
	for _, is := range jsonLines(t, w.run("issues", "list", "-o", "json", "--show-key-ids").stdout) {
		k := fmt.Sprintf("%s %s", is["kind"], is["subject"])
		if seen[k] {
			t.Errorf("issues list: %s twice", k)
		}
		seen[k] = true
	}
	if len(seen) != len(wantLive) {
		t.Errorf("issues list: %v, want %d live issues", seen, len(wantLive))
	}

	// Hammer's reporting rewrites two rows with put_item, as it does on
	// set_status_reported (its six attributes, the maps as read, reported
	// set now).
	for _, r := range []struct{ table, key string }{{rotation, "AKIAHAL0000000000001"}, {inactive, "AKIAIDA0000000000001"}} {
		item := dynamotest.HammerRewrite(rowOf(r.table, r.key))
		ts := item["timestamps"].(*types.AttributeValueMemberM).Value
		ts["reported"] = &types.AttributeValueMemberS{Value: dynamotest.PyISO(hammerNow(1))}
		if _, err := api.PutItem(ctx, &ddb.PutItemInput{TableName: aws.String(r.table), Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := rowOf(inactive, "AKIAIDA0000000000001")["id"]; ok {
		t.Fatal("the rewrite kept keywarden's attributes")
	}
	r := w.scan(0, "-o", "json")
	second := all()
	for k, list := range first {
		if len(second[k]) != len(list) {
			t.Errorf("%s: %d issues, then %d after Hammer's rewrite", k, len(list), len(second[k]))
			continue
		}
		for i := range list {
			if second[k][i].ID != list[i].ID || second[k][i].Status != list[i].Status {
				t.Errorf("%s: issue %d %s, then %d %s", k, list[i].ID, list[i].Status, second[k][i].ID, second[k][i].Status)
			}
		}
	}
	if len(second) != len(first) {
		t.Errorf("issues after Hammer's rewrite: %d credentials, was %d", len(second), len(first))
	}
	if is := second["user_inactivekeys AKIAIDA0000000000001"][0]; is.Reported == nil || !is.Reported.Equal(hammerNow(1)) || is.Stage != policy.Violation {
		t.Errorf("ida after Hammer's report and the rescan: %+v", is)
	}
	if _, ok := rowOf(inactive, "AKIAIDA0000000000001")["id"]; !ok {
		t.Error("the rescan did not take the rewritten row back")
	}
	checkHammerReads("after the second scan")
	t.Log(r.stderr)
}

func kindOfTable(kinds map[policy.Kind]string, table string) string {
	for k, v := range kinds {
		if v == table {
			return string(k)
		}
	}
	return ""
}

// TestHammerTicketCarriedOver: an issue Hammer's reporting already ticketed
// (jira_details.ticket) goes on in that ticket: keywarden comments on it and
// opens no second one; a ticket keywarden opens is written where Hammer
// keeps it, so Hammer's code finds it in the row.
func TestHammerTicketCarriedOver(t *testing.T) {
	ep := dynamotest.Endpoint(t)
	prefix := fmt.Sprintf("hmj%d-%d-", time.Now().UnixNano()%1_000_000, dynamoSeq.Add(1))
	jira := jiratest.New("bot@example.com", "jira-secret")
	t.Cleanup(jira.Close)
	cfg := `{
  "aws": {"region": "us-east-1", "accounts": {"111111111111": "alpha"}},
  "store": {"type": "dynamodb", "endpoint": "` + ep + `", "table_prefix": "` + prefix + `", "create_tables": true},
  "user_inactivekeys": {"enabled": "true", "inactive_criteria_days": "90", "reporting": "true"},
  "jira": {"enabled": true, "server": "` + jira.URL + `", "user": "bot@example.com"}
}`
	w := newWorld(t, cfg)
	w.writeFile("ticket_owners.json", `{"jira_project": "AWSSEC", "jira_owner": "Support-Cloud"}`)
	w.srv.AddAccount(awstest.Account{ID: acctA, Users: []awstest.User{
		{Name: "hal", Created: daysAgo(500), Keys: []awstest.Key{{ID: "AKIAHAL0000000000001", Created: daysAgo(400), LastUsed: at(daysAgo(200))}}},
		{Name: "ida", Created: daysAgo(500), Keys: []awstest.Key{{ID: "AKIAIDA0000000000001", Created: daysAgo(150)}}},
	}})
	ctx := context.Background()
	// Hammer's reporting opened a ticket for hal's key.
	req, _ := http.NewRequest(http.MethodPost, jira.URL+"/rest/api/2/issue", strings.NewReader(
		`{"fields": {"project": {"key": "SEC"}, "issuetype": {"name": "Task"}, "summary": "IAM access key 'AKIAHAL0000000000001' for 'hal' has not been used for 90 days"}}`))
	req.SetBasicAuth("bot@example.com", "jira-secret")
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("Hammer's ticket: %v %v", res, err)
	}
	res.Body.Close()
	hammerKey := jira.Tickets()[0].Key

	api := ddb.New(ddb.Options{BaseEndpoint: aws.String(ep), Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")})
	st, err := dynamodb.New(ctx, api, dynamodb.Options{TablePrefix: prefix, CreateTables: true})
	if err != nil {
		t.Fatal(err)
	}
	kinds, _ := st.Tables()
	inactive := kinds[policy.InactiveKeys]
	row := dynamotest.HammerRow{AccountID: acctA, IssueID: "AKIAHAL0000000000001", Status: "open", Username: "hal",
		CreateDate: at(daysAgo(400)), LastUsed: at(daysAgo(200)),
		Identified: hammerNow(30), Updated: hammerNow(30), Reported: at(hammerNow(29)), Ticket: hammerKey, Assignee: "hal"}
	if _, err := api.PutItem(ctx, &ddb.PutItemInput{TableName: aws.String(inactive), Item: row.Item()}); err != nil {
		t.Fatal(err)
	}

	w.scan(0, "-o", "json")
	w.report(map[string]string{"KEYWARDEN_JIRA_TOKEN": "jira-secret"}, 0, asOf)
	tickets := jira.Tickets()
	if len(tickets) != 2 {
		t.Fatalf("tickets: %+v, want Hammer's and one new", tickets)
	}
	if hammers := tickets[0]; hammers.Key != hammerKey || len(hammers.Comments) != 1 || hammers.Assignee != "Support-Cloud" {
		t.Errorf("Hammer's ticket: %+v", hammers)
	}
	ida := tickets[1]
	if !strings.Contains(ida.Summary, "ida") || ida.Project != "AWSSEC" {
		t.Errorf("the new ticket: %+v", ida)
	}
	for key, want := range map[string]string{"AKIAHAL0000000000001": hammerKey, "AKIAIDA0000000000001": ida.Key} {
		got, err := api.GetItem(ctx, &ddb.GetItemInput{TableName: aws.String(inactive), ConsistentRead: aws.Bool(true),
			Key: map[string]types.AttributeValue{"account_id": &types.AttributeValueMemberS{Value: acctA}, "issue_id": &types.AttributeValueMemberS{Value: key}}})
		if err != nil {
			t.Fatal(err)
		}
		h, err := dynamotest.ReadHammer(got.Item, dynamotest.HammerInactiveKeys)
		if err != nil {
			t.Errorf("%s: Hammer cannot read the row: %v", key, err)
			continue
		}
		if h.JiraDetails["ticket"] != want || h.Timestamps["reported"] == "" {
			t.Errorf("%s: jira_details %v, reported %q; want ticket %s", key, h.JiraDetails, h.Timestamps["reported"], want)
		}
		if key == "AKIAHAL0000000000001" && h.Timestamps["reported"] != dynamotest.PyISO(hammerNow(29)) {
			t.Errorf("Hammer's report time moved: %q", h.Timestamps["reported"])
		}
	}
}
