// Package dynamodb is the issues.Store (and issues.Locker) in Amazon
// DynamoDB, laid out as Dow Jones Hammer lays its issues, so that a Hammer
// user's tables and reporting keep working.
//
// # Tables
//
// One table per kind, named as Hammer names them by default
// (hammer-iam-user-keys-inactive, hammer-iam-user-keys-rotation,
// hammer-iam-user-passwords-inactive; config's ddb.table_name), each with
// Hammer's key schema: partition key account_id (S), sort key issue_id (S).
// An item holds Hammer's attributes, written as Hammer writes them (see
// hammer.go): status in Hammer's set (keywarden's remediated is Hammer's
// resolved with timestamps.remediated set), issue_details (a map: username,
// create_date, last_used — the creation for a key never used — and tags),
// timestamps (a map of Python isoformat times or NULL: identified, updated,
// reported, remediated, resolved — keywarden's closing time — and closed,
// Hammer's ticket closing, kept) and jira_details (kept as found), plus
// keywarden's, which Hammer ignores: id, version, keywarden_status, kind,
// subject, stage, exemption, user_arn, key_slot, age_days, limit_days,
// days_left, deadline, close_reason. Empty strings and absent times are left
// out of keywarden's attributes.
//
// The item of a credential's latest issue is at issue_id = the subject (the
// access key ID, or the user name for passwords), as in Hammer. When a
// credential whose issue closed gets a new issue, the closed one moves to
// keywarden's history table (default keywarden-history; pk
// "<kind>#<account>", sk "<subject>#<id, 20 digits>"; '#' cannot occur in an
// access key ID or an IAM user name) in the same transaction that puts the
// new one in the row. So at most one item per credential can be live — the
// key schema itself enforces "one live issue per credential" — and Hammer's
// tables hold exactly Hammer's view: nothing Hammer would mistake for an
// issue. Rows Hammer wrote, or rewrote, are read and adopted as they are
// (hammer.go).
//
// A small meta table (default keywarden-meta; partition key pk (S)) holds
// the ID counter (pk "counter#issue", attribute next, advanced with an
// atomic UpdateItem ADD: IDs are unique and increasing, with gaps where an
// Apply failed), one pointer per issue (pk "issue#<id>": table, account_id,
// issue_id, or history with the history key's pk and sk in those two) so
// that Get(id) is two strongly consistent reads, one reference per row of
// Hammer's tables (pk "row#<table>#<account>#<issue_id>": id, identified;
// hammer.go), the run locks (pk "lock#<name>": owner, expires_ms), and each
// account's last tracked scan (pk "scan#<account>": as_of; see scans.go).
//
// Two more tables, each with partition key pk (S) and sort key sk (S), hold
// what the other stores of keywarden keep: keywarden-journal the remediation
// journal (remediate.Journal, see journal.go) and keywarden-notify the
// notification delivery state (notify.Store, see deliveries.go). Their IDs
// come from counters of the meta table ("counter#action",
// "counter#delivery").
//
// # Concurrency
//
// Every write is conditional. A new issue is put only if its item is absent,
// or holds the closed issue (at the version read) that it moves to history;
// a live item there means another runner opened it first: issues.ErrConflict.
// An update is put only if the item still carries the issue's id and the
// version that was read (issues.Issue.Version, or the stored one when the
// caller passed 0), or, when Hammer's put_item had dropped them, is still
// without them; the version is then advanced by one. A runner working
// from a stale copy fails with issues.ErrConflict and never erases another
// runner's update; it reads again, reconciles and applies anew.
//
// # Atomicity
//
// Apply writes with TransactWriteItems. DynamoDB takes at most 100 actions
// in a transaction; a new issue takes three (item, pointer and row
// reference) or five (when it moves a closed issue to history), an update
// one (two when its identified time changed). Changes that fit are one
// transaction: all or nothing. Larger ones (a first scan of a large account)
// are split into transactions that never split one issue's actions, closed
// and updated issues first, new ones last; if a transaction after the first
// fails, Apply returns an error wrapping ErrPartial (and the cause) that
// says how many changes were stored, and the IDs and versions of those are
// set in place. The store is consistent all the same — every issue is
// either wholly stored or not at all — and the next scan reconciles the
// rest. It is never half-applied silently.
package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/policy"
)

