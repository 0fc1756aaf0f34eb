package cli

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/exempt"
	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/job"
	"github.com/keywarden/keywarden/internal/output"
	"github.com/keywarden/keywarden/internal/policy"
)

func newExemptCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "exempt",
		Short: "Manage exemptions with an end (add, list, remove)",
		Long: `An exemption with an end whitelists a credential until a date: its
findings are shown whitelisted, "exempt until DATE: reason (owner)", and
never remediated. From the date on, the issue returns to the normal flow:
the next scan reopens it in the stage of its finding, and the next report
tells its owner that the exemption expired (event exemption_expired).

They come from three places, all listed by exempt list:
  store           keywarden exempt add (in keywarden's own tables: the
                  SQLite file, or the DynamoDB journal table, never Hammer's)
  whitelist.json  entries {"id": ..., "expires": "YYYY-MM-DD", "owner": ...,
                  "reason": ...} beside Hammer's plain lists
  rollback        a rolled-back key's hold (rollback --hold DAYS): owner
                  "keywarden rollback", reason "rolled back (action N)"`,
	}
	cmd.AddCommand(newExemptAddCmd(g), newExemptListCmd(g), newExemptRemoveCmd(g))
	return cmd
}

func newExemptAddCmd(g *globals) *cobra.Command {
	var account, kind, until, owner, reason string
	cmd := &cobra.Command{
		Use:   "add SUBJECT",
		Short: "Exempt a user (every credential) or an access key until a date",
		Long: `add exempts SUBJECT, an IAM user name (all of the user's credentials) or an
access key ID, in one account, for one kind or all, until --until: a date
(the exemption ends at the start of that day, UTC) or an RFC 3339 time, at
most 36500 days away. --owner and --reason are required: the owner is told
when the exemption ends.`,
		Example: `  keywarden exempt add alice --account 123456789012 --until 2027-01-31 --owner bob@example.com --reason "vendor migration"
  keywarden exempt add AKIAIOSFODNN7EXAMPLE --account 123456789012 --kind user_keysrotation --until 2027-01-31 --owner bob --reason "rotating in Q1"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			now := g.env.Now()
			opts, err := g.outputOptions(now)
			if err != nil {
				return err
			}
			e := policy.Exemption{AccountID: account, Subject: strings.TrimSpace(args[0]), Owner: strings.TrimSpace(owner),
				Reason: strings.TrimSpace(reason), Created: now.UTC()}
			if kind != "all" {
				e.Kind = policy.Kind(kind)
			}
			if until == "" {
				return usageError("--until: required: the date the exemption ends (YYYY-MM-DD)")
			}
			if e.Until, err = parseTimeFlag("--until", until); err != nil {
				return usageError(err.Error())
			}
			if err := policy.ValidateExemption(e, now); err != nil {
				return usageError("exempt add: " + flagName(err.Error()))
			}
			cfg, err := loadConfig(g)
			if err != nil {
				return err
			}
			st, err := openExemptStore(cmd, g, cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.(exempt.Store).AddExemption(cmd.Context(), &e); err != nil {
				return err
			}
			return renderExemptions(g.env.Stdout, []policy.Exemption{e}, opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&account, "account", "", "the account ID (12 digits)")
	fl.StringVar(&kind, "kind", "all", "the kind exempt: user_inactivekeys, user_keysrotation, user_inactivepasswords, or all")
	fl.StringVar(&until, "until", "", "the end: a date (YYYY-MM-DD, the start of that day UTC) or an RFC 3339 time")
	fl.StringVar(&owner, "owner", "", "who answers for the exemption (told when it ends)")
	fl.StringVar(&reason, "reason", "", "why the credential is exempt")
	return withFormats(cmd, output.Table, output.JSON, output.CSV)
}

// flagName turns ValidateExemption's field names into the flags that set
// them.
func flagName(msg string) string {
	for field, flag := range map[string]string{"kind ": "--kind ", "account ": "--account ", "end ": "--until "} {
		if strings.HasPrefix(msg, field) {
			return flag + strings.TrimPrefix(msg, field)
		}
	}
	return msg
}

func newExemptListCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List every exemption with an end, active and expired",
		Long: `list shows every exemption with an end (keywarden's store, whitelist.json's
entries with "expires", rollback holds), by end date, each active or
expired as of now (--as-of on scan moves a scan's clock, not this list's).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := g.env.Now()
			opts, err := g.outputOptions(now)
			if err != nil {
				return err
			}
			cfg, st, err := configAndStore(cmd.Context(), g, openReadingStore)
			if err != nil {
				return err
			}
			defer st.Close()
			list, err := job.DatedExemptions(cmd.Context(), st, cfg)
			if err != nil {
				return err
			}
			return renderExemptions(g.env.Stdout, list, opts)
		},
	}
	return withFormats(cmd, output.Table, output.JSON, output.CSV)
}

func newExemptRemoveCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "remove ID",
		Short: "Remove an exemption added with exempt add",
		Long: `remove deletes the stored exemption ID (exempt list shows the IDs). The
credential is no longer exempt from the next scan on; no expiry notice is
sent. whitelist.json's entries are removed by editing the file; a rollback
hold ends at its date.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return usageError(fmt.Sprintf("exempt remove %q: use the ID exempt list shows (a whole number)", args[0]))
			}
			cfg, err := loadConfig(g)
			if err != nil {
				return err
			}
			st, err := openExemptStore(cmd, g, cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.(exempt.Store).RemoveExemption(cmd.Context(), id); err != nil {
				if errors.Is(err, exempt.ErrNotFound) {
					return fmt.Errorf("%w: list them with keywarden exempt list (whitelist.json's entries are edited in the file; a rollback hold ends at its date)", err)
				}
				return err
			}
			fmt.Fprintf(g.env.Stdout, "removed exemption %d\n", id)
			return nil
		},
	}
	return withFormats(cmd, output.Table)
}

// openExemptStore opens the configured store for exempt add and remove.
func openExemptStore(cmd *cobra.Command, g *globals, cfg *config.Config) (issues.Store, error) {
	st, err := openIssueStore(cmd.Context(), g, cfg)
	if err != nil {
		return nil, err
	}
	if _, ok := st.(exempt.Store); !ok {
		st.Close()
		return nil, fmt.Errorf("the %s issue store keeps no exemptions: exempt cannot run on it", storeType(cfg))
	}
	return st, nil
}

type exemptionJSON struct {
	ID      int64  `json:"id,omitempty"`
	Source  string `json:"source"`
	Action  int64  `json:"action,omitempty"`
	Account string `json:"account"`
	Kind    string `json:"kind"`
	Subject string `json:"subject"`
	Until   string `json:"until"`
	State   string `json:"state"`
	Owner   string `json:"owner"`
	Reason  string `json:"reason"`
	Created string `json:"created,omitempty"`
}

// subjectText is the subject for people: an access key ID masked unless
// --show-key-ids, a user name as it is.
func subjectText(s string, o output.Options) string {
	if len(s) == 20 && (strings.HasPrefix(s, "AKIA") || strings.HasPrefix(s, "ASIA")) {
		return keyText(s, o)
	}
	return s
}

func exemptionRecord(e policy.Exemption, o output.Options) exemptionJSON {
	r := exemptionJSON{ID: e.ID, Source: e.Source, Action: e.Action, Account: e.AccountID, Kind: string(e.Kind),
		Subject: subjectText(e.Subject, o), Until: e.Until.UTC().Format(time.RFC3339), State: "active", Owner: e.Owner, Reason: e.Reason}
	if r.Kind == "" {
		r.Kind = "all"
	}
	if !e.Active(o.AsOf) {
		r.State = "expired"
	}
	if !e.Created.IsZero() {
		r.Created = e.Created.UTC().Format(time.RFC3339)
	}
	return r
}

func renderExemptions(w io.Writer, list []policy.Exemption, o output.Options) error {
	switch o.Format {
	case output.Table:
	case output.CSV:
		cw := csv.NewWriter(w)
		if err := cw.Write([]string{"id", "source", "action", "account", "kind", "subject", "until", "state", "owner", "reason", "created"}); err != nil {
			return err
		}
		for _, e := range list {
			r := exemptionRecord(e, o)
			id, action := "", ""
			if r.ID != 0 {
				id = strconv.FormatInt(r.ID, 10)
			}
			if r.Action != 0 {
				action = strconv.FormatInt(r.Action, 10)
			}
			row := append([]string{id, r.Source, action}, output.CSVText(r.Account, r.Kind, r.Subject, r.Until, r.State, r.Owner, r.Reason, r.Created)...)
			if err := cw.Write(row); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	case output.JSON:
		enc := json.NewEncoder(w)
		for _, e := range list {
			if err := enc.Encode(exemptionRecord(e, o)); err != nil {
				return err
			}
		}
		return nil
	default:
		return usageError(fmt.Sprintf("-o %s: exempt writes table, json or csv", o.Format))
	}
	if len(list) == 0 {
		_, err := fmt.Fprintln(w, "no exemptions with an end")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSOURCE\tACCOUNT\tKIND\tSUBJECT\tUNTIL\tSTATE\tOWNER\tREASON")
	for _, e := range list {
		r := exemptionRecord(e, o)
		id := "-"
		if r.ID != 0 {
			id = strconv.FormatInt(r.ID, 10)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", id, r.Source, r.Account, r.Kind, r.Subject, e.End(), r.State, oneLine(r.Owner), oneLine(r.Reason))
	}
	return tw.Flush()
}

// oneLine keeps a table row on one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
