package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keywarden/keywarden/internal/output"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/progress"
	"github.com/keywarden/keywarden/internal/remediate"
)

// hidden reports outcomes not worth a line: issues whose kind or account is
// not remediated at all (counted in the summary).
func hidden(o *remediate.Outcome) bool {
	return errors.Is(o.Err, remediate.ErrNotEnabled) && o.Result == remediate.Skipped ||
		errors.Is(o.Err, remediate.ErrAccountExcluded)
}

// finish prints the summary and turns failures into exit code 1.
func finish(w io.Writer, outs []remediate.Outcome, dryRun bool, what string, opts output.Options) error {
	counts := map[remediate.Result]int{}
	var failures []string
	overCap := map[string]bool{}
	off := 0
	for i := range outs {
		o := &outs[i]
		counts[o.Result]++
		if hidden(o) {
			off++
		}
		if errors.Is(o.Err, remediate.ErrOverCap) {
			if !overCap[o.Item.AccountID] {
				failures = append(failures, "  "+opts.Text(o.Detail))
			}
			overCap[o.Item.AccountID] = true
			continue
		}
		if o.Failure() {
			failures = append(failures, "  "+opts.Text(o.Item.AccountID+" "+o.Item.Credential()+": "+o.Detail))
		}
	}
	var parts []string
	for _, r := range []remediate.Result{remediate.Remediated, remediate.Unverified, remediate.WouldRemediate, remediate.RolledBack, remediate.WouldRollBack,
		remediate.Reconciled, remediate.Resolved, remediate.Updated, remediate.Skipped, remediate.Failed, remediate.CannotRestore} {
		if counts[r] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[r], r))
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "nothing to do")
	}
	line := what + ": " + strings.Join(parts, ", ")
	if off > 0 {
		line += fmt.Sprintf(" (%d of them: remediation off for the kind or account)", off)
	}
	if dryRun {
		line += "; dry run: nothing was changed"
	}
	fmt.Fprintln(w, line)
	if len(failures) > 0 {
		return &ExitError{Code: ExitError1, Msg: fmt.Sprintf("keywarden: %s: %d problem(s):\n%s", what, len(failures), strings.Join(failures, "\n"))}
	}
	return nil
}