// API is the part of the DynamoDB client the store uses; *dynamodb.Client
// implements it.
type API interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	Scan(context.Context, *dynamodb.ScanInput, ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	DescribeTable(context.Context, *dynamodb.DescribeTableInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	CreateTable(context.Context, *dynamodb.CreateTableInput, ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
}

// Default names of keywarden's own tables (before Options.TablePrefix).
const (
	DefaultMetaTable    = "keywarden-meta"
	DefaultJournalTable = "keywarden-journal"
	DefaultNotifyTable  = "keywarden-notify"
	DefaultHistoryTable = "keywarden-history"
)

// MaxTransactItems is DynamoDB's limit of actions in one transaction.
const MaxTransactItems = 100

// Options configure a Store.
type Options struct {
	// Tables names the table of each kind; a kind left out gets Hammer's
	// default name.
	Tables map[policy.Kind]string
	// MetaTable names the meta table (default DefaultMetaTable).
	MetaTable string
	// JournalTable names the remediation journal's table (default
	// DefaultJournalTable), NotifyTable the notification delivery state's
	// (default DefaultNotifyTable).
	JournalTable, NotifyTable string
	// HistoryTable names the table of closed issues a later issue of the
	// same credential replaced in Hammer's table (default
	// DefaultHistoryTable).
	HistoryTable string
	// TablePrefix is put before every table name (tests, or several
	// keywardens in one account).
	TablePrefix string
	// CreateTables creates missing tables (on-demand capacity) at Open and
	// waits until they are active. Off, a missing table fails Open.
	CreateTables bool
	// MaxTransactItems caps the actions of one transaction (default and
	// maximum MaxTransactItems; smaller in tests).
	MaxTransactItems int
	// Now is the clock of lock leases (default time.Now).
	Now func() time.Time
}

// DefaultTables are Hammer's default table names.
var DefaultTables = map[policy.Kind]string{
	policy.InactiveKeys:      "hammer-iam-user-keys-inactive",
	policy.KeysRotation:      "hammer-iam-user-keys-rotation",
	policy.InactivePasswords: "hammer-iam-user-passwords-inactive",
}

// ErrPartial is wrapped by Apply's error when changes too many for one
// transaction were stored in part (see the package doc).
var ErrPartial = errors.New("issue changes stored in part")

// Store is an issues.Store in DynamoDB. It is safe for concurrent use, and
// several processes may share its tables.
type Store struct {
	api     API
	tables  map[policy.Kind]string
	meta    string
	journal string
	notify  string
	history string
	// kinds is the kind of each of Hammer's tables.
	kinds    map[string]policy.Kind
	maxItems int
	now      func() time.Time
	closed   sync.Once
}

var (
	_ issues.Store  = (*Store)(nil)
	_ issues.Locker = (*Store)(nil)
)

// New returns a Store on api, creating missing tables first if asked to.
func New(ctx context.Context, api API, o Options) (*Store, error) {
	s := &Store{api: api, tables: map[policy.Kind]string{}, meta: o.TablePrefix + DefaultMetaTable,
		journal: o.TablePrefix + DefaultJournalTable, notify: o.TablePrefix + DefaultNotifyTable,
		history: o.TablePrefix + DefaultHistoryTable, kinds: map[string]policy.Kind{},
		maxItems: MaxTransactItems, now: time.Now}
	for _, k := range policy.Kinds {
		name := o.Tables[k]
		if name == "" {
			name = DefaultTables[k]
		}
		s.tables[k] = o.TablePrefix + name
		s.kinds[s.tables[k]] = k
	}
	if o.MetaTable != "" {
		s.meta = o.TablePrefix + o.MetaTable
	}
	if o.JournalTable != "" {
		s.journal = o.TablePrefix + o.JournalTable
	}
	if o.NotifyTable != "" {
		s.notify = o.TablePrefix + o.NotifyTable
	}
	if o.HistoryTable != "" {
		s.history = o.TablePrefix + o.HistoryTable
	}
	if o.MaxTransactItems > 0 && o.MaxTransactItems < MaxTransactItems {
		s.maxItems = o.MaxTransactItems
	}
	if o.Now != nil {
		s.now = o.Now
	}
	if err := s.ensureTables(ctx, o.CreateTables); err != nil {
		return nil, fmt.Errorf("open DynamoDB issue store: %w", err)
	}
	return s, nil
}

// Tables returns the table names in use: the kinds' and the meta table.
func (s *Store) Tables() (kinds map[policy.Kind]string, meta string) {
	out := make(map[policy.Kind]string, len(s.tables))
	for k, v := range s.tables {
		out[k] = v
	}
	return out, s.meta
}

// StateTables returns the names of the remediation journal's table and the
// notification delivery state's.
func (s *Store) StateTables() (journal, notify string) { return s.journal, s.notify }

// HistoryTable returns the name of the table of replaced closed issues.
func (s *Store) HistoryTable() string { return s.history }

// Close releases nothing: the client is the caller's.
func (s *Store) Close() error { return nil }

// List returns the issues matching f, ordered by ID: a Query on account_id
// when f names an account, else a Scan, of the tables of f's kind (or all),
// and of the history table when f can match a closed issue. A row Hammer
// wrote (or rewrote) without keywarden's ID gets one here (see adopt).
func (s *Store) List(ctx context.Context, f issues.Filter) ([]issues.Issue, error) {
	var out []issues.Issue
	history := wantsClosed(f)
	for _, k := range policy.Kinds {
		if f.Kind != "" && f.Kind != k {
			continue
		}
		items, err := s.items(ctx, s.tables[k], f.AccountID)
		if err != nil {
			return nil, fmt.Errorf("list issues: %w", err)
		}
		for _, it := range items {
			is, err := s.decodeRow(ctx, k, s.tables[k], it, true)
			if err != nil {
				return nil, fmt.Errorf("list issues: %s: %w", s.tables[k], err)
			}
			moved, err := s.migrate(ctx, s.tables[k], it, &is)
			if err != nil {
				return nil, fmt.Errorf("list issues: %s: %w", s.tables[k], err)
			}
			if moved && history {
				continue // listed from the history table below
			}
			if matches(&is, f) {
				out = append(out, is)
			}
		}
		if !history {
			continue
		}
		hist, err := s.historyItems(ctx, k, f.AccountID)
		if err != nil {
			return nil, fmt.Errorf("list issues: %w", err)
		}
		for _, it := range hist {
			is, err := decode(it, k)
			if err != nil {
				return nil, fmt.Errorf("list issues: %s: %w", s.history, err)
			}
			if is.Kind == k && matches(&is, f) {
				out = append(out, is)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// wantsClosed reports whether f can match a closed issue.
func wantsClosed(f issues.Filter) bool {
	if len(f.Statuses) == 0 {
		return true
	}
	for _, st := range f.Statuses {
		if st.Closed() {
			return true
		}
	}
	return false
}

func matches(is *issues.Issue, f issues.Filter) bool {
	if (f.AccountID != "" && is.AccountID != f.AccountID) || (f.Subject != "" && is.Subject != f.Subject) {
		return false
	}
	if len(f.Statuses) == 0 {
		return true
	}
	for _, st := range f.Statuses {
		if is.Status == st {
			return true
		}
	}
	return false
}

// items reads a table whole (account == "") or one account's partition,
// every page, strongly consistent.
func (s *Store) items(ctx context.Context, table, account string) ([]map[string]types.AttributeValue, error) {
	var out []map[string]types.AttributeValue
	var start map[string]types.AttributeValue
	for {
		var page []map[string]types.AttributeValue
		if account != "" {
			res, err := s.api.Query(ctx, &dynamodb.QueryInput{
				TableName:                 aws.String(table),
				KeyConditionExpression:    aws.String("account_id = :a"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":a": str(account)},
				ConsistentRead:            aws.Bool(true),
				ExclusiveStartKey:         start,
			})
			if err != nil {
				return nil, fmt.Errorf("query %s: %w", table, err)
			}
			page, start = res.Items, res.LastEvaluatedKey
		} else {
			res, err := s.api.Scan(ctx, &dynamodb.ScanInput{
				TableName:         aws.String(table),
				ConsistentRead:    aws.Bool(true),
				ExclusiveStartKey: start,
			})
			if err != nil {
				return nil, fmt.Errorf("scan %s: %w", table, err)
			}
			page, start = res.Items, res.LastEvaluatedKey
		}
		out = append(out, page...)
		if len(start) == 0 {
			return out, nil
		}
	}
}

// location is where an issue's item is: the row of Hammer's table of its
// kind (account_id, issue_id), or, once a later issue of the same
// credential took that row, the history table (pk, sk).
type location struct {
	table, account, issueID string
	hist                    bool
	pk, sk                  string
}

func (l location) key() map[string]types.AttributeValue {
	if l.hist {
		return map[string]types.AttributeValue{attrPK: str(l.pk), attrSK: str(l.sk)}
	}
	return map[string]types.AttributeValue{attrAccount: str(l.account), attrIssueID: str(l.issueID)}
}

func pointerKey(id int64) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str("issue#" + strconv.FormatInt(id, 10))}
}

// Get returns one issue by ID; the error wraps issues.ErrNotFound when there
// is none.
func (s *Store) Get(ctx context.Context, id int64) (*issues.Issue, error) {
	is, _, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	return is, nil
}

func (s *Store) get(ctx context.Context, id int64) (*issues.Issue, location, error) {
	is, loc, _, err := s.getItem(ctx, id)
	return is, loc, err
}

// getItem is get, with the item as it is stored.
func (s *Store) getItem(ctx context.Context, id int64) (*issues.Issue, location, map[string]types.AttributeValue, error) {
	notFound := fmt.Errorf("issue %d: %w", id, issues.ErrNotFound)
	if id <= 0 {
		return nil, location{}, nil, notFound
	}
	res, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.meta), Key: pointerKey(id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, location{}, nil, fmt.Errorf("get issue %d: %w", id, err)
	}
	if res.Item == nil {
		return nil, location{}, nil, notFound
	}
	loc := readPointer(res.Item)
	it, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(loc.table), Key: loc.key(), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, location{}, nil, fmt.Errorf("get issue %d: %w", id, err)
	}
	if it.Item == nil {
		return nil, location{}, nil, notFound
	}
	var is issues.Issue
	if loc.hist {
		is, err = decode(it.Item, s.kindOf(getS(it.Item, "kind")))
	} else {
		is, err = s.decodeRow(ctx, s.kinds[loc.table], loc.table, it.Item, false)
	}
	if err != nil {
		return nil, location{}, nil, fmt.Errorf("get issue %d: %w", id, err)
	}
	if is.ID != id {
		// The pointer was read just before a move to history: the
		// caller's view is stale.
		return nil, location{}, nil, fmt.Errorf("get issue %d: moved while read: %w", id, issues.ErrConflict)
	}
	return &is, loc, it.Item, nil
}

func (s *Store) kindOf(k string) policy.Kind { return policy.Kind(k) }

// group is the actions of one issue, never split across transactions.
type group struct {
	actions []types.TransactWriteItem
	// done sets the issue's ID and version in the caller's changes.
	done func()
}

// Apply stores ch (see the package doc for atomicity and conflicts).
func (s *Store) Apply(ctx context.Context, ch *issues.Changes) error {
	if ch == nil || (ch.Empty() && ch.Scan == nil) {
		return nil
	}
	if err := ch.Validate(subjectFits); err != nil {
		return fmt.Errorf("apply issue changes: %w", err)
	}
	var groups []group
	if ch.Scan != nil {
		// First of the first transaction: a stale scan stores nothing.
		groups = append(groups, s.scanGroup(ch.Scan))
	}
	touched := map[string]bool{}
	touch := func(table string, key location) error {
		k := table + "\x00" + key.account + "\x00" + key.issueID
		if touched[k] {
			return fmt.Errorf("item %s %s/%s changed twice in one Apply", table, key.account, key.issueID)
		}
		touched[k] = true
		return nil
	}
	updates := make([]*issues.Issue, 0, len(ch.Closed)+len(ch.Updated)+len(ch.Refreshed))
	for i := range ch.Closed {
		updates = append(updates, &ch.Closed[i].Issue)
	}
	for i := range ch.Updated {
		updates = append(updates, &ch.Updated[i].Issue)
	}
	for i := range ch.Refreshed {
		updates = append(updates, &ch.Refreshed[i])
	}
	refreshed := len(updates) - len(ch.Refreshed)
	for i, is := range updates {
		g, loc, err := s.update(ctx, is, i >= refreshed)
		if err != nil {
			return fmt.Errorf("apply issue changes: %w", err)
		}
		if err := touch(loc.table, loc); err != nil {
			return fmt.Errorf("apply issue changes: %w", err)
		}
		groups = append(groups, g)
	}
	if len(ch.New) > 0 {
		last, err := s.allocate(ctx, len(ch.New))
		if err != nil {
			return fmt.Errorf("apply issue changes: %w", err)
		}
		for i := range ch.New {
			id := last - int64(len(ch.New)) + int64(i) + 1
			g, locs, err := s.insert(ctx, &ch.New[i], id)
			if err != nil {
				return fmt.Errorf("apply issue changes: %w", err)
			}
			for _, l := range locs {
				if err := touch(l.table, l); err != nil {
					return fmt.Errorf("apply issue changes: %w", err)
				}
			}
			groups = append(groups, g)
		}
	}
	err := s.commit(ctx, groups)
	if ch.Scan != nil && !errors.Is(err, ErrPartial) && staleScan(err) {
		return fmt.Errorf("apply issue changes: scan of %s as of %s: %w", ch.Scan.AccountID,
			ch.Scan.AsOf.UTC().Format(time.RFC3339), issues.ErrStaleScan)
	}
	return err
}

// commit runs the groups in as few transactions as fit.
func (s *Store) commit(ctx context.Context, groups []group) error {
	var chunks [][]group
	n := 0
	for _, g := range groups {
		if len(chunks) == 0 || n+len(g.actions) > s.maxItems {
			chunks = append(chunks, nil)
			n = 0
		}
		chunks[len(chunks)-1] = append(chunks[len(chunks)-1], g)
		n += len(g.actions)
	}
	stored := 0
	for ci, c := range chunks {
		var acts []types.TransactWriteItem
		for _, g := range c {
			acts = append(acts, g.actions...)
		}
		_, err := s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: acts})
		if err != nil {
			err = transactError(err)
			if ci == 0 {
				return fmt.Errorf("apply issue changes: %w", err)
			}
			return fmt.Errorf("apply issue changes: %d of %d changes stored, then %d transaction(s) failed: %w: %w",
				stored, len(groups), len(chunks)-ci, ErrPartial, err)
		}
		for _, g := range c {
			g.done()
		}
		stored += len(c)
	}
	return nil
}

