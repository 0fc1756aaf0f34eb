package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
)

// The remediation journal (remediate.Journal) lives in its own table
// (default keywarden-journal; partition key pk (S), sort key sk (S)):
//
//   - one item per action: pk "action", sk the ID in 20 digits, so that a
//     Query of the one partition lists the journal in ID order. IDs come
//     from the meta table's counter "counter#action";
//   - one intent guard per credential being acted on: pk "intent", sk
//     "<account>#<user>#<key ID>" (the key ID empty for a login profile;
//     '#' occurs in none of them), attribute action_id.
//
// Begin puts the action and its guard in one transaction, the guard only if
// absent: a second unfinished intent for a credential is refused
// (remediate.ErrIntentExists), across runners. MarkCalled records on the
// intent (conditioned on its state) that its AWS call returned. Finish moves
// the action out of "intent" (conditioned on it still being one:
// remediate.ErrAlreadyFinished otherwise) and deletes its guard, in one
// transaction; an "unverified" action (no guard any more) is settled to done
// or failed by an update conditioned on its state. The journal is
// small (actions, not findings): Actions reads the partition and filters.

const (
	journalActionPK = "action"
	journalIntentPK = "intent"
)

var _ remediate.Journal = (*Store)(nil)

func actionKey(id int64) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(journalActionPK), attrSK: str(fmt.Sprintf("%020d", id))}
}

func intentKey(account, user, keyID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(journalIntentPK), attrSK: str(account + "#" + user + "#" + keyID)}
}

// Begin implements remediate.Journal.
func (s *Store) Begin(ctx context.Context, a *remediate.Action) error {
	if a.Op == "" || a.AccountID == "" || a.UserName == "" {
		return fmt.Errorf("journal: an action needs an operation, an account and a user")
	}
	exists := fmt.Errorf("journal: %s %s of %s in %s: %w", a.Op, a.KeyID, a.UserName, a.AccountID, remediate.ErrIntentExists)
	guard := intentKey(a.AccountID, a.UserName, a.KeyID)
	// Look first, so that a refused intent does not spend an ID; the
	// transaction's condition is what guarantees it.
	res, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.journal), Key: guard, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("journal: write intent: %w", err)
	}
	if res.Item != nil {
		return exists
	}
	id, err := s.allocateIDs(ctx, "action", 1)
	if err != nil {
		return fmt.Errorf("journal: write intent: %w", err)
	}
	next := *a
	next.ID, next.State = id, remediate.StateIntent
	item := encodeAction(&next)
	guardItem := map[string]types.AttributeValue{attrPK: guard[attrPK], attrSK: guard[attrSK], "action_id": num(id)}
	_, err = s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String(s.journal), Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		{Put: &types.Put{TableName: aws.String(s.journal), Item: guardItem, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
	}})
	if err != nil {
		if failedAt(err) == 1 {
			return exists
		}
		return fmt.Errorf("journal: write intent: %w", err)
	}
	a.ID, a.State = id, remediate.StateIntent
	return nil
}

// failedAt returns the index of the first action of a cancelled transaction
// whose condition failed, or -1.
func failedAt(err error) int {
	var tc *types.TransactionCanceledException
	if !errors.As(err, &tc) {
		return -1
	}
	for i, r := range tc.CancellationReasons {
		if aws.ToString(r.Code) == "ConditionalCheckFailed" {
			return i
		}
	}
	return -1
}

// MarkCalled implements remediate.Journal.
func (s *Store) MarkCalled(ctx context.Context, id int64, at time.Time, note string) error {
	expr := "SET #called = :c"
	vals := map[string]types.AttributeValue{":c": str(at.UTC().Format(timeFormat)), ":intent": str(string(remediate.StateIntent))}
	if note != "" {
		expr += ", note = :n"
		vals[":n"] = str(note)
	} else {
		expr += " REMOVE note"
	}
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.journal), Key: actionKey(id),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String("#st = :intent"),
		ExpressionAttributeNames:  map[string]string{"#st": "state", "#called": "called"},
		ExpressionAttributeValues: vals,
	})
	var cf *types.ConditionalCheckFailedException
	if errors.As(err, &cf) {
		return fmt.Errorf("journal: action %d: %w", id, remediate.ErrAlreadyFinished)
	}
	if err != nil {
		return fmt.Errorf("journal: record the call of action %d: %w", id, err)
	}
	return nil
}