// reasonCode names an outcome's sentinel for machines.
func reasonCode(err error) string {
	for _, c := range []struct {
		err  error
		code string
	}{
		{remediate.ErrHeld, "rolled_back"}, {remediate.ErrOverCap, "over_cap"}, {remediate.ErrOwnKey, "own_key"}, {remediate.ErrNotEnabled, "not_enabled"},
		{remediate.ErrAccountExcluded, "account_excluded"}, {remediate.ErrNotDue, "not_due"}, {remediate.ErrNotReported, "not_reported"},
		{remediate.ErrNotViolation, "not_violation"}, {remediate.ErrWhitelisted, "whitelisted"},
		{remediate.ErrNoKeyID, "no_key_id"}, {remediate.ErrPending, "pending"}, {remediate.ErrDeclined, "declined"},
		{remediate.ErrNoLongerQualifies, "no_longer_qualifies"}, {remediate.ErrVerifyFailed, "verify_failed"},
		{remediate.ErrCannotRestore, "cannot_restore"}, {remediate.ErrNotRollbackable, "not_rollbackable"},
		{remediate.ErrInDoubt, "in_doubt"}, {remediate.ErrNoAnswer, "no_answer"},
	} {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	if err != nil {
		return "error"
	}
	return ""
}

type outcomeJSON struct {
	Result   string        `json:"result"`
	Reason   string        `json:"reason,omitempty"`
	Account  string        `json:"account"`
	User     string        `json:"user"`
	KeyID    string        `json:"key_id,omitempty"`
	Op       string        `json:"op"`
	Issues   []int64       `json:"issues"`
	Kinds    []policy.Kind `json:"kinds"`
	Due      string        `json:"due,omitempty"`
	ActionID int64         `json:"action_id,omitempty"`
	Detail   string        `json:"detail"`
}

func renderOutcomes(w io.Writer, outs []remediate.Outcome, o output.Options) error {
	var shown []remediate.Outcome
	for i := range outs {
		if !hidden(&outs[i]) {
			shown = append(shown, outs[i])
		}
	}
	if o.Format != output.Table {
		enc := json.NewEncoder(w)
		for _, x := range shown {
			r := outcomeJSON{Result: string(x.Result), Reason: reasonCode(x.Err), Account: x.Item.AccountID, User: x.Item.UserName,
				Op: string(x.Item.Op), Issues: x.Item.IssueIDs(), Kinds: x.Item.Kinds(), ActionID: x.ActionID, Detail: o.Text(x.Detail)}
			if x.Item.KeyID != "" {
				r.KeyID = keyText(x.Item.KeyID, o)
			}
			if !x.Item.Due.IsZero() {
				r.Due = x.Item.Due.UTC().Format(time.RFC3339)
			}
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	if len(shown) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RESULT\tACCOUNT\tUSER\tCREDENTIAL\tISSUES\tACTION\tDETAIL")
	for _, x := range shown {
		act := ""
		if x.ActionID != 0 {
			act = strconv.FormatInt(x.ActionID, 10)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", x.Result, x.Item.AccountID, x.Item.UserName,
			credText(x.Item.Op, x.Item.KeyID, o), idList(x.Item.IssueIDs()), act, o.Text(x.Detail))
	}
	return tw.Flush()
}

func keyText(id string, o output.Options) string {
	if o.ShowKeyIDs || strings.Contains(id, "/") {
		return id
	}
	return output.MaskKeyID(id)
}

func credText(op remediate.Op, keyID string, o output.Options) string {
	if keyID == "" || op == remediate.OpDeleteLoginProfile {
		return "password"
	}
	return keyText(keyID, o)
}

func idList(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(s, ",")
}

// prompter asks on w and reads answers from r, one line each: y(es), n(o),
// a(ll), q(uit). End of input means quit. While it waits, w (a terminal)
// holds every other write: no log record is printed into the prompt. An
// interrupt (ctx) ends the wait with ctx's error.
func prompter(ctx context.Context, r io.Reader, w io.Writer, o output.Options) remediate.Confirm {
	in := bufio.NewReader(r)
	type answer struct {
		line string
		err  error
	}
	// pending is the line being read: the read goes on in its goroutine
	// when an interrupt ends the wait.
	var pending chan answer
	read := func() (string, error) {
		if pending == nil {
			pending = make(chan answer, 1)
			go func(ch chan<- answer) {
				line, err := in.ReadString('\n')
				ch <- answer{line, err}
			}(pending)
		}
		select {
		case a := <-pending:
			pending = nil
			return a.line, a.err
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	n := 0
	return func(it *remediate.Item) (remediate.Decision, error) {
		n++
		w, done := progress.Prompt(w)
		defer done()
		verb := map[remediate.Op]string{
			remediate.OpDeactivateKey:      "deactivate access key",
			remediate.OpDeleteLoginProfile: "delete the console password (login profile)",
			remediate.OpReactivateKey:      "re-activate access key",
		}[it.Op]
		cred := ""
		if it.Op != remediate.OpDeleteLoginProfile {
			cred = " " + keyText(it.KeyID, o)
		}
		fmt.Fprintf(w, "[%d] %s%s of %s in account %s\n", n, verb, cred, it.UserName, it.AccountID)
		if why := it.Why(); it.Op != remediate.OpReactivateKey && why != "" {
			fmt.Fprintf(w, "    %s\n", o.Text(why))
		}
		for {
			fmt.Fprint(w, "    proceed? [y]es / [n]o / [a]ll / [q]uit: ")
			line, err := read()
			if ctx.Err() != nil {
				fmt.Fprintln(w)
				return remediate.Quit, ctx.Err()
			}
			ans := strings.ToLower(strings.TrimSpace(line))
			switch ans {
			case "y", "yes":
				return remediate.Yes, nil
			case "n", "no":
				return remediate.No, nil
			case "a", "all":
				return remediate.All, nil
			case "q", "quit":
				return remediate.Quit, nil
			}
			if err != nil {
				fmt.Fprintln(w)
				return remediate.Quit, nil
			}
			fmt.Fprintf(w, "    %q: answer y, n, a or q\n", ans)
		}
	}
}
