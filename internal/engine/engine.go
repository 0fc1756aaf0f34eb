// Package engine runs one job: accounts x (inventory -> policy -> issues).
// It is the only package that knows the order of the steps.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/policy"
)

// Engine holds what a scan needs.
type Engine struct {
	Source     inventory.Source
	Store      issues.Store // nil: evaluate only, track nothing
	Rules      []policy.Rule
	Exemptions policy.Exemptions
	Log        *slog.Logger
	// Concurrency: accounts scanned at once (default DefaultConcurrency).
	Concurrency int
	// AccountTimeout bounds one account's scan (0: no bound). An account
	// that runs out of time fails; the others go on.
	AccountTimeout time.Duration
	// Progress, when set, is called after each account, one call at a time,
	// in the order accounts finish.
	Progress func(Progress)
	// Ages: also count every credential's age per account (the HTML
	// report's chart), AccountResult.Ages.
	Ages bool
	// Output, when set, receives each account's result while the scan goes
	// on, one call at a time, in the order of the accounts given to Scan
	// (not the order they finish in): the findings come out exactly as
	// Result.Findings would list them. An account that finishes before an
	// earlier one waits in a reorder buffer until that one is done, so the
	// buffer holds only the accounts finished out of order (a few waves of
	// Concurrency accounts unless one account is much slower than the
	// rest). Called after Progress for the same account.
	Output func(*AccountResult)
	// DropFindings releases each account's findings once Output had them:
	// AccountResult.Findings is then nil and only AccountResult.Tally
	// counts them. Memory no longer grows with the findings of the
	// organization.
	DropFindings bool
}

// Tally counts an account's findings by outcome.
type Tally struct {
	Violations, Warnings, Whitelisted int
}

// Total is the number of findings.
func (t Tally) Total() int { return t.Violations + t.Warnings + t.Whitelisted }

func tally(fs []policy.Finding) Tally {
	var t Tally
	for i := range fs {
		switch {
		case fs[i].Whitelisted():
			t.Whitelisted++
		case fs[i].Stage == policy.Violation:
			t.Violations++
		default:
			t.Warnings++
		}
	}
	return t
}

// DefaultConcurrency is how many accounts are scanned at once by default.
const DefaultConcurrency = 16

// Progress is the state of a scan after one more account finished.
type Progress struct {
	Total, Done, Failed, Findings int
	// Last is the account that just finished (its findings included).
	Last *AccountResult
}

// AccountResult is the outcome of one account's scan.
type AccountResult struct {
	Account inventory.Account
	Users   int
	// Findings of the account, ordered by user. After tracking, findings
	// keep only what output needs: no Tags (the issues have them).
	// Nil once given to Engine.Output when Engine.DropFindings.
	Findings []policy.Finding
	// Tally counts the findings (also when they were dropped).
	Tally   Tally
	Changes *issues.Changes
	// LaterScan is set when the account was evaluated but its issues were
	// not tracked because the store already holds a scan of it as of this
	// later time: an older view never rewrites the account's issues.
	// Changes is then nil.
	LaterScan time.Time
	Calls     map[string]int
	// ReportGenerated is when the credential report used was generated.
	ReportGenerated time.Time
	// ReportStale: the report predated the scan (AWS served a cached one),
	// so Confirmed suspects were confirmed live. ReportAge is its age when
	// read, on the server's clock (zero when unknown).
	ReportStale bool
	ReportAge   time.Duration
	Confirmed   int
	// Throttled counts the account's calls IAM throttled.
	Throttled int
	Duration  time.Duration
	// Ages of the account's credentials, when Engine.Ages.
	Ages *policy.AgeHistogram
	Err  error
}

// CallCount is the total number of API calls made for the account.
func (r *AccountResult) CallCount() int {
	n := 0
	for _, c := range r.Calls {
		n += c
	}
	return n
}

// Result is the outcome of a scan of every account.
type Result struct {
	AsOf     time.Time
	Accounts []AccountResult
	// Skipped are accounts no enabled rule applies to (the kinds'
	// accounts lists): not scanned at all.
	Skipped []inventory.Account
	// Duration is the wall time of the scan.
	Duration time.Duration
}

// Failed lists the accounts whose scan failed.
func (r *Result) Failed() []AccountResult {
	var out []AccountResult
	for _, a := range r.Accounts {
		if a.Err != nil {
			out = append(out, a)
		}
	}
	return out
}

// Findings returns every finding of every account, in account order.
func (r *Result) Findings() []policy.Finding {
	var out []policy.Finding
	for _, a := range r.Accounts {
		out = append(out, a.Findings...)
	}
	return out
}

// Screen returns the fast path's candidate screen for the rules as of asOf.
func Screen(rules []policy.Rule, asOf time.Time) inventory.Screen {
	return func(account string, u *inventory.User) ([]int, bool) {
		return policy.Candidates(account, u, rules, asOf)
	}
}

