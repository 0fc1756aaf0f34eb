package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
)

// migrationJournal creates the remediation journal: one row per action,
// written as an intent before the AWS call and finished after it. At most
// one unfinished intent per credential (journal_one_intent): two runs can
// never act on the same key at once, and a crashed action blocks its
// credential until reconciled.
const migrationJournal = `CREATE TABLE journal (
		id               INTEGER PRIMARY KEY AUTOINCREMENT,
		op               TEXT    NOT NULL,
		state            TEXT    NOT NULL,
		account_id       TEXT    NOT NULL,
		user_name        TEXT    NOT NULL,
		key_id           TEXT    NOT NULL DEFAULT '',
		kinds            TEXT    NOT NULL DEFAULT '',
		issue_ids        TEXT    NOT NULL DEFAULT '',
		reason           TEXT    NOT NULL DEFAULT '',
		before_status    TEXT    NOT NULL DEFAULT '',
		before_last_used TEXT,
		rollback_of      INTEGER REFERENCES journal (id),
		started          TEXT    NOT NULL,
		finished         TEXT,
		note             TEXT    NOT NULL DEFAULT ''
	);
	CREATE UNIQUE INDEX journal_one_intent ON journal (account_id, user_name, key_id)
		WHERE state = 'intent';
	CREATE INDEX journal_started ON journal (started);`

// migrationJournalCalled records when an action's AWS call returned (an
// intent without it is in doubt) and a rollback's hold.
const migrationJournalCalled = `ALTER TABLE journal ADD COLUMN called TEXT;
	ALTER TABLE journal ADD COLUMN hold_until TEXT;`

var _ remediate.Journal = (*Store)(nil)

