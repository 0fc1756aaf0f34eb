package cli

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/output"
	"github.com/keywarden/keywarden/internal/remediate"
)

func newJournalCmd(g *globals) *cobra.Command {
	var (
		issueID       int64
		account       string
		since, states string
	)
	cmd := &cobra.Command{
		Use:   "journal",
		Short: "List the remediation actions keywarden took (and rolled back)",
		Long: `journal lists every remediation action, oldest first: what was done to
which credential, for which issues, the credential's state before (status,
last use), and how it ended:
  done           acted and verified
  unverified     the call succeeded but IAM did not show its effect yet
                 (eventual consistency); keywarden's, and the next run
                 verifies it from the live state
  failed         AWS refused the call, or its effect did not show
  abandoned      an interrupted action that had not taken effect
  indeterminate  keywarden stopped before recording its call and the live
                 state shows the change: it may be a person's, so it is not
                 claimed (rollback needs --force)
  intent         unfinished: the next remediate or rollback run settles it
                 from the live state
A rollback (reactivate_key) shows the end of its hold.`,
		Example: `  keywarden journal
  keywarden journal --issue 12 -o json
  keywarden journal --since 2026-11-01 --state done`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := g.outputOptions(g.env.Now())
			if err != nil {
				return err
			}
			f := remediate.ActionFilter{IssueID: issueID, AccountID: account}
			if since != "" {
				if f.Since, err = parseTimeFlag("--since", since); err != nil {
					return err
				}
			}
			if states != "" {
				for _, s := range strings.Split(states, ",") {
					st := remediate.State(strings.TrimSpace(s))
					if !st.Valid() {
						return usageError(fmt.Sprintf("--state %q: use %s, comma-separated", s, stateNames()))
					}
					f.States = append(f.States, st)
				}
			}
			cfg, err := loadConfig(g)
			if err != nil {
				return err
			}
			rs, err := openReadingStore(cmd.Context(), g, cfg)
			if err != nil {
				return err
			}
			st, err := asJournalStore(rs, cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			list, err := st.Actions(cmd.Context(), f)
			if err != nil {
				return err
			}
			return renderJournal(g.env.Stdout, list, opts)
		},
	}
	withFormats(cmd, output.Table, output.JSON, output.CSV)
	fl := cmd.Flags()
	fl.Int64Var(&issueID, "issue", 0, "only actions on this issue")
	fl.StringVar(&account, "account", "", "only this account ID")
	fl.StringVar(&since, "since", "", "only actions started at or after this date (YYYY-MM-DD, UTC) or RFC 3339 time")
	fl.StringVar(&states, "state", "", "only these states: "+stateNames()+" (comma-separated)")
	return cmd
}

func stateNames() string {
	names := make([]string, len(remediate.States))
	for i, st := range remediate.States {
		names[i] = string(st)
	}
	return strings.Join(names, ", ")
}

// parseTimeFlag reads a date (midnight UTC) or an RFC 3339 time.
func parseTimeFlag(name, s string) (time.Time, error) {
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, usageError(fmt.Sprintf("%s %q: want a date like 2026-03-01 or a time like 2026-03-01T09:00:00Z", name, s))
}

type actionJSON struct {
	ID             int64    `json:"id"`
	Op             string   `json:"op"`
	State          string   `json:"state"`
	Account        string   `json:"account"`
	User           string   `json:"user"`
	KeyID          string   `json:"key_id,omitempty"`
	Issues         []int64  `json:"issues"`
	Kinds          []string `json:"kinds"`
	Reason         string   `json:"reason"`
	BeforeStatus   string   `json:"before_status"`
	BeforeLastUsed string   `json:"before_last_used,omitempty"`
	RollbackOf     int64    `json:"rollback_of,omitempty"`
	HoldUntil      string   `json:"hold_until,omitempty"`
	Started        string   `json:"started"`
	Called         string   `json:"called,omitempty"`
	Finished       string   `json:"finished,omitempty"`
	Note           string   `json:"note"`
}

func renderJournal(w io.Writer, list []remediate.Action, o output.Options) error {
	ts := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	if o.Format == output.CSV {
		cw := csv.NewWriter(w)
		_ = cw.Write([]string{"id", "op", "state", "account", "user", "key_id", "issues", "kinds", "reason", "before_status",
			"before_last_used", "rollback_of", "hold_until", "started", "called", "finished", "note"})
		for _, a := range list {
			kinds := make([]string, len(a.Kinds))
			for i, k := range a.Kinds {
				kinds[i] = string(k)
			}
			key := ""
			if a.KeyID != "" {
				key = keyText(a.KeyID, o)
			}
			rb := ""
			if a.RollbackOf != 0 {
				rb = strconv.FormatInt(a.RollbackOf, 10)
			}
			row := append([]string{strconv.FormatInt(a.ID, 10)}, output.CSVText(string(a.Op), string(a.State), a.AccountID, a.UserName, key)...)
			row = append(row, strings.ReplaceAll(idList(a.IssueIDs), ",", " "))
			row = append(row, output.CSVText(strings.Join(kinds, " "), o.Text(a.Reason), a.BeforeStatus, ts(a.BeforeLastUsed))...)
			row = append(row, rb)
			row = append(row, output.CSVText(ts(a.HoldUntil), a.Started.UTC().Format(time.RFC3339), ts(a.Called), ts(a.Finished), o.Text(a.Note))...)
			_ = cw.Write(row)
		}
		cw.Flush()
		return cw.Error()
	}
	if o.Format != output.Table {
		enc := json.NewEncoder(w)
		for _, a := range list {
			r := actionJSON{ID: a.ID, Op: string(a.Op), State: string(a.State), Account: a.AccountID, User: a.UserName,
				Issues: a.IssueIDs, Reason: o.Text(a.Reason), BeforeStatus: a.BeforeStatus, BeforeLastUsed: ts(a.BeforeLastUsed),
				RollbackOf: a.RollbackOf, HoldUntil: ts(a.HoldUntil), Started: a.Started.UTC().Format(time.RFC3339), Called: ts(a.Called),
				Finished: ts(a.Finished), Note: o.Text(a.Note)}
			if a.KeyID != "" {
				r.KeyID = keyText(a.KeyID, o)
			}
			for _, k := range a.Kinds {
				r.Kinds = append(r.Kinds, string(k))
			}
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	if len(list) == 0 {
		_, err := fmt.Fprintln(w, "no remediation actions in the journal")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTARTED\tOP\tSTATE\tACCOUNT\tUSER\tCREDENTIAL\tISSUES\tBEFORE\tLAST USED\tNOTE")
	for _, a := range list {
		lu := ts(a.BeforeLastUsed)
		if lu == "" {
			lu = "never"
		}
		op := string(a.Op)
		if a.RollbackOf != 0 {
			op += fmt.Sprintf(" (undoes %d)", a.RollbackOf)
		}
		if a.HoldUntil != nil {
			op += " (hold until " + a.HoldUntil.UTC().Format("2006-01-02") + ")"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.Started.UTC().Format(time.RFC3339), op, a.State,
			a.AccountID, a.UserName, credText(a.Op, a.KeyID, o), idList(a.IssueIDs), a.BeforeStatus, lu, o.Text(a.Note))
	}
	return tw.Flush()
}
