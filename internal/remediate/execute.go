package remediate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/policy"
)

// Decision is an operator's answer at the interactive prompt.
type Decision int

// Answers, as Hammer's manual remediation asks them.
const (
	Yes  Decision = iota // act on this one
	No                   // skip this one
	All                  // act on this one and every other without asking
	Quit                 // skip this one and every other
)

// Confirm asks the operator about one item.
type Confirm func(it *Item) (Decision, error)

// Result is what happened to one item.
type Result string

// Results.
const (
	Remediated     Result = "remediated"
	WouldRemediate Result = "would remediate"
	Skipped        Result = "skipped"
	Resolved       Result = "resolved" // re-check: no longer qualifies; issue closed
	Updated        Result = "updated"  // re-check: not acted on; issue updated
	Failed         Result = "failed"
	Reconciled     Result = "reconciled"
	// Unverified: the call succeeded, its effect not seen yet (journal
	// state unverified); it counts as remediated.
	Unverified    Result = "unverified"
	RolledBack    Result = "rolled back"
	WouldRollBack Result = "would roll back"
	CannotRestore Result = "cannot restore"
)

// Outcome is the result of one item.
type Outcome struct {
	Item     Item
	Result   Result
	ActionID int64
	// Detail explains the result for people.
	Detail string
	// Err wraps a sentinel for refusals and the AWS error for failures.
	Err error
}

// Failure reports whether the outcome counts as a failure of the run.
func (o *Outcome) Failure() bool {
	return o.Result == Failed || o.Result == CannotRestore || errors.Is(o.Err, ErrOverCap) ||
		errors.Is(o.Err, ErrInDoubt) || errors.Is(o.Err, ErrNoAnswer)
}

// Executor acts on a plan. Set every field but the optional ones.
type Executor struct {
	Clients    Clients
	Journal    Journal
	Store      issues.Store
	Rules      map[policy.Kind]policy.Rule
	Exemptions policy.Exemptions
	// OwnKeyIDs are never deactivated (checked again right before acting).
	OwnKeyIDs []string
	// Now is the clock of journal and issue timestamps.
	Now    func() time.Time
	DryRun bool
	// Confirm, when set, is asked before each action.
	Confirm Confirm
	Log     *slog.Logger
	// Attempts per AWS call when throttled (default 4); Backoff is the
	// first wait (default 1s), doubled each time, also between the
	// verification's re-reads.
	Attempts int
	Backoff  time.Duration
	// CallTimeout bounds each attempt of an AWS call (default
	// DefaultCallTimeout): a hung call ends.
	CallTimeout time.Duration
	// VerifyFor is how long the state after a successful call is re-read
	// before the action is journaled unverified (default
	// DefaultVerifyFor).
	VerifyFor time.Duration
	// Force lets Rollback re-activate the key of an indeterminate action
	// (a change keywarden never recorded making).
	Force bool
	// Hold is the rollback hold: a re-activated key is exempt from
	// remediation for this long after its rollback (0: no hold).
	Hold time.Duration

	clients map[string]IAM
	errs    map[string]error
}

func (e *Executor) log() *slog.Logger {
	if e.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Log
}

func (e *Executor) client(ctx context.Context, account string) (IAM, error) {
	if c, ok := e.clients[account]; ok {
		return c, nil
	}
	if err, ok := e.errs[account]; ok {
		return nil, err
	}
	if e.clients == nil {
		e.clients, e.errs = map[string]IAM{}, map[string]error{}
	}
	c, err := e.Clients(ctx, inventory.Account{ID: account})
	if err != nil {
		err = fmt.Errorf("account %s: connect: %w", account, err)
		e.errs[account] = err
		return nil, err
	}
	e.clients[account] = c
	return c, nil
}

