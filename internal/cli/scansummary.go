package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/keywarden/keywarden/internal/accounts"
	"github.com/keywarden/keywarden/internal/engine"
	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/job"
	"github.com/keywarden/keywarden/internal/output"
	"github.com/keywarden/keywarden/internal/policy"
)

// asOfLabel is --as-of as the user wrote it, or the evaluation time.
func asOfLabel(flag string, asOf time.Time) string {
	if flag != "" {
		return flag
	}
	return asOf.Format(time.RFC3339)
}

// untracked says, for each account evaluated but not tracked because the
// store holds a later scan of it, that its issues were left alone: an
// older view never rewrites history.
func untracked(w io.Writer, res *engine.Result, asOf string) {
	for _, a := range res.Accounts {
		if a.LaterScan.IsZero() {
			continue
		}
		last := a.LaterScan.UTC()
		label := last.Format(time.RFC3339)
		if last.Equal(last.Truncate(24 * time.Hour)) {
			label = last.Format("2006-01-02")
		}
		fmt.Fprintf(w, "--as-of %s is before the last tracked scan of %s (%s): findings shown, issue store unchanged\n",
			asOf, a.Account.ID, label)
	}
}

// tallyFailsOn reports whether the findings match --fail-on, from the
// accounts' tallies (the findings themselves may have been dropped once
// written): violation matches violations; warning matches warnings and
// violations. Whitelisted findings never fail a run.
func tallyFailsOn(res *engine.Result, level policy.Stage) bool {
	for _, a := range res.Accounts {
		if a.Tally.Violations > 0 || (level == policy.Warning && a.Tally.Warnings > 0) {
			return true
		}
	}
	return false
}

func summary(w io.Writer, res *engine.Result, tracked bool, d *accounts.Discovered) {
	var users, calls, viol, warn, white, nw, upd, closed, kept int
	for _, a := range res.Accounts {
		users += a.Users
		calls += a.CallCount()
		viol += a.Tally.Violations
		warn += a.Tally.Warnings
		white += a.Tally.Whitelisted
		if a.Changes != nil {
			nw += len(a.Changes.New)
			upd += len(a.Changes.Updated)
			closed += len(a.Changes.Closed)
			kept += len(a.Changes.Kept)
		}
	}
	fmt.Fprintf(w, "scanned %d account(s), %s as of %s: %s, %s, %d whitelisted",
		len(res.Accounts), output.Count(users, "user"), res.AsOf.Format(time.RFC3339), output.Count(viol, "violation"), output.Count(warn, "warning"), white)
	if tracked {
		fmt.Fprintf(w, "; issues: %d new, %d updated, %d resolved", nw, upd, closed)
		if kept > 0 {
			fmt.Fprintf(w, " (%d left open: their users are not in the credential report file, which may be incomplete)", kept)
		}
	}
	if calls > 0 {
		fmt.Fprintf(w, "; %d AWS API calls", calls)
	}
	if s := reportLine(res); s != "" {
		fmt.Fprintf(w, "; %s", s)
	}
	if n := len(res.Skipped); n > 0 {
		fmt.Fprintf(w, "; %d account(s) skipped (no enabled check covers them)", n)
	}
	if n := len(job.InactiveOf(d)); n > 0 {
		fmt.Fprintf(w, "; %d suspended/closed organization account(s) skipped", n)
	}
	fmt.Fprintf(w, "; %s", roundDuration(res.Duration))
	failed := res.Failed()
	switch n := len(failed); {
	case n > 0 && n == len(res.Accounts):
		fmt.Fprintf(w, "; %d account(s) FAILED: no account succeeded", n)
	case n > 0:
		fmt.Fprintf(w, "; %d account(s) FAILED", n)
	}
	fmt.Fprintln(w)
	for _, a := range failed {
		fmt.Fprintf(w, "  FAILED %s: %v\n", accountLabel(a.Account), a.Err)
	}
}

// reportLine says whether the credential reports were generated for this
// scan (live state: nothing confirmed) or cached (suspects confirmed live):
// "report generated 3s ago", "report 2h old: 412 suspects confirmed live".
func reportLine(res *engine.Result) string {
	var fresh, stale, confirmed, throttled int
	var freshAge, staleAge time.Duration
	for _, a := range res.Accounts {
		throttled += a.Throttled
		if a.Err != nil || a.ReportGenerated.IsZero() {
			continue
		}
		if a.ReportStale {
			stale++
			confirmed += a.Confirmed
			staleAge = max(staleAge, a.ReportAge)
		} else {
			fresh++
			freshAge = max(freshAge, a.ReportAge)
		}
	}
	var parts []string
	switch {
	case fresh == 1 && stale == 0:
		parts = append(parts, "report generated "+ago(freshAge)+" ago")
	case fresh > 0:
		parts = append(parts, fmt.Sprintf("%d reports generated for this scan (up to %s ago)", fresh, ago(freshAge)))
	}
	switch {
	case stale == 1 && fresh == 0:
		parts = append(parts, fmt.Sprintf("report %s old: %d suspects confirmed live", ago(staleAge), confirmed))
	case stale > 0:
		parts = append(parts, fmt.Sprintf("%d cached reports up to %s old: %d suspects confirmed live", stale, ago(staleAge), confirmed))
	}
	if throttled > 0 {
		parts = append(parts, fmt.Sprintf("%d calls throttled (in-flight calls halved)", throttled))
	}
	return strings.Join(parts, ", ")
}

// ago renders a report age in its largest unit: 3s, 12m, 2h.
func ago(d time.Duration) string {
	switch {
	case d >= time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	case d >= time.Minute:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	}
	return fmt.Sprintf("%ds", int(d/time.Second))
}

func accountLabel(a inventory.Account) string {
	switch {
	case a.ID == "":
		return "(current credentials' account)"
	case a.Name != "":
		return a.ID + " (" + a.Name + ")"
	}
	return a.ID
}

// issueFilterStatuses parses --status.
func issueFilterStatuses(s string) ([]issues.Status, error) {
	switch s {
	case "", "live":
		return []issues.Status{issues.Open, issues.Whitelisted}, nil
	case "all":
		return nil, nil
	}
	var out []issues.Status
	for _, p := range strings.Split(s, ",") {
		st := issues.Status(strings.TrimSpace(p))
		switch st {
		case issues.Open, issues.Resolved, issues.Remediated, issues.Whitelisted:
			out = append(out, st)
		default:
			return nil, usageError(fmt.Sprintf("--status %q: use open, whitelisted, resolved, remediated, live (open+whitelisted) or all, comma-separated", p))
		}
	}
	return out, nil
}
