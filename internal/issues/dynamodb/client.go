package dynamodb

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// Open returns a Store on a DynamoDB client made from ac; endpoint, when
// set, replaces DynamoDB's (a local DynamoDB-compatible server).
func Open(ctx context.Context, ac aws.Config, endpoint string, o Options) (*Store, error) {
	client := dynamodb.NewFromConfig(ac, func(opts *dynamodb.Options) {
		if endpoint != "" {
			opts.BaseEndpoint = aws.String(endpoint)
		}
	})
	return New(ctx, client, o)
}
