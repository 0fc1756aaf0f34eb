package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keywarden/keywarden/internal/exempt"
	"github.com/keywarden/keywarden/internal/exempt/exempttest"
	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/issues/dynamodb/dynamotest"
	"github.com/keywarden/keywarden/internal/issues/storetest"
	"github.com/keywarden/keywarden/internal/notify/deliverytest"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
	"github.com/keywarden/keywarden/internal/remediate/journaltest"
)

var (
	tableSeq atomic.Int64
	runID    = time.Now().UnixNano() % 1_000_000
)

func endpoint(t *testing.T) string { return dynamotest.Endpoint(t) }

func client(t *testing.T) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		BaseEndpoint: aws.String(endpoint(t)),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	})
}

// prefix isolates one test's tables in the shared server.
func prefix() string { return fmt.Sprintf("t%d-%d-", runID, tableSeq.Add(1)) }

func open(t *testing.T, o Options) *Store {
	t.Helper()
	o.CreateTables = true
	if o.TablePrefix == "" {
		o.TablePrefix = prefix()
	}
	s, err := New(context.Background(), client(t), o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestContract(t *testing.T) {
	endpoint(t)
	storetest.Run(t, func(t *testing.T) issues.Store { return open(t, Options{}) })
	if dynamotest.Transactions() == 0 {
		t.Error("no TransactWriteItems reached the server")
	}
}

// With transactions of 5 actions, the contract holds still (the suite's
// Applies of hundreds of changes are split).
func TestContractSmallTransactions(t *testing.T) {
	endpoint(t)
	storetest.Run(t, func(t *testing.T) issues.Store { return open(t, Options{MaxTransactItems: 5}) })
}

// Hammer's layout: the tables are named as Hammer names them, keyed by
// account_id and issue_id, with issue_details and timestamps maps; a
// credential's latest issue is at issue_id = subject, older ones in history.
func TestHammerLayout(t *testing.T) {
	ctx := context.Background()
	pre := prefix()
	s := open(t, Options{TablePrefix: pre, Tables: map[policy.Kind]string{policy.KeysRotation: "custom-rotation"}})
	kinds, meta := s.Tables()
	want := map[policy.Kind]string{
		policy.InactiveKeys:      pre + "hammer-iam-user-keys-inactive",
		policy.KeysRotation:      pre + "custom-rotation",
		policy.InactivePasswords: pre + "hammer-iam-user-passwords-inactive",
	}
	for k, v := range want {
		if kinds[k] != v {
			t.Errorf("%s table %q, want %q", k, kinds[k], v)
		}
	}
	if meta != pre+"keywarden-meta" {
		t.Errorf("meta table %q", meta)
	}
	api := client(t)
	d, err := api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(want[policy.InactiveKeys])})
	if err != nil {
		t.Fatal(err)
	}
	ks := d.Table.KeySchema
	if len(ks) != 2 || *ks[0].AttributeName != "account_id" || ks[0].KeyType != types.KeyTypeHash ||
		*ks[1].AttributeName != "issue_id" || ks[1].KeyType != types.KeyTypeRange {
		t.Errorf("key schema %+v", ks)
	}

	is := issues.Issue{
		Kind: policy.InactiveKeys, AccountID: "123456789012", Subject: "AKIAHAMMER1", Status: issues.Open,
		Stage:    policy.Violation,
		Details:  issues.Details{Username: "test-user", CreateDate: "2018-02-14T16:48:02Z", LastUsed: "2018-02-28T17:46:00Z"},
		Detected: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Updated: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
	}
	first := &issues.Changes{New: []issues.Issue{is}}
	if err := s.Apply(ctx, first); err != nil {
		t.Fatal(err)
	}
	key := map[string]types.AttributeValue{"account_id": str("123456789012"), "issue_id": str("AKIAHAMMER1")}
	got, err := api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(want[policy.InactiveKeys]), Key: key})
	if err != nil || got.Item == nil {
		t.Fatalf("Hammer's item: %v %v", got, err)
	}
	d1 := getM(got.Item, "issue_details")
	if getS(d1, "username") != "test-user" || getS(d1, "create_date") != "2018-02-14T16:48:02+00:00" || getS(d1, "last_used") != "2018-02-28T17:46:00+00:00" {
		t.Errorf("issue_details %+v", d1)
	}
	if getS(got.Item, "status") != "open" || getS(getM(got.Item, "timestamps"), "identified") == "" || getM(got.Item, "jira_details") == nil {
		t.Errorf("item %+v", got.Item)
	}

	// Closed, then a new issue for the same key: the new one takes
	// issue_id = subject, the old one moves to keywarden's history table.
	closed := first.New[0]
	closed.Status, closed.CloseReason = issues.Resolved, "key deactivated"
	if err := s.Apply(ctx, &issues.Changes{Closed: []issues.Change{{Issue: closed}}}); err != nil {
		t.Fatal(err)
	}
	second := &issues.Changes{New: []issues.Issue{is}}
	if err := s.Apply(ctx, second); err != nil {
		t.Fatal(err)
	}
	got, _ = api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(want[policy.InactiveKeys]), Key: key})
	if n, _ := getN(got.Item, "id"); n != second.New[0].ID || getS(got.Item, "status") != "open" {
		t.Errorf("latest issue at issue_id = subject: %+v", got.Item)
	}
	hkey := map[string]types.AttributeValue{"pk": str("user_inactivekeys#123456789012"), "sk": str(fmt.Sprintf("AKIAHAMMER1#%020d", first.New[0].ID))}
	got, _ = api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.HistoryTable()), Key: hkey})
	if got.Item == nil || getS(got.Item, "status") != "resolved" {
		t.Errorf("history item: %+v", got.Item)
	}
	// Hammer's table holds the credential's one row, nothing else.
	q, err := api.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(want[policy.InactiveKeys]),
		KeyConditionExpression:    aws.String("account_id = :a"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":a": str("123456789012")}})
	if err != nil || len(q.Items) != 1 {
		t.Errorf("Hammer's table: %d items, %v", len(q.Items), err)
	}
	if old, err := s.Get(ctx, first.New[0].ID); err != nil || old.Status != issues.Resolved || old.CloseReason != "key deactivated" {
		t.Errorf("the closed issue from history: %+v %v", old, err)
	}
	// A second live issue for the key cannot be put.
	err = s.Apply(ctx, &issues.Changes{New: []issues.Issue{is}})
	if !errors.Is(err, issues.ErrConflict) {
		t.Errorf("second live issue: got %v, want ErrConflict", err)
	}
}

