// Package awsguard makes every AWS answer keywarden acts on either complete
// or an error. The SDK, left alone, reads an HTTP 200 with an empty body as
// an empty result, stops its paginators on a page that says IsTruncated
// without a Marker, and waits forever on a connection that never answers:
// a scan would then see fewer users and resolve real issues as "deleted".
//
// Install adds three middlewares to an aws.Config, so every client built
// from it (IAM, STS, Organizations, SNS, SSM, DynamoDB...) carries them:
//
//   - a deadline on each attempt of each call, inside the retry loop;
//   - an HTTP 2xx answer with an empty body, or a body the SDK cannot
//     decode, is an error naming the service and the action;
//   - a decoded answer missing what the API guarantees (a truncated page
//     without a marker, GetUser without a user...) is an error naming the
//     action and the element.
//
// Each of these errors is retryable (RetryableError), so the SDK's standard
// retryer retries it like a transient 5xx: a one-off glitch heals, a
// persistent one fails the call once the attempts are spent.
package awsguard

import (
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go/middleware"
)

// DefaultAttemptTimeout bounds one attempt of one AWS call.
const DefaultAttemptTimeout = 60 * time.Second

// Options configure the guard.
type Options struct {
	// AttemptTimeout bounds each attempt of each call (default 60s): a call
	// that gets no complete answer in time is abandoned and retried.
	AttemptTimeout time.Duration
}

// Install appends the guard to cfg.APIOptions: every client built from cfg
// afterwards carries it.
func Install(cfg *aws.Config, o Options) {
	cfg.APIOptions = append(cfg.APIOptions, APIOption(o))
}

// APIOption is the guard as one stack option, for clients configured one by
// one (iam.Options.APIOptions).
func APIOption(o Options) func(*middleware.Stack) error {
	d := o.AttemptTimeout
	if d <= 0 {
		d = DefaultAttemptTimeout
	}
	return func(s *middleware.Stack) error {
		// Right after the retry middleware: each attempt gets its own
		// deadline, and the retryer sees the timeout.
		if err := s.Finalize.Insert(&deadline{d: d}, "Retry", middleware.After); err != nil {
			if err := s.Finalize.Add(&deadline{d: d}, middleware.Before); err != nil {
				return err
			}
		}
		if err := s.Initialize.Add(&firstPage{}, middleware.After); err != nil {
			return err
		}
		// Outermost in the Deserialize step: sees the decoded result and
		// any decoding error.
		if err := s.Deserialize.Add(&check{}, middleware.Before); err != nil {
			return err
		}
		// Innermost: sees the raw response before anything reads it.
		return s.Deserialize.Add(&body{}, middleware.After)
	}
}

// Error is an AWS answer that cannot be trusted: no answer within the
// attempt deadline, an empty or undecodable body, or a response missing an
// element the API guarantees.
type Error struct {
	// Service and Operation name the call ("IAM", "GetUser").
	Service, Operation string
	// Problem says what was wrong ("answered HTTP 200 with an empty body").
	Problem string
	// Err is the underlying error, if any.
	Err error
}

func (e *Error) Error() string {
	s := e.Service + " " + e.Operation + " " + e.Problem
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// RetryableError tells the SDK's retryer to retry the call like a transient
// server error.
func (e *Error) RetryableError() bool { return true }

func newError(service, op, format string, args ...any) *Error {
	return &Error{Service: service, Operation: op, Problem: fmt.Sprintf(format, args...)}
}