// Execute runs the plan: skipped items are reported, each planned item is
// confirmed (when Confirm is set), re-checked live, acted on, verified and
// journaled. One item's failure never stops the others.
func (e *Executor) Execute(ctx context.Context, plan *Plan) ([]Outcome, error) {
	var out []Outcome
	for _, it := range plan.Skipped {
		out = append(out, Outcome{Item: it, Result: Skipped, Detail: it.Err.Error(), Err: it.Err})
	}
	pending := map[string]int64{}
	intents, err := e.Journal.Actions(ctx, ActionFilter{States: []State{StateIntent}})
	if err != nil {
		return out, fmt.Errorf("read journal: %w", err)
	}
	for _, a := range intents {
		pending[credID(a.AccountID, a.UserName, a.KeyID)] = a.ID
	}
	askAll, quit := e.Confirm == nil, false
	for i := range plan.Items {
		it := plan.Items[i]
		if err := ctx.Err(); err != nil {
			return out, err
		}
		if id, ok := pending[credID(it.AccountID, it.UserName, it.KeyID)]; ok {
			err := fmt.Errorf("%w: action %d (run keywarden journal)", ErrPending, id)
			out = append(out, Outcome{Item: it, Result: Skipped, Detail: err.Error(), Err: err})
			continue
		}
		if e.DryRun {
			out = append(out, Outcome{Item: it, Result: WouldRemediate, Detail: it.Why()})
			continue
		}
		if quit {
			out = append(out, Outcome{Item: it, Result: Skipped, Detail: "quit at the prompt", Err: ErrDeclined})
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
				out = append(out, Outcome{Item: it, Result: Skipped, Detail: "declined at the prompt", Err: ErrDeclined})
				continue
			case Quit:
				quit = true
				out = append(out, Outcome{Item: it, Result: Skipped, Detail: "quit at the prompt", Err: ErrDeclined})
				continue
			}
		}
		o := e.one(ctx, it, plan.AsOf)
		e.log().Info("remediation", "account", it.AccountID, "user", it.UserName, "op", it.Op, "result", o.Result, "action", o.ActionID, "detail", o.Detail)
		out = append(out, o)
	}
	return out, nil
}

func credID(account, user, key string) string { return account + "\x00" + user + "\x00" + key }

// live is the state of a credential read right before acting.
type live struct {
	gone     string // why the credential no longer qualifies at all ("" if present)
	status   string // key status, or "present" for a login profile
	lastUsed *time.Time
	user     inventory.User
}

func (e *Executor) one(ctx context.Context, it Item, asOf time.Time) Outcome {
	fail := func(err error) Outcome {
		return Outcome{Item: it, Result: Failed, Detail: err.Error() + " (the issue stays open)", Err: err}
	}
	if it.Op == OpDeactivateKey && slices.Contains(e.OwnKeyIDs, it.KeyID) {
		err := fmt.Errorf("%w: never deactivated", ErrOwnKey)
		return Outcome{Item: it, Result: Skipped, Detail: err.Error(), Err: err}
	}
	c, err := e.client(ctx, it.AccountID)
	if err != nil {
		return fail(err)
	}
	st, err := e.recheck(ctx, c, it)
	if err != nil {
		return fail(fmt.Errorf("account %s: live re-check of %s: %w", it.AccountID, it.Credential(), err))
	}
	now := e.Now()
	ch := &issues.Changes{}
	var act []issues.Issue
	var notes []string
	var firstErr error
	for _, is := range it.Issues {
		verdict, why, err := e.judge(it, &is, st, asOf)
		switch verdict {
		case actOn:
			act = append(act, is)
			continue
		case resolve:
			closeIssue(&is, issues.Resolved, why, now)
			ch.Closed = append(ch.Closed, issues.Change{Issue: is, Why: why})
		case update:
			ch.Updated = append(ch.Updated, issues.Change{Issue: is, Why: why})
		}
		notes = append(notes, fmt.Sprintf("issue %d: %s", is.ID, why))
		if firstErr == nil {
			firstErr = err
		}
	}
	if len(act) == 0 {
		if err := e.Store.Apply(ctx, ch); err != nil {
			return fail(fmt.Errorf("store the re-check: %w", err))
		}
		res := Updated
		if len(ch.Closed) > 0 {
			res = Resolved
		}
		return Outcome{Item: it, Result: res, Detail: "not acted on: " + strings.Join(notes, "; "), Err: firstErr}
	}
	acting := it
	acting.Issues = act
	a := &Action{Op: it.Op, AccountID: it.AccountID, UserName: it.UserName, KeyID: it.KeyID,
		Kinds: acting.Kinds(), IssueIDs: acting.IssueIDs(), Reason: acting.Why(),
		BeforeStatus: st.status, BeforeLastUsed: st.lastUsed, Started: now}
	if err := e.Journal.Begin(ctx, a); err != nil {
		if errors.Is(err, ErrIntentExists) {
			err = fmt.Errorf("%w: %w", ErrPending, err)
		}
		return fail(fmt.Errorf("journal intent: %w", err))
	}
	r := e.act(ctx, c, it, a)
	switch r.state {
	case StateDone, StateUnverified:
	case StateFailed:
		return Outcome{Item: it, Result: Failed, ActionID: a.ID, Err: r.err,
			Detail: fmt.Sprintf("action %d failed: %s (the issue stays open)", a.ID, r.note)}
	default:
		return Outcome{Item: it, Result: Failed, ActionID: a.ID, Err: r.err,
			Detail: fmt.Sprintf("action %d %s: %s (the issue stays open until then)", a.ID, r.state, r.note)}
	}
	reason := fmt.Sprintf("%s by keywarden (action %d)", doneReason(it.Op), a.ID)
	res, detail := Remediated, fmt.Sprintf("action %d: %s; %s", a.ID, r.note, acting.Why())
	if r.state == StateUnverified {
		reason += ", " + notYetVerified
		res = Unverified
	}
	for _, is := range act {
		closeIssue(&is, issues.Remediated, reason, now)
		is.Exemption = ""
		ch.Closed = append(ch.Closed, issues.Change{Issue: is, Why: reason})
	}
	if len(notes) > 0 {
		detail += "; " + strings.Join(notes, "; ")
	}
	// The issues follow the journal even when keywarden is being stopped.
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), journalTimeout)
	defer cancel()
	if err := e.Store.Apply(bctx, ch); err != nil {
		return Outcome{Item: it, Result: res, ActionID: a.ID, Err: err,
			Detail: detail + "; storing the issue change failed: " + err.Error()}
	}
	return Outcome{Item: it, Result: res, ActionID: a.ID, Detail: detail, Err: r.err}
}

