package remediate

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/keywarden/keywarden/internal/policy"
)

// State is the state of a journaled action.
type State string

// States. An action is written as StateIntent before the AWS call; right
// after the call returns (or gives up) the intent records that (Called), and
// after the verification it moves to one of the others. An intent left
// behind is reconciled on the next run from the live state: one with a
// Called record was ours to make; one without is in doubt (keywarden
// stopped between the intent and recording its call) and is never claimed.
const (
	StateIntent    State = "intent"
	StateDone      State = "done"      // acted and verified
	StateFailed    State = "failed"    // the call failed or did not take effect
	StateAbandoned State = "abandoned" // reconciled: the call never took effect
	// StateUnverified: the call succeeded, but the live state did not show
	// its effect within the verification window (IAM is eventually
	// consistent). It counts as keywarden's (its issues are remediated,
	// rollback can undo it); the next run settles it from a live read,
	// moving it to done or failed.
	StateUnverified State = "unverified"
	// StateIndeterminate: reconciled, an intent without a Called record
	// whose change the live state shows: keywarden stopped before
	// recording its call, so the change may be a person's. Not claimed:
	// rollback leaves it alone unless forced.
	StateIndeterminate State = "indeterminate"
)

// States lists every state, in lifecycle order.
var States = []State{StateIntent, StateDone, StateUnverified, StateFailed, StateAbandoned, StateIndeterminate}

// Valid reports whether s is one of States.
func (s State) Valid() bool { return slices.Contains(States, s) }

// CanFinish reports whether an action in state from may be finished as to:
// an intent as anything but an intent, an unverified action as done or
// failed (settled from the live state). Journal backends enforce it.
func CanFinish(from, to State) bool {
	switch from {
	case StateIntent:
		return to.Valid() && to != StateIntent
	case StateUnverified:
		return to == StateDone || to == StateFailed
	}
	return false
}

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
	// HoldUntil, on a reactivate_key, ends its rollback hold: until then
	// the key is exempt from remediation (nil: no hold).
	HoldUntil *time.Time
	Started   time.Time
	// Called is when the action's AWS call returned or gave up (nil: not
	// recorded — the call was not made, or keywarden stopped before it
	// could record it).
	Called   *time.Time
	Finished *time.Time
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

// ErrAlreadyFinished is returned by Journal.Finish (and MarkCalled) for an
// action that is not in a state it can leave that way.
var ErrAlreadyFinished = errors.New("journal action is already finished")

// Journal records actions. sqlite.Store implements it.
type Journal interface {
	// Begin stores a as an intent (State is set to StateIntent) and sets
	// a.ID. It fails with an error wrapping ErrIntentExists when the same
	// credential already has an unfinished intent.
	Begin(ctx context.Context, a *Action) error
	// MarkCalled records on an intent that its AWS call returned (or gave
	// up) at at, with note; it fails with ErrAlreadyFinished when the
	// action is not an intent.
	MarkCalled(ctx context.Context, id int64, at time.Time, note string) error
	// Finish moves an action to state, once, as CanFinish allows (an
	// intent to any other state; an unverified action to done or failed),
	// setting Finished and Note; otherwise ErrAlreadyFinished. Only an
	// intent blocks its credential.
	Finish(ctx context.Context, id int64, state State, at time.Time, note string) error
	// Actions lists the rows matching f, ordered by ID.
	Actions(ctx context.Context, f ActionFilter) ([]Action, error)
}
