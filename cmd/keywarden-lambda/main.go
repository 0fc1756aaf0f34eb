// Command keywarden-lambda runs keywarden on AWS Lambda (provided.al2023):
// each EventBridge scheduled event runs `keywarden run`. Build it as the
// function's bootstrap:
//
//	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc -o bootstrap ./cmd/keywarden-lambda
//	zip -j keywarden.zip bootstrap && (cd deploy/lambda && zip -r ../../keywarden.zip config)
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/keywarden/keywarden/internal/cli"
)

func main() {
	lambda.Start(cli.LambdaHandler(cli.DefaultEnv()))
}
