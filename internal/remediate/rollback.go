package remediate

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// Rollback undoes the given journal actions: a key keywarden deactivated
// (a done deactivate_key action not rolled back yet) is re-activated,
// verified, journaled as a reactivate_key action and its issues reopened.
// Nothing else is ever re-activated. A deleted login profile cannot be
// restored: its outcome says so and names the user to give a new password.
func (e *Executor) Rollback(ctx context.Context, actions []Action) ([]Outcome, error) {
	var out []Outcome
	askAll, quit := e.Confirm == nil, false
	for _, a := range actions {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		it := actionItem(a)
		it.Op = OpReactivateKey
		skip := func(err error, detail string) {
			out = append(out, Outcome{Item: it, Result: Skipped, ActionID: a.ID, Err: err, Detail: detail})
		}
		switch {
		case a.Op == OpDeleteLoginProfile && a.State == StateDone:
			it.Op = a.Op
			out = append(out, Outcome{Item: it, Result: CannotRestore, ActionID: a.ID, Err: ErrCannotRestore,
				Detail: fmt.Sprintf("action %d deleted the console password of user %s in account %s on %s; AWS cannot restore a deleted password: if %s still needs console access, create a new one (aws iam create-login-profile --user-name %s --password-reset-required)",
					a.ID, a.UserName, a.AccountID, a.Started.UTC().Format("2006-01-02"), a.UserName, a.UserName)})
			continue
		case a.Op != OpDeactivateKey || a.State != StateDone:
			skip(ErrNotRollbackable, fmt.Sprintf("%v: action %d is %s %s", ErrNotRollbackable, a.ID, a.Op, a.State))
			continue
		}
		prior, err := e.Journal.Actions(ctx, ActionFilter{RollbackOf: a.ID, States: []State{StateDone, StateIntent}})
		if err != nil {
			return out, fmt.Errorf("read journal: %w", err)
		}
		if len(prior) > 0 {
			skip(ErrNotRollbackable, fmt.Sprintf("action %d is already rolled back (action %d, %s)", a.ID, prior[0].ID, prior[0].State))
			continue
		}
		if e.DryRun {
			out = append(out, Outcome{Item: it, Result: WouldRollBack, ActionID: a.ID,
				Detail: fmt.Sprintf("would re-activate %s of %s in %s, deactivated by action %d", a.KeyID, a.UserName, a.AccountID, a.ID)})
			continue
		}
		if quit {
			skip(ErrDeclined, "quit at the prompt")
			continue
		}
		if !askAll {
			d, err := e.Confirm(&it)
			if err != nil {
				return out, err
			}
			switch d {
			case All:
				askAll = true
			case No:
				skip(ErrDeclined, "declined at the prompt")
				continue
			case Quit:
				quit = true
				skip(ErrDeclined, "quit at the prompt")
				continue
			}
		}
		out = append(out, e.reactivate(ctx, a, it))
	}
	return out, nil
}

func (e *Executor) reactivate(ctx context.Context, a Action, it Item) Outcome {
	fail := func(id int64, err error, detail string) Outcome {
		return Outcome{Item: it, Result: Failed, ActionID: id, Err: err, Detail: detail}
	}
	c, err := e.client(ctx, a.AccountID)
	if err != nil {
		return fail(a.ID, err, err.Error())
	}
	k, err := e.keyState(ctx, c, a.UserName, a.KeyID)
	switch {
	case err != nil:
		return fail(a.ID, err, fmt.Sprintf("rollback of action %d: read %s: %v", a.ID, a.KeyID, err))
	case k == nil:
		err := fmt.Errorf("rollback of action %d: %s of %s no longer exists", a.ID, a.KeyID, a.UserName)
		return fail(a.ID, err, err.Error())
	case k.Status == types.StatusTypeActive:
		return Outcome{Item: it, Result: Skipped, ActionID: a.ID, Err: ErrNotRollbackable,
			Detail: fmt.Sprintf("%s is already Active (re-activated outside keywarden): nothing to do", a.KeyID)}
	}
	r := &Action{Op: OpReactivateKey, AccountID: a.AccountID, UserName: a.UserName, KeyID: a.KeyID,
		Kinds: a.Kinds, IssueIDs: a.IssueIDs, Reason: fmt.Sprintf("rollback of action %d", a.ID),
		BeforeStatus: string(k.Status), RollbackOf: a.ID, Started: e.Now()}
	if err := e.Journal.Begin(ctx, r); err != nil {
		if errors.Is(err, ErrIntentExists) {
			err = fmt.Errorf("%w: %w", ErrPending, err)
		}
		return fail(a.ID, err, "journal intent: "+err.Error())
	}
	callErr := e.retry(ctx, func() error { return e.write(ctx, c, it) })
	ok, vErr := e.verify(ctx, c, it, callErr == nil)
	switch {
	case vErr != nil:
		return fail(r.ID, vErr, fmt.Sprintf("action %d: call: %s; verification could not read the live state: %v; the next run reconciles it", r.ID, errString(callErr), vErr))
	case !ok:
		err := callErr
		if err == nil {
			err = fmt.Errorf("%w: %s is still Inactive", ErrVerifyFailed, a.KeyID)
		}
		note := err.Error()
		if fErr := e.Journal.Finish(ctx, r.ID, StateFailed, e.Now(), note); fErr != nil {
			note += "; journal: " + fErr.Error()
		}
		return fail(r.ID, err, fmt.Sprintf("action %d: %s", r.ID, note))
	}
	if err := e.Journal.Finish(ctx, r.ID, StateDone, e.Now(), "verified: key Active"); err != nil {
		return fail(r.ID, err, fmt.Sprintf("action %d: re-activated, but the journal update failed (%v): the next run reconciles it", r.ID, err))
	}
	o := Outcome{Item: it, Result: RolledBack, ActionID: r.ID,
		Detail: fmt.Sprintf("action %d re-activated %s of %s (undoes action %d); issues %v reopened", r.ID, a.KeyID, a.UserName, a.ID, a.IssueIDs)}
	if err := e.settleIssues(ctx, *r); err != nil {
		o.Err = err
		o.Detail += "; but " + err.Error()
	}
	return o
}
