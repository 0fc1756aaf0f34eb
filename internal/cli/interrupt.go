package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/keywarden/keywarden/internal/engine"
	"github.com/keywarden/keywarden/internal/progress"
	"github.com/keywarden/keywarden/internal/remediate"
)

// Ctrl-C (issue 11, terminal behaviour): the first interrupt cancels the
// command's context (cmd/keywarden) and is acknowledged at once on a
// terminal; the command then says what it interrupted and what state it
// kept. A second interrupt ends the process at once.

// interrupted reports whether ctx was stopped from outside (an interrupt or
// a termination signal, or any cancellation: the command did not finish
// on its own).
func interrupted(ctx context.Context) bool {
	return errors.Is(ctx.Err(), context.Canceled)
}

// noticeInterrupt acknowledges an interrupt on a terminal as soon as it
// comes (a signal's cancellation carries its cause: "interrupt signal
// received"). The returned func stops watching.
func noticeInterrupt(ctx context.Context, w io.Writer) func() bool {
	t, ok := w.(*progress.Terminal)
	if !ok {
		return func() bool { return false }
	}
	return context.AfterFunc(ctx, func() {
		cause := context.Cause(ctx)
		if cause == nil || cause == context.Canceled || cause == context.DeadlineExceeded {
			return
		}
		fmt.Fprintf(t, "keywarden: %s: stopping (the work in flight ends first; interrupt again to quit at once)\n", cause)
	})
}

// scanInterrupted says what an interrupted scan did: the accounts scanned
// (their issues stored when tracking), those failed, those not scanned.
func scanInterrupted(res *engine.Result, tracked bool) error {
	var done, failed, notScanned int
	if res != nil {
		for _, a := range res.Accounts {
			switch {
			case a.Err == nil:
				done++
			case errors.Is(a.Err, context.Canceled):
				notScanned++
			default:
				failed++
			}
		}
	}
	total := done + failed + notScanned
	msg := fmt.Sprintf("keywarden: scan interrupted: %d of %d account(s) scanned", done, total)
	if failed > 0 {
		msg += fmt.Sprintf(", %d failed", failed)
	}
	msg += fmt.Sprintf(", %d not scanned (or stopped mid-scan)", notScanned)
	switch {
	case !tracked:
		msg += "; the issue store was not to be changed"
	case done > 0:
		msg += fmt.Sprintf("; issues stored for the %d scanned account(s); the others' issues are unchanged (the next scan covers them)", done)
	default:
		msg += "; no issue was changed"
	}
	return &ExitError{Code: ExitError1, Msg: msg}
}

// remediateInterrupted says what an interrupted remediate (or rollback)
// did: the items it handled (outs, by result) of those planned, those not
// started, and the actions left as intents in the journal for the next run
// to reconcile.
func remediateInterrupted(ctx context.Context, st remediate.Journal, outs []remediate.Outcome, planned int, what string) error {
	counts := map[remediate.Result]int{}
	for _, o := range outs {
		counts[o.Result]++
	}
	var parts []string
	for _, r := range []remediate.Result{remediate.Remediated, remediate.Unverified, remediate.RolledBack, remediate.Resolved, remediate.Updated,
		remediate.Skipped, remediate.Failed, remediate.CannotRestore} {
		if counts[r] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[r], r))
		}
	}
	finished := "no action finished"
	if len(parts) > 0 {
		finished = "finished: " + strings.Join(parts, ", ")
	}
	msg := fmt.Sprintf("keywarden: %s interrupted: %s", what, finished)
	if left := planned - len(outs); left > 0 {
		msg += fmt.Sprintf("; %d planned item(s) not started", left)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	intents, err := st.Actions(rctx, remediate.ActionFilter{States: []remediate.State{remediate.StateIntent}})
	switch {
	case err != nil:
		msg += fmt.Sprintf("; could not read the journal (%v): keywarden journal shows any action left in doubt", err)
	case len(intents) > 0:
		ids := make([]string, len(intents))
		for i, a := range intents {
			ids[i] = fmt.Sprint(a.ID)
		}
		msg += fmt.Sprintf("; %d action(s) left as intents in the journal (%s): the next run reconciles them with the live state (keywarden journal shows them)",
			len(intents), strings.Join(ids, ", "))
	default:
		msg += "; no action was left in doubt: the journal and the issues agree"
	}
	return &ExitError{Code: ExitError1, Msg: msg}
}