// Two Stores (two processes) on the same tables: racing writers, one wins.
func TestTwoStores(t *testing.T) {
	ctx := context.Background()
	pre := prefix()
	a, b := open(t, Options{TablePrefix: pre}), open(t, Options{TablePrefix: pre})
	is := issues.Issue{Kind: policy.InactivePasswords, AccountID: "123456789012", Subject: "alice", Status: issues.Open,
		Detected: time.Unix(0, 0).UTC(), Updated: time.Unix(0, 0).UTC()}
	ca, cb := &issues.Changes{New: []issues.Issue{is}}, &issues.Changes{New: []issues.Issue{is}}
	var ea, eb error
	var wg sync.WaitGroup
	wg.Go(func() { ea = a.Apply(ctx, ca) })
	wg.Go(func() { eb = b.Apply(ctx, cb) })
	wg.Wait()
	if (ea == nil) == (eb == nil) {
		t.Fatalf("both or neither won: %v, %v", ea, eb)
	}
	for _, err := range []error{ea, eb} {
		if err != nil && !errors.Is(err, issues.ErrConflict) {
			t.Errorf("loser: %v", err)
		}
	}
	la, _ := a.List(ctx, issues.Filter{})
	lb, _ := b.List(ctx, issues.Filter{})
	if len(la) != 1 || len(lb) != 1 || la[0].ID != lb[0].ID {
		t.Errorf("a sees %+v, b sees %+v", la, lb)
	}
	// The lock is shared too.
	release, err := a.Lock(ctx, "run", "a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Lock(ctx, "run", "b", time.Minute); !errors.Is(err, issues.ErrLocked) {
		t.Errorf("b locked: %v", err)
	}
	release(ctx)
	if _, err := b.Lock(ctx, "run", "b", time.Minute); err != nil {
		t.Error(err)
	}
}

