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
	"github.com/keywarden/keywarden/internal/notify"
)

// The notification delivery state (notify.Store) lives in its own table
// (default keywarden-notify; partition key pk (S), sort key sk (S)):
//
//   - one item per delivery in its issue's partition: pk "issue#<issue ID>",
//     sk "delivery#<channel>#<event>#<seq, 10 digits>#<target>" (the target,
//     which may hold '#', comes last). The key is the notice's identity, so
//     a conditional put (attribute_not_exists) refuses the same notice
//     twice, as SQLite's UNIQUE (issue_id, channel, target, event, seq)
//     does. IDs come from the meta table's counter "counter#delivery";
//   - one pointer per delivery ID: pk "delivery#<ID>", sk "delivery",
//     holding the delivery's key (dpk, dsk), for the Mark* calls that name
//     deliveries by ID;
//   - one ticket per issue and tracker: pk "issue#<issue ID>", sk
//     "ticket#<system>", written only if absent or holding the same key:
//     never a second ticket;
//   - one item per channel done with a closed issue: pk "finished#<channel>",
//     sk the issue ID in 20 digits (one Query per channel lists them).
//
// State transitions are conditional updates: sending and failed only from
// pending or sending, cancelled only from pending or sending, sent from any
// state of an existing delivery (as SQLite's). PlanDeliveries is one
// transaction when its actions fit (a new delivery takes two, a cancel one;
// 100 at most), else several, never splitting a delivery from its pointer;
// the Mark* calls update each delivery on its own (a crash between two
// leaves some pending, some sending: both are sent again, at least once).
// MarkDelivered sets an unreported issue's timestamps.reported and advances
// its version (a runner holding an older copy gets issues.ErrConflict
// rather than erasing it).

var _ notify.Store = (*Store)(nil)

const deliveryPointerSK = "delivery"

func issuePK(id int64) types.AttributeValue { return str("issue#" + strconv.FormatInt(id, 10)) }

func deliveryKey(d *notify.Delivery) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		attrPK: issuePK(d.IssueID),
		attrSK: str(fmt.Sprintf("delivery#%s#%s#%010d#%s", d.Channel, d.Event, d.Seq, d.Target)),
	}
}

func deliveryPointerKey(id int64) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str("delivery#" + strconv.FormatInt(id, 10)), attrSK: str(deliveryPointerSK)}
}

func encodeDelivery(d *notify.Delivery) map[string]types.AttributeValue {
	it := deliveryKey(d)
	it[attrID], it[attrIssueID] = num(d.ID), num(d.IssueID)
	it["channel"], it["event"], it["state"] = str(d.Channel), str(string(d.Event)), str(string(d.State))
	it["seq"], it["attempts"] = num(int64(d.Seq)), num(int64(d.Attempts))
	putS(it, "target", d.Target)
	putS(it, "last_error", d.LastError)
	putS(it, "ref", d.Ref)
	putS(it, "note", d.Note)
	putT(it, "created", &d.Created)
	putT(it, "updated", &d.Updated)
	putT(it, "sent", d.SentAt)
	return it
}

func decodeDelivery(it map[string]types.AttributeValue) (notify.Delivery, error) {
	d := notify.Delivery{
		Channel: getS(it, "channel"), Target: getS(it, "target"), Event: notify.Event(getS(it, "event")),
		State: notify.State(getS(it, "state")), LastError: getS(it, "last_error"), Ref: getS(it, "ref"), Note: getS(it, "note"),
	}
	var err error
	if d.ID, err = getN(it, attrID); err != nil {
		return d, fmt.Errorf("delivery %s: %w", getS(it, attrSK), err)
	}
	for _, p := range []struct {
		k   string
		dst *int64
	}{{attrIssueID, &d.IssueID}} {
		if *p.dst, err = getN(it, p.k); err != nil {
			return d, fmt.Errorf("delivery %d: %w", d.ID, err)
		}
	}
	for _, p := range []struct {
		k   string
		dst *int
	}{{"seq", &d.Seq}, {"attempts", &d.Attempts}} {
		n, err := getN(it, p.k)
		if err != nil {
			return d, fmt.Errorf("delivery %d: %w", d.ID, err)
		}
		*p.dst = int(n)
	}
	for _, p := range []struct {
		k   string
		dst *time.Time
	}{{"created", &d.Created}, {"updated", &d.Updated}} {
		t, err := getT(it, p.k)
		if err != nil {
			return d, fmt.Errorf("delivery %d: %w", d.ID, err)
		}
		if t != nil {
			*p.dst = *t
		}
	}
	if d.SentAt, err = getT(it, "sent"); err != nil {
		return d, fmt.Errorf("delivery %d: %w", d.ID, err)
	}
	return d, nil
}

