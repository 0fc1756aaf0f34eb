package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/output"
	"github.com/keywarden/keywarden/internal/policy"
)

func newConfigCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Work with keywarden's configuration"}
	validate := &cobra.Command{
		Use:   "validate [DIR]",
		Short: "Check config.json, whitelist.json and ticket_owners.json; list every problem",
		Long: `validate reads the three files and prints, in this order: every error
(the configuration cannot be used), every warning (it can, but something in
it has no effect, such as a routing entry that never matches), then on one
line the settings of Hammer's that keywarden ignores, then a summary of the
checks. It exits 1 only when there is an error.`,
		Args: cobra.MaximumNArgs(1),
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
			for _, p := range probs {
				fmt.Fprintln(w, "error: "+p.String())
			}
			if cfg != nil {
				cfg.Warnings = append(cfg.Warnings, cfg.EndedWhitelist(g.env.Now())...)
				for _, p := range cfg.Warnings {
					fmt.Fprintln(w, "warning: "+p.String())
				}
				if line := cfg.IgnoredLine(); line != "" {
					fmt.Fprintf(w, "ignored (%s): %s\n", config.IgnoredReason, line)
				}
				configSummary(w, cfg)
			}
			if len(probs) > 0 {
				return &ExitError{Code: ExitError1, Msg: fmt.Sprintf("%s: %s found", dir, output.Count(len(probs), "problem"))}
			}
			switch n := len(cfg.Warnings); n {
			case 0:
				fmt.Fprintf(w, "%s: configuration is valid\n", dir)
			default:
				fmt.Fprintf(w, "%s: configuration is valid, with %s\n", dir, output.Count(n, "warning"))
			}
			return nil
		},
	}
	withFormats(validate, output.Table)
	cmd.AddCommand(validate)
	return cmd
}

// configSummary prints what the configuration does: each check, the accounts, the
// roles assumed.
func configSummary(w io.Writer, cfg *config.Config) {
	for _, k := range policy.Kinds {
		s, ok := cfg.Kinds[k]
		switch {
		case !ok:
			fmt.Fprintf(w, "%-24s not configured\n", k)
		case !s.Enabled:
			fmt.Fprintf(w, "%-24s disabled\n", k)
		default:
			fmt.Fprintf(w, "%-24s enabled: limit %s, warning %s before, reporting %v, remediation %v\n",
				k, output.Count(s.LimitDays, "day"), output.Count(s.WarningDays, "day"), s.Reporting, s.Remediation)
		}
	}
	fmt.Fprintf(w, "accounts: %d configured\n", len(cfg.AWS.Accounts))
	fmt.Fprintf(w, "roles assumed: %s to scan, %s to remediate\n", cfg.AWS.ScanRole(), cfg.AWS.RemediationRole())
}

// warnConfig writes the configuration's warnings to w, with the
// whitelist.json exemptions that have ended by now.
func warnConfig(w io.Writer, cfg *config.Config, now time.Time) {
	for _, p := range append(cfg.Warnings[:len(cfg.Warnings):len(cfg.Warnings)], cfg.EndedWhitelist(now)...) {
		fmt.Fprintln(w, "warning: "+p.String())
	}
}
