// Package engine runs one job: accounts x (inventory -> policy -> issues).
// It is the only package that knows the order of the steps.
package engine

import (
	"context"
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
	// Concurrency: accounts scanned at once (default 4).
	Concurrency int
}

// AccountResult is the outcome of one account's scan.
type AccountResult struct {
	Account  inventory.Account
	Users    int
	Findings []policy.Finding
	Changes  *issues.Changes
	Calls    map[string]int
	// ReportGenerated is when the credential report used was generated.
	ReportGenerated time.Time
	Err             error
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

// Scan audits every account. One account's failure is recorded in its
// result and the others go on; the error return is for failures that stop
// the whole run (none today besides a cancelled context).
func (e *Engine) Scan(ctx context.Context, accounts []inventory.Account, asOf time.Time) (*Result, error) {
	res := &Result{AsOf: asOf, Accounts: make([]AccountResult, len(accounts))}
	n := e.Concurrency
	if n <= 0 {
		n = 4
	}
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i, a := range accounts {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int, a inventory.Account) {
			defer func() { <-sem; wg.Done() }()
			res.Accounts[i] = e.scanAccount(ctx, a, asOf)
		}(i, a)
	}
	wg.Wait()
	return res, ctx.Err()
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
	facts, err := e.Source.Collect(ctx, a)
	if err != nil {
		r.Err = err
		e.log().Error("scan failed", "account", a.ID, "err", err)
		return r
	}
	if r.Account.ID == "" {
		r.Account.ID = facts.Account.ID
	}
	r.Users, r.Calls, r.ReportGenerated = len(facts.Users), facts.Calls, facts.ReportGenerated
	r.Findings = policy.Evaluate(facts, e.Rules, e.Exemptions, asOf)
	if e.Store != nil {
		ch, err := e.track(ctx, facts, r.Findings, asOf)
		if err != nil {
			r.Err = fmt.Errorf("account %s: track issues: %w", r.Account.ID, err)
			e.log().Error("tracking failed", "account", r.Account.ID, "err", err)
			return r
		}
		r.Changes = ch
	}
	e.log().Info("account scanned", "account", r.Account.ID, "users", r.Users, "findings", len(r.Findings),
		"api_calls", r.CallCount(), "duration", time.Since(start).Round(time.Millisecond))
	return r
}

// track reconciles the account's live issues of the evaluated kinds with
// the findings and stores the changes.
func (e *Engine) track(ctx context.Context, facts *inventory.Facts, findings []policy.Finding, asOf time.Time) (*issues.Changes, error) {
	var live []issues.Issue
	for _, r := range e.Rules {
		if !r.AppliesTo(facts.Account.ID) {
			continue
		}
		is, err := e.Store.List(ctx, issues.Filter{Kind: r.Kind, AccountID: facts.Account.ID,
			Statuses: []issues.Status{issues.Open, issues.Whitelisted}})
		if err != nil {
			return nil, err
		}
		live = append(live, is...)
	}
	ch := issues.Reconcile(live, findings, facts, asOf)
	if ch.Empty() {
		return ch, nil
	}
	if err := e.Store.Apply(ctx, ch); err != nil {
		return nil, err
	}
	return ch, nil
}