// parallel runs fn(i) for i in [0, n), a few at a time, and returns the
// first error.
func parallel(n int, fn func(i int) error) error {
	const width = 8
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  int
	)
	for range min(width, n) {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				stop := first != nil
				mu.Unlock()
				if i >= n || stop {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return first
}

// Deliveries implements notify.Store: every delivery of the issues, by ID.
func (s *Store) Deliveries(ctx context.Context, issueIDs []int64) ([]notify.Delivery, error) {
	per := make([][]notify.Delivery, len(issueIDs))
	err := parallel(len(issueIDs), func(i int) error {
		items, err := s.partition(ctx, s.notify, "issue#"+strconv.FormatInt(issueIDs[i], 10), "delivery#")
		if err != nil {
			return err
		}
		for _, it := range items {
			d, err := decodeDelivery(it)
			if err != nil {
				return err
			}
			per[i] = append(per[i], d)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read deliveries: %w", err)
	}
	var out []notify.Delivery
	for _, ds := range per {
		out = append(out, ds...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// locate returns the key of delivery id, nil when there is none.
func (s *Store) locate(ctx context.Context, id int64) (map[string]types.AttributeValue, error) {
	res, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.notify), Key: deliveryPointerKey(id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("delivery %d: %w", id, err)
	}
	if res.Item == nil {
		return nil, nil
	}
	return map[string]types.AttributeValue{attrPK: res.Item["dpk"], attrSK: res.Item["dsk"]}, nil
}

// update is one UpdateItem's expression, built from its parts.
type update struct {
	set, remove, add []string
	vals             map[string]types.AttributeValue
}

func newUpdate() *update { return &update{vals: map[string]types.AttributeValue{}} }

// put sets attribute name to v, or removes it when v is empty.
func (u *update) put(name, v string) *update {
	if v == "" {
		u.remove = append(u.remove, "#"+name)
	} else {
		u.set = append(u.set, "#"+name+" = :"+name)
		u.vals[":"+name] = str(v)
	}
	return u
}

func (u *update) expr() (string, map[string]string) {
	names := map[string]string{}
	var parts []string
	for _, c := range []struct {
		verb string
		xs   []string
	}{{"SET", u.set}, {"REMOVE", u.remove}, {"ADD", u.add}} {
		if len(c.xs) > 0 {
			parts = append(parts, c.verb+" "+strings.Join(c.xs, ", "))
		}
		for _, x := range c.xs {
			n := strings.Fields(strings.SplitN(x, "=", 2)[0])[0]
			names[n] = strings.TrimPrefix(n, "#")
		}
	}
	return strings.Join(parts, " "), names
}

// liveCond is the condition of a transition out of pending or sending.
const liveCond = "#state IN (:pending, :sending)"

func (u *update) live() *update {
	u.vals[":pending"], u.vals[":sending"] = str(string(notify.Pending)), str(string(notify.Sending))
	return u
}

func (u *update) input(table string, key map[string]types.AttributeValue, cond string) *dynamodb.UpdateItemInput {
	expr, names := u.expr()
	names["#state"] = "state"
	return &dynamodb.UpdateItemInput{
		TableName: aws.String(table), Key: key,
		UpdateExpression: aws.String(expr), ConditionExpression: aws.String(cond),
		ExpressionAttributeNames: names, ExpressionAttributeValues: u.vals,
	}
}

// transition updates each delivery of ids, if cond holds; a delivery whose
// condition fails (not in a state the transition starts from) or that does
// not exist is left alone. It returns the updated deliveries' issue IDs.
func (s *Store) transition(ctx context.Context, ids []int64, u func() *update, cond string) ([]transitioned, error) {
	done := make([]transitioned, len(ids))
	err := parallel(len(ids), func(i int) error {
		key, err := s.locate(ctx, ids[i])
		if err != nil || key == nil {
			return err
		}
		in := u().input(s.notify, key, cond)
		in.ReturnValues = types.ReturnValueAllNew
		res, err := s.api.UpdateItem(ctx, in)
		var cc *types.ConditionalCheckFailedException
		switch {
		case errors.As(err, &cc):
			return nil
		case err != nil:
			return fmt.Errorf("delivery %d: %w", ids[i], err)
		}
		done[i].event = notify.Event(getS(res.Attributes, "event"))
		done[i].issueID, err = getN(res.Attributes, attrIssueID)
		return err
	})
	return done, err
}

// transitioned is a delivery a transition changed: its issue and event
// (zero when the delivery was missing or not in a state to change).
type transitioned struct {
	issueID int64
	event   notify.Event
}

// PlanDeliveries implements notify.Store: the new deliveries pending (IDs
// and times set in place), the cancelled ones cancelled with their Note.
func (s *Store) PlanDeliveries(ctx context.Context, add []*notify.Delivery, cancel []*notify.Delivery, at time.Time) error {
	if len(add)+len(cancel) == 0 {
		return nil
	}
	for _, d := range add {
		if d.IssueID <= 0 || d.Channel == "" || d.Event == "" || strings.Contains(d.Channel, "#") {
			return fmt.Errorf("plan deliveries: issue %d %q %s: an issue, a channel (without '#') and an event are required", d.IssueID, d.Channel, d.Event)
		}
	}
	var groups []group
	// Cancels first: only live deliveries, conditioned on still being so.
	for _, d := range cancel {
		key, err := s.locate(ctx, d.ID)
		if err != nil {
			return fmt.Errorf("plan deliveries: %w", err)
		}
		if key == nil {
			continue
		}
		res, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.notify), Key: key, ConsistentRead: aws.Bool(true)})
		if err != nil {
			return fmt.Errorf("plan deliveries: delivery %d: %w", d.ID, err)
		}
		if res.Item == nil || !notify.State(getS(res.Item, "state")).Live() {
			continue
		}
		in := newUpdate().put("state", string(notify.Cancelled)).put("note", d.Note).put("updated", at.UTC().Format(timeFormat)).live().
			input(s.notify, key, liveCond)
		groups = append(groups, group{done: func() {}, actions: []types.TransactWriteItem{{Update: &types.Update{
			TableName: in.TableName, Key: in.Key, UpdateExpression: in.UpdateExpression, ConditionExpression: in.ConditionExpression,
			ExpressionAttributeNames: in.ExpressionAttributeNames, ExpressionAttributeValues: in.ExpressionAttributeValues,
		}}}})
	}
	if len(add) > 0 {
		last, err := s.allocateIDs(ctx, "delivery", len(add))
		if err != nil {
			return fmt.Errorf("plan deliveries: %w", err)
		}
		for i, d := range add {
			next := *d
			next.ID = last - int64(len(add)) + int64(i) + 1
			next.State, next.Attempts, next.Created, next.Updated = notify.Pending, 0, at, at
			next.LastError, next.Ref, next.Note, next.SentAt = "", "", "", nil
			key := deliveryKey(&next)
			ptr := deliveryPointerKey(next.ID)
			ptr["dpk"], ptr["dsk"] = key[attrPK], key[attrSK]
			groups = append(groups, group{
				actions: []types.TransactWriteItem{
					{Put: &types.Put{TableName: aws.String(s.notify), Item: encodeDelivery(&next), ConditionExpression: aws.String("attribute_not_exists(pk)")}},
					{Put: &types.Put{TableName: aws.String(s.notify), Item: ptr, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
				},
				done: func() { d.ID, d.State, d.Created, d.Updated = next.ID, notify.Pending, at, at },
			})
		}
	}
	if err := s.commitGroups(ctx, groups); err != nil {
		var tc *types.TransactionCanceledException
		if errors.As(err, &tc) {
			err = fmt.Errorf("a notice is already planned, or was changed by another runner: %w", err)
		}
		return fmt.Errorf("plan deliveries: %w", err)
	}
	for _, d := range cancel {
		d.State = notify.Cancelled
	}
	return nil
}

// commitGroups runs the groups in as few transactions as fit; after the
// first, a failure is ErrPartial.
func (s *Store) commitGroups(ctx context.Context, groups []group) error {
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
	for ci, c := range chunks {
		var acts []types.TransactWriteItem
		for _, g := range c {
			acts = append(acts, g.actions...)
		}
		if _, err := s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: acts}); err != nil {
			if ci == 0 {
				return err
			}
			return fmt.Errorf("%d of %d transactions stored, then: %w: %w", ci, len(chunks), ErrPartial, err)
		}
		for _, g := range c {
			g.done()
		}
	}
	return nil
}

// MarkSending implements notify.Store: live deliveries are being sent
// (attempts + 1).
func (s *Store) MarkSending(ctx context.Context, ids []int64, at time.Time) error {
	ts := at.UTC().Format(timeFormat)
	_, err := s.transition(ctx, ids, func() *update {
		u := newUpdate().put("state", string(notify.Sending)).put("updated", ts).live()
		u.add = append(u.add, "#attempts :one")
		u.vals[":one"] = num(1)
		return u
	}, liveCond)
	if err != nil {
		return fmt.Errorf("mark deliveries sending: %w", err)
	}
	return nil
}

// MarkFailed implements notify.Store: live deliveries go back to pending
// with the error.
func (s *Store) MarkFailed(ctx context.Context, ids []int64, msg string, at time.Time) error {
	ts := at.UTC().Format(timeFormat)
	_, err := s.transition(ctx, ids, func() *update {
		return newUpdate().put("state", string(notify.Pending)).put("last_error", msg).put("updated", ts).live()
	}, liveCond)
	if err != nil {
		return fmt.Errorf("mark deliveries failed: %w", err)
	}
	return nil
}

// MarkDelivered implements notify.Store: the deliveries are sent with ref,
// and the issues of the violation notices among them, if not reported yet,
// are reported at at (Hammer's timestamps.reported: the report of the
// violation, from which remediation_retention_period counts).
func (s *Store) MarkDelivered(ctx context.Context, ids []int64, ref string, at time.Time) error {
	ts := at.UTC().Format(timeFormat)
	done, err := s.transition(ctx, ids, func() *update {
		return newUpdate().put("state", string(notify.Sent)).put("ref", ref).put("last_error", "").
			put("sent", ts).put("updated", ts)
	}, "attribute_exists(pk)")
	if err != nil {
		return fmt.Errorf("mark deliveries sent: %w", err)
	}
	seen := map[int64]bool{0: true}
	var todo []int64
	for _, d := range done {
		if d.event == notify.Violation && !seen[d.issueID] {
			seen[d.issueID] = true
			todo = append(todo, d.issueID)
		}
	}
	if err := parallel(len(todo), func(i int) error { return s.setReported(ctx, todo[i], at) }); err != nil {
		return fmt.Errorf("mark deliveries sent: %w", err)
	}
	return nil
}

// setReported sets the issue's reported time if it has none, advancing its
// version; it retries when another writer got there in between.
func (s *Store) setReported(ctx context.Context, id int64, at time.Time) error {
	for attempt := 0; ; attempt++ {
		is, loc, err := s.get(ctx, id)
		switch {
		case errors.Is(err, issues.ErrNotFound):
			return nil
		case errors.Is(err, issues.ErrConflict) && attempt < 5:
			continue
		case err != nil:
			return err
		case is.Reported != nil:
			return nil
		}
		// A row Hammer rewrote has lost keywarden's ID and version: it
		// gets them back, on condition that it is still without them.
		in := &dynamodb.UpdateItemInput{
			TableName: aws.String(loc.table), Key: loc.key(),
			UpdateExpression:         aws.String("SET #ts.#rep = :t, #v = :next, #id = :id"),
			ConditionExpression:      aws.String("#id = :id AND #v = :v"),
			ExpressionAttributeNames: map[string]string{"#ts": "timestamps", "#rep": "reported", "#v": attrVersion, "#id": attrID},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":t": str(hammerTime(at)), ":id": num(id), ":v": num(is.Version), ":next": num(is.Version + 1),
			},
		}
		if is.Version == 0 {
			in.ConditionExpression = aws.String("attribute_not_exists(#id)")
			delete(in.ExpressionAttributeValues, ":v")
		}
		_, err = s.api.UpdateItem(ctx, in)
		var cc *types.ConditionalCheckFailedException
		if errors.As(err, &cc) && attempt < 5 {
			continue
		}
		if err != nil {
			return fmt.Errorf("issue %d: set reported: %w", id, err)
		}
		return nil
	}
}

// FinishNotices implements notify.Store.
func (s *Store) FinishNotices(ctx context.Context, issueID int64, channel string, at time.Time) error {
	_, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.notify),
		Item: map[string]types.AttributeValue{
			attrPK: str("finished#" + channel), attrSK: str(fmt.Sprintf("%020d", issueID)),
			attrIssueID: num(issueID), "at": str(at.UTC().Format(timeFormat)),
		},
		ConditionExpression: aws.String("attribute_not_exists(pk)"), // the first time stays
	})
	var cc *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &cc) {
		return fmt.Errorf("finish issue %d on %s: %w", issueID, channel, err)
	}
	return nil
}

