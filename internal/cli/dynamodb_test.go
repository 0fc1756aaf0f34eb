package cli

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/issues/dynamodb"
	"github.com/keywarden/keywarden/internal/issues/dynamodb/dynamotest"
	"github.com/keywarden/keywarden/internal/remediate"
)

var dynamoSeq atomic.Int64

// TestDynamoDBEndToEnd: scan, report (SNS on the loopback AWS server) and
// remediate, journal and rollback with store.type dynamodb on dynalite:
// delivery state, tickets and the journal live in DynamoDB; a second report
// sends nothing again; issues list/show read DynamoDB.
func TestDynamoDBEndToEnd(t *testing.T) {
	ep := dynamotest.Endpoint(t)
	prefix := fmt.Sprintf("cli%d-%d-", time.Now().UnixNano()%1_000_000, dynamoSeq.Add(1))
	topic := "arn:aws:sns:us-east-1:111111111111:keywarden"
	cfg := `{
  "aws": {"region": "us-east-1", "accounts": {"111111111111": "alpha"}},
  "store": {"type": "dynamodb", "endpoint": "` + ep + `", "table_prefix": "` + prefix + `", "create_tables": true},
  "user_inactivekeys": {"enabled": "true", "inactive_criteria_days": "90", "warning_days": 10, "reporting": true, "remediation": "true", "remediation_retention_period": 0},
  "user_keysrotation": {"enabled": true, "rotation_criteria_days": 180, "warning_days": "10", "reporting": true},
  "user_inactivepasswords": {"enabled": "true", "inactive_criteria_days": 90, "warning_days": 10, "reporting": true, "remediation": true},
  "sns": {"topic_arn": "` + topic + `"}
}`
	w := newWorld(t, cfg)
	w.srv.AddAccount(seedWithOwnKey())
	w.srv.AddTopic(topic)
	ctx := context.Background()

	w.scan(0, "-o", "json")
	live := jsonLines(t, w.run("issues", "list", "-o", "json").stdout)
	if len(live) < 5 {
		t.Fatalf("live issues in DynamoDB: %d: %v", len(live), live)
	}
	if r := w.run("issues", "show", "1", "-o", "json"); r.code != 0 || !strings.Contains(r.stdout, `"id":1`) && !strings.Contains(r.stdout, `"id": 1`) {
		t.Errorf("issues show 1: %d %s %s", r.code, r.stdout, r.stderr)
	}

	// report: every issue's notice on SNS, recorded in DynamoDB.
	r := w.report(nil, 0, asOf)
	published := len(w.srv.Published())
	if published == 0 || !strings.Contains(r.stderr, fmt.Sprintf("sns: %d new notice(s), 0 retried, %d sent, 0 failed", published, published)) {
		t.Fatalf("report: %d published\n%s", published, r.stderr)
	}
	r = w.report(nil, 0, asOf)
	if n := len(w.srv.Published()); n != published || !strings.Contains(r.stderr, "sns: 0 new notice(s), 0 retried, 0 sent") {
		t.Errorf("second report sent again (%d -> %d):\n%s", published, n, r.stderr)
	}
	st := openDynamo(t, prefix, ep)
	list, err := st.List(ctx, issues.Filter{Statuses: []issues.Status{issues.Open, issues.Whitelisted}})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int64, len(list))
	for i, is := range list {
		ids[i] = is.ID
	}
	ds, err := st.Deliveries(ctx, ids)
	if err != nil || len(ds) != published {
		t.Fatalf("deliveries in DynamoDB: %d, want %d: %v", len(ds), published, err)
	}
	for _, d := range ds {
		if d.Channel != "sns" || d.State != "sent" || d.Ref == "" {
			t.Errorf("delivery %+v", d)
		}
	}

	// remediate, journal, rollback: the journal is DynamoDB's.
	r = w.remediate(0, "--yes")
	if !strings.Contains(r.stderr, "3 remediated") {
		t.Fatalf("remediate: %s\n%s", r.stdout, r.stderr)
	}
	status := issueStatus(t, w)
	if got := status["user_inactivekeys bob"]; got != "remediated key deactivated by keywarden (action 2)" {
		t.Errorf("bob's issue: %q", got)
	}
	acts, err := st.Actions(ctx, remediate.ActionFilter{})
	if err != nil || len(acts) != 3 || acts[0].State != "done" || acts[0].KeyID != "AKIAALICE0000000OLD1" {
		t.Fatalf("journal in DynamoDB: %+v %v", acts, err)
	}
	j := jsonLines(t, w.run("journal", "-o", "json", "--show-key-ids").stdout)
	if len(j) != 3 || j[1]["key_id"] != "AKIABOB0000000000001" {
		t.Errorf("keywarden journal: %v", j)
	}
	// The remediations are news: report tells SNS.
	r = w.report(nil, 0, asOf)
	if !strings.Contains(r.stderr, "3 sent") {
		t.Errorf("report after remediate:\n%s", r.stderr)
	}
	rb := w.run("rollback", "--action", "2", "--yes", "--retry-backoff", "1ms", "-o", "json", "--show-key-ids")
	if rb.code != 0 {
		t.Fatalf("rollback: %d\n%s\n%s", rb.code, rb.stdout, rb.stderr)
	}
	if k, _ := w.srv.Key(acctA, "AKIABOB0000000000001"); k.Status != "Active" {
		t.Errorf("bob's key after rollback: %s", k.Status)
	}
	if acts, _ := st.Actions(ctx, remediate.ActionFilter{}); len(acts) != 4 || acts[3].RollbackOf != 2 || acts[3].State != "done" {
		t.Errorf("journal after rollback: %+v", acts)
	}
}

func openDynamo(t *testing.T, prefix, ep string) *dynamodb.Store {
	t.Helper()
	client := ddb.New(ddb.Options{
		BaseEndpoint: aws.String(ep),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	})
	st, err := dynamodb.New(context.Background(), client, dynamodb.Options{TablePrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return st
}
