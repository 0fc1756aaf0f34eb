package remediate

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"github.com/keywarden/keywarden/internal/issues"
)

// Reconcile settles what earlier runs left unsettled in the journal, from a
// live read of each credential:
//
//   - an intent whose call was recorded (the run stopped, or lost the
//     answer, before verifying): done if the live state shows the change
//     (its issues remediated, or reopened for a rollback), else abandoned
//     and the plan may try again;
//   - an intent without a call record: keywarden stopped between the intent
//     and recording its call, so the call may never have been made. If the
//     live state shows the change anyway it is NOT claimed: the action is
//     indeterminate (the change may be a person's), its issues are resolved
//     saying so, and rollback leaves it alone unless forced. Otherwise it is
//     abandoned;
//   - an unverified action (the call succeeded, the effect was not seen
//     yet): done when the live state shows it; otherwise failed, saying what
//     the live state shows, and its issues are reopened.
//
// Nothing is called twice: an intent blocks its credential until
// reconciled. Run it before Execute and Rollback; in dry-run mode it only
// reports.
func (e *Executor) Reconcile(ctx context.Context) ([]Outcome, error) {
	open, err := e.Journal.Actions(ctx, ActionFilter{States: []State{StateIntent, StateUnverified}})
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	var out []Outcome
	for _, a := range open {
		it := actionItem(a)
		if e.DryRun {
			out = append(out, Outcome{Item: it, Result: Skipped, ActionID: a.ID, Err: ErrPending,
				Detail: fmt.Sprintf("action %d is %s in the journal; a run without --dry-run settles it from the live state", a.ID, a.State)})
			continue
		}
		c, err := e.client(ctx, a.AccountID)
		if err != nil {
			out = append(out, Outcome{Item: it, Result: Failed, ActionID: a.ID, Err: err,
				Detail: fmt.Sprintf("action %d left %s: %v", a.ID, a.State, err)})
			continue
		}
		took, shows, err := e.liveState(ctx, c, a.Op, a.UserName, a.KeyID)
		if err != nil {
			out = append(out, Outcome{Item: it, Result: Failed, ActionID: a.ID, Err: err,
				Detail: fmt.Sprintf("action %d left %s: live state: %v", a.ID, a.State, err)})
			continue
		}
		state, note, settle := e.settlement(a, took, shows)
		if err := e.Journal.Finish(ctx, a.ID, state, e.Now(), note); err != nil {
			out = append(out, Outcome{Item: it, Result: Failed, ActionID: a.ID, Err: err, Detail: err.Error()})
			continue
		}
		o := Outcome{Item: it, Result: Reconciled, ActionID: a.ID, Detail: fmt.Sprintf("action %d %s: %s", a.ID, state, note)}
		if settle != nil {
			a.State, a.Note = state, note
			if err := settle(ctx, a, shows); err != nil {
				o.Err = err
				o.Detail += "; " + err.Error()
			}
		}
		out = append(out, o)
	}
	return out, nil
}

// settlement decides how an unsettled action ends, from whether the live
// state shows its change: the state, the note, and what to do with its
// issues (nil: nothing).
func (e *Executor) settlement(a Action, took bool, shows string) (State, string, func(context.Context, Action, string) error) {
	later := "on a later run the live state shows " + shows
	switch {
	case a.State == StateUnverified && took:
		return StateDone, a.Note + "; verified " + later, e.claimIssues
	case a.State == StateUnverified:
		note := a.Note + "; " + later + ": the change did not take effect, or was undone since"
		if a.Op == OpReactivateKey {
			return StateFailed, note, nil
		}
		return StateFailed, note + "; its issues are reopened", e.reopenIssues
	case a.Called == nil && took:
		return StateIndeterminate, fmt.Sprintf("in doubt: keywarden stopped before recording its %s call, and the live state shows %s: the change may be a person's, so keywarden does not claim it; rollback leaves it alone unless forced (--force)",
			callName(a.Op), shows), e.inDoubtIssues
	case a.Called == nil:
		return StateAbandoned, fmt.Sprintf("reconciled: keywarden stopped before recording its %s call, and the live state shows %s: the call had not taken effect; nothing was changed", callName(a.Op), shows), nil
	case took:
		note := "reconciled: the live state shows " + shows
		if a.Note != "" {
			note = a.Note + "; " + note
		}
		return StateDone, note, e.claimIssues
	}
	note := "reconciled: the call had not taken effect (the live state shows " + shows + "); nothing was changed"
	if a.Note != "" {
		note = a.Note + "; " + note
	}
	return StateAbandoned, note, nil
}

