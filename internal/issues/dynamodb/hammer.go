package dynamodb

// Hammer's rows, both ways (hammer/library/ddb_issues.py and the IAM
// identification, reporting and remediation modules of dowjones/hammer).
//
// Hammer reads a row with Issue.from_dict: account_id, issue_id,
// timestamps, issue_details and jira_details must be there (a KeyError
// otherwise), status must be one of IssueStatus (a ValueError otherwise),
// every other attribute is ignored. It writes whole rows with put_item
// (Operations.put) of those six attributes only, so a row keywarden wrote
// loses keywarden's attributes whenever Hammer's reporting, remediation or
// identification touches it; what is inside its maps (Details) is kept,
// except that identification replaces issue_details.
//
// keywarden writes its rows so that Hammer reads them as its own: status
// in Hammer's set (hammerStatus), every timestamp in Python's isoformat,
// issue_details.create_date and last_used as Hammer's identification
// writes them (last_used = create_date for a key never used), and the rest
// of Hammer's maps kept as found. It reads Hammer's rows as they are: a row
// without keywarden's ID is given one (adopt) the first time keywarden
// lists it, and keeps it when Hammer rewrites the row later, through the
// row's reference in the meta table (rowRef): pk "row#<table>#<account>#
// <issue_id>", attributes id and identified (the row's
// timestamps.identified when keywarden gave the ID). A row whose identified
// changed since is a new issue to Hammer (it reopens a closed issue in the
// same row, with fresh timestamps) and gets a new ID.
//
// History Hammer would mistake for issues never goes to Hammer's tables:
// a closed issue that a later issue of the same credential replaces in its
// row moves to keywarden's history table (pk "<kind>#<account>", sk
// "<subject>#<id, 20 digits>").

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/policy"
)

func rowRefKey(l location) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str("row#" + l.table + "#" + l.account + "#" + l.issueID)}
}

// rowRef is the meta item that ties the row at l, as item has it, to issue
// id.
func (s *Store) rowRef(l location, id int64, item map[string]types.AttributeValue) map[string]types.AttributeValue {
	it := rowRefKey(l)
	it[attrID] = num(id)
	it["identified"] = str(getS(getM(item, "timestamps"), "identified"))
	return it
}

// historyLocation is where closed issue is goes when a later issue of its
// credential takes its row.
func (s *Store) historyLocation(is *issues.Issue) location {
	return location{table: s.history, account: is.AccountID, issueID: is.Subject, hist: true,
		pk: string(is.Kind) + "#" + is.AccountID, sk: fmt.Sprintf("%s#%020d", is.Subject, is.ID)}
}

// historyItems reads the history of kind: one account's, or all.
func (s *Store) historyItems(ctx context.Context, kind policy.Kind, account string) ([]map[string]types.AttributeValue, error) {
	if account != "" {
		return s.partition(ctx, s.history, string(kind)+"#"+account, "")
	}
	var out []map[string]types.AttributeValue
	var start map[string]types.AttributeValue
	for {
		res, err := s.api.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(s.history), ConsistentRead: aws.Bool(true), ExclusiveStartKey: start})
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", s.history, err)
		}
		out = append(out, res.Items...)
		if start = res.LastEvaluatedKey; len(start) == 0 {
			return out, nil
		}
	}
}

// decodeRow reads a row of Hammer's table of kind. A row without
// keywarden's ID takes the one of its reference; without a reference (or
// with one to an issue Hammer since replaced), adopt gives it one when
// adopt is set, and it is left 0 otherwise.
func (s *Store) decodeRow(ctx context.Context, kind policy.Kind, table string, it map[string]types.AttributeValue, adopt bool) (issues.Issue, error) {
	is, err := decode(it, kind)
	if err != nil || is.ID != 0 {
		return is, err
	}
	l := location{table: table, account: is.AccountID, issueID: getS(it, attrIssueID)}
	for attempt := 0; ; attempt++ {
		res, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.meta), Key: rowRefKey(l), ConsistentRead: aws.Bool(true)})
		if err != nil {
			return is, fmt.Errorf("row %s/%s: read its reference: %w", l.account, l.issueID, err)
		}
		ident := getS(getM(it, "timestamps"), "identified")
		if res.Item != nil && getS(res.Item, "identified") == ident {
			is.ID, err = getN(res.Item, attrID)
			return is, err
		}
		if !adopt {
			return is, nil
		}
		id, err := s.adopt(ctx, l, it, res.Item)
		var tc *types.TransactionCanceledException
		if errors.As(err, &tc) && attempt < 3 {
			continue // another runner adopted it first: read its ID
		}
		if err != nil {
			return is, fmt.Errorf("row %s/%s: adopt Hammer's issue: %w", l.account, l.issueID, err)
		}
		is.ID = id
		return is, nil
	}
}

