package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/notify"
)

// migrationDeliveries creates the notification delivery state (owned by
// internal/notify): one row per notice of an issue on a channel to a
// target; the tickets opened for issues (one per issue and tracker, which
// the primary key enforces); which closed issues a channel is done with;
// and the IAM user's tags on each issue (the Slack mention).
const migrationDeliveries = `CREATE TABLE deliveries (
		id         INTEGER PRIMARY KEY AUTOINCREMENT,
		issue_id   INTEGER NOT NULL REFERENCES issues (id),
		channel    TEXT    NOT NULL,
		target     TEXT    NOT NULL DEFAULT '',
		event      TEXT    NOT NULL,
		seq        INTEGER NOT NULL DEFAULT 1,
		state      TEXT    NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'cancelled')),
		attempts   INTEGER NOT NULL DEFAULT 0,
		last_error TEXT    NOT NULL DEFAULT '',
		ref        TEXT    NOT NULL DEFAULT '',
		note       TEXT    NOT NULL DEFAULT '',
		created    TEXT    NOT NULL,
		updated    TEXT    NOT NULL,
		sent       TEXT,
		UNIQUE (issue_id, channel, target, event, seq)
	);
	CREATE INDEX deliveries_live ON deliveries (issue_id) WHERE state IN ('pending', 'sending');
	CREATE TABLE tickets (
		issue_id INTEGER NOT NULL REFERENCES issues (id),
		system   TEXT    NOT NULL,
		key      TEXT    NOT NULL,
		assignee TEXT    NOT NULL DEFAULT '',
		parent   TEXT    NOT NULL DEFAULT '',
		closed   INTEGER NOT NULL DEFAULT 0,
		created  TEXT    NOT NULL,
		updated  TEXT    NOT NULL,
		PRIMARY KEY (issue_id, system)
	);
	CREATE TABLE notify_finished (
		issue_id INTEGER NOT NULL REFERENCES issues (id),
		channel  TEXT    NOT NULL,
		at       TEXT    NOT NULL,
		PRIMARY KEY (issue_id, channel)
	);
	ALTER TABLE issues ADD COLUMN tags TEXT NOT NULL DEFAULT '';`

var _ notify.Store = (*Store)(nil)

func encodeTags(tags map[string]string) string {
	if len(tags) == 0 {
		return ""
	}
	b, _ := json.Marshal(tags) // a map of strings always marshals
	return string(b)
}

func decodeTags(s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

const deliveryColumns = `id, issue_id, channel, target, event, seq, state, attempts, last_error, ref, note, created, updated, sent`

// Deliveries returns every delivery of the given issues, by ID.
func (s *Store) Deliveries(ctx context.Context, issueIDs []int64) ([]notify.Delivery, error) {
	var out []notify.Delivery
	for start := 0; start < len(issueIDs); start += 500 {
		chunk := issueIDs[start:min(start+500, len(issueIDs))]
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ")
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := s.db.QueryContext(ctx, "SELECT "+deliveryColumns+" FROM deliveries WHERE issue_id IN ("+marks+") ORDER BY id", args...)
		if err != nil {
			return nil, fmt.Errorf("read deliveries: %w", err)
		}
		for rows.Next() {
			d, err := scanDelivery(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("read deliveries: %w", err)
			}
			out = append(out, *d)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("read deliveries: %w", err)
		}
	}
	return out, nil
}

func scanDelivery(sc scanner) (*notify.Delivery, error) {
	var (
		d                notify.Delivery
		event, state     string
		created, updated string
		sent             sql.NullString
	)
	if err := sc.Scan(&d.ID, &d.IssueID, &d.Channel, &d.Target, &event, &d.Seq, &state, &d.Attempts,
		&d.LastError, &d.Ref, &d.Note, &created, &updated, &sent); err != nil {
		return nil, err
	}
	d.Event, d.State = notify.Event(event), notify.State(state)
	var err error
	if d.Created, err = parseTime(created); err != nil {
		return nil, err
	}
	if d.Updated, err = parseTime(updated); err != nil {
		return nil, err
	}
	if sent.Valid {
		t, err := parseTime(sent.String)
		if err != nil {
			return nil, err
		}
		d.SentAt = &t
	}
	return &d, nil
}

// writeNotify runs fn in one write transaction.
func (s *Store) writeNotify(ctx context.Context, what string, fn func(tx *sql.Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := fn(tx); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: commit: %w", what, err)
	}
	return nil
}

// PlanDeliveries inserts the new pending deliveries (their IDs and times set in
// place) and cancels others, in one transaction.
func (s *Store) PlanDeliveries(ctx context.Context, add []*notify.Delivery, cancel []*notify.Delivery, at time.Time) error {
	if len(add)+len(cancel) == 0 {
		return nil
	}
	ids := make([]int64, len(add))
	err := s.writeNotify(ctx, "plan deliveries", func(tx *sql.Tx) error {
		for i, d := range add {
			res, err := tx.ExecContext(ctx, `INSERT INTO deliveries
				(issue_id, channel, target, event, seq, state, created, updated)
				VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)`,
				d.IssueID, d.Channel, d.Target, string(d.Event), d.Seq, formatTime(at), formatTime(at))
			if err != nil {
				return fmt.Errorf("issue %d %s %s %s #%d: %w", d.IssueID, d.Channel, d.Target, d.Event, d.Seq, err)
			}
			if ids[i], err = res.LastInsertId(); err != nil {
				return err
			}
		}
		for _, d := range cancel {
			if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET state = 'cancelled', note = ?, updated = ?
				WHERE id = ? AND state IN ('pending', 'sending')`, d.Note, formatTime(at), d.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, d := range add {
		d.ID, d.State, d.Created, d.Updated = ids[i], notify.Pending, at, at
	}
	for _, d := range cancel {
		d.State = notify.Cancelled
	}
	return nil
}

func idArgs(ids []int64) (string, []any) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", "), args
}

// MarkSending marks live deliveries as being sent.
func (s *Store) MarkSending(ctx context.Context, ids []int64, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	marks, args := idArgs(ids)
	return s.writeNotify(ctx, "mark deliveries sending", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE deliveries SET state = 'sending', attempts = attempts + 1, updated = ?
			WHERE state IN ('pending', 'sending') AND id IN (`+marks+`)`, append([]any{formatTime(at)}, args...)...)
		return err
	})
}

// MarkDelivered marks deliveries sent with ref and sets the reported time of
// the issues of the violation notices among them when it is unset (Hammer's
// timestamps.reported: the report of the violation, from which
// remediation_retention_period counts).
func (s *Store) MarkDelivered(ctx context.Context, ids []int64, ref string, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	marks, args := idArgs(ids)
	ts := formatTime(at)
	return s.writeNotify(ctx, "mark deliveries sent", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET state = 'sent', ref = ?, last_error = '', sent = ?, updated = ?
			WHERE id IN (`+marks+`)`, append([]any{ref, ts, ts}, args...)...); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE issues SET reported = ? WHERE reported IS NULL
			AND id IN (SELECT issue_id FROM deliveries WHERE event = 'violation' AND id IN (`+marks+`))`, append([]any{ts}, args...)...)
		return err
	})
}

