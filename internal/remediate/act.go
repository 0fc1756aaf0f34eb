package remediate

import (
	"context"
	"fmt"
	"time"
)

// journalTimeout bounds the journal writes that follow a call made: they
// run even when keywarden is being stopped, so that the journal knows the
// call happened.
const journalTimeout = 30 * time.Second

// acted is how one journaled call ended.
type acted struct {
	// state is the action's journal state; StateIntent when it is left
	// for the next run to settle (its call recorded).
	state State
	// note is the journal note, for people.
	note string
	// err says why the action is not done; for a done action, a lost
	// answer (ErrNoAnswer) worth reporting.
	err error
}

// act makes the call of the journaled intent a, records right after it
// returns that it was made (an intent without that record is in doubt:
// Reconcile never claims it), verifies the effect and finishes the journal
// row:
//   - done: the live state shows the effect;
//   - unverified: the call succeeded but the effect did not show within
//     VerifyFor (IAM is eventually consistent): keywarden's all the same;
//   - failed: AWS refused the call and the effect does not show;
//   - left an intent, its call recorded: the answer was lost (timeout,
//     connection) and the effect does not show, or the live state could
//     not be read. The next run settles it from a live read.
func (e *Executor) act(ctx context.Context, c IAM, it Item, a *Action) acted {
	jctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), journalTimeout)
	defer cancel()
	finish := func(st State, note string, err error) acted {
		if fErr := e.Journal.Finish(jctx, a.ID, st, e.Now(), note); fErr != nil {
			return acted{state: StateIntent, note: note, err: fmt.Errorf("%s; the journal update failed (%w): the next run settles it from the live state", note, fErr)}
		}
		return acted{state: st, note: note, err: err}
	}
	if err := ctx.Err(); err != nil {
		return finish(StateAbandoned, "keywarden was stopped before the call: nothing was changed", err)
	}
	name := callName(it.Op)
	callErr := e.retry(ctx, func(ctx context.Context) error { return e.write(ctx, c, it) })
	calledAt := e.Now()
	callNote := name + " succeeded"
	switch {
	case callErr == nil:
	case answered(callErr):
		callNote = name + " refused: " + callErr.Error()
	default:
		callNote = name + " gave no answer (" + callErr.Error() + "): it may or may not have taken effect"
	}
	// keep leaves the intent, its call recorded, for the next run.
	keep := func(note string, err error) acted {
		if mErr := e.Journal.MarkCalled(jctx, a.ID, calledAt, note); mErr != nil {
			note += fmt.Sprintf("; the journal could not record the call (%v): the next run finds the action in doubt", mErr)
		}
		return acted{state: StateIntent, note: note, err: err}
	}
	if mErr := e.Journal.MarkCalled(jctx, a.ID, calledAt, callNote); mErr != nil {
		note := fmt.Sprintf("%s; the journal could not record the call (%v): the next run finds the action in doubt", callNote, mErr)
		return acted{state: StateIntent, note: note, err: fmt.Errorf("journal: %w", mErr)}
	}
	if err := ctx.Err(); err != nil {
		return keep(callNote+"; keywarden was stopped before verifying: the next run settles it from the live state", err)
	}
	ok, shows, vErr := e.verify(ctx, c, it, !answered(callErr))
	switch {
	case vErr != nil:
		return keep(fmt.Sprintf("%s; verification could not read the live state (%v): the next run settles it from the live state", callNote, vErr), vErr)
	case ok:
		note := "verified: " + shows
		var err error
		if callErr != nil {
			note += " (" + callNote + ")"
			if !answered(callErr) {
				err = callErr
			}
		}
		return finish(StateDone, note, err)
	case callErr == nil:
		return finish(StateUnverified, fmt.Sprintf("%s, but after %s of re-reads IAM still shows %s: not yet verified (IAM is eventually consistent); the next run verifies it from the live state",
			callNote, e.verifyFor(), shows), nil)
	case answered(callErr):
		return finish(StateFailed, callNote+"; the live state shows "+shows, callErr)
	}
	return keep(fmt.Sprintf("%s; after %s of re-reads the live state shows %s: the next run settles it from the live state", callNote, e.verifyFor(), shows), callErr)
}
