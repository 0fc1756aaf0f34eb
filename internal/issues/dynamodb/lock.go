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

// Lock takes the lease name for owner (see issues.Locker): one item
// "lock#<name>" of the meta table, put only if it is absent, expired or
// already owner's. expires_ms is the lease's end by Options.Now; the clocks
// of the runners sharing the table must agree to well within ttl. The item
// also carries expires_at (Unix seconds) for a DynamoDB TTL to clean up.
func (s *Store) Lock(ctx context.Context, name, owner string, ttl time.Duration) (func(context.Context) error, error) {
	switch {
	case name == "":
		return nil, errors.New("lock: no name")
	case owner == "":
		return nil, fmt.Errorf("lock %s: no owner", name)
	case ttl < time.Millisecond:
		return nil, fmt.Errorf("lock %s: lease %v is too short", name, ttl)
	}
	now := s.now()
	exp := now.Add(ttl)
	key := map[string]types.AttributeValue{attrPK: str("lock#" + name)}
	item := map[string]types.AttributeValue{
		attrPK: key[attrPK], "owner": str(owner),
		"expires_ms": num(exp.UnixMilli()), "expires_at": num(exp.Unix() + 1),
	}
	_, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(s.meta),
		Item:                      item,
		ConditionExpression:       aws.String("attribute_not_exists(pk) OR #o = :o OR #e <= :now"),
		ExpressionAttributeNames:  map[string]string{"#o": "owner", "#e": "expires_ms"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":o": str(owner), ":now": num(now.UnixMilli())},
	})
	var cc *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &cc):
		return nil, fmt.Errorf("lock %s: %w", name, issues.ErrLocked)
	case err != nil:
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	release := func(ctx context.Context) error {
		_, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName:                 aws.String(s.meta),
			Key:                       key,
			ConditionExpression:       aws.String("#o = :o"),
			ExpressionAttributeNames:  map[string]string{"#o": "owner"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":o": str(owner)},
		})
		var cc *types.ConditionalCheckFailedException
		if err != nil && !errors.As(err, &cc) { // not ours any more: leave it
			return fmt.Errorf("release lock %s: %w", name, err)
		}
		return nil
	}
	return release, nil
}