// UnfinishedNotices implements notify.Store: the resolved and remediated
// issues that one of channels has not finished with, by ID.
func (s *Store) UnfinishedNotices(ctx context.Context, channels []string) ([]issues.Issue, error) {
	if len(channels) == 0 {
		return nil, nil
	}
	closed, err := s.List(ctx, issues.Filter{Statuses: []issues.Status{issues.Resolved, issues.Remediated}})
	if err != nil {
		return nil, fmt.Errorf("list unreported closed issues: %w", err)
	}
	if len(closed) == 0 {
		return nil, nil
	}
	done := make([]map[int64]bool, len(channels))
	err = parallel(len(channels), func(i int) error {
		items, err := s.partition(ctx, s.notify, "finished#"+channels[i], "")
		if err != nil {
			return err
		}
		done[i] = make(map[int64]bool, len(items))
		for _, it := range items {
			id, err := getN(it, attrIssueID)
			if err != nil {
				return err
			}
			done[i][id] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list unreported closed issues: %w", err)
	}
	var out []issues.Issue
	for _, is := range closed {
		for i := range channels {
			if !done[i][is.ID] {
				out = append(out, is)
				break
			}
		}
	}
	return out, nil
}

func ticketKey(issueID int64, system string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: issuePK(issueID), attrSK: str("ticket#" + system)}
}

// Ticket implements notify.Store.
func (s *Store) Ticket(ctx context.Context, issueID int64, system string) (*notify.Ticket, error) {
	res, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.notify), Key: ticketKey(issueID, system), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("read ticket of issue %d: %w", issueID, err)
	}
	if res.Item == nil {
		return s.hammerTicket(ctx, issueID, system)
	}
	t := &notify.Ticket{IssueID: issueID, System: system, Key: getS(res.Item, "key"),
		Assignee: getS(res.Item, "assignee"), Parent: getS(res.Item, "parent")}
	if b, ok := res.Item["closed"].(*types.AttributeValueMemberBOOL); ok {
		t.Closed = b.Value
	}
	return t, nil
}

