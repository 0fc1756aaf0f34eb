package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keywarden/keywarden/internal/issues"
)

// An account's last tracked scan is the meta table's item pk
// "scan#<account>" with attribute as_of (timeFormat: compares as text).
const attrAsOf = "as_of"

func scanKey(account string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str("scan#" + account)}
}

// LastScan returns the as-of of the account's last tracked scan.
func (s *Store) LastScan(ctx context.Context, account string) (time.Time, bool, error) {
	res, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.meta), Key: scanKey(account), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("last tracked scan of %s: %w", account, err)
	}
	v := getS(res.Item, attrAsOf)
	if v == "" {
		return time.Time{}, false, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("last tracked scan of %s: %w", account, err)
	}
	return t.UTC(), true, nil
}

// scanGroup records sc as its account's last tracked scan, on condition
// that no later one is recorded. Apply puts it first in the first
// transaction, so a stale scan stores nothing.
func (s *Store) scanGroup(sc *issues.TrackedScan) group {
	item := scanKey(sc.AccountID)
	item[attrAsOf] = str(sc.AsOf.UTC().Format(timeFormat))
	return group{
		actions: []types.TransactWriteItem{{Put: &types.Put{
			TableName:                 aws.String(s.meta),
			Item:                      item,
			ConditionExpression:       aws.String("attribute_not_exists(#a) OR #a <= :a"),
			ExpressionAttributeNames:  map[string]string{"#a": attrAsOf},
			ExpressionAttributeValues: map[string]types.AttributeValue{":a": item[attrAsOf]},
		}}},
		done: func() {},
	}
}

// staleScan reports whether a transaction whose first action is a
// scanGroup failed on that action's condition.
func staleScan(err error) bool {
	var tc *types.TransactionCanceledException
	if errors.As(err, &tc) {
		return len(tc.CancellationReasons) > 0 && aws.ToString(tc.CancellationReasons[0].Code) == "ConditionalCheckFailed"
	}
	return false
}