// Finish implements remediate.Journal. An intent is finished together with
// the deletion of its guard; an unverified action (its guard already gone)
// is settled by a conditional update alone.
func (s *Store) Finish(ctx context.Context, id int64, state remediate.State, at time.Time, note string) error {
	if !remediate.CanFinish(remediate.StateIntent, state) {
		return fmt.Errorf("journal: action %d: cannot finish as %q", id, state)
	}
	finished := fmt.Errorf("journal: action %d: %w", id, remediate.ErrAlreadyFinished)
	res, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.journal), Key: actionKey(id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("journal: finish action %d: %w", id, err)
	}
	from := remediate.State(getS(res.Item, "state"))
	if res.Item == nil || !remediate.CanFinish(from, state) {
		return finished
	}
	expr := "SET #st = :st, finished = :f"
	vals := map[string]types.AttributeValue{
		":st": str(string(state)), ":f": str(at.UTC().Format(timeFormat)), ":from": str(string(from)),
	}
	if note != "" {
		expr += ", note = :n"
		vals[":n"] = str(note)
	} else {
		expr += " REMOVE note"
	}
	update := &types.Update{
		TableName: aws.String(s.journal), Key: actionKey(id),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String("#st = :from"),
		ExpressionAttributeNames:  map[string]string{"#st": "state"},
		ExpressionAttributeValues: vals,
	}
	if from != remediate.StateIntent {
		_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: update.TableName, Key: update.Key,
			UpdateExpression: update.UpdateExpression, ConditionExpression: update.ConditionExpression,
			ExpressionAttributeNames: update.ExpressionAttributeNames, ExpressionAttributeValues: update.ExpressionAttributeValues})
		var cf *types.ConditionalCheckFailedException
		if errors.As(err, &cf) {
			return finished
		}
		if err != nil {
			return fmt.Errorf("journal: finish action %d: %w", id, err)
		}
		return nil
	}
	guard := intentKey(getS(res.Item, "account_id"), getS(res.Item, "user_name"), getS(res.Item, "key_id"))
	_, err = s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: update},
		{Delete: &types.Delete{
			TableName: aws.String(s.journal), Key: guard,
			// The guard is this action's (or gone): never another's.
			ConditionExpression:       aws.String("attribute_not_exists(pk) OR action_id = :id"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":id": num(id)},
		}},
	}})
	switch failedAt(err) {
	case -1:
	case 0:
		return finished
	default:
		return fmt.Errorf("journal: finish action %d: the credential's intent guard belongs to another action: %w", id, err)
	}
	if err != nil {
		return fmt.Errorf("journal: finish action %d: %w", id, err)
	}
	return nil
}

// Actions implements remediate.Journal.
func (s *Store) Actions(ctx context.Context, f remediate.ActionFilter) ([]remediate.Action, error) {
	var items []map[string]types.AttributeValue
	if f.ID != 0 {
		res, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.journal), Key: actionKey(f.ID), ConsistentRead: aws.Bool(true)})
		if err != nil {
			return nil, fmt.Errorf("journal: list: %w", err)
		}
		if res.Item != nil {
			items = append(items, res.Item)
		}
	} else {
		var err error
		if items, err = s.partition(ctx, s.journal, journalActionPK, ""); err != nil {
			return nil, fmt.Errorf("journal: list: %w", err)
		}
	}
	var out []remediate.Action
	for _, it := range items {
		a, err := decodeAction(it)
		if err != nil {
			return nil, fmt.Errorf("journal: %w", err)
		}
		if matchAction(&a, f) {
			out = append(out, a)
		}
	}
	return out, nil
}

// partition reads every item of partition pk of table whose sort key begins
// with prefix, in sort key order, strongly consistent.
func (s *Store) partition(ctx context.Context, table, pk, prefix string) ([]map[string]types.AttributeValue, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pk)},
		ConsistentRead:            aws.Bool(true),
	}
	if prefix != "" {
		in.KeyConditionExpression = aws.String("pk = :pk AND begins_with(sk, :pre)")
		in.ExpressionAttributeValues[":pre"] = str(prefix)
	}
	var out []map[string]types.AttributeValue
	for {
		res, err := s.api.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("query %s %s: %w", table, pk, err)
		}
		out = append(out, res.Items...)
		if len(res.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
}