// SaveTicket implements notify.Store: the ticket is created, or updated if
// it has the same key; a different key for the issue is refused.
func (s *Store) SaveTicket(ctx context.Context, t *notify.Ticket, at time.Time) error {
	if t.Key == "" {
		return fmt.Errorf("save ticket: issue %d: no ticket key", t.IssueID)
	}
	ts := at.UTC().Format(timeFormat)
	u := newUpdate().put("key", t.Key).put("assignee", t.Assignee).put("parent", t.Parent).put("updated", ts)
	u.set = append(u.set, "#closed = :closed", "#created = if_not_exists(#created, :updated)", "#issue_id = :issue_id", "#system = :system")
	u.vals[":closed"] = &types.AttributeValueMemberBOOL{Value: t.Closed}
	u.vals[":issue_id"], u.vals[":system"] = num(t.IssueID), str(t.System)
	expr, names := u.expr()
	names["#created"] = "created"
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.notify), Key: ticketKey(t.IssueID, t.System),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String("attribute_not_exists(pk) OR #key = :key"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: u.vals,
	})
	var cc *types.ConditionalCheckFailedException
	if errors.As(err, &cc) {
		key := "?"
		if cur, err := s.Ticket(ctx, t.IssueID, t.System); err == nil && cur != nil {
			key = cur.Key
		}
		return fmt.Errorf("save ticket: issue %d already has %s ticket %s, refusing a second one (%s)", t.IssueID, t.System, key, t.Key)
	}
	if err != nil {
		return fmt.Errorf("save ticket: %w", err)
	}
	if t.System == jiraSystem {
		if err := s.mirrorTicket(ctx, t); err != nil {
			return fmt.Errorf("save ticket: %w", err)
		}
	}
	return nil
}

