package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	sqlitedriver "modernc.org/sqlite"
)

// ReadOnlyError is returned by Open for a store that must not or cannot be
// written: its file or its directory has no write permission bit, or
// SQLite cannot write it. OpenReader still reads such a store.
type ReadOnlyError struct {
	Path string
	// Reason says why: "file mode 0444", "its directory ... has mode 0555",
	// or SQLite's error.
	Reason string
}

func (e *ReadOnlyError) Error() string {
	return fmt.Sprintf("issue store %s is read-only (%s): this command writes it; make the file and its directory writable, "+
		"or use only the commands that read it (issues list, issues show, issues export, journal)", e.Path, e.Reason)
}

// readOnlyReason says why the store file at path must not be written,
// from the permission bits of the file and of its directory, or "" when
// they allow writing. Bits rather than access(2): root may write anything,
// yet a store chmod'ed 0444 (or kept in a 0555 directory) is meant to be
// read only, by root too, and a writer would leave root-owned WAL files
// behind. A plain path only (not ":memory:" nor a "file:" URI).
func readOnlyReason(path string) string {
	if !plainPath(path) {
		return ""
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o222 == 0 {
		return fmt.Sprintf("file mode %04o", fi.Mode().Perm())
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm()&0o222 == 0 {
		return fmt.Sprintf("its directory %s has mode %04o", dir, fi.Mode().Perm())
	}
	return ""
}

func plainPath(path string) bool {
	return path != "" && !inMemory(path) && !strings.HasPrefix(path, "file:")
}

// sqliteReadOnly and sqliteCantOpen are SQLite's primary result codes
// SQLITE_READONLY and SQLITE_CANTOPEN (extended codes keep them in the
// low byte).
const (
	sqliteReadOnly = 8
	sqliteCantOpen = 14
)

func sqliteCode(err error) int {
	var se *sqlitedriver.Error
	if errors.As(err, &se) {
		return se.Code() & 0xff
	}
	return 0
}

// cannotWrite reports whether err says that the existing store file cannot
// be written (by this process: another user's file, a directory where the
// WAL files cannot be created).
func cannotWrite(err error) bool {
	switch sqliteCode(err) {
	case sqliteReadOnly, sqliteCantOpen:
		return true
	}
	return errors.Is(err, fs.ErrPermission)
}

// probeWrite takes the write lock and lets it go: a store opened read-write
// that SQLite can only read fails here, at Open, with SQLITE_READONLY,
// rather than at the first write of a scan.
func probeWrite(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: see dsnParams
	if err != nil {
		return err
	}
	return tx.Rollback()
}

// OpenReader opens the store at path for a command that only reads it
// (issues list, show, export; journal). A store that can be written is
// opened as Open does (its schema brought up to date). A read-only one
// (see ReadOnlyError) is opened in SQLite's read-only mode, without
// migrating it: it must already have this keywarden's schema. If it has no
// WAL file, it is opened immutable: SQLite then creates no WAL or
// shared-memory file beside it and takes no lock — nobody writes a store
// whose permissions forbid it. A path with no file yet is left to Open
// (which creates an empty store, or fails naming the path).
func OpenReader(ctx context.Context, path string) (*Store, error) {
	if !plainPath(path) {
		return Open(ctx, path)
	}
	if _, err := os.Stat(path); err != nil {
		return Open(ctx, path)
	}
	reason := readOnlyReason(path)
	if reason == "" {
		st, err := Open(ctx, path)
		var ro *ReadOnlyError
		if !errors.As(err, &ro) {
			return st, err
		}
		reason = ro.Reason
	}
	_, werr := os.Stat(path + "-wal")
	immutable := errors.Is(werr, fs.ErrNotExist)
	st, err := openReadOnly(ctx, path, immutable)
	if err != nil && !immutable && sqliteCode(err) == sqliteCantOpen {
		// A WAL file this process cannot share (no -shm, a directory
		// it cannot write): read the main file as it is.
		st, err = openReadOnly(ctx, path, true)
	}
	if err != nil {
		return nil, fmt.Errorf("open read-only issue store %s (%s): %w", path, reason, err)
	}
	return st, nil
}

func openReadOnly(ctx context.Context, path string, immutable bool) (*Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}
	q := "mode=ro&_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)"
	if immutable {
		q += "&immutable=1"
	}
	u.RawQuery = q
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, err
	}
	v, err := schemaVersion(ctx, db)
	if err == nil && v > len(migrations) {
		err = &SchemaVersionError{Path: path, Version: v, Known: len(migrations)}
	}
	if err == nil && v < len(migrations) {
		err = fmt.Errorf("its schema version is %d and this keywarden reads version %d: open it once writable (any command) to upgrade it", v, len(migrations))
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return &Store{db: db, path: path}, nil
}
