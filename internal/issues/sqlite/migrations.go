package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations are the schema, in order: migrations[i] brings the database to
// version i+1. Each runs in its own transaction with the row that records
// it in schema_migrations. Append only: never edit a released migration.
var migrations = []string{
	// 1: issues, at most one live (open or whitelisted) issue per credential;
	// closed issues are history and stay.
	`CREATE TABLE issues (
		id           INTEGER PRIMARY KEY AUTOINCREMENT,
		kind         TEXT    NOT NULL,
		account_id   TEXT    NOT NULL,
		subject      TEXT    NOT NULL,
		status       TEXT    NOT NULL,
		stage        TEXT    NOT NULL DEFAULT '',
		exemption    TEXT    NOT NULL DEFAULT '',
		username     TEXT    NOT NULL DEFAULT '',
		create_date  TEXT    NOT NULL DEFAULT '',
		last_used    TEXT    NOT NULL DEFAULT '',
		user_arn     TEXT    NOT NULL DEFAULT '',
		key_slot     INTEGER NOT NULL DEFAULT 0,
		age_days     INTEGER NOT NULL DEFAULT 0,
		limit_days   INTEGER NOT NULL DEFAULT 0,
		days_left    INTEGER NOT NULL DEFAULT 0,
		deadline     TEXT,
		detected     TEXT    NOT NULL,
		updated      TEXT    NOT NULL,
		reported     TEXT,
		remediated   TEXT,
		closed       TEXT,
		close_reason TEXT    NOT NULL DEFAULT ''
	);
	CREATE UNIQUE INDEX issues_live ON issues (kind, account_id, subject)
		WHERE status IN ('open', 'whitelisted');
	CREATE INDEX issues_account ON issues (account_id, kind, status);`,
	// 2: the remediation journal (journal.go).
	migrationJournal,
	// 3: notification delivery state (deliveries.go).
	migrationDeliveries,
	// 4: each account's last tracked scan (scans.go).
	migrationScans,
	// 5: the journal records when a call returned, and rollback holds
	// (journal.go).
	migrationJournalCalled,
	// 6: exemptions with an end (exemptions.go).
	migrationExemptions,
}

// SchemaVersionError is returned by Open for a database written by a newer
// keywarden: its schema version is beyond the migrations this binary knows.
type SchemaVersionError struct {
	Path    string
	Version int // the database's
	Known   int // the newest this binary knows
}

func (e *SchemaVersionError) Error() string {
	return fmt.Sprintf("%s has schema version %d, this keywarden knows up to %d: upgrade keywarden",
		e.Path, e.Version, e.Known)
}

// migrate brings the database to the newest version in ms, refusing a
// database that is already newer. It is safe to run concurrently from
// several processes: each step re-reads the version inside its (immediate)
// transaction.
func migrate(ctx context.Context, db *sql.DB, path string, ms []string) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at TEXT NOT NULL
	)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	v, err := schemaVersion(ctx, db)
	if err != nil {
		return err
	}
	if v > len(ms) {
		return &SchemaVersionError{Path: path, Version: v, Known: len(ms)}
	}
	for i := v; i < len(ms); i++ {
		if err := migrateStep(ctx, db, path, i+1, ms); err != nil {
			return err
		}
	}
	return nil
}

func migrateStep(ctx context.Context, db *sql.DB, path string, version int, ms []string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate to schema version %d: %w", version, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	cur, err := schemaVersion(ctx, tx)
	if err != nil {
		return err
	}
	switch {
	case cur > len(ms):
		return &SchemaVersionError{Path: path, Version: cur, Known: len(ms)}
	case cur >= version: // another process got there first
		return nil
	}
	if _, err := tx.ExecContext(ctx, ms[version-1]); err != nil {
		return fmt.Errorf("migrate to schema version %d: %w", version, err)
	}
	// applied_at comes from SQLite's clock: only cmd/ reads the Go clock.
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at)
		VALUES (?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))`, version); err != nil {
		return fmt.Errorf("migrate to schema version %d: %w", version, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate to schema version %d: %w", version, err)
	}
	return nil
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func schemaVersion(ctx context.Context, q queryer) (int, error) {
	var v int
	if err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}
