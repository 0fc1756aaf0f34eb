package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/output"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
)

// newIssuesExportCmd: every tracked issue (default live ones) in any format,
// notably the self-contained HTML report with the remediation history.
func newIssuesExportCmd(g *globals) *cobra.Command {
	var status string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Export tracked issues: -o html (report with remediation history), json, csv or table",
		Example: `  keywarden issues export -o html --output issues.html
  keywarden issues export --status all -o csv --output issues.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			sts, err := issueFilterStatuses(status)
			if err != nil {
				return err
			}
			now := g.env.Now()
			opts, err := g.outputOptions(now)
			if err != nil {
				return err
			}
			cfg, st, err := configAndStore(ctx, g, openReadingStore)
			if err != nil {
				return err
			}
			defer st.Close()
			list, err := st.List(ctx, issues.Filter{Statuses: sts})
			if err != nil {
				return err
			}
			switch opts.Format {
			case output.HTML:
				rep := issuesReport(list, cfg, now)
				if j, ok := st.(remediate.Journal); ok {
					acts, err := j.Actions(ctx, remediate.ActionFilter{})
					if err != nil {
						return fmt.Errorf("remediation journal: %w", err)
					}
					for _, a := range acts {
						kind := policy.Kind("")
						if len(a.Kinds) > 0 {
							kind = a.Kinds[0]
						}
						rep.Actions = append(rep.Actions, output.ReportAction{Time: a.Started, AccountID: a.AccountID,
							User: a.UserName, KeyID: a.KeyID, Kind: kind, Action: string(a.Op), State: string(a.State)})
					}
				}
				return output.RenderHTML(g.env.Stdout, rep, opts)
			case output.ASFF:
				return fmt.Errorf("-o asff: use keywarden scan -o asff (ASFF describes findings of a scan)")
			}
			return output.Issues(g.env.Stdout, list, opts)
		},
	}
	withFormats(cmd, output.Table, output.JSON, output.CSV, output.HTML)
	cmd.Flags().StringVar(&status, "status", "live", "statuses: open, whitelisted, resolved, remediated (comma-separated), live or all")
	return cmd
}
