package remediate

import (
	"context"
	"errors"
	"time"

	"github.com/keywarden/keywarden/internal/policy"
)

// State is the state of a journaled action.
type State string

// States. An action is written as StateIntent before the AWS call and moved
// to one of the others after it. An intent left behind (a crash between the
// call and the journal update) is reconciled on the next run from the live
// state.
const (
	StateIntent    State = "intent"
	StateDone      State = "done"      // acted and verified
	StateFailed    State = "failed"    // the call failed or did not take effect
	StateAbandoned State = "abandoned" // reconciled: the call never took effect
)

// Action is one journal row.
type Action struct {
	ID        int64
	Op        Op
	State     State
	AccountID string
	UserName  string
	// KeyID is the access key acted on; empty for login profiles.
	KeyID string
	// Kinds and IssueIDs are the issues the action remediates (one
	// credential can carry an inactivity and a rotation issue).
	Kinds    []policy.Kind
	IssueIDs []int64
	// Reason says why, for people.
	Reason string
	// State of the credential before the action: "Active"/"Inactive" for
	// keys, "present" for a login profile; its last use (nil: never).
	BeforeStatus   string
	BeforeLastUsed *time.Time
	// RollbackOf is the action a reactivate_key undoes.
	RollbackOf int64
	Started    time.Time
	Finished   *time.Time
	// Note says how it ended: the error, the verification, the
	// reconciliation.
	Note string
}

// Credential describes the action's target for people.
func (a *Action) Credential() string {
	if a.KeyID != "" {
		return a.KeyID
	}
	return "password of " + a.UserName
}

// ActionFilter selects journal rows; zero fields match everything.
type ActionFilter struct {
	ID         int64
	IssueID    int64
	AccountID  string
	Since      time.Time // Started at or after
	States     []State
	Ops        []Op
	RollbackOf int64
}

// ErrIntentExists is returned by Journal.Begin when the credential already
// has an unfinished intent (another run is acting on it, or crashed).
var ErrIntentExists = errors.New("the credential already has an unfinished action in the journal")

// ErrAlreadyFinished is returned by Journal.Finish for an action that is not
// an intent any more.
var ErrAlreadyFinished = errors.New("journal action is already finished")

// Journal records actions. sqlite.Store implements it.
type Journal interface {
	// Begin stores a as an intent (State is set to StateIntent) and sets
	// a.ID. It fails with an error wrapping ErrIntentExists when the same
	// credential already has an unfinished intent.
	Begin(ctx context.Context, a *Action) error
	// Finish moves an intent to state, once.
	Finish(ctx context.Context, id int64, state State, at time.Time, note string) error
	// Actions lists the rows matching f, ordered by ID.
	Actions(ctx context.Context, f ActionFilter) ([]Action, error)
}