// claimIssues brings a done (or unverified) action's issues in line:
// remediated for a deactivation or deletion (an unverified one's reason says
// so, and a later verification says that), reopened for a rollback (on
// hold: whitelisted until the hold ends).
func (e *Executor) claimIssues(ctx context.Context, a Action, _ string) error {
	now := e.Now()
	return e.eachIssue(ctx, a, func(is *issues.Issue) (string, bool) {
		reason := fmt.Sprintf("%s by keywarden (action %d)", doneReason(a.Op), a.ID)
		if a.State == StateUnverified {
			reason += ", " + notYetVerified
		}
		switch {
		case a.Op == OpReactivateKey && (is.Status == issues.Remediated ||
			is.Status == issues.Resolved && mentionsAction(is.CloseReason, a.RollbackOf)):
			why := fmt.Sprintf("reopened: key re-activated by rollback (action %d)", a.ID)
			is.Status, is.Remediated, is.Closed, is.CloseReason, is.Updated = issues.Open, nil, nil, "", now
			if h, ok := HoldExemption(&a); ok && h.Active(now) {
				is.Status, is.Exemption = issues.Whitelisted, h.Text()
				why += "; " + is.Exemption
			}
			return why, true
		case a.Op == OpReactivateKey:
			return "", false
		case !is.Status.Closed():
			closeIssue(is, issues.Remediated, reason, now)
			is.Exemption = ""
			return reason, true
		case is.Status == issues.Remediated && mentionsAction(is.CloseReason, a.ID) && is.CloseReason != reason:
			is.CloseReason, is.Updated = reason, now
			if a.State == StateDone {
				is.CloseReason += ", verified on a later run"
			}
			return is.CloseReason, true
		}
		return "", false
	})
}

// reopenIssues reopens the issues an action had remediated whose change the
// live state does not show.
func (e *Executor) reopenIssues(ctx context.Context, a Action, shows string) error {
	now := e.Now()
	return e.eachIssue(ctx, a, func(is *issues.Issue) (string, bool) {
		if is.Status != issues.Remediated || !mentionsAction(is.CloseReason, a.ID) {
			return "", false
		}
		is.Status, is.Remediated, is.Closed, is.CloseReason, is.Updated = issues.Open, nil, nil, "", now
		return fmt.Sprintf("reopened: action %d was not verified, and the live state shows %s", a.ID, shows), true
	})
}

// inDoubtIssues resolves the open issues of an indeterminate action: the
// credential no longer qualifies, but not by a call keywarden recorded.
func (e *Executor) inDoubtIssues(ctx context.Context, a Action, shows string) error {
	now := e.Now()
	return e.eachIssue(ctx, a, func(is *issues.Issue) (string, bool) {
		if is.Status.Closed() {
			return "", false
		}
		reason := fmt.Sprintf("%s, not claimed by keywarden: action %d is in doubt (keywarden stopped before recording its call; the change may be a person's)", shows, a.ID)
		closeIssue(is, issues.Resolved, reason, now)
		return reason, true
	})
}

// eachIssue applies change to each of the action's issues and stores those
// it changed (Updated when reopened, Closed when closed).
func (e *Executor) eachIssue(ctx context.Context, a Action, change func(is *issues.Issue) (string, bool)) error {
	ch := &issues.Changes{}
	for _, id := range a.IssueIDs {
		is, err := e.Store.Get(ctx, id)
		if errors.Is(err, issues.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		why, ok := change(is)
		if !ok {
			continue
		}
		if is.Status.Closed() {
			ch.Closed = append(ch.Closed, issues.Change{Issue: *is, Why: why})
		} else {
			ch.Updated = append(ch.Updated, issues.Change{Issue: *is, Why: why})
		}
	}
	if err := e.Store.Apply(ctx, ch); err != nil {
		return fmt.Errorf("issues of action %d: %w", a.ID, err)
	}
	return nil
}

// mentionsAction reports whether a close reason names action id ("(action
// 12)", "action 12 is in doubt"), and not another whose ID begins alike.
func mentionsAction(reason string, id int64) bool {
	if id == 0 {
		return false
	}
	return regexp.MustCompile(`\baction ` + strconv.FormatInt(id, 10) + `\b`).MatchString(reason)
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
