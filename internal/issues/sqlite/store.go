// Package sqlite is the embedded issues.Store: one SQLite file (keywarden.db
// by default) through the pure-Go modernc.org/sqlite driver.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/policy"
)

// Store is an issues.Store in a SQLite database. It is safe for concurrent
// use by the goroutines of one process; several processes may share a file
// too (WAL, busy timeout, immediate write transactions).
type Store struct {
	db   *sql.DB
	path string
	// mu serializes writers of this process so they queue here rather than
	// poll SQLite's busy handler.
	mu sync.Mutex
}

var _ issues.Store = (*Store)(nil)

// Pragmas are given per connection in the DSN: database/sql opens several
// connections and a PRAGMA executed once would hold on one of them only.
// Write transactions begin IMMEDIATE so that they take the write lock (and
// wait for it) up front instead of failing with SQLITE_BUSY when a read
// turns into a write.
const dsnParams = "_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_txlock=immediate"

// Open opens (creating it if needed) the issue store at path and brings its
// schema up to date. path is a file name, ":memory:" (a private database
// that lives as long as the Store), or a "file:" URI. A database written by
// a newer keywarden is refused with a *SchemaVersionError.
func Open(ctx context.Context, path string) (*Store, error) {
	return open(ctx, path, migrations)
}

func open(ctx context.Context, path string, ms []string) (*Store, error) {
	if r := readOnlyReason(path); r != "" {
		return nil, &ReadOnlyError{Path: path, Reason: r}
	}
	_, statErr := os.Stat(path)
	existed := statErr == nil
	dsn, err := dataSource(path)
	if err != nil {
		return nil, fmt.Errorf("open issue store %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open issue store %s: %w", path, err)
	}
	if inMemory(path) {
		// Every connection to :memory: is a new, empty database: keep
		// exactly one, forever.
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
	}
	err = db.PingContext(ctx)
	if err == nil {
		err = migrate(ctx, db, path, ms)
	}
	if err == nil {
		err = probeWrite(ctx, db)
	}
	if err != nil {
		db.Close()
		var sv *SchemaVersionError
		switch {
		case errors.As(err, &sv):
			return nil, err // names the path already
		case existed && cannotWrite(err):
			return nil, &ReadOnlyError{Path: path, Reason: err.Error()}
		}
		return nil, fmt.Errorf("open issue store %s: %w", path, err)
	}
	return &Store{db: db, path: path}, nil
}

func dataSource(path string) (string, error) {
	switch {
	case path == "":
		return "", errors.New("no path")
	case strings.HasPrefix(path, "file:"):
		if strings.Contains(path, "?") {
			return path + "&" + dsnParams, nil
		}
		return path + "?" + dsnParams, nil
	case strings.Contains(path, "?"):
		// The driver would read what follows as DSN parameters.
		return "", errors.New(`a file name cannot contain "?"; use a file: URI`)
	}
	return path + "?" + dsnParams, nil
}

func inMemory(path string) bool {
	return path == ":memory:" || strings.HasPrefix(path, "file::memory:") ||
		(strings.HasPrefix(path, "file:") && strings.Contains(path, "mode=memory"))
}

// Path returns the path the store was opened with.
func (s *Store) Path() string { return s.path }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// dataColumns are every column but id, in the order of values.
const dataColumns = `kind, account_id, subject, status, stage, exemption,
	username, create_date, last_used, user_arn, key_slot,
	age_days, limit_days, days_left, deadline,
	detected, updated, reported, remediated, closed, close_reason, tags`

