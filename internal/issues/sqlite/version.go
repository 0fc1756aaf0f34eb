package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"

	sqlitedriver "modernc.org/sqlite"

	"github.com/keywarden/keywarden/internal/issues"
)

// version is the issues.Issue Version of a row: a hash of its stored
// columns, id included. It needs no column of its own (so no migration): a
// row read, then changed by another writer, no longer has the version the
// reader holds, and Apply refuses to overwrite it. Content that changed and
// changed back has its old version again, and overwriting it loses nothing.
func version(is *issues.Issue) int64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d\x00", is.ID)
	for _, v := range values(is) {
		fmt.Fprintf(h, "%v\x00", v)
	}
	v := int64(h.Sum64() &^ (1 << 63))
	if v == 0 {
		v = 1 // zero means "not read"
	}
	return v
}

// checkVersion fails with issues.ErrConflict when the stored row of is is
// not the one is was read from, and with issues.ErrNotFound when there is
// none. An issue with Version 0 was never read: it is not checked.
func checkVersion(ctx context.Context, tx *sql.Tx, is *issues.Issue) error {
	if is.Version == 0 {
		return nil
	}
	cur, err := scanIssue(tx.QueryRowContext(ctx, "SELECT "+columns+" FROM issues WHERE id = ?", is.ID))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return issues.ErrNotFound
	case err != nil:
		return err
	case cur.Version != is.Version:
		return fmt.Errorf("stored version %d, read at %d: %w", cur.Version, is.Version, issues.ErrConflict)
	}
	return nil
}

// setVersions stores in ch the versions of the rows Apply wrote.
func setVersions(ch *issues.Changes) {
	for i := range ch.New {
		ch.New[i].Version = version(&ch.New[i])
	}
	for i := range ch.Updated {
		ch.Updated[i].Issue.Version = version(&ch.Updated[i].Issue)
	}
	for i := range ch.Closed {
		ch.Closed[i].Issue.Version = version(&ch.Closed[i].Issue)
	}
	for i := range ch.Refreshed {
		ch.Refreshed[i].Version = version(&ch.Refreshed[i])
	}
}

// sqliteConstraintUnique is SQLITE_CONSTRAINT_UNIQUE: here, only the
// issues_live index (one live issue per credential) can raise it.
const sqliteConstraintUnique = 2067

// liveConflict marks a violation of issues_live as an issues.ErrConflict.
func liveConflict(err error) error {
	var se *sqlitedriver.Error
	if errors.As(err, &se) && se.Code() == sqliteConstraintUnique {
		return fmt.Errorf("a live issue for this credential exists: %w: %w", issues.ErrConflict, err)
	}
	return err
}
