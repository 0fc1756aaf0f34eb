package inventory

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go/middleware"
)

// DefaultAccountConcurrency is how many IAM calls one account has in flight
// at most by default. AWS publishes no IAM request rate: its knowledge
// center ("How do I resolve API throttling or Rate exceeded errors for IAM
// and AWS STS?", repost.aws/knowledge-center/iam-sts-throttling-error) says
// every caller of an account (console, CLI, applications) shares one rate
// limit that cannot be raised, and asks to spread calls out. Measured
// against an emulator answering in 40 ms (issue 13), 8 calls in flight
// confirmed 1,400 suspects in 8 s without throttling; at IAM's real
// latency (about 100 ms a read) 8 in flight is some 80 calls a second,
// about what tools that audit IAM users run at before "Rate exceeded".
// Anything more is left to --account-concurrency and to the adaptive
// limit: a throttled account halves its calls in flight.
const DefaultAccountConcurrency = 8

// Limiter bounds the calls in flight of one account, adaptively: a
// throttled call halves the limit (once per round of calls in flight),
// and each round of limit calls that go through unthrottled raises it by
// one, up to the most it may be (additive increase, multiplicative
// decrease).
type Limiter struct {
	mu        sync.Mutex
	max       int
	limit     int
	ok        int // unthrottled calls since the limit last changed
	inflight  int
	gen       int // bumped by each cut: throttles of calls started before it do not cut again
	wake      chan struct{}
	throttled int
}

// NewLimiter returns a limiter of at most n calls in flight (default
// DefaultAccountConcurrency).
func NewLimiter(n int) *Limiter {
	if n <= 0 {
		n = DefaultAccountConcurrency
	}
	return &Limiter{max: n, limit: n, wake: make(chan struct{})}
}

// Limit is the current bound of calls in flight.
func (l *Limiter) Limit() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.limit
}

// Throttled counts the calls that were throttled at least once.
func (l *Limiter) Throttled() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.throttled
}