// transactError reads a cancelled transaction's reasons: a failed condition
// or a concurrent transaction on an item is an issues.ErrConflict.
func transactError(err error) error {
	var tc *types.TransactionCanceledException
	if !errors.As(err, &tc) {
		var cc *types.ConditionalCheckFailedException
		if errors.As(err, &cc) {
			return fmt.Errorf("%w: %w", issues.ErrConflict, err)
		}
		return err
	}
	for _, r := range tc.CancellationReasons {
		switch aws.ToString(r.Code) {
		case "ConditionalCheckFailed", "TransactionConflict":
			return fmt.Errorf("another writer changed the issues: %w: %w", issues.ErrConflict, err)
		}
	}
	return err
}

// update prepares the overwrite of an existing issue, conditioned on the
// version read (on the row still being without keywarden's ID when Hammer
// rewrote it since: its put_item keeps only Hammer's attributes). What
// keywarden does not own in Hammer's maps is kept, and so is Hammer's
// timestamps.updated on a refresh.
func (s *Store) update(ctx context.Context, is *issues.Issue, refresh bool) (group, location, error) {
	cur, loc, prev, err := s.getItem(ctx, is.ID)
	if err != nil {
		return group{}, location{}, fmt.Errorf("update %s: %w", is, err)
	}
	if cur.Kind != is.Kind || cur.AccountID != is.AccountID || cur.Subject != is.Subject {
		return group{}, location{}, fmt.Errorf("update %s: stored as %s %s %s: an issue's kind, account and subject never change",
			is, cur.Kind, cur.AccountID, cur.Subject)
	}
	if is.Version != 0 && is.Version != cur.Version {
		return group{}, location{}, fmt.Errorf("update %s: stored version %d, read at %d: %w", is, cur.Version, is.Version, issues.ErrConflict)
	}
	if loc.hist && !is.Status.Closed() {
		return group{}, location{}, fmt.Errorf("update %s: an issue in history cannot be live again", is)
	}
	next := *is
	next.Version = cur.Version + 1
	item := encode(&next, loc, prev)
	if ts := getM(prev, "timestamps"); refresh && ts["updated"] != nil {
		// Only day counters moved: not an update in Hammer's sense
		// ("open issue details were changed"); keywarden's time of it
		// is its own.
		getM(item, "timestamps")["updated"] = ts["updated"]
		putT(item, attrUpdatedAt, &next.Updated)
	}
	put := &types.Put{TableName: aws.String(loc.table), Item: item}
	conditionOn(put, prev, is.ID, cur.Version)
	g := group{
		actions: []types.TransactWriteItem{{Put: put}},
		done:    func() { is.Version = next.Version },
	}
	if !loc.hist && getS(getM(prev, "timestamps"), "identified") != getS(getM(item, "timestamps"), "identified") {
		g.actions = append(g.actions, types.TransactWriteItem{Put: &types.Put{
			TableName: aws.String(s.meta), Item: s.rowRef(loc, is.ID, item),
		}})
	}
	return g, loc, nil
}