const (
	columns   = "id, " + dataColumns
	insertSQL = "INSERT INTO issues (" + dataColumns + ") VALUES (" +
		"?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

// List returns the issues matching f, ordered by ID.
func (s *Store) List(ctx context.Context, f issues.Filter) ([]issues.Issue, error) {
	var where []string
	var args []any
	if f.Kind != "" {
		where, args = append(where, "kind = ?"), append(args, string(f.Kind))
	}
	if f.AccountID != "" {
		where, args = append(where, "account_id = ?"), append(args, f.AccountID)
	}
	if f.Subject != "" {
		where, args = append(where, "subject = ?"), append(args, f.Subject)
	}
	if len(f.Statuses) > 0 {
		marks := make([]string, len(f.Statuses))
		for i, st := range f.Statuses {
			marks[i] = "?"
			args = append(args, string(st))
		}
		where = append(where, "status IN ("+strings.Join(marks, ", ")+")")
	}
	q := "SELECT " + columns + " FROM issues"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id"
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list issues: %w", err)
	}
	defer rows.Close()
	var out []issues.Issue
	for rows.Next() {
		is, err := scanIssue(rows)
		if err != nil {
			return nil, fmt.Errorf("list issues: %w", err)
		}
		out = append(out, *is)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list issues: %w", err)
	}
	return out, nil
}

// Get returns one issue by ID; the error wraps issues.ErrNotFound when there
// is none.
func (s *Store) Get(ctx context.Context, id int64) (*issues.Issue, error) {
	row := s.db.QueryRowContext(ctx, "SELECT "+columns+" FROM issues WHERE id = ?", id)
	is, err := scanIssue(row)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("issue %d: %w", id, issues.ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("get issue %d: %w", id, err)
	}
	return is, nil
}

