// Package issues tracks findings as issues with a lifecycle, Hammer-style:
// open -> resolved (no longer detected), remediated (keywarden acted) or
// whitelisted (exempt), and defines the Store the backends implement.
package issues

import (
	"context"
	"errors"
	"time"

	"github.com/keywarden/keywarden/internal/policy"
)

// Status is the lifecycle state of an issue.
type Status string

// Lifecycle states.
const (
	Open        Status = "open"
	Resolved    Status = "resolved"
	Remediated  Status = "remediated"
	Whitelisted Status = "whitelisted"
)

// Closed reports whether the status is final (the issue is no longer tracked
// as a live problem). A whitelisted issue is not closed: it is still detected.
func (s Status) Closed() bool { return s == Resolved || s == Remediated }

// Details are the issue_details Hammer stores with each issue; dates are
// ISO 8601 (RFC 3339) strings, empty when unknown.
type Details struct {
	Username   string `json:"username"`
	CreateDate string `json:"create_date"`
	LastUsed   string `json:"last_used"`
}

// Issue is one tracked finding: one per (kind, account, subject) while open.
type Issue struct {
	ID int64
	// Version is the store's revision of the issue as it was read (List,
	// Get) or last applied; the store sets it. Apply overwrites an issue only
	// if the stored revision is still this one, and otherwise fails whole
	// with an error wrapping ErrConflict: a runner working from a stale copy
	// never erases another runner's update. Zero (an issue built by hand,
	// never read) overwrites unconditionally.
	Version   int64
	Kind      policy.Kind
	AccountID string
	// Subject is the access key ID (or key slot) or, for passwords, the user.
	Subject string
	Status  Status
	// Stage of the latest finding: warning or violation.
	Stage     policy.Stage
	Exemption string
	Details   Details
	UserARN   string
	KeySlot   int
	// Tags are the IAM user's tags at the last scan (nil when none): notify
	// reads the Slack and Name tags to mention the owner.
	Tags map[string]string
	// Finding snapshot at the last scan.
	AgeDays   int
	LimitDays int
	DaysLeft  int
	Deadline  time.Time

	Detected   time.Time
	Updated    time.Time
	Reported   *time.Time
	Remediated *time.Time
	Closed     *time.Time
	// CloseReason says why a closed issue closed ("key deleted", "key used
	// again", ...).
	CloseReason string
}

// Key is the identity of an issue.
type Key struct {
	Kind      policy.Kind
	AccountID string
	Subject   string
}

// Key returns the identity of the issue.
func (i *Issue) Key() Key { return Key{i.Kind, i.AccountID, i.Subject} }

// Filter selects issues. Zero fields match everything.
type Filter struct {
	Kind      policy.Kind
	AccountID string
	Statuses  []Status
	Subject   string
}

// ErrNotFound is returned when an issue does not exist.
var ErrNotFound = errors.New("issue not found")

// ErrConflict is wrapped by Apply's error when another writer got there
// first: an issue changed since it was read (its Version is stale), or a new
// issue would be a second live issue for the same credential. Nothing of the
// Apply was stored; read the live issues again, reconcile and apply anew.
var ErrConflict = errors.New("issue store conflict: changed by another writer")

// ErrStaleScan is wrapped by Apply's error when the changes come from a scan
// (Changes.Scan) as of a time before the account's last tracked scan: the
// store keeps the present, and an older view would rewrite history (resolve
// current issues, reopen them under new IDs later). Nothing was stored.
var ErrStaleScan = errors.New("a later scan of the account is already tracked")

// Store persists issues. Implementations: sqlite (embedded default) and
// dynamodb; internal/issues/storetest is the contract both pass.
type Store interface {
	// List returns the issues matching f, ordered by ID.
	List(ctx context.Context, f Filter) ([]Issue, error)
	// Get returns one issue by ID, or ErrNotFound.
	Get(ctx context.Context, id int64) (*Issue, error)
	// Apply stores the changes of one reconciliation atomically: new issues
	// are inserted (their ID and Version assigned in place), updated, closed
	// and refreshed ones are overwritten by ID (their Version advanced in
	// place). A missing issue fails it with ErrNotFound, a stale Version or
	// a second live issue for a credential with ErrConflict; then nothing is
	// stored and nothing is assigned.
	Apply(ctx context.Context, ch *Changes) error
	// LastScan returns the as-of of the account's last tracked scan (the
	// latest Changes.Scan applied for it); false when none was recorded.
	LastScan(ctx context.Context, account string) (time.Time, bool, error)
	Close() error
}