// notYetVerified ends the close reason of an unverified action's issues.
const notYetVerified = "not yet verified: the call succeeded but IAM did not show it yet; the next run verifies it"

func doneReason(op Op) string {
	switch op {
	case OpDeleteLoginProfile:
		return "password (login profile) deleted"
	case OpReactivateKey:
		return "key re-activated"
	}
	return "key deactivated"
}

func closeIssue(is *issues.Issue, st issues.Status, reason string, now time.Time) {
	is.Status = st
	is.Updated = now
	t := now
	is.Closed = &t
	if st == issues.Remediated {
		r := now
		is.Remediated = &r
	}
	is.CloseReason = reason
}

type verdict int

const (
	actOn verdict = iota
	resolve
	update
)

// judge re-evaluates one issue against the live state.
func (e *Executor) judge(it Item, is *issues.Issue, st *live, asOf time.Time) (verdict, string, error) {
	if st.gone != "" {
		return resolve, st.gone + " (live re-check)", fmt.Errorf("%w: %s", ErrNoLongerQualifies, st.gone)
	}
	rule, ok := e.Rules[is.Kind]
	if !ok {
		err := fmt.Errorf("%w: no threshold configured for %s", ErrNotEnabled, is.Kind)
		return update, err.Error(), err
	}
	var f *policy.Finding
	for _, x := range policy.EvaluateUser(nil, it.AccountID, &st.user, rule, e.Exemptions, asOf) {
		if x.Subject() == is.Subject {
			f = &x
			break
		}
	}
	switch {
	case f == nil:
		why := "no longer detected at the live re-check"
		if st.lastUsed != nil && isoTime(*st.lastUsed) != is.Details.LastUsed {
			why = "used again since the scan (last used " + isoTime(*st.lastUsed) + ")"
		}
		return resolve, why, fmt.Errorf("%w: %s", ErrNoLongerQualifies, why)
	case f.Whitelisted():
		is.Status, is.Exemption, is.Updated = issues.Whitelisted, f.Exemption, e.Now()
		why := "whitelisted by " + f.Exemption + " (live re-check)"
		return update, why, fmt.Errorf("%w by %s", ErrWhitelisted, f.Exemption)
	case f.Stage != policy.Violation:
		is.Stage, is.DaysLeft, is.Updated = f.Stage, f.DaysLeft, e.Now()
		why := fmt.Sprintf("not past its deadline at the live re-check (%d days left)", f.DaysLeft)
		return update, why, fmt.Errorf("%w: %d days left", ErrNotViolation, f.DaysLeft)
	}
	return actOn, "", nil
}

func isoTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// recheck reads the credential's live state.
func (e *Executor) recheck(ctx context.Context, c IAM, it Item) (*live, error) {
	st := &live{user: inventory.User{Name: it.UserName}}
	tags := func() error {
		var m map[string]string
		p := iam.NewListUserTagsPaginator(c, &iam.ListUserTagsInput{UserName: aws.String(it.UserName)})
		for p.HasMorePages() {
			var page *iam.ListUserTagsOutput
			err := e.retry(ctx, func(ctx context.Context) (err error) { page, err = p.NextPage(ctx); return err })
			if err != nil {
				return err
			}
			if err := complete("ListUserTags", "user "+it.UserName, page != nil && page.Tags != nil && !(page.IsTruncated && aws.ToString(page.Marker) == ""), "Tags"); err != nil {
				return err
			}
			for _, t := range page.Tags {
				if m == nil {
					m = map[string]string{}
				}
				m[aws.ToString(t.Key)] = aws.ToString(t.Value)
			}
		}
		st.user.Tags = m
		return nil
	}
	switch it.Op {
	case OpDeactivateKey:
		k, err := e.keyState(ctx, c, it.UserName, it.KeyID)
		switch {
		case inventory.IsNoSuchEntity(err):
			st.gone = "user deleted"
			return st, nil
		case err != nil:
			return nil, err
		case k == nil:
			st.gone = "key deleted"
			return st, nil
		case k.Status != types.StatusTypeActive:
			st.gone = "key already " + string(k.Status)
			return st, nil
		}
		st.status = string(k.Status)
		var lu *iam.GetAccessKeyLastUsedOutput
		if err := e.retry(ctx, func(ctx context.Context) (err error) {
			lu, err = c.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(it.KeyID)})
			return err
		}); err != nil {
			return nil, err
		}
		if err := complete("GetAccessKeyLastUsed", "key "+it.KeyID, lu != nil && lu.AccessKeyLastUsed != nil, "AccessKeyLastUsed"); err != nil {
			return nil, err
		}
		key := inventory.AccessKey{ID: it.KeyID, Status: string(k.Status), Created: aws.ToTime(k.CreateDate).UTC()}
		if lu.AccessKeyLastUsed != nil && lu.AccessKeyLastUsed.LastUsedDate != nil {
			t := lu.AccessKeyLastUsed.LastUsedDate.UTC()
			key.LastUsed, st.lastUsed = &t, &t
		}
		st.user.Keys = []inventory.AccessKey{key}
	case OpDeleteLoginProfile:
		var u *iam.GetUserOutput
		err := e.retry(ctx, func(ctx context.Context) (err error) {
			u, err = c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(it.UserName)})
			return err
		})
		switch {
		case inventory.IsNoSuchEntity(err):
			st.gone = "user deleted"
			return st, nil
		case err != nil:
			return nil, err
		}
		if err := complete("GetUser", "user "+it.UserName, u != nil && u.User != nil, "User"); err != nil {
			return nil, err
		}
		st.user.Created = aws.ToTime(u.User.CreateDate).UTC()
		var lp *iam.GetLoginProfileOutput
		err = e.retry(ctx, func(ctx context.Context) (err error) {
			lp, err = c.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: aws.String(it.UserName)})
			return err
		})
		switch {
		case inventory.IsNoSuchEntity(err):
			st.gone = "login profile deleted"
			return st, nil
		case err != nil:
			return nil, err
		}
		if err := complete("GetLoginProfile", "user "+it.UserName, lp != nil && lp.LoginProfile != nil, "LoginProfile"); err != nil {
			return nil, err
		}
		p := &inventory.Password{Enabled: true, Created: aws.ToTime(lp.LoginProfile.CreateDate).UTC()}
		if u.User.PasswordLastUsed != nil {
			t := u.User.PasswordLastUsed.UTC()
			p.LastUsed, st.lastUsed = &t, &t
		}
		st.status = "present"
		st.user.Password = p
	default:
		return nil, fmt.Errorf("unknown operation %q", it.Op)
	}
	if err := tags(); err != nil {
		if inventory.IsNoSuchEntity(err) {
			st.gone = "user deleted"
			return st, nil
		}
		return nil, err
	}
	return st, nil
}

// complete is an error naming the action when its answer lacks an element
// the API guarantees (ok false): read as empty, it would make a key look
// never used, a user untagged (not exempt) or deleted.
func complete(action, of string, ok bool, element string) error {
	if ok {
		return nil
	}
	return fmt.Errorf("%s of %s: the answer has no %s (an incomplete answer from AWS): nothing is done on it", action, of, element)
}