// Apply stores ch in one transaction: New issues are inserted and, once the
// transaction has committed, get their IDs and Versions in place; Updated,
// Closed and Refreshed issues overwrite their rows by ID and get their new
// Versions in place. An issue that does not exist (an error wrapping
// issues.ErrNotFound), one whose row changed since it was read or a second
// live issue for the same credential (issues.ErrConflict), or an invalid
// issue fails the whole Apply and nothing is stored.
func (s *Store) Apply(ctx context.Context, ch *issues.Changes) error {
	if ch == nil || (ch.Empty() && ch.Scan == nil) {
		return nil
	}
	if err := ch.Validate(nil); err != nil {
		return fmt.Errorf("apply issue changes: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("apply issue changes: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	ids, err := apply(ctx, tx, ch)
	if err != nil {
		return fmt.Errorf("apply issue changes: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("apply issue changes: commit: %w", err)
	}
	for i, id := range ids {
		ch.New[i].ID = id
	}
	setVersions(ch)
	return nil
}

func apply(ctx context.Context, tx *sql.Tx, ch *issues.Changes) ([]int64, error) {
	if ch.Scan != nil {
		if err := recordScan(ctx, tx, ch.Scan); err != nil {
			return nil, err
		}
	}
	ids := make([]int64, len(ch.New))
	if len(ch.New) > 0 {
		ins, err := tx.PrepareContext(ctx, insertSQL)
		if err != nil {
			return nil, err
		}
		defer ins.Close()
		for i := range ch.New {
			is := &ch.New[i]
			res, err := ins.ExecContext(ctx, values(is)...)
			if err != nil {
				return nil, fmt.Errorf("insert %s: %w", is, liveConflict(err))
			}
			if ids[i], err = res.LastInsertId(); err != nil {
				return nil, fmt.Errorf("insert %s: %w", is, err)
			}
		}
	}
	if len(ch.Updated)+len(ch.Closed)+len(ch.Refreshed) == 0 {
		return ids, nil
	}
	upd, err := tx.PrepareContext(ctx, `UPDATE issues SET
		kind = ?, account_id = ?, subject = ?, status = ?, stage = ?, exemption = ?,
		username = ?, create_date = ?, last_used = ?, user_arn = ?, key_slot = ?,
		age_days = ?, limit_days = ?, days_left = ?, deadline = ?,
		detected = ?, updated = ?, reported = ?, remediated = ?, closed = ?, close_reason = ?, tags = ?
		WHERE id = ?`)
	if err != nil {
		return nil, err
	}
	defer upd.Close()
	update := func(is *issues.Issue) error {
		if err := checkVersion(ctx, tx, is); err != nil {
			return fmt.Errorf("update %s: %w", is, err)
		}
		res, err := upd.ExecContext(ctx, append(values(is), is.ID)...)
		if err != nil {
			return fmt.Errorf("update %s: %w", is, liveConflict(err))
		}
		n, err := res.RowsAffected()
		switch {
		case err != nil:
			return fmt.Errorf("update %s: %w", is, err)
		case n == 0:
			return fmt.Errorf("update %s: %w", is, issues.ErrNotFound)
		}
		return nil
	}
	for i := range ch.Updated {
		if err := update(&ch.Updated[i].Issue); err != nil {
			return nil, err
		}
	}
	for i := range ch.Closed {
		if err := update(&ch.Closed[i].Issue); err != nil {
			return nil, err
		}
	}
	for i := range ch.Refreshed {
		if err := update(&ch.Refreshed[i]); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// values are the columns after id, in the order of columns.
func values(is *issues.Issue) []any {
	var deadline any
	if !is.Deadline.IsZero() {
		deadline = formatTime(is.Deadline)
	}
	return []any{
		string(is.Kind), is.AccountID, is.Subject, string(is.Status), string(is.Stage), is.Exemption,
		is.Details.Username, is.Details.CreateDate, is.Details.LastUsed, is.UserARN, is.KeySlot,
		is.AgeDays, is.LimitDays, is.DaysLeft, deadline,
		formatTime(is.Detected), formatTime(is.Updated),
		formatTimePtr(is.Reported), formatTimePtr(is.Remediated), formatTimePtr(is.Closed), is.CloseReason,
		encodeTags(is.Tags),
	}
}

type scanner interface {
	Scan(dest ...any) error
}

func scanIssue(sc scanner) (*issues.Issue, error) {
	var (
		is                                   issues.Issue
		kind, status, stage                  string
		deadline, reported, remediated, clsd sql.NullString
		detected, updated, tags              string
	)
	err := sc.Scan(&is.ID, &kind, &is.AccountID, &is.Subject, &status, &stage, &is.Exemption,
		&is.Details.Username, &is.Details.CreateDate, &is.Details.LastUsed, &is.UserARN, &is.KeySlot,
		&is.AgeDays, &is.LimitDays, &is.DaysLeft, &deadline,
		&detected, &updated, &reported, &remediated, &clsd, &is.CloseReason, &tags)
	if err != nil {
		return nil, err
	}
	if is.Tags, err = decodeTags(tags); err != nil {
		return nil, fmt.Errorf("issue %d: tags: %w", is.ID, err)
	}
	is.Kind, is.Status, is.Stage = policy.Kind(kind), issues.Status(status), policy.Stage(stage)
	if deadline.Valid {
		if is.Deadline, err = parseTime(deadline.String); err != nil {
			return nil, fmt.Errorf("issue %d: deadline: %w", is.ID, err)
		}
	}
	if is.Detected, err = parseTime(detected); err != nil {
		return nil, fmt.Errorf("issue %d: detected: %w", is.ID, err)
	}
	if is.Updated, err = parseTime(updated); err != nil {
		return nil, fmt.Errorf("issue %d: updated: %w", is.ID, err)
	}
	for _, p := range []struct {
		name string
		src  sql.NullString
		dst  **time.Time
	}{{"reported", reported, &is.Reported}, {"remediated", remediated, &is.Remediated}, {"closed", clsd, &is.Closed}} {
		if !p.src.Valid {
			continue
		}
		t, err := parseTime(p.src.String)
		if err != nil {
			return nil, fmt.Errorf("issue %d: %s: %w", is.ID, p.name, err)
		}
		*p.dst = &t
	}
	is.Version = version(&is)
	return &is, nil
}

// timeFormat is RFC 3339 in UTC with a fixed nine-digit fraction, so that
// stored times also sort as text.
const timeFormat = "2006-01-02T15:04:05.000000000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

func formatTimePtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return formatTime(*t)
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}
