package remediate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// Rollback undoes the given journal actions: a key keywarden deactivated
// (a done or unverified deactivate_key action not rolled back yet) is
// re-activated, verified, journaled as a reactivate_key action (with its
// hold, Executor.Hold) and its issues reopened (whitelisted by the hold
// while it lasts). An indeterminate deactivation (the change may be a
// person's) is refused unless Force is set. Nothing else is ever
// re-activated. A deleted login profile cannot be
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
		case a.Op == OpDeleteLoginProfile && (a.State == StateDone || a.State == StateUnverified):
			it.Op = a.Op
			out = append(out, Outcome{Item: it, Result: CannotRestore, ActionID: a.ID, Err: ErrCannotRestore,
				Detail: fmt.Sprintf("action %d deleted the console password of user %s in account %s on %s; AWS cannot restore a deleted password: if %s still needs console access, create a new one (aws iam create-login-profile --user-name %s --password-reset-required)",
					a.ID, a.UserName, a.AccountID, a.Started.UTC().Format("2006-01-02"), a.UserName, a.UserName)})
			continue
		case a.Op == OpDeactivateKey && a.State == StateIndeterminate && !e.Force:
			out = append(out, Outcome{Item: it, Result: Skipped, ActionID: a.ID, Err: ErrInDoubt,
				Detail: fmt.Sprintf("not re-activated: action %d is %v: keywarden stopped before recording its UpdateAccessKey call and later found %s Inactive, so the deactivation may be a person's; check with the owner of user %s, then pass --force to re-activate it anyway",
					a.ID, ErrInDoubt, a.KeyID, a.UserName)})
			continue
		case a.Op != OpDeactivateKey || a.State != StateDone && a.State != StateUnverified && a.State != StateIndeterminate:
			skip(ErrNotRollbackable, fmt.Sprintf("%v: action %d is %s %s", ErrNotRollbackable, a.ID, a.Op, a.State))
			continue
		}
		prior, err := e.Journal.Actions(ctx, ActionFilter{RollbackOf: a.ID, States: []State{StateDone, StateUnverified, StateIntent}})
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
	case k.Status == types.StatusTypeActive && a.State != StateUnverified:
		// (An unverified deactivation may show Active only because IAM
		// lags: it is re-activated all the same.)
		return Outcome{Item: it, Result: Skipped, ActionID: a.ID, Err: ErrNotRollbackable,
			Detail: fmt.Sprintf("%s is already Active (re-activated outside keywarden): nothing to do", a.KeyID)}
	}
	r := &Action{Op: OpReactivateKey, AccountID: a.AccountID, UserName: a.UserName, KeyID: a.KeyID,
		Kinds: a.Kinds, IssueIDs: a.IssueIDs, Reason: fmt.Sprintf("rollback of action %d", a.ID),
		BeforeStatus: string(k.Status), RollbackOf: a.ID, Started: e.Now()}
	if e.Hold > 0 {
		t := r.Started.Add(e.Hold)
		r.HoldUntil = &t
	}
	if a.State == StateIndeterminate {
		r.Reason += " (forced: the deactivation was in doubt)"
	}
	if err := e.Journal.Begin(ctx, r); err != nil {
		if errors.Is(err, ErrIntentExists) {
			err = fmt.Errorf("%w: %w", ErrPending, err)
		}
		return fail(a.ID, err, "journal intent: "+err.Error())
	}
	res := e.act(ctx, c, it, r)
	switch res.state {
	case StateDone, StateUnverified:
	case StateFailed:
		return fail(r.ID, res.err, fmt.Sprintf("action %d failed: %s", r.ID, res.note))
	default:
		return fail(r.ID, res.err, fmt.Sprintf("action %d %s: %s", r.ID, res.state, res.note))
	}
	o := Outcome{Item: it, Result: RolledBack, ActionID: r.ID, Err: res.err,
		Detail: fmt.Sprintf("action %d re-activated %s of %s (undoes action %d): %s; issues %v reopened", r.ID, a.KeyID, a.UserName, a.ID, res.note, a.IssueIDs)}
	if res.state == StateUnverified {
		o.Result = Unverified
	}
	if r.HoldUntil != nil {
		o.Detail += fmt.Sprintf("; on hold (exempt from remediation) until %s", r.HoldUntil.UTC().Format(time.RFC3339))
	}
	if a.State == StateUnverified {
		// The deactivation being undone was never verified: settle it with
		// what the read before the rollback showed.
		st, note := StateDone, a.Note+fmt.Sprintf("; verified at its rollback (action %d): the key was Inactive", r.ID)
		if k.Status == types.StatusTypeActive {
			st, note = StateFailed, a.Note+fmt.Sprintf("; its rollback (action %d) found the key still Active: the deactivation was never seen to take effect", r.ID)
		}
		if err := e.Journal.Finish(context.WithoutCancel(ctx), a.ID, st, e.Now(), note); err != nil {
			o.Detail += "; settling action " + fmt.Sprint(a.ID) + ": " + err.Error()
		}
	}
	r.State = res.state
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), journalTimeout)
	defer cancel()
	if err := e.claimIssues(bctx, *r, ""); err != nil {
		o.Err = err
		o.Detail += "; but " + err.Error()
	}
	return o
}