func (l *Limiter) acquire(ctx context.Context) (int, error) {
	for {
		l.mu.Lock()
		if l.inflight < l.limit {
			l.inflight++
			g := l.gen
			l.mu.Unlock()
			return g, nil
		}
		ch := l.wake
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

func (l *Limiter) release(gen int, throttled bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inflight--
	switch {
	case throttled:
		l.throttled++
		if gen == l.gen {
			l.limit = max(1, l.limit/2)
			l.gen++
			l.ok = 0
		}
	case l.limit < l.max:
		if l.ok++; l.ok >= l.limit {
			l.limit++
			l.ok = 0
		}
	}
	close(l.wake)
	l.wake = make(chan struct{})
}

var throttles = retry.IsErrorThrottles(retry.DefaultThrottles)

// wasThrottled reports whether a call (any of its attempts) was throttled.
func wasThrottled(md middleware.Metadata, err error) bool {
	if err != nil && throttles.IsErrorThrottle(err) == aws.TrueTernary {
		return true
	}
	if res, ok := retry.GetAttemptResults(md); ok {
		for _, r := range res.Results {
			if r.Err != nil && throttles.IsErrorThrottle(r.Err) == aws.TrueTernary {
				return true
			}
		}
	}
	return false
}

// Reader returns c with every call going through the limiter.
func (l *Limiter) Reader(c IAMReader) IAMReader { return &limited{c: c, l: l} }

type limited struct {
	c IAMReader
	l *Limiter
}

// do runs one call under the limiter.
func do[O any](ctx context.Context, l *Limiter, call func() (*O, error), meta func(*O) middleware.Metadata) (*O, error) {
	g, err := l.acquire(ctx)
	if err != nil {
		return nil, err
	}
	out, err := call()
	var md middleware.Metadata
	if out != nil {
		md = meta(out)
	}
	l.release(g, wasThrottled(md, err))
	return out, err
}

func (r *limited) GenerateCredentialReport(ctx context.Context, in *iam.GenerateCredentialReportInput, o ...func(*iam.Options)) (*iam.GenerateCredentialReportOutput, error) {
	return do(ctx, r.l, func() (*iam.GenerateCredentialReportOutput, error) {
		return r.c.GenerateCredentialReport(ctx, in, o...)
	},
		func(x *iam.GenerateCredentialReportOutput) middleware.Metadata { return x.ResultMetadata })
}

func (r *limited) GetCredentialReport(ctx context.Context, in *iam.GetCredentialReportInput, o ...func(*iam.Options)) (*iam.GetCredentialReportOutput, error) {
	return do(ctx, r.l, func() (*iam.GetCredentialReportOutput, error) { return r.c.GetCredentialReport(ctx, in, o...) },
		func(x *iam.GetCredentialReportOutput) middleware.Metadata { return x.ResultMetadata })
}

func (r *limited) GetAccountAuthorizationDetails(ctx context.Context, in *iam.GetAccountAuthorizationDetailsInput, o ...func(*iam.Options)) (*iam.GetAccountAuthorizationDetailsOutput, error) {
	return do(ctx, r.l, func() (*iam.GetAccountAuthorizationDetailsOutput, error) {
		return r.c.GetAccountAuthorizationDetails(ctx, in, o...)
	}, func(x *iam.GetAccountAuthorizationDetailsOutput) middleware.Metadata { return x.ResultMetadata })
}

func (r *limited) ListUsers(ctx context.Context, in *iam.ListUsersInput, o ...func(*iam.Options)) (*iam.ListUsersOutput, error) {
	return do(ctx, r.l, func() (*iam.ListUsersOutput, error) { return r.c.ListUsers(ctx, in, o...) },
		func(x *iam.ListUsersOutput) middleware.Metadata { return x.ResultMetadata })
}

func (r *limited) ListAccessKeys(ctx context.Context, in *iam.ListAccessKeysInput, o ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error) {
	return do(ctx, r.l, func() (*iam.ListAccessKeysOutput, error) { return r.c.ListAccessKeys(ctx, in, o...) },
		func(x *iam.ListAccessKeysOutput) middleware.Metadata { return x.ResultMetadata })
}

func (r *limited) GetAccessKeyLastUsed(ctx context.Context, in *iam.GetAccessKeyLastUsedInput, o ...func(*iam.Options)) (*iam.GetAccessKeyLastUsedOutput, error) {
	return do(ctx, r.l, func() (*iam.GetAccessKeyLastUsedOutput, error) { return r.c.GetAccessKeyLastUsed(ctx, in, o...) },
		func(x *iam.GetAccessKeyLastUsedOutput) middleware.Metadata { return x.ResultMetadata })
}

func (r *limited) GetLoginProfile(ctx context.Context, in *iam.GetLoginProfileInput, o ...func(*iam.Options)) (*iam.GetLoginProfileOutput, error) {
	return do(ctx, r.l, func() (*iam.GetLoginProfileOutput, error) { return r.c.GetLoginProfile(ctx, in, o...) },
		func(x *iam.GetLoginProfileOutput) middleware.Metadata { return x.ResultMetadata })
}

func (r *limited) GetUser(ctx context.Context, in *iam.GetUserInput, o ...func(*iam.Options)) (*iam.GetUserOutput, error) {
	return do(ctx, r.l, func() (*iam.GetUserOutput, error) { return r.c.GetUser(ctx, in, o...) },
		func(x *iam.GetUserOutput) middleware.Metadata { return x.ResultMetadata })
}

func (r *limited) ListUserTags(ctx context.Context, in *iam.ListUserTagsInput, o ...func(*iam.Options)) (*iam.ListUserTagsOutput, error) {
	return do(ctx, r.l, func() (*iam.ListUserTagsOutput, error) { return r.c.ListUserTags(ctx, in, o...) },
		func(x *iam.ListUserTagsOutput) middleware.Metadata { return x.ResultMetadata })
}
