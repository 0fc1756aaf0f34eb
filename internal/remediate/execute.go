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
	"github.com/aws/smithy-go"

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
	RolledBack     Result = "rolled back"
	WouldRollBack  Result = "would roll back"
	CannotRestore  Result = "cannot restore"
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
	return o.Result == Failed || o.Result == CannotRestore || errors.Is(o.Err, ErrOverCap)
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
	// first wait (default 1s), doubled each time.
	Attempts int
	Backoff  time.Duration

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
	callErr := e.retry(ctx, func() error { return e.write(ctx, c, it) })
	ok, vErr := e.verify(ctx, c, it, callErr == nil)
	switch {
	case vErr != nil:
		return Outcome{Item: it, Result: Failed, ActionID: a.ID, Err: vErr,
			Detail: fmt.Sprintf("action %d: call: %v; verification could not read the live state: %v; the journal keeps the intent and the next run reconciles it", a.ID, errString(callErr), vErr)}
	case !ok:
		err := callErr
		note := ""
		if err == nil {
			err = fmt.Errorf("%w: %s is still %s after the call", ErrVerifyFailed, it.Credential(), st.status)
		}
		note = err.Error()
		if fErr := e.Journal.Finish(ctx, a.ID, StateFailed, e.Now(), note); fErr != nil {
			note += "; journal: " + fErr.Error()
		}
		return Outcome{Item: it, Result: Failed, ActionID: a.ID, Err: err,
			Detail: fmt.Sprintf("action %d: %s (the issue stays open)", a.ID, note)}
	}
	note := "verified: " + verifiedState(it.Op)
	if callErr != nil {
		note += " (the call answered: " + callErr.Error() + ")"
	}
	if err := e.Journal.Finish(ctx, a.ID, StateDone, e.Now(), note); err != nil {
		return Outcome{Item: it, Result: Failed, ActionID: a.ID, Err: err,
			Detail: fmt.Sprintf("action %d: acted and verified, but the journal update failed (%v): the next run reconciles it", a.ID, err)}
	}
	reason := fmt.Sprintf("%s by keywarden (action %d)", doneReason(it.Op), a.ID)
	for _, is := range act {
		closeIssue(&is, issues.Remediated, reason, now)
		ch.Closed = append(ch.Closed, issues.Change{Issue: is, Why: reason})
	}
	detail := fmt.Sprintf("action %d: %s; %s", a.ID, verifiedState(it.Op), acting.Why())
	if len(notes) > 0 {
		detail += "; " + strings.Join(notes, "; ")
	}
	if err := e.Store.Apply(ctx, ch); err != nil {
		return Outcome{Item: it, Result: Remediated, ActionID: a.ID, Err: err,
			Detail: detail + "; storing the issue change failed: " + err.Error()}
	}
	return Outcome{Item: it, Result: Remediated, ActionID: a.ID, Detail: detail}
}

