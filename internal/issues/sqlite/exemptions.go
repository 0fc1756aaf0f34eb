package sqlite

import (
	"context"

	"fmt"

	"github.com/keywarden/keywarden/internal/exempt"
	"github.com/keywarden/keywarden/internal/policy"
)

// migrationExemptions creates the exemptions with an end people add
// (keywarden exempt add; owned by internal/exempt). AUTOINCREMENT: a
// removed exemption's ID is never given again.
const migrationExemptions = `CREATE TABLE exemptions (
		id         INTEGER PRIMARY KEY AUTOINCREMENT,
		kind       TEXT    NOT NULL DEFAULT '',
		account_id TEXT    NOT NULL,
		subject    TEXT    NOT NULL,
		until      TEXT    NOT NULL,
		owner      TEXT    NOT NULL,
		reason     TEXT    NOT NULL,
		created    TEXT    NOT NULL
	);`

var _ exempt.Store = (*Store)(nil)

// AddExemption implements exempt.Store.
func (s *Store) AddExemption(ctx context.Context, e *policy.Exemption) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	res, err := s.db.ExecContext(ctx, `INSERT INTO exemptions (kind, account_id, subject, until, owner, reason, created)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, string(e.Kind), e.AccountID, e.Subject, formatTime(e.Until), e.Owner, e.Reason, formatTime(e.Created))
	if err != nil {
		return fmt.Errorf("store exemption: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("store exemption: %w", err)
	}
	e.ID, e.Source = id, policy.SourceStore
	return nil
}

// Exemptions implements exempt.Store.
func (s *Store) Exemptions(ctx context.Context) ([]policy.Exemption, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, kind, account_id, subject, until, owner, reason, created
		FROM exemptions ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("read exemptions: %w", err)
	}
	defer rows.Close()
	var out []policy.Exemption
	for rows.Next() {
		var e policy.Exemption
		var kind, until, created string
		if err := rows.Scan(&e.ID, &kind, &e.AccountID, &e.Subject, &until, &e.Owner, &e.Reason, &created); err != nil {
			return nil, fmt.Errorf("read exemptions: %w", err)
		}
		e.Kind, e.Source = policy.Kind(kind), policy.SourceStore
		if e.Until, err = parseTime(until); err != nil {
			return nil, fmt.Errorf("read exemption %d: until %q: %w", e.ID, until, err)
		}
		if e.Created, err = parseTime(created); err != nil {
			return nil, fmt.Errorf("read exemption %d: created %q: %w", e.ID, created, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read exemptions: %w", err)
	}
	return out, nil
}

// RemoveExemption implements exempt.Store.
func (s *Store) RemoveExemption(ctx context.Context, id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	res, err := s.db.ExecContext(ctx, `DELETE FROM exemptions WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("remove exemption %d: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("remove exemption %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("exemption %d: %w", id, exempt.ErrNotFound)
	}
	return nil
}
