package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/keywarden/keywarden/internal/issues"
)

// migrationScans records, per account, the as-of of its last tracked scan
// (issues.Changes.Scan): a scan as of an earlier time must not rewrite the
// account's issues.
const migrationScans = `CREATE TABLE scans (
		account_id TEXT PRIMARY KEY,
		as_of      TEXT NOT NULL
	);`

// LastScan returns the as-of of the account's last tracked scan.
func (s *Store) LastScan(ctx context.Context, account string) (time.Time, bool, error) {
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT as_of FROM scans WHERE account_id = ?`, account).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return time.Time{}, false, nil
	case err != nil:
		return time.Time{}, false, fmt.Errorf("last tracked scan of %s: %w", account, err)
	}
	t, err := parseTime(v)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("last tracked scan of %s: %w", account, err)
	}
	return t, true, nil
}

// recordScan stores sc as its account's last tracked scan inside tx, or
// fails with issues.ErrStaleScan when a later one is recorded. The stored
// times have a fixed width in UTC, so they compare as text.
func recordScan(ctx context.Context, tx *sql.Tx, sc *issues.TrackedScan) error {
	at := formatTime(sc.AsOf)
	var last string
	err := tx.QueryRowContext(ctx, `SELECT as_of FROM scans WHERE account_id = ?`, sc.AccountID).Scan(&last)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("read last tracked scan of %s: %w", sc.AccountID, err)
	case last > at:
		return fmt.Errorf("scan of %s as of %s: last tracked scan is as of %s: %w", sc.AccountID, at, last, issues.ErrStaleScan)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO scans (account_id, as_of) VALUES (?, ?)
		ON CONFLICT (account_id) DO UPDATE SET as_of = excluded.as_of`, sc.AccountID, at); err != nil {
		return fmt.Errorf("record tracked scan of %s: %w", sc.AccountID, err)
	}
	return nil
}
