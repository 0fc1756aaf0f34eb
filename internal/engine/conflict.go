package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/keywarden/keywarden/internal/issues"
)

// conflictAttempts bounds how often tracking one account reads the live
// issues, reconciles and applies when other writers keep getting there
// first (issues.ErrConflict).
const conflictAttempts = 8

// conflictBackoff is the longest wait before the second attempt; it
// doubles with every further attempt, with jitter so that writers that
// collided do not collide again.
const conflictBackoff = 20 * time.Millisecond

// retryConflicts runs try, tracking one account, again while it fails
// with issues.ErrConflict: another writer (a second scan of the same store)
// changed the account's issues between try's read of the live issues and
// its Apply, which then stored nothing; the next try reads what that writer
// stored and reconciles the findings with it. It gives up after
// conflictAttempts tries.
func (e *Engine) retryConflicts(ctx context.Context, account string, try func() error) error {
	for attempt := 1; ; attempt++ {
		err := try()
		if err == nil || !errors.Is(err, issues.ErrConflict) {
			return err
		}
		if attempt == conflictAttempts {
			return fmt.Errorf("%w (gave up after %d attempts: other writers kept changing the issues of this account)", err, attempt)
		}
		wait := conflictBackoff << (attempt - 1)
		wait = wait/2 + rand.N(wait/2+1)
		e.log().Info("the issue store was changed by another writer: reconciling again",
			"account", account, "attempt", attempt+1, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (while retrying after: %w)", ctx.Err(), err)
		case <-time.After(wait):
		}
	}
}