// Begin implements remediate.Journal.
func (s *Store) Begin(ctx context.Context, a *remediate.Action) error {
	if a.Op == "" || a.AccountID == "" || a.UserName == "" {
		return fmt.Errorf("journal: an action needs an operation, an account and a user")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var rb any
	if a.RollbackOf != 0 {
		rb = a.RollbackOf
	}
	kinds := make([]string, len(a.Kinds))
	for i, k := range a.Kinds {
		kinds[i] = string(k)
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO journal
		(op, state, account_id, user_name, key_id, kinds, issue_ids, reason, before_status, before_last_used, rollback_of, hold_until, started)
		VALUES (?, 'intent', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		string(a.Op), a.AccountID, a.UserName, a.KeyID, strings.Join(kinds, ","), joinIDs(a.IssueIDs),
		a.Reason, a.BeforeStatus, formatTimePtr(a.BeforeLastUsed), rb, formatTimePtr(a.HoldUntil), formatTime(a.Started))
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE constraint failed") {
			return fmt.Errorf("journal: %s %s of %s in %s: %w", a.Op, a.KeyID, a.UserName, a.AccountID, remediate.ErrIntentExists)
		}
		return fmt.Errorf("journal: write intent: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("journal: write intent: %w", err)
	}
	a.ID, a.State = id, remediate.StateIntent
	return nil
}

// MarkCalled implements remediate.Journal.
func (s *Store) MarkCalled(ctx context.Context, id int64, at time.Time, note string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	res, err := s.db.ExecContext(ctx, `UPDATE journal SET called = ?, note = ?
		WHERE id = ? AND state = 'intent'`, formatTime(at), note, id)
	if err != nil {
		return fmt.Errorf("journal: record the call of action %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("journal: record the call of action %d: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("journal: action %d: %w", id, remediate.ErrAlreadyFinished)
	}
	return nil
}

// Finish implements remediate.Journal.
func (s *Store) Finish(ctx context.Context, id int64, state remediate.State, at time.Time, note string) error {
	if !remediate.CanFinish(remediate.StateIntent, state) {
		return fmt.Errorf("journal: action %d: cannot finish as %q", id, state)
	}
	var from []any
	for _, st := range remediate.States {
		if remediate.CanFinish(st, state) {
			from = append(from, string(st))
		}
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(from)), ", ")
	s.mu.Lock()
	defer s.mu.Unlock()
	res, err := s.db.ExecContext(ctx, `UPDATE journal SET state = ?, finished = ?, note = ?
		WHERE id = ? AND state IN (`+marks+`)`, append([]any{string(state), formatTime(at), note, id}, from...)...)
	if err != nil {
		return fmt.Errorf("journal: finish action %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("journal: finish action %d: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("journal: action %d: %w", id, remediate.ErrAlreadyFinished)
	}
	return nil
}

// Actions implements remediate.Journal.
func (s *Store) Actions(ctx context.Context, f remediate.ActionFilter) ([]remediate.Action, error) {
	var where []string
	var args []any
	if f.ID != 0 {
		where, args = append(where, "id = ?"), append(args, f.ID)
	}
	if f.IssueID != 0 {
		where, args = append(where, "(',' || issue_ids || ',') LIKE ?"), append(args, "%,"+strconv.FormatInt(f.IssueID, 10)+",%")
	}
	if f.AccountID != "" {
		where, args = append(where, "account_id = ?"), append(args, f.AccountID)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "started >= ?"), append(args, formatTime(f.Since))
	}
	if f.RollbackOf != 0 {
		where, args = append(where, "rollback_of = ?"), append(args, f.RollbackOf)
	}
	if len(f.States) > 0 {
		marks := make([]string, len(f.States))
		for i, st := range f.States {
			marks[i], args = "?", append(args, string(st))
		}
		where = append(where, "state IN ("+strings.Join(marks, ", ")+")")
	}
	if len(f.Ops) > 0 {
		marks := make([]string, len(f.Ops))
		for i, op := range f.Ops {
			marks[i], args = "?", append(args, string(op))
		}
		where = append(where, "op IN ("+strings.Join(marks, ", ")+")")
	}
	q := `SELECT id, op, state, account_id, user_name, key_id, kinds, issue_ids, reason,
		before_status, before_last_used, rollback_of, hold_until, started, called, finished, note FROM journal`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := s.db.QueryContext(ctx, q+" ORDER BY id", args...)
	if err != nil {
		return nil, fmt.Errorf("journal: list: %w", err)
	}
	defer rows.Close()
	var out []remediate.Action
	for rows.Next() {
		var (
			a                     remediate.Action
			op, state, kinds, ids string
			started               string
			lastUsed, finished    sql.NullString
			hold, called          sql.NullString
			rollbackOf            sql.NullInt64
		)
		if err := rows.Scan(&a.ID, &op, &state, &a.AccountID, &a.UserName, &a.KeyID, &kinds, &ids, &a.Reason,
			&a.BeforeStatus, &lastUsed, &rollbackOf, &hold, &started, &called, &finished, &a.Note); err != nil {
			return nil, fmt.Errorf("journal: list: %w", err)
		}
		a.Op, a.State, a.RollbackOf = remediate.Op(op), remediate.State(state), rollbackOf.Int64
		if kinds != "" {
			for _, k := range strings.Split(kinds, ",") {
				a.Kinds = append(a.Kinds, policy.Kind(k))
			}
		}
		if ids != "" {
			for _, x := range strings.Split(ids, ",") {
				n, err := strconv.ParseInt(x, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("journal: action %d: issue IDs %q: %w", a.ID, ids, err)
				}
				a.IssueIDs = append(a.IssueIDs, n)
			}
		}
		if a.Started, err = parseTime(started); err != nil {
			return nil, fmt.Errorf("journal: action %d: started: %w", a.ID, err)
		}
		for _, p := range []struct {
			src sql.NullString
			dst **time.Time
		}{{lastUsed, &a.BeforeLastUsed}, {hold, &a.HoldUntil}, {called, &a.Called}, {finished, &a.Finished}} {
			if !p.src.Valid {
				continue
			}
			t, err := parseTime(p.src.String)
			if err != nil {
				return nil, fmt.Errorf("journal: action %d: %w", a.ID, err)
			}
			*p.dst = &t
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("journal: list: %w", err)
	}
	return out, nil
}

func joinIDs(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(s, ",")
}