// jiraSystem is notify/jira's System: the tickets Hammer keeps in
// jira_details.
const jiraSystem = "jira"

// hammerTicket is the JIRA ticket Hammer's reporting opened for the issue
// (jira_details.ticket, ticket_assignee_id of its row; closed when Hammer
// closed it), when keywarden has none of its own: keywarden goes on with
// Hammer's ticket instead of opening a second one.
func (s *Store) hammerTicket(ctx context.Context, issueID int64, system string) (*notify.Ticket, error) {
	if system != jiraSystem {
		return nil, nil
	}
	_, _, item, err := s.getItem(ctx, issueID)
	if errors.Is(err, issues.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read ticket of issue %d: %w", issueID, err)
	}
	jd := getM(item, "jira_details")
	key := getS(jd, "ticket")
	if key == "" {
		return nil, nil
	}
	return &notify.Ticket{IssueID: issueID, System: system, Key: key, Assignee: getS(jd, "ticket_assignee_id"),
		Closed: getS(item, "status") == hammerClosed}, nil
}

// mirrorTicket writes a JIRA ticket where Hammer keeps it, the issue row's
// jira_details (ticket, ticket_assignee_id), so that Hammer's reporting
// finds it; the version advances, as any change of the row.
func (s *Store) mirrorTicket(ctx context.Context, t *notify.Ticket) error {
	for attempt := 0; ; attempt++ {
		is, loc, item, err := s.getItem(ctx, t.IssueID)
		switch {
		case errors.Is(err, issues.ErrNotFound):
			return nil
		case errors.Is(err, issues.ErrConflict) && attempt < 5:
			continue
		case err != nil:
			return err
		}
		jd := getM(item, "jira_details")
		if getS(jd, "ticket") == t.Key && (t.Assignee == "" || getS(jd, "ticket_assignee_id") == t.Assignee) {
			return nil
		}
		set := "SET #jd.#tk = :k, #v = :next, #id = :id"
		names := map[string]string{"#jd": "jira_details", "#tk": "ticket", "#v": attrVersion, "#id": attrID}
		vals := map[string]types.AttributeValue{":k": str(t.Key), ":id": num(t.IssueID), ":next": num(is.Version + 1)}
		if t.Assignee != "" {
			set += ", #jd.#as = :a"
			names["#as"], vals[":a"] = "ticket_assignee_id", str(t.Assignee)
		}
		in := &dynamodb.UpdateItemInput{TableName: aws.String(loc.table), Key: loc.key(), UpdateExpression: aws.String(set),
			ConditionExpression: aws.String("#id = :id AND #v = :v"), ExpressionAttributeNames: names, ExpressionAttributeValues: vals}
		if _, ok := item[attrID]; !ok {
			in.ConditionExpression = aws.String("attribute_not_exists(#id)")
		} else {
			vals[":v"] = num(is.Version)
		}
		if jd == nil {
			// A row without the map (not Hammer's): the whole map.
			in.UpdateExpression = aws.String("SET #jd = :jd, #v = :next, #id = :id")
			m := map[string]types.AttributeValue{"ticket": str(t.Key)}
			if t.Assignee != "" {
				m["ticket_assignee_id"] = str(t.Assignee)
			}
			delete(names, "#tk")
			delete(names, "#as")
			delete(vals, ":k")
			delete(vals, ":a")
			vals[":jd"] = &types.AttributeValueMemberM{Value: m}
		}
		_, err = s.api.UpdateItem(ctx, in)
		var cc *types.ConditionalCheckFailedException
		if errors.As(err, &cc) && attempt < 5 {
			continue
		}
		if err != nil {
			return fmt.Errorf("issue %d: write ticket %s to jira_details: %w", t.IssueID, t.Key, err)
		}
		return nil
	}
}