// MarkFailed puts deliveries back to pending with the error message.
func (s *Store) MarkFailed(ctx context.Context, ids []int64, msg string, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	marks, args := idArgs(ids)
	return s.writeNotify(ctx, "mark deliveries failed", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE deliveries SET state = 'pending', last_error = ?, updated = ?
			WHERE state IN ('pending', 'sending') AND id IN (`+marks+`)`, append([]any{msg, formatTime(at)}, args...)...)
		return err
	})
}

// FinishNotices records that channel owes a closed issue nothing more.
func (s *Store) FinishNotices(ctx context.Context, issueID int64, channel string, at time.Time) error {
	return s.writeNotify(ctx, "finish issue", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO notify_finished (issue_id, channel, at) VALUES (?, ?, ?)
			ON CONFLICT (issue_id, channel) DO NOTHING`, issueID, channel, formatTime(at))
		return err
	})
}

// UnfinishedNotices returns the resolved and remediated issues that one of
// channels has not finished with, ordered by ID.
func (s *Store) UnfinishedNotices(ctx context.Context, channels []string) ([]issues.Issue, error) {
	if len(channels) == 0 {
		return nil, nil
	}
	var conds []string
	var args []any
	for _, c := range channels {
		conds = append(conds, "NOT EXISTS (SELECT 1 FROM notify_finished f WHERE f.issue_id = issues.id AND f.channel = ?)")
		args = append(args, c)
	}
	q := "SELECT " + columns + " FROM issues WHERE status IN ('resolved', 'remediated') AND (" +
		strings.Join(conds, " OR ") + ") ORDER BY id"
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list unreported closed issues: %w", err)
	}
	defer rows.Close()
	var out []issues.Issue
	for rows.Next() {
		is, err := scanIssue(rows)
		if err != nil {
			return nil, fmt.Errorf("list unreported closed issues: %w", err)
		}
		out = append(out, *is)
	}
	return out, rows.Err()
}

// Ticket returns the issue's ticket in system, nil when there is none.
func (s *Store) Ticket(ctx context.Context, issueID int64, system string) (*notify.Ticket, error) {
	t := notify.Ticket{IssueID: issueID, System: system}
	var closed int
	err := s.db.QueryRowContext(ctx, `SELECT key, assignee, parent, closed FROM tickets WHERE issue_id = ? AND system = ?`,
		issueID, system).Scan(&t.Key, &t.Assignee, &t.Parent, &closed)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read ticket of issue %d: %w", issueID, err)
	}
	t.Closed = closed != 0
	return &t, nil
}

// SaveTicket creates or updates the issue's ticket. A different key for an
// issue that already has a ticket is refused: never a second ticket.
func (s *Store) SaveTicket(ctx context.Context, t *notify.Ticket, at time.Time) error {
	return s.writeNotify(ctx, "save ticket", func(tx *sql.Tx) error {
		var key string
		err := tx.QueryRowContext(ctx, `SELECT key FROM tickets WHERE issue_id = ? AND system = ?`, t.IssueID, t.System).Scan(&key)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.ExecContext(ctx, `INSERT INTO tickets (issue_id, system, key, assignee, parent, closed, created, updated)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, t.IssueID, t.System, t.Key, t.Assignee, t.Parent, boolInt(t.Closed), formatTime(at), formatTime(at))
			return err
		case err != nil:
			return err
		case key != t.Key:
			return fmt.Errorf("issue %d already has %s ticket %s, refusing a second one (%s)", t.IssueID, t.System, key, t.Key)
		}
		_, err = tx.ExecContext(ctx, `UPDATE tickets SET assignee = ?, parent = ?, closed = ?, updated = ? WHERE issue_id = ? AND system = ?`,
			t.Assignee, t.Parent, boolInt(t.Closed), formatTime(at), t.IssueID, t.System)
		return err
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