// Across transactions, a failure is reported as partial, never silent: the
// changes stored before it have their IDs, the rest none.
func TestPartialApply(t *testing.T) {
	ctx := context.Background()
	s := open(t, Options{MaxTransactItems: 4})
	taken := issues.Issue{Kind: policy.InactiveKeys, AccountID: "123456789012", Subject: "AKIATAKEN", Status: issues.Open,
		Detected: time.Unix(0, 0).UTC(), Updated: time.Unix(0, 0).UTC()}
	if err := s.Apply(ctx, &issues.Changes{New: []issues.Issue{taken}}); err != nil {
		t.Fatal(err)
	}
	ch := &issues.Changes{}
	for i := range 3 {
		is := taken
		is.Subject = fmt.Sprintf("AKIANEW%d", i)
		ch.New = append(ch.New, is)
	}
	// A racing writer takes the third credential between the store's
	// reads and its transactions.
	other := open(t, Options{TablePrefix: s.meta[:len(s.meta)-len(DefaultMetaTable)]})
	s.api = &raceAPI{API: s.api, before: func() {
		is := taken
		is.Subject = "AKIANEW2"
		if err := other.Apply(ctx, &issues.Changes{New: []issues.Issue{is}}); err != nil {
			t.Error(err)
		}
	}}
	err := s.Apply(ctx, ch)
	if !errors.Is(err, ErrPartial) || !errors.Is(err, issues.ErrConflict) {
		t.Fatalf("got %v, want ErrPartial and ErrConflict", err)
	}
	t.Log(err)
	if ch.New[0].ID == 0 || ch.New[1].ID == 0 || ch.New[2].ID != 0 {
		t.Errorf("IDs after a partial Apply: %d %d %d", ch.New[0].ID, ch.New[1].ID, ch.New[2].ID)
	}
}

// raceAPI runs before once, just before the first transaction.
type raceAPI struct {
	API
	before func()
	once   sync.Once
}

func (r *raceAPI) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	out, err := r.API.TransactWriteItems(ctx, in, o...)
	r.once.Do(r.before) // after the first transaction: the second will fail
	return out, err
}

func TestMissingTable(t *testing.T) {
	_, err := New(context.Background(), client(t), Options{TablePrefix: prefix()})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("got %v, want ResourceNotFoundException", err)
	}
}

func TestJournalContract(t *testing.T) {
	endpoint(t)
	journaltest.Run(t, func(t *testing.T) remediate.Journal { return open(t, Options{}) })
}

// The exemption store contract (keywarden's journal table).
func TestExemptionContract(t *testing.T) {
	endpoint(t)
	exempttest.Run(t, func(t *testing.T) exempt.Store { return open(t, Options{}) })
}

// The delivery contract; reopening is a second Store on the same tables.
// With transactions of 5 actions, a plan is split and the contract holds
// still.
func TestDeliveryContract(t *testing.T) {
	endpoint(t)
	for name, max := range map[string]int{"default": 0, "small transactions": 5} {
		t.Run(name, func(t *testing.T) {
			deliverytest.Run(t, func(t *testing.T) (deliverytest.Store, func(t *testing.T) deliverytest.Store) {
				pre := prefix()
				reopen := func(t *testing.T) deliverytest.Store {
					return open(t, Options{TablePrefix: pre, MaxTransactItems: max})
				}
				return reopen(t), reopen
			})
		})
	}
}

// Two runners (two Stores on the same tables) racing for one credential:
// one intent; and a ticket saved by one is the other's too.
func TestJournalAndTicketsAcrossStores(t *testing.T) {
	ctx := context.Background()
	pre := prefix()
	a, b := open(t, Options{TablePrefix: pre}), open(t, Options{TablePrefix: pre})
	act := func() *remediate.Action {
		return &remediate.Action{Op: remediate.OpDeactivateKey, AccountID: "123456789012", UserName: "alice", KeyID: "AKIA1", Started: time.Unix(0, 0).UTC()}
	}
	var ea, eb error
	var wg sync.WaitGroup
	wg.Go(func() { ea = a.Begin(ctx, act()) })
	wg.Go(func() { eb = b.Begin(ctx, act()) })
	wg.Wait()
	if (ea == nil) == (eb == nil) {
		t.Fatalf("both or neither began: %v, %v", ea, eb)
	}
	if got, _ := b.Actions(ctx, remediate.ActionFilter{}); len(got) != 1 {
		t.Errorf("b sees %+v", got)
	}
	j, n := a.StateTables()
	if j != pre+DefaultJournalTable || n != pre+DefaultNotifyTable {
		t.Errorf("state tables %q %q", j, n)
	}
}
