package awsguard

import (
	"context"
	"errors"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
)

// deadline bounds one attempt. It sits inside the retry loop: a hung
// attempt is abandoned and retried, and the retryer's own waits do not
// count against it.
type deadline struct{ d time.Duration }

func (*deadline) ID() string { return "KeywardenAttemptDeadline" }

func (m *deadline) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (
	out middleware.FinalizeOutput, md middleware.Metadata, err error,
) {
	actx, cancel := context.WithTimeout(ctx, m.d)
	defer cancel()
	out, md, err = next.HandleFinalize(actx, in)
	if err != nil && ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
		// The SDK reports the expired attempt as a cancellation, which its
		// retryer never retries. Not wrapped: the retryer must not find
		// the cancellation inside.
		e := newError(awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx),
			"gave no complete answer within %s (the deadline of one attempt)", m.d)
		e.Err = context.DeadlineExceeded
		err = e
	}
	return out, md, err
}