// conditionOn makes put conditional on the item being the one read: issue
// id at version v, or, when it was without keywarden's ID (Hammer wrote or
// rewrote it), still without one.
func conditionOn(put *types.Put, read map[string]types.AttributeValue, id, v int64) {
	if _, ok := read[attrID]; !ok {
		put.ConditionExpression = aws.String("attribute_not_exists(#id)")
		put.ExpressionAttributeNames = map[string]string{"#id": attrID}
		return
	}
	put.ConditionExpression = aws.String("#id = :id AND #v = :v")
	put.ExpressionAttributeNames = map[string]string{"#id": attrID, "#v": attrVersion}
	put.ExpressionAttributeValues = map[string]types.AttributeValue{":id": num(id), ":v": num(v)}
}

// insert prepares a new issue at its credential's row of Hammer's table,
// moving a closed issue found there to the history table (as Hammer
// reopens a closed issue: its ticket and timestamps abandoned).
func (s *Store) insert(ctx context.Context, is *issues.Issue, id int64) (group, []location, error) {
	table := s.tables[is.Kind]
	loc := location{table: table, account: is.AccountID, issueID: is.Subject}
	res, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: loc.key(), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return group{}, nil, fmt.Errorf("insert %s: %w", is, err)
	}
	next := *is
	next.ID, next.Version = id, 1
	g := group{done: func() { is.ID, is.Version = next.ID, next.Version }}
	locs := []location{loc}
	item := encode(&next, loc, nil)
	put := &types.Put{TableName: aws.String(table), Item: item}
	if res.Item == nil {
		put.ConditionExpression = aws.String("attribute_not_exists(issue_id)")
	} else {
		old, err := s.decodeRow(ctx, is.Kind, table, res.Item, false)
		if err != nil {
			return group{}, nil, fmt.Errorf("insert %s: %w", is, err)
		}
		if !old.Status.Closed() {
			return group{}, nil, fmt.Errorf("insert %s: issue %d is live for this credential: %w", is, old.ID, issues.ErrConflict)
		}
		if old.ID == 0 {
			// A closed issue Hammer left, never listed by keywarden:
			// it gets its ID as it moves to history.
			if old.ID, err = s.allocate(ctx, 1); err != nil {
				return group{}, nil, fmt.Errorf("insert %s: %w", is, err)
			}
		}
		hist := s.historyLocation(&old)
		conditionOn(put, res.Item, old.ID, old.Version)
		g.actions = append(g.actions,
			types.TransactWriteItem{Put: &types.Put{
				TableName: aws.String(s.history), Item: encode(&old, hist, res.Item),
				ConditionExpression: aws.String("attribute_not_exists(pk)"),
			}},
			types.TransactWriteItem{Put: &types.Put{TableName: aws.String(s.meta), Item: pointer(old.ID, hist)}},
		)
		locs = append(locs, hist)
	}
	g.actions = append(g.actions,
		types.TransactWriteItem{Put: put},
		types.TransactWriteItem{Put: &types.Put{
			TableName: aws.String(s.meta), Item: pointer(id, loc),
			ConditionExpression: aws.String("attribute_not_exists(pk)"),
		}},
		types.TransactWriteItem{Put: &types.Put{TableName: aws.String(s.meta), Item: s.rowRef(loc, id, item)}},
	)
	return g, locs, nil
}

