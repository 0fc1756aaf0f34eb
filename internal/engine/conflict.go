package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/policy"
)

// conflictAttempts bounds how often tracking one account reads the live
// issues, reconciles and applies when other writers keep getting there
// first (issues.ErrConflict).
const conflictAttempts = 8

// conflictBackoff is the longest wait before the second attempt; it
// doubles with every further attempt, with jitter so that writers that
// collided do not collide again.
const conflictBackoff = 20 * time.Millisecond

// trackRetrying is track, done again from a fresh read of the live issues
// when another writer (a second scan of the same store) changed them
// between this one's read and its Apply: Apply then stored nothing, and the
// findings are reconciled with what that writer stored. It gives up after
// conflictAttempts attempts.
func (e *Engine) trackRetrying(ctx context.Context, facts *inventory.Facts, findings []policy.Finding, asOf time.Time) (*issues.Changes, error) {
	for attempt := 1; ; attempt++ {
		ch, err := e.track(ctx, facts, findings, asOf)
		if err == nil || !errors.Is(err, issues.ErrConflict) {
			return ch, err
		}
		if attempt == conflictAttempts {
			return nil, fmt.Errorf("%w (gave up after %d attempts: other writers kept changing the issues of this account)", err, attempt)
		}
		wait := conflictBackoff << (attempt - 1)
		wait = wait/2 + rand.N(wait/2+1)
		e.log().Info("the issue store was changed by another writer: reconciling again",
			"account", facts.Account.ID, "attempt", attempt+1, "err", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (while retrying after: %w)", ctx.Err(), err)
		case <-time.After(wait):
		}
	}
}
