package dynamodb

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keywarden/keywarden/internal/exempt"
	"github.com/keywarden/keywarden/internal/policy"
)

// The exemptions with an end people add (exempt.Store) live in keywarden's
// journal table, never in Hammer's: one item per exemption, pk "exemption",
// sk the ID in 20 digits (a Query of the partition lists them in ID order).
// IDs come from the meta table's counter "counter#exemption", so a removed
// exemption's ID is never given again.

const exemptionPK = "exemption"

var _ exempt.Store = (*Store)(nil)

func exemptionKey(id int64) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(exemptionPK), attrSK: str(fmt.Sprintf("%020d", id))}
}

// AddExemption implements exempt.Store.
func (s *Store) AddExemption(ctx context.Context, e *policy.Exemption) error {
	id, err := s.allocateIDs(ctx, "exemption", 1)
	if err != nil {
		return fmt.Errorf("store exemption: %w", err)
	}
	item := exemptionKey(id)
	item["id"] = num(id)
	item["kind"] = str(string(e.Kind))
	item["account_id"] = str(e.AccountID)
	item["subject"] = str(e.Subject)
	item["owner"] = str(e.Owner)
	item["reason"] = str(e.Reason)
	putT(item, "until", &e.Until)
	putT(item, "created", &e.Created)
	if _, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.journal), Item: item,
		ConditionExpression: aws.String("attribute_not_exists(pk)")}); err != nil {
		return fmt.Errorf("store exemption: %w", err)
	}
	e.ID, e.Source = id, policy.SourceStore
	return nil
}

// Exemptions implements exempt.Store.
func (s *Store) Exemptions(ctx context.Context) ([]policy.Exemption, error) {
	items, err := s.partition(ctx, s.journal, exemptionPK, "")
	if err != nil {
		return nil, fmt.Errorf("read exemptions: %w", err)
	}
	out := make([]policy.Exemption, 0, len(items))
	for _, it := range items {
		e := policy.Exemption{Kind: policy.Kind(getS(it, "kind")), AccountID: getS(it, "account_id"), Subject: getS(it, "subject"),
			Owner: getS(it, "owner"), Reason: getS(it, "reason"), Source: policy.SourceStore}
		if e.ID, err = getN(it, "id"); err != nil {
			return nil, fmt.Errorf("read exemption %s: %w", getS(it, attrSK), err)
		}
		until, err := getT(it, "until")
		if err != nil || until == nil {
			return nil, fmt.Errorf("read exemption %d: until: missing or unreadable (%v)", e.ID, err)
		}
		e.Until = *until
		if c, err := getT(it, "created"); err != nil {
			return nil, fmt.Errorf("read exemption %d: created: %w", e.ID, err)
		} else if c != nil {
			e.Created = *c
		}
		out = append(out, e)
	}
	return out, nil
}

// RemoveExemption implements exempt.Store.
func (s *Store) RemoveExemption(ctx context.Context, id int64) error {
	_, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.journal), Key: exemptionKey(id),
		ConditionExpression: aws.String("attribute_exists(pk)")})
	var cf *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &cf):
		return fmt.Errorf("exemption %d: %w", id, exempt.ErrNotFound)
	case err != nil:
		return fmt.Errorf("remove exemption %d: %w", id, err)
	}
	return nil
}
