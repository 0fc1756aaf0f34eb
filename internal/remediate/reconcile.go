package remediate

import (
	"context"
	"errors"
	"fmt"

	"github.com/keywarden/keywarden/internal/issues"
)

// Reconcile settles the journal's unfinished intents, left behind by a run
// that stopped between an AWS call and its journal update: each credential's
// live state says whether the call took effect. If it did, the action is
// marked done (and its issues remediated, or reopened for a rollback);
// if not, it is marked abandoned and the plan may try again. Nothing is
// called twice: an intent blocks its credential until reconciled. Run it
// before Execute and Rollback; in dry-run mode it only reports.
func (e *Executor) Reconcile(ctx context.Context) ([]Outcome, error) {
	intents, err := e.Journal.Actions(ctx, ActionFilter{States: []State{StateIntent}})
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	var out []Outcome
	for _, a := range intents {
		it := actionItem(a)
		if e.DryRun {
			out = append(out, Outcome{Item: it, Result: Skipped, ActionID: a.ID, Err: ErrPending,
				Detail: fmt.Sprintf("action %d is unfinished in the journal; a run without --dry-run reconciles it", a.ID)})
			continue
		}
		c, err := e.client(ctx, a.AccountID)
		if err != nil {
			out = append(out, Outcome{Item: it, Result: Failed, ActionID: a.ID, Err: err,
				Detail: fmt.Sprintf("action %d left unfinished: %v", a.ID, err)})
			continue
		}
		took, err := e.done(ctx, c, a.Op, a.UserName, a.KeyID)
		if err != nil {
			out = append(out, Outcome{Item: it, Result: Failed, ActionID: a.ID, Err: err,
				Detail: fmt.Sprintf("action %d left unfinished: live state: %v", a.ID, err)})
			continue
		}
		state, note := StateAbandoned, "reconciled on a later run: the call had not taken effect ("+it.Credential()+" not "+verifiedState(a.Op)+"); nothing was changed"
		if took {
			state, note = StateDone, "reconciled on a later run: live state shows "+verifiedState(a.Op)
		}
		if err := e.Journal.Finish(ctx, a.ID, state, e.Now(), note); err != nil {
			out = append(out, Outcome{Item: it, Result: Failed, ActionID: a.ID, Err: err, Detail: err.Error()})
			continue
		}
		o := Outcome{Item: it, Result: Reconciled, ActionID: a.ID, Detail: fmt.Sprintf("action %d %s: %s", a.ID, state, note)}
		if took {
			if err := e.settleIssues(ctx, a); err != nil {
				o.Err = err
				o.Detail += "; " + err.Error()
			}
		}
		out = append(out, o)
	}
	return out, nil
}

// settleIssues brings a done action's issues in line: remediated for a
// deactivation or deletion, reopened for a rollback.
func (e *Executor) settleIssues(ctx context.Context, a Action) error {
	ch := &issues.Changes{}
	now := e.Now()
	for _, id := range a.IssueIDs {
		is, err := e.Store.Get(ctx, id)
		if errors.Is(err, issues.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		switch {
		case a.Op == OpReactivateKey && is.Status == issues.Remediated:
			is.Status, is.Remediated, is.Closed, is.CloseReason, is.Updated = issues.Open, nil, nil, "", now
			ch.Updated = append(ch.Updated, issues.Change{Issue: *is, Why: fmt.Sprintf("reopened: key re-activated by rollback (action %d)", a.ID)})
		case a.Op != OpReactivateKey && !is.Status.Closed():
			reason := fmt.Sprintf("%s by keywarden (action %d)", doneReason(a.Op), a.ID)
			closeIssue(is, issues.Remediated, reason, now)
			ch.Closed = append(ch.Closed, issues.Change{Issue: *is, Why: reason})
		}
	}
	if err := e.Store.Apply(ctx, ch); err != nil {
		return fmt.Errorf("issues of action %d: %w", a.ID, err)
	}
	return nil
}

// actionItem describes a journal action as an item, for outcomes and
// prompts.
func actionItem(a Action) Item {
	it := Item{Op: a.Op, AccountID: a.AccountID, UserName: a.UserName, KeyID: a.KeyID}
	for i, id := range a.IssueIDs {
		is := issues.Issue{ID: id, AccountID: a.AccountID}
		if i < len(a.Kinds) {
			is.Kind = a.Kinds[i]
		}
		it.Issues = append(it.Issues, is)
	}
	return it
}
