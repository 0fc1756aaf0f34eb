package job

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/remediate"
)

// RollbackOptions name what to roll back: one action, the actions of one
// issue, or every action since a time.
type RollbackOptions struct {
	Action, Issue int64
	Since         time.Time
	// Force restores also indeterminate actions; Hold exempts a restored
	// credential for this many days.
	Force bool
	Hold  time.Duration
}

// RollbackResult is what a rollback did.
type RollbackResult struct {
	// Outcomes: the journal's reconciled actions first, then one per
	// action handled.
	Outcomes   []remediate.Outcome
	Reconciled int
	// Planned: the actions selected.
	Planned int
}

// Rollback settles what an interrupted run left in the journal, then
// restores the selected journaled actions (re-activates keys; a deleted
// password cannot be restored). The result holds the outcomes also when
// the rollback fails or is interrupted; the error is then the executor's.
func Rollback(ctx context.Context, d RemediateDeps, o RollbackOptions) (*RollbackResult, error) {
	filter := remediate.ActionFilter{ID: o.Action}
	if o.Action == 0 {
		// Everything keywarden did that can be looked at: completed (or
		// unverified) deactivations and password deletions, and the
		// indeterminate ones (refused without --force, saying why).
		filter = remediate.ActionFilter{IssueID: o.Issue, Since: o.Since,
			Ops:    []remediate.Op{remediate.OpDeactivateKey, remediate.OpDeleteLoginProfile},
			States: []remediate.State{remediate.StateDone, remediate.StateUnverified, remediate.StateIndeterminate}}
	}
	d.Exec.Force = o.Force
	d.Exec.Hold = o.Hold
	recon, err := d.Exec.Reconcile(ctx)
	if err != nil {
		return nil, err
	}
	actions, err := d.Store.Actions(ctx, filter)
	if err != nil {
		return nil, err
	}
	if o.Action != 0 && len(actions) == 0 {
		return nil, fmt.Errorf("action %d not found (see keywarden journal)", o.Action)
	}
	if o.Issue != 0 && len(actions) == 0 {
		if _, err := d.Store.Get(ctx, o.Issue); errors.Is(err, issues.ErrNotFound) {
			return nil, &NoIssueError{ID: o.Issue}
		}
	}
	outs, err := d.Exec.Rollback(ctx, actions)
	return &RollbackResult{Outcomes: append(recon, outs...), Reconciled: len(recon), Planned: len(actions)}, err
}
