package cli

import (
	"strings"
	"time"

	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/engine"
	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/output"
	"github.com/keywarden/keywarden/internal/policy"
)

// scanReport gathers what the HTML report of a scan shows.
func scanReport(res *engine.Result, cfg *config.Config, rules []policy.Rule) output.Report {
	r := output.Report{AsOf: res.AsOf, Rules: rules, Findings: res.Findings(), Ages: policy.NewAgeHistogram()}
	for _, a := range res.Accounts {
		ra := output.ReportAccount{ID: a.Account.ID, Name: a.Account.Name, Users: a.Users}
		if ra.Name == "" {
			ra.Name = cfg.AccountName(a.Account.ID)
		}
		if a.Err != nil {
			ra.Err = a.Err.Error()
		}
		r.Accounts = append(r.Accounts, ra)
		r.Ages.Merge(a.Ages)
	}
	return r
}

// issuesReport shows the tracked (live) issues of the store as the HTML
// report: the web view of serve and `issues export -o html`.
func issuesReport(list []issues.Issue, cfg *config.Config, now time.Time) output.Report {
	r := output.Report{Title: "keywarden: tracked issues", AsOf: now, Rules: cfg.Rules(), Tracked: true}
	seen := map[string]bool{}
	for _, a := range cfg.AWS.Accounts {
		seen[a.ID] = true
		r.Accounts = append(r.Accounts, output.ReportAccount{ID: a.ID, Name: a.Name})
	}
	for _, is := range list {
		if !seen[is.AccountID] {
			seen[is.AccountID] = true
			r.Accounts = append(r.Accounts, output.ReportAccount{ID: is.AccountID, Name: cfg.AccountName(is.AccountID)})
		}
		f := policy.Finding{Kind: is.Kind, AccountID: is.AccountID, UserName: is.Details.Username, UserARN: is.UserARN,
			KeySlot: is.KeySlot, Stage: is.Stage, Exemption: is.Exemption, AgeDays: is.AgeDays, LimitDays: is.LimitDays,
			DaysLeft: is.DaysLeft, Deadline: is.Deadline}
		if is.Kind != policy.InactivePasswords && !strings.Contains(is.Subject, "/") {
			f.KeyID = is.Subject
		}
		if t, err := time.Parse(time.RFC3339, is.Details.CreateDate); err == nil {
			f.Created = t
		}
		if t, err := time.Parse(time.RFC3339, is.Details.LastUsed); err == nil {
			f.LastUsed = &t
		}
		if is.Status.Closed() {
			c := output.ClosedIssue{Finding: f, Status: string(is.Status), Reason: is.CloseReason}
			if is.Closed != nil {
				c.Closed = *is.Closed
			}
			r.Closed = append(r.Closed, c)
			continue
		}
		r.Findings = append(r.Findings, f)
	}
	return r
}
