package accounts

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// Retry defaults: IAM throttles per account (Throttling: Rate exceeded); an
// organization-wide scan must slow down, not fail.
const (
	DefaultMaxAttempts = 10
	DefaultMaxBackoff  = 20 * time.Second
)

// Retry configures the AWS clients' retries: the SDK's standard mode —
// throttling and transient errors retried with full-jitter exponential
// backoff (up to MaxBackoff), bounded attempts, and the SDK's retry quota
// so that a failing endpoint is not hammered.
//
// Not the SDK's adaptive mode: its client-side rate limiter learns the send
// rate of a long-lived client, while keywarden's clients live for one
// account's scan. A throttle among the first calls pins the rate at the
// limiter's floor of 0.5 requests/s (measured in the throttling test: ten
// attempts of one call took 16 s with a 5 ms backoff cap). Within an account
// the request rate is already bounded by the confirmation concurrency, and
// across accounts by --concurrency.
type Retry struct {
	// MaxAttempts per call, first attempt included (default 10).
	MaxAttempts int
	// MaxBackoff caps the jittered exponential backoff (default 20s).
	MaxBackoff time.Duration
}

// Retryer returns a new retryer; each client gets its own (its own retry
// quota), so one account's throttling does not starve the others' retries.
func (r Retry) Retryer() aws.Retryer {
	attempts, backoff := r.attempts(), r.MaxBackoff
	if backoff <= 0 {
		backoff = DefaultMaxBackoff
	}
	return retry.NewStandard(func(so *retry.StandardOptions) {
		so.MaxAttempts = attempts
		so.MaxBackoff = backoff
		so.Backoff = retry.NewExponentialJitterBackoff(backoff)
	})
}

// attempts is MaxAttempts or its default. Clients get it as their
// RetryMaxAttempts too, which would otherwise come from AWS_MAX_ATTEMPTS and
// override the retryer's.
func (r Retry) attempts() int {
	if r.MaxAttempts <= 0 {
		return DefaultMaxAttempts
	}
	return r.MaxAttempts
}
