package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/policy"
)

func newConfigCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Work with keywarden's configuration"}
	validate := &cobra.Command{
		Use:   "validate [DIR]",
		Short: "Check config.json, whitelist.json and ticket_owners.json; list every problem",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := g.configDir
			if len(args) == 1 {
				dir = args[0]
			}
			cfg, probs, err := config.Validate(dir)
			if err != nil {
				return fmt.Errorf("read configuration in %s: %w", dir, err)
			}
			w := g.env.Stdout
			if cfg != nil {
				for _, k := range policy.Kinds {
					s, ok := cfg.Kinds[k]
					switch {
					case !ok:
						fmt.Fprintf(w, "%-24s not configured\n", k)
					case !s.Enabled:
						fmt.Fprintf(w, "%-24s disabled\n", k)
					default:
						fmt.Fprintf(w, "%-24s enabled: limit %d days, warning %d days before, reporting %v, remediation %v\n",
							k, s.LimitDays, s.WarningDays, s.Reporting, s.Remediation)
					}
				}
				fmt.Fprintf(w, "accounts: %d configured\n", len(cfg.AWS.Accounts))
				for _, s := range cfg.Ignored {
					fmt.Fprintf(w, "section %s: not handled by keywarden (ignored)\n", s)
				}
			}
			if len(probs) > 0 {
				for _, p := range probs {
					fmt.Fprintln(g.env.Stderr, p.String())
				}
				return &ExitError{Code: ExitError1, Msg: fmt.Sprintf("%s: %d problem(s) found", dir, len(probs))}
			}
			fmt.Fprintf(w, "%s: configuration is valid\n", dir)
			return nil
		},
	}
	cmd.AddCommand(validate)
	return cmd
}
