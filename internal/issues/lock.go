package issues

import (
	"context"
	"errors"
	"time"
)

// ErrLocked is returned by Locker.Lock when another owner holds the lock and
// its lease has not expired.
var ErrLocked = errors.New("locked by another owner")

// Locker is a named lease kept in the store, so that runners sharing a
// store (two daemons on one DynamoDB table, two cron jobs on one SQLite
// file) never run at once.
//
// Lock takes the lock name for owner until ttl has passed, and returns the
// function that releases it. It fails with an error wrapping ErrLocked while
// another owner holds an unexpired lease. The same owner locking again
// renews its lease. An expired lease is taken over: a crashed runner blocks
// the others for ttl at most, so ttl must exceed the longest run (or the
// holder must renew by locking again). release only ever removes the
// caller's own lease; releasing a lease that expired and was taken over is
// not an error and leaves the new holder's lease alone.
type Locker interface {
	Lock(ctx context.Context, name, owner string, ttl time.Duration) (release func(context.Context) error, err error)
}