func matchAction(a *remediate.Action, f remediate.ActionFilter) bool {
	switch {
	case f.ID != 0 && a.ID != f.ID,
		f.IssueID != 0 && !slices.Contains(a.IssueIDs, f.IssueID),
		f.AccountID != "" && a.AccountID != f.AccountID,
		!f.Since.IsZero() && a.Started.Before(f.Since),
		f.RollbackOf != 0 && a.RollbackOf != f.RollbackOf,
		len(f.States) > 0 && !slices.Contains(f.States, a.State),
		len(f.Ops) > 0 && !slices.Contains(f.Ops, a.Op):
		return false
	}
	return true
}

func encodeAction(a *remediate.Action) map[string]types.AttributeValue {
	it := actionKey(a.ID)
	it[attrID] = num(a.ID)
	it["op"], it["state"] = str(string(a.Op)), str(string(a.State))
	it[attrAccount], it["user_name"] = str(a.AccountID), str(a.UserName)
	putS(it, "key_id", a.KeyID)
	putS(it, "reason", a.Reason)
	putS(it, "before_status", a.BeforeStatus)
	putS(it, "note", a.Note)
	putT(it, "before_last_used", a.BeforeLastUsed)
	putT(it, "started", &a.Started)
	putT(it, "called", a.Called)
	putT(it, "hold_until", a.HoldUntil)
	putT(it, "finished", a.Finished)
	if a.RollbackOf != 0 {
		it["rollback_of"] = num(a.RollbackOf)
	}
	if len(a.Kinds) > 0 {
		l := make([]types.AttributeValue, len(a.Kinds))
		for i, k := range a.Kinds {
			l[i] = str(string(k))
		}
		it["kinds"] = &types.AttributeValueMemberL{Value: l}
	}
	if len(a.IssueIDs) > 0 {
		l := make([]types.AttributeValue, len(a.IssueIDs))
		for i, id := range a.IssueIDs {
			l[i] = num(id)
		}
		it["issue_ids"] = &types.AttributeValueMemberL{Value: l}
	}
	return it
}

func decodeAction(it map[string]types.AttributeValue) (remediate.Action, error) {
	a := remediate.Action{
		Op: remediate.Op(getS(it, "op")), State: remediate.State(getS(it, "state")),
		AccountID: getS(it, attrAccount), UserName: getS(it, "user_name"), KeyID: getS(it, "key_id"),
		Reason: getS(it, "reason"), BeforeStatus: getS(it, "before_status"), Note: getS(it, "note"),
	}
	var err error
	if a.ID, err = getN(it, attrID); err != nil {
		return a, fmt.Errorf("action %s: %w", getS(it, attrSK), err)
	}
	if a.RollbackOf, err = getN(it, "rollback_of"); err != nil {
		return a, fmt.Errorf("action %d: %w", a.ID, err)
	}
	if l, ok := it["kinds"].(*types.AttributeValueMemberL); ok && len(l.Value) > 0 {
		for _, v := range l.Value {
			if s, ok := v.(*types.AttributeValueMemberS); ok {
				a.Kinds = append(a.Kinds, policy.Kind(s.Value))
			}
		}
	}
	if l, ok := it["issue_ids"].(*types.AttributeValueMemberL); ok && len(l.Value) > 0 {
		for _, v := range l.Value {
			n, ok := v.(*types.AttributeValueMemberN)
			if !ok {
				return a, fmt.Errorf("action %d: issue_ids holds a non-number", a.ID)
			}
			id, err := strconv.ParseInt(n.Value, 10, 64)
			if err != nil {
				return a, fmt.Errorf("action %d: issue_ids: %w", a.ID, err)
			}
			a.IssueIDs = append(a.IssueIDs, id)
		}
	}
	started, err := getT(it, "started")
	if err != nil {
		return a, fmt.Errorf("action %d: %w", a.ID, err)
	}
	if started != nil {
		a.Started = *started
	}
	if a.BeforeLastUsed, err = getT(it, "before_last_used"); err != nil {
		return a, fmt.Errorf("action %d: %w", a.ID, err)
	}
	if a.Called, err = getT(it, "called"); err != nil {
		return a, fmt.Errorf("action %d: %w", a.ID, err)
	}
	if a.HoldUntil, err = getT(it, "hold_until"); err != nil {
		return a, fmt.Errorf("action %d: %w", a.ID, err)
	}
	if a.Finished, err = getT(it, "finished"); err != nil {
		return a, fmt.Errorf("action %d: %w", a.ID, err)
	}
	return a, nil
}