func pointer(id int64, l location) map[string]types.AttributeValue {
	it := pointerKey(id)
	it["table"] = str(l.table)
	if l.hist {
		it["history"] = &types.AttributeValueMemberBOOL{Value: true}
		it[attrAccount], it[attrIssueID] = str(l.pk), str(l.sk)
	} else {
		it[attrAccount], it[attrIssueID] = str(l.account), str(l.issueID)
	}
	return it
}

// readPointer is the location a pointer item names.
func readPointer(it map[string]types.AttributeValue) location {
	l := location{table: getS(it, "table"), account: getS(it, attrAccount), issueID: getS(it, attrIssueID)}
	if b, ok := it["history"].(*types.AttributeValueMemberBOOL); ok && b.Value {
		l = location{table: l.table, hist: true, pk: l.account, sk: l.issueID}
	}
	return l
}

// allocate reserves n issue IDs and returns the last.
func (s *Store) allocate(ctx context.Context, n int) (int64, error) {
	return s.allocateIDs(ctx, "issue", n)
}

// allocateIDs reserves n IDs of the counter "counter#<what>" of the meta
// table and returns the last.
func (s *Store) allocateIDs(ctx context.Context, what string, n int) (int64, error) {
	res, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.meta),
		Key:                       map[string]types.AttributeValue{attrPK: str("counter#" + what)},
		UpdateExpression:          aws.String("ADD #n :n"),
		ExpressionAttributeNames:  map[string]string{"#n": "next"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":n": num(int64(n))},
		ReturnValues:              types.ReturnValueUpdatedNew,
	})
	if err != nil {
		return 0, fmt.Errorf("allocate %d %s IDs: %w", n, what, err)
	}
	last, err := getN(res.Attributes, "next")
	if err != nil {
		return 0, fmt.Errorf("allocate %d %s IDs: %w", n, what, err)
	}
	return last, nil
}

// subjectFits is DynamoDB's own rule: '#' separates a closed issue's
// subject from its ID in the history table's sort key (historyLocation)
// and the parts of a row's reference (rowRef).
func subjectFits(is *issues.Issue) error {
	if strings.Contains(is.Subject, "#") {
		return fmt.Errorf("%s: a subject cannot contain '#'", is)
	}
	return nil
}
