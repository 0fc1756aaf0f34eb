package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keywarden/keywarden/internal/policy"
)

// ensureTables checks that every table exists and, when create is set,
// creates the missing ones (on-demand capacity, Hammer's key schema for the
// kinds) and waits until they are active.
func (s *Store) ensureTables(ctx context.Context, create bool) error {
	type spec struct {
		name string
		keys []types.KeySchemaElement
		defs []types.AttributeDefinition
	}
	specs := []spec{{
		name: s.meta,
		keys: []types.KeySchemaElement{{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeHash}},
		defs: []types.AttributeDefinition{{AttributeName: aws.String(attrPK), AttributeType: types.ScalarAttributeTypeS}},
	}}
	for _, name := range []string{s.journal, s.notify, s.history} {
		specs = append(specs, spec{
			name: name,
			keys: []types.KeySchemaElement{
				{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(attrSK), KeyType: types.KeyTypeRange},
			},
			defs: []types.AttributeDefinition{
				{AttributeName: aws.String(attrPK), AttributeType: types.ScalarAttributeTypeS},
				{AttributeName: aws.String(attrSK), AttributeType: types.ScalarAttributeTypeS},
			},
		})
	}
	for _, k := range policy.Kinds {
		specs = append(specs, spec{
			name: s.tables[k],
			keys: []types.KeySchemaElement{
				{AttributeName: aws.String(attrAccount), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(attrIssueID), KeyType: types.KeyTypeRange},
			},
			defs: []types.AttributeDefinition{
				{AttributeName: aws.String(attrAccount), AttributeType: types.ScalarAttributeTypeS},
				{AttributeName: aws.String(attrIssueID), AttributeType: types.ScalarAttributeTypeS},
			},
		})
	}
	var waiting []string
	for _, sp := range specs {
		out, err := s.api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(sp.name)})
		var nf *types.ResourceNotFoundException
		switch {
		case errors.As(err, &nf) && create:
			_, err := s.api.CreateTable(ctx, &dynamodb.CreateTableInput{
				TableName:            aws.String(sp.name),
				KeySchema:            sp.keys,
				AttributeDefinitions: sp.defs,
				BillingMode:          types.BillingModePayPerRequest,
			})
			var inUse *types.ResourceInUseException
			if err != nil && !errors.As(err, &inUse) { // another process may create it first
				return fmt.Errorf("create table %s: %w", sp.name, err)
			}
			waiting = append(waiting, sp.name)
		case errors.As(err, &nf):
			return fmt.Errorf("table %s does not exist: create it (deploy/) or set store.create_tables: %w", sp.name, err)
		case err != nil:
			return fmt.Errorf("describe table %s: %w", sp.name, err)
		default:
			if out.Table != nil && out.Table.TableStatus != types.TableStatusActive {
				waiting = append(waiting, sp.name)
			}
		}
	}
	for _, name := range waiting {
		if err := s.waitActive(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

// waitActive polls until the table is active (seconds on DynamoDB,
// immediate on a local test server), for at most two minutes.
func (s *Store) waitActive(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	delay := 20 * time.Millisecond
	for {
		out, err := s.api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err == nil && out.Table != nil && out.Table.TableStatus == types.TableStatusActive {
			return nil
		}
		var nf *types.ResourceNotFoundException
		if err != nil && !errors.As(err, &nf) {
			return fmt.Errorf("wait for table %s: %w", name, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for table %s to be active: %w", name, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}