func errString(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

func doneReason(op Op) string {
	switch op {
	case OpDeleteLoginProfile:
		return "password (login profile) deleted"
	case OpReactivateKey:
		return "key re-activated"
	}
	return "key deactivated"
}

func verifiedState(op Op) string {
	switch op {
	case OpDeleteLoginProfile:
		return "login profile deleted"
	case OpReactivateKey:
		return "key Active"
	}
	return "key Inactive"
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
			err := e.retry(ctx, func() (err error) { page, err = p.NextPage(ctx); return err })
			if err != nil {
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
		if err := e.retry(ctx, func() (err error) {
			lu, err = c.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(it.KeyID)})
			return err
		}); err != nil {
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
		err := e.retry(ctx, func() (err error) {
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
		st.user.Created = aws.ToTime(u.User.CreateDate).UTC()
		var lp *iam.GetLoginProfileOutput
		err = e.retry(ctx, func() (err error) {
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

// keyState finds a key of user by ID (nil when the user has no such key).
func (e *Executor) keyState(ctx context.Context, c IAMReader, user, keyID string) (*types.AccessKeyMetadata, error) {
	p := iam.NewListAccessKeysPaginator(c, &iam.ListAccessKeysInput{UserName: aws.String(user)})
	for p.HasMorePages() {
		var page *iam.ListAccessKeysOutput
		if err := e.retry(ctx, func() (err error) { page, err = p.NextPage(ctx); return err }); err != nil {
			return nil, err
		}
		for i := range page.AccessKeyMetadata {
			if aws.ToString(page.AccessKeyMetadata[i].AccessKeyId) == keyID {
				k := page.AccessKeyMetadata[i]
				return &k, nil
			}
		}
	}
	return nil, nil
}

// write makes the item's one mutating call, on the item's key ID or user
// only.
func (e *Executor) write(ctx context.Context, c IAMWriter, it Item) error {
	switch it.Op {
	case OpDeactivateKey, OpReactivateKey:
		if it.KeyID == "" || it.UserName == "" {
			return errors.New("no key ID or user name: refusing to call UpdateAccessKey")
		}
		status := types.StatusTypeInactive
		if it.Op == OpReactivateKey {
			status = types.StatusTypeActive
		}
		_, err := c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{
			UserName: aws.String(it.UserName), AccessKeyId: aws.String(it.KeyID), Status: status})
		return err
	case OpDeleteLoginProfile:
		if it.UserName == "" {
			return errors.New("no user name: refusing to call DeleteLoginProfile")
		}
		_, err := c.DeleteLoginProfile(ctx, &iam.DeleteLoginProfileInput{UserName: aws.String(it.UserName)})
		return err
	}
	return fmt.Errorf("unknown operation %q", it.Op)
}

// done reads whether the item's action has taken effect.
func (e *Executor) done(ctx context.Context, c IAMReader, op Op, user, keyID string) (bool, error) {
	switch op {
	case OpDeactivateKey, OpReactivateKey:
		k, err := e.keyState(ctx, c, user, keyID)
		if err != nil {
			if inventory.IsNoSuchEntity(err) {
				return false, nil
			}
			return false, err
		}
		want := types.StatusTypeInactive
		if op == OpReactivateKey {
			want = types.StatusTypeActive
		}
		return k != nil && k.Status == want, nil
	case OpDeleteLoginProfile:
		err := e.retry(ctx, func() error {
			_, err := c.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: aws.String(user)})
			return err
		})
		switch {
		case inventory.IsNoSuchEntity(err):
			return true, nil
		case err != nil:
			return false, err
		}
		return false, nil
	}
	return false, fmt.Errorf("unknown operation %q", op)
}

// verify re-reads the live state after the call, as AWS's own runbook does;
// IAM is eventually consistent, so a state not yet changed is read again a
// few times when the call succeeded.
func (e *Executor) verify(ctx context.Context, c IAMReader, it Item, callOK bool) (bool, error) {
	tries := 1
	if callOK {
		tries = 3
	}
	d := e.backoff()
	for i := 0; ; i++ {
		ok, err := e.done(ctx, c, it.Op, it.UserName, it.KeyID)
		if err != nil || ok || i+1 >= tries {
			return ok, err
		}
		if err := sleep(ctx, d); err != nil {
			return false, err
		}
		d *= 2
	}
}

func (e *Executor) backoff() time.Duration {
	if e.Backoff <= 0 {
		return time.Second
	}
	return e.Backoff
}

// retry runs fn again with exponential backoff while AWS throttles it.
func (e *Executor) retry(ctx context.Context, fn func() error) error {
	n := e.Attempts
	if n <= 0 {
		n = 4
	}
	d := e.backoff()
	for i := 0; ; i++ {
		err := fn()
		if err == nil || !Throttled(err) || i+1 >= n {
			return err
		}
		e.log().Warn("throttled, retrying", "attempt", i+1, "wait", d, "err", err)
		if err := sleep(ctx, d); err != nil {
			return err
		}
		d *= 2
	}
}

// Throttled reports whether err is an AWS throttling error.
func Throttled(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException", "RequestThrottled", "SlowDown":
		return true
	}
	return false
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
