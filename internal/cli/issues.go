package cli

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/output"
	"github.com/keywarden/keywarden/internal/policy"
)

func newIssuesCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "issues",
		Short: "List and show tracked issues",
	}
	var status, kind, account string
	list := &cobra.Command{
		Use:   "list",
		Short: "List issues (default: open and whitelisted)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sts, err := issueFilterStatuses(status)
			if err != nil {
				return err
			}
			if kind != "" && !policy.Kind(kind).Valid() {
				return usageError(fmt.Sprintf("--kind %q: use user_inactivekeys, user_keysrotation or user_inactivepasswords", kind))
			}
			opts, err := g.outputOptions(g.env.Now())
			if err != nil {
				return err
			}
			_, st, err := configAndStore(cmd.Context(), g, openReadingStore)
			if err != nil {
				return err
			}
			defer st.Close()
			list, err := st.List(cmd.Context(), issues.Filter{Kind: policy.Kind(kind), AccountID: account, Statuses: sts})
			if err != nil {
				return err
			}
			return output.Issues(g.env.Stdout, list, opts)
		},
	}
	withFormats(list, output.Table, output.JSON, output.CSV)
	list.Flags().StringVar(&status, "status", "live", "statuses: open, whitelisted, resolved, remediated (comma-separated), live or all")
	list.Flags().StringVar(&kind, "kind", "", "only this kind")
	list.Flags().StringVar(&account, "account", "", "only this account ID")
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show one issue in full",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return usageError(fmt.Sprintf("issue ID %q: want a positive number (see keywarden issues list)", args[0]))
			}
			opts, err := g.outputOptions(g.env.Now())
			if err != nil {
				return err
			}
			_, st, err := configAndStore(cmd.Context(), g, openReadingStore)
			if err != nil {
				return err
			}
			defer st.Close()
			is, err := st.Get(cmd.Context(), id)
			if errors.Is(err, issues.ErrNotFound) {
				return fmt.Errorf("issue %d not found (see keywarden issues list --status all)", id)
			}
			if err != nil {
				return err
			}
			return output.Issue(g.env.Stdout, *is, opts)
		},
	}
	withFormats(show, output.Table, output.JSON, output.CSV)
	cmd.AddCommand(list, show, newIssuesExportCmd(g))
	return cmd
}