// ScreenLastUse returns the keys whose candidate finding depends on their
// last use (inactivity): a stale report's rotation-only suspects need no
// last-use read.
func ScreenLastUse(rules []policy.Rule, asOf time.Time) inventory.Screen {
	var inactive []policy.Rule
	for _, r := range rules {
		if r.Kind == policy.InactiveKeys {
			inactive = append(inactive, r)
		}
	}
	return func(account string, u *inventory.User) ([]int, bool) {
		keys, _ := policy.Candidates(account, u, inactive, asOf)
		return keys, false
	}
}

// KnownKeys gives the fast path the key IDs the store knows for an account:
// those of its open and whitelisted key issues, by (user, slot, creation
// time). With no store it knows none.
func (e *Engine) KnownKeys(ctx context.Context, account string) (map[inventory.KeyRef]string, error) {
	out := map[inventory.KeyRef]string{}
	if e.Store == nil || account == "" {
		return out, nil
	}
	for _, kind := range []policy.Kind{policy.InactiveKeys, policy.KeysRotation} {
		is, err := e.Store.List(ctx, issues.Filter{Kind: kind, AccountID: account,
			Statuses: []issues.Status{issues.Open, issues.Whitelisted}})
		if err != nil {
			return nil, err
		}
		for _, it := range is {
			if it.KeySlot < 1 || it.Details.Username == "" || !keyID(it.Subject) {
				continue
			}
			created, err := time.Parse(time.RFC3339, it.Details.CreateDate)
			if err != nil {
				continue
			}
			out[inventory.KeyRef{User: it.Details.Username, Slot: it.KeySlot, Created: created.Unix()}] = it.Subject
		}
	}
	return out, nil
}

// keyID reports whether s is an access key ID (not a user/access_key_N
// subject of a key whose ID was unknown).
func keyID(s string) bool {
	if len(s) < 16 || len(s) > 128 {
		return false
	}
	for _, c := range s {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// Scan audits every account, at most Concurrency at a time. Each account's
// facts live only while that account is evaluated and tracked: memory grows
// with the accounts in flight and the findings kept, not with the users of
// the organization. One account's failure (or timeout) is recorded in its
// result and the others go on; the error return is for failures that stop
// the whole run (a cancelled context).
func (e *Engine) Scan(ctx context.Context, accounts []inventory.Account, asOf time.Time) (*Result, error) {
	start := time.Now()
	res := &Result{AsOf: asOf}
	var todo []inventory.Account
	for _, a := range accounts {
		if a.ID != "" && !e.applies(a.ID) {
			res.Skipped = append(res.Skipped, a)
			continue
		}
		todo = append(todo, a)
	}
	res.Accounts = make([]AccountResult, len(todo))
	n := e.Concurrency
	if n <= 0 {
		n = DefaultConcurrency
	}
	n = min(n, max(len(todo), 1))
	var (
		mu   sync.Mutex
		prog = Progress{Total: len(todo)}
		wg   sync.WaitGroup
		next = make(chan int)
		// done[i]: account i has its result; emitted: accounts before
		// this index went to Output (the reorder buffer is done[emitted:]).
		done    = make([]bool, len(todo))
		emitted int
	)
	// emit hands the accounts that are done and next in line to Output;
	// the caller holds mu.
	emit := func() {
		for emitted < len(todo) && done[emitted] {
			r := &res.Accounts[emitted]
			if e.Output != nil {
				e.Output(r)
				if e.DropFindings {
					r.Findings = nil
				}
			}
			emitted++
		}
	}
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r := e.scanAccount(ctx, todo[i], asOf)
				mu.Lock()
				res.Accounts[i] = r
				prog.Done++
				if r.Err != nil && !errors.Is(r.Err, context.Canceled) {
					prog.Failed++ // an interrupted account did not fail
				}
				prog.Findings += len(r.Findings)
				if e.Progress != nil {
					p := prog
					p.Last = &res.Accounts[i]
					e.Progress(p)
				}
				done[i] = true
				emit()
				mu.Unlock()
			}
		}()
	}
feed:
	for i := range todo {
		select {
		case next <- i:
		case <-ctx.Done():
			for j := i; j < len(todo); j++ {
				res.Accounts[j] = AccountResult{Account: todo[j], Err: fmt.Errorf("account %s: not scanned: %w", todo[j].ID, ctx.Err())}
			}
			break feed
		}
	}
	close(next)
	wg.Wait()
	for i := emitted; i < len(todo); i++ {
		done[i] = true // not scanned (cancelled): results without findings
	}
	emit()
	res.Duration = time.Since(start)
	return res, ctx.Err()
}

// applies reports whether any rule covers account.
func (e *Engine) applies(account string) bool {
	for _, r := range e.Rules {
		if r.AppliesTo(account) {
			return true
		}
	}
	return false
}

func (e *Engine) log() *slog.Logger {
	if e.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Log
}

