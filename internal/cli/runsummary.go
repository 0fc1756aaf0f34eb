package cli

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keywarden/keywarden/internal/output"
	"github.com/keywarden/keywarden/internal/policy"
)

func writeRunSummary(g *globals, sum *RunSummary) error {
	opts, err := g.outputOptions(sum.AsOf)
	if err != nil {
		return err
	}
	w := g.env.Stdout
	if opts.Format == output.JSON {
		return json.NewEncoder(w).Encode(sum)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "run\t%s in %s (as of %s)%s\n", sum.Result, sum.Duration, sum.AsOf.Format(time.RFC3339), map[bool]string{true: ", dry run", false: ""}[sum.DryRun])
	fmt.Fprintf(tw, "steps\t%s\n", strings.Join(sum.Steps, ", "))
	fmt.Fprintf(tw, "accounts\t%d (%s, %d AWS API calls)\n", sum.Accounts, output.Count(sum.Users, "user"), sum.APICalls)
	for _, k := range policy.Kinds {
		if m := sum.Findings[k]; m != nil {
			fmt.Fprintf(tw, "%s\t%s, %s, %d whitelisted\n", k, output.Count(m["violation"], "violation"), output.Count(m["warning"], "warning"), m["whitelisted"])
		}
	}
	fmt.Fprintf(tw, "issues\t%d new, %d updated, %d resolved\n", sum.Issues.New, sum.Issues.Updated, sum.Issues.Resolved)
	var chans []string
	for ch := range sum.Notices {
		chans = append(chans, ch)
	}
	sort.Strings(chans)
	for _, ch := range chans {
		n := sum.Notices[ch]
		fmt.Fprintf(tw, "notify %s\t%d sent, %d failed, %d cancelled\n", ch, n.Sent, n.Failed, n.Cancelled)
	}
	if len(sum.Remediation) > 0 {
		var parts []string
		for r, n := range sum.Remediation {
			parts = append(parts, fmt.Sprintf("%d %s", n, r))
		}
		sort.Strings(parts)
		fmt.Fprintf(tw, "remediation\t%s\n", strings.Join(parts, ", "))
	}
	for _, f := range sum.Failures {
		fmt.Fprintf(tw, "FAILED\t%s\n", f)
	}
	return tw.Flush()
}
