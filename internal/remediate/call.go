package remediate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"

	"github.com/keywarden/keywarden/internal/inventory"
)

// Defaults of the Executor's timing settings.
const (
	// DefaultCallTimeout bounds one AWS call, the SDK's own retries
	// included.
	DefaultCallTimeout = 60 * time.Second
	// DefaultVerifyFor is how long a state not yet changed after a
	// successful call is read again: IAM's eventual consistency.
	DefaultVerifyFor = 30 * time.Second
)

// ErrNoAnswer: an AWS call did not answer within the call timeout (or its
// answer was lost): a write may or may not have taken effect.
var ErrNoAnswer = errors.New("no answer from AWS")

func (e *Executor) callTimeout() time.Duration {
	if e.CallTimeout <= 0 {
		return DefaultCallTimeout
	}
	return e.CallTimeout
}

func (e *Executor) verifyFor() time.Duration {
	if e.VerifyFor <= 0 {
		return DefaultVerifyFor
	}
	return e.VerifyFor
}

// keyState finds a key of user by ID (nil when the user has no such key).
func (e *Executor) keyState(ctx context.Context, c IAMReader, user, keyID string) (*types.AccessKeyMetadata, error) {
	p := iam.NewListAccessKeysPaginator(c, &iam.ListAccessKeysInput{UserName: aws.String(user)})
	for p.HasMorePages() {
		var page *iam.ListAccessKeysOutput
		if err := e.retry(ctx, func(ctx context.Context) (err error) { page, err = p.NextPage(ctx); return err }); err != nil {
			return nil, err
		}
		// A truncated page without a marker would end the SDK's paginator
		// as if the list ended, and a missing list reads as empty: either
		// way the key would read as deleted.
		if err := complete("ListAccessKeys", "user "+user, page != nil && page.AccessKeyMetadata != nil &&
			!(page.IsTruncated && aws.ToString(page.Marker) == ""), "AccessKeyMetadata (or a truncated page without a marker)"); err != nil {
			return nil, err
		}
		for i := range page.AccessKeyMetadata {
			if aws.ToString(page.AccessKeyMetadata[i].AccessKeyId) == keyID {
				k := page.AccessKeyMetadata[i]
				return &k, nil
			}
		}
	}
	return nil, nil
}

// write makes the item's one mutating call, on the item's key ID or user
// only.
func (e *Executor) write(ctx context.Context, c IAMWriter, it Item) error {
	switch it.Op {
	case OpDeactivateKey, OpReactivateKey:
		if it.KeyID == "" || it.UserName == "" {
			return errors.New("no key ID or user name: refusing to call UpdateAccessKey")
		}
		status := types.StatusTypeInactive
		if it.Op == OpReactivateKey {
			status = types.StatusTypeActive
		}
		_, err := c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{
			UserName: aws.String(it.UserName), AccessKeyId: aws.String(it.KeyID), Status: status})
		return err
	case OpDeleteLoginProfile:
		if it.UserName == "" {
			return errors.New("no user name: refusing to call DeleteLoginProfile")
		}
		_, err := c.DeleteLoginProfile(ctx, &iam.DeleteLoginProfileInput{UserName: aws.String(it.UserName)})
		return err
	}
	return fmt.Errorf("unknown operation %q", it.Op)
}

// callName is the AWS action an operation calls.
func callName(o Op) string {
	if o == OpDeleteLoginProfile {
		return "DeleteLoginProfile"
	}
	return "UpdateAccessKey"
}

// liveState reads whether an action has taken effect, and what the live
// state shows, for people ("key Inactive", "key deleted", "login profile
// present").
func (e *Executor) liveState(ctx context.Context, c IAMReader, o Op, user, keyID string) (bool, string, error) {
	switch o {
	case OpDeactivateKey, OpReactivateKey:
		k, err := e.keyState(ctx, c, user, keyID)
		switch {
		case inventory.IsNoSuchEntity(err):
			return false, "user deleted", nil
		case err != nil:
			return false, "", err
		case k == nil:
			return false, "key deleted", nil
		}
		want := types.StatusTypeInactive
		if o == OpReactivateKey {
			want = types.StatusTypeActive
		}
		return k.Status == want, "key " + string(k.Status), nil
	case OpDeleteLoginProfile:
		err := e.retry(ctx, func(ctx context.Context) error {
			_, err := c.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: aws.String(user)})
			return err
		})
		switch {
		case inventory.IsNoSuchEntity(err):
			return true, "login profile deleted", nil
		case err != nil:
			return false, "", err
		}
		return false, "login profile present", nil
	}
	return false, "", fmt.Errorf("unknown operation %q", o)
}

// verify re-reads the live state after the call, as AWS's own runbook does.
// IAM is eventually consistent: when window is set (the call succeeded, or
// its answer was lost), a state not yet changed is read again with backoff
// for up to VerifyFor.
func (e *Executor) verify(ctx context.Context, c IAMReader, it Item, window bool) (bool, string, error) {
	d, waited, limit := e.backoff(), time.Duration(0), e.verifyFor()
	for {
		ok, shows, err := e.liveState(ctx, c, it.Op, it.UserName, it.KeyID)
		if err != nil || ok || !window || waited >= limit {
			return ok, shows, err
		}
		w := min(d, limit-waited)
		if err := sleep(ctx, w); err != nil {
			return false, shows, err
		}
		waited += w
		d *= 2
	}
}

func (e *Executor) backoff() time.Duration {
	if e.Backoff <= 0 {
		return time.Second
	}
	return e.Backoff
}

// retry runs fn again with exponential backoff while AWS throttles it. Each
// attempt gets its own deadline (CallTimeout): a hung call ends, with an
// error wrapping ErrNoAnswer.
func (e *Executor) retry(ctx context.Context, fn func(ctx context.Context) error) error {
	n := e.Attempts
	if n <= 0 {
		n = 4
	}
	d := e.backoff()
	for i := 0; ; i++ {
		err := e.attempt(ctx, fn)
		if err == nil || !Throttled(err) || i+1 >= n {
			return err
		}
		e.log().Warn("throttled, retrying", "attempt", i+1, "wait", d, "err", err)
		if err := sleep(ctx, d); err != nil {
			return err
		}
		d *= 2
	}
}

func (e *Executor) attempt(ctx context.Context, fn func(ctx context.Context) error) error {
	limit := e.callTimeout()
	cctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	err := fn(cctx)
	if err != nil && ctx.Err() == nil && cctx.Err() != nil {
		return fmt.Errorf("%w within %s: %w", ErrNoAnswer, limit, err)
	}
	return err
}

// answered reports whether a call's error is AWS's answer (an error code):
// the call was refused. Anything else — a timeout, a lost connection, an
// answer that could not be read, keywarden being stopped — leaves the
// write's effect unknown.
func answered(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && !errors.Is(err, ErrNoAnswer)
}

// Throttled reports whether err is an AWS throttling error.
func Throttled(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException", "RequestThrottled", "SlowDown":
		return true
	}
	return false
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