func (e *Engine) scanAccount(ctx context.Context, a inventory.Account, asOf time.Time) AccountResult {
	r := AccountResult{Account: a}
	start := time.Now()
	defer func() { r.Duration = time.Since(start) }()
	if e.AccountTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, e.AccountTimeout, &TimeoutError{Account: a.ID, After: e.AccountTimeout})
		defer cancel()
	}
	facts, err := e.Source.Collect(ctx, a)
	if err != nil {
		if c := context.Cause(ctx); c != nil && errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w (%w)", c, err)
		}
		r.Err = err
		if errors.Is(err, context.Canceled) {
			// Interrupted, not failed: the command says what it kept.
			e.log().Info("scan interrupted", "account", a.ID)
			return r
		}
		e.log().Error("scan failed", "account", a.ID, "err", err)
		return r
	}
	if r.Account.ID == "" {
		r.Account.ID = facts.Account.ID
	}
	r.Users, r.Calls, r.ReportGenerated = len(facts.Users), facts.Calls, facts.ReportGenerated
	r.ReportStale, r.ReportAge, r.Confirmed, r.Throttled = facts.ReportStale, facts.ReportAge, facts.Confirmed, facts.Throttled
	r.Findings = policy.Evaluate(facts, e.Rules, e.Exemptions, asOf)
	r.Tally = tally(r.Findings)
	if e.Ages {
		r.Ages = policy.NewAgeHistogram()
		r.Ages.Add(facts, e.Rules, asOf)
	}
	if e.Store != nil {
		var ch *issues.Changes
		var later time.Time
		err := e.retryConflicts(ctx, r.Account.ID, func() (err error) {
			ch, later, err = e.track(ctx, facts, r.Findings, asOf)
			return err
		})
		if err != nil {
			r.Err = fmt.Errorf("account %s: track issues: %w", r.Account.ID, err)
			e.log().Error("tracking failed", "account", r.Account.ID, "err", err)
			return r
		}
		r.Changes, r.LaterScan = ch, later
		if !later.IsZero() {
			e.log().Warn("account not tracked: a later scan is tracked", "account", r.Account.ID,
				"as_of", asOf.Format(time.RFC3339), "last_tracked_scan", later.Format(time.RFC3339))
		}
	}
	r.Findings = compact(r.Findings)
	e.log().Info("account scanned", "account", r.Account.ID, "users", r.Users, "findings", len(r.Findings),
		"api_calls", r.CallCount(), "duration", time.Since(start).Round(time.Millisecond))
	return r
}

// track reconciles the account's live issues of the evaluated kinds with
// the findings and stores the changes together with the scan's as-of (the
// account's last tracked scan), also when nothing changed. When the store
// holds a later scan of the account, nothing is stored and track returns
// that scan's as-of instead of changes.
func (e *Engine) track(ctx context.Context, facts *inventory.Facts, findings []policy.Finding, asOf time.Time) (*issues.Changes, time.Time, error) {
	var live []issues.Issue
	for _, r := range e.Rules {
		if !r.AppliesTo(facts.Account.ID) {
			continue
		}
		is, err := e.Store.List(ctx, issues.Filter{Kind: r.Kind, AccountID: facts.Account.ID,
			Statuses: []issues.Status{issues.Open, issues.Whitelisted}})
		if err != nil {
			return nil, time.Time{}, err
		}
		live = append(live, is...)
	}
	ch := issues.Reconcile(live, findings, facts, asOf)
	if facts.Account.ID != "" { // a credential report naming no account has nothing to track either
		ch.Scan = &issues.TrackedScan{AccountID: facts.Account.ID, AsOf: asOf}
	}
	err := e.Store.Apply(ctx, ch)
	if errors.Is(err, issues.ErrStaleScan) {
		last, ok, lerr := e.Store.LastScan(ctx, facts.Account.ID)
		if lerr != nil {
			return nil, time.Time{}, fmt.Errorf("%w (%w)", err, lerr)
		}
		if !ok || !last.After(asOf) {
			return nil, time.Time{}, err // cannot be: the store said a later one is tracked
		}
		return nil, last, nil
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	return ch, time.Time{}, nil
}

// TimeoutError is why an account that ran out of --account-timeout failed.
type TimeoutError struct {
	Account string
	After   time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("account %s: timed out after %s (raise --account-timeout)", e.Account, e.After)
}

// compact copies an account's findings into a slice of their exact size,
// dropping what only tracking needed, so that a kept finding pins neither
// the account's facts nor the parser's slabs: Tags (the user's tag map,
// stored with the issue) go, LastUsed moves to one array for the account.
// UserName and UserARN share one small string per user; KeyID is its own.
func compact(fs []policy.Finding) []policy.Finding {
	if len(fs) == 0 {
		return nil
	}
	out := make([]policy.Finding, len(fs))
	copy(out, fs)
	n := 0
	for i := range out {
		if out[i].LastUsed != nil {
			n++
		}
	}
	times := make([]time.Time, 0, n)
	for i := range out {
		f := &out[i]
		f.Tags = nil
		if f.LastUsed != nil {
			times = append(times, *f.LastUsed)
			f.LastUsed = &times[len(times)-1]
		}
	}
	return out
}
