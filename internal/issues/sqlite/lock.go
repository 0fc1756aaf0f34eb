package sqlite

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keywarden/keywarden/internal/issues"
)

var _ issues.Locker = (*Store)(nil)

// createLocks is run at the first Lock rather than as a migration, so that
// the run lock adds no schema version: a database that never locked is the
// same as before, and older keywardens still open it.
const createLocks = `CREATE TABLE IF NOT EXISTS locks (
	name       TEXT    PRIMARY KEY,
	owner      TEXT    NOT NULL,
	expires_ms INTEGER NOT NULL
)`

// nowMS is SQLite's clock in Unix milliseconds: only cmd/ reads the Go
// clock, and every process sharing the file reads the same one.
const nowMS = `CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)`

// Lock takes the lease name for owner (see issues.Locker). The lease is one
// row of the locks table, taken or renewed by a single upsert that succeeds
// only if the row is absent, expired or already owner's, so two processes
// sharing the file cannot both hold it.
func (s *Store) Lock(ctx context.Context, name, owner string, ttl time.Duration) (func(context.Context) error, error) {
	if err := lockArgs(name, owner, ttl); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.db.ExecContext(ctx, createLocks); err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO locks (name, owner, expires_ms)
		VALUES (?, ?, `+nowMS+` + ?)
		ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_ms = excluded.expires_ms
		WHERE locks.owner = excluded.owner OR locks.expires_ms <= `+nowMS,
		name, owner, ttl.Milliseconds())
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	n, err := res.RowsAffected()
	switch {
	case err != nil:
		return nil, fmt.Errorf("lock %s: %w", name, err)
	case n == 0:
		return nil, fmt.Errorf("lock %s: %w", name, issues.ErrLocked)
	}
	release := func(ctx context.Context) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, err := s.db.ExecContext(ctx, `DELETE FROM locks WHERE name = ? AND owner = ?`, name, owner); err != nil {
			return fmt.Errorf("release lock %s: %w", name, err)
		}
		return nil
	}
	return release, nil
}

func lockArgs(name, owner string, ttl time.Duration) error {
	switch {
	case name == "":
		return errors.New("lock: no name")
	case owner == "":
		return fmt.Errorf("lock %s: no owner", name)
	case ttl < time.Millisecond:
		return fmt.Errorf("lock %s: lease %v is too short", name, ttl)
	}
	return nil
}
