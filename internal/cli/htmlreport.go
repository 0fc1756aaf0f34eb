package cli

import (
	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/engine"
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