// adopt gives the row at l, as item has it, a new ID: its pointer and its
// reference, on condition that the reference is still ref (nil: none).
func (s *Store) adopt(ctx context.Context, l location, item, ref map[string]types.AttributeValue) (int64, error) {
	id, err := s.allocate(ctx, 1)
	if err != nil {
		return 0, err
	}
	refPut := &types.Put{TableName: aws.String(s.meta), Item: s.rowRef(l, id, item)}
	if ref == nil {
		refPut.ConditionExpression = aws.String("attribute_not_exists(pk)")
	} else {
		refPut.ConditionExpression = aws.String("#id = :id")
		refPut.ExpressionAttributeNames = map[string]string{"#id": attrID}
		refPut.ExpressionAttributeValues = map[string]types.AttributeValue{":id": ref[attrID]}
	}
	_, err = s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: refPut},
		{Put: &types.Put{TableName: aws.String(s.meta), Item: pointer(id, l), ConditionExpression: aws.String("attribute_not_exists(pk)")}},
	}})
	return id, err
}

// migrate brings a row an earlier keywarden wrote into Hammer's table to
// today's form, once: a closed issue it kept there as history (issue_id
// "<subject>#<id>") moves to the history table; a row in its own format
// (keywarden's status in Hammer's status attribute, timestamps in
// keywarden's format, closed holding its closing time, no reference) is
// rewritten as Hammer reads it. is is the issue decoded from it, whose
// version follows; moved says it went to the history table. A row another
// runner migrated first is left to it.
func (s *Store) migrate(ctx context.Context, table string, it map[string]types.AttributeValue, is *issues.Issue) (moved bool, err error) {
	_, hasKind := it["kind"]
	if !hasKind || getS(it, attrKWStatus) != "" || is.ID == 0 {
		return false, nil // Hammer's, or today's
	}
	loc := location{table: table, account: is.AccountID, issueID: getS(it, attrIssueID)}
	legacy := map[string]types.AttributeValue{}
	for k, v := range it {
		legacy[k] = v
	}
	// Its closed was keywarden's closing time (read as such), not
	// Hammer's ticket closing.
	ts := copyM(it, "timestamps")
	delete(ts, "closed")
	legacy["timestamps"] = &types.AttributeValueMemberM{Value: ts}
	cond := func() (*string, map[string]string, map[string]types.AttributeValue) {
		return aws.String("#id = :id AND #v = :v"), map[string]string{"#id": attrID, "#v": attrVersion},
			map[string]types.AttributeValue{":id": num(is.ID), ":v": num(is.Version)}
	}
	var acts []types.TransactWriteItem
	next := *is
	if loc.issueID != is.Subject {
		hist := s.historyLocation(is)
		c, n, v := cond()
		acts = []types.TransactWriteItem{
			{Put: &types.Put{TableName: aws.String(s.history), Item: encode(&next, hist, legacy), ConditionExpression: aws.String("attribute_not_exists(pk)")}},
			{Put: &types.Put{TableName: aws.String(s.meta), Item: pointer(is.ID, hist)}},
			{Delete: &types.Delete{TableName: aws.String(table), Key: loc.key(), ConditionExpression: c, ExpressionAttributeNames: n, ExpressionAttributeValues: v}},
		}
	} else {
		next.Version++
		item := encode(&next, loc, legacy)
		c, n, v := cond()
		acts = []types.TransactWriteItem{
			{Put: &types.Put{TableName: aws.String(table), Item: item, ConditionExpression: c, ExpressionAttributeNames: n, ExpressionAttributeValues: v}},
			{Put: &types.Put{TableName: aws.String(s.meta), Item: s.rowRef(loc, is.ID, item)}},
		}
	}
	_, err = s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: acts})
	var tc *types.TransactionCanceledException
	switch {
	case errors.As(err, &tc):
		return loc.issueID != is.Subject, nil
	case err != nil:
		return false, fmt.Errorf("row %s/%s: bring it to Hammer's form: %w", loc.account, loc.issueID, err)
	}
	is.Version = next.Version
	return loc.issueID != is.Subject, nil
}
