// Package output renders findings and issues as tables for people, and JSON
// lines or CSV for machines.
package output

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/policy"
)

// Format is an output format.
type Format string

// Formats.
const (
	Table Format = "table"
	JSON  Format = "json"
	CSV   Format = "csv"
	// HTML is the self-contained report (scan and issues export).
	HTML Format = "html"
)

// ParseFormat validates a -o value.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case Table, JSON, CSV, HTML, ASFF:
		return f, nil
	}
	return "", fmt.Errorf("unknown output format %q: use table, json, csv, html or asff", s)
}

// Options control rendering.
type Options struct {
	Format Format
	// ShowKeyIDs prints access key IDs in full; by default they are masked
	// (AKIA…WXYZ).
	ShowKeyIDs bool
	AsOf       time.Time
}

// MaskKeyID shows the first and last four characters of an access key ID.
func MaskKeyID(id string) string {
	if len(id) <= 8 {
		return id
	}
	return id[:4] + "…" + id[len(id)-4:]
}

func (o Options) key(id string) string {
	if o.ShowKeyIDs {
		return id
	}
	return MaskKeyID(id)
}

// credential names the credential of a finding or issue for people.
func (o Options) credential(kind policy.Kind, keyID string, slot int) string {
	switch {
	case kind == policy.InactivePasswords:
		return "password"
	case keyID != "":
		return o.key(keyID)
	case slot > 0:
		return fmt.Sprintf("key slot %d", slot)
	}
	return "key"
}

// Status is the display status of a finding: whitelisted, or its stage.
func Status(f policy.Finding) string {
	if f.Whitelisted() {
		return "whitelisted"
	}
	return string(f.Stage)
}

func day(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02")
}

func lastUsed(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return day(*t)
}

// DaysLeft renders days until (or past) a deadline for people.
func DaysLeft(n int, stage policy.Stage) string {
	switch {
	case stage == policy.Violation && n == 0:
		return "expired today"
	case stage == policy.Violation:
		return Count(-n, "day") + " over"
	case n == 0:
		return "expires today"
	case n == 1:
		return "expires in 1 day"
	}
	return "expires in " + Count(n, "day")
}

// findingJSON is the machine form of a finding (schema version 1).
type findingJSON struct {
	Account   string `json:"account"`
	User      string `json:"user"`
	UserARN   string `json:"user_arn,omitempty"`
	Kind      string `json:"kind"`
	KeyID     string `json:"key_id,omitempty"`
	KeySlot   int    `json:"key_slot,omitempty"`
	Status    string `json:"status"`
	Stage     string `json:"stage"`
	Exemption string `json:"exemption,omitempty"`
	Created   string `json:"created,omitempty"`
	LastUsed  string `json:"last_used,omitempty"`
	AgeFrom   string `json:"age_from"`
	AgeDays   int    `json:"age_days"`
	LimitDays int    `json:"limit_days"`
	DaysLeft  int    `json:"days_left"`
	Deadline  string `json:"deadline"`
}

func iso(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func (o Options) findingRecord(f policy.Finding) findingJSON {
	j := findingJSON{
		Account: f.AccountID, User: f.UserName, UserARN: f.UserARN, Kind: string(f.Kind),
		KeySlot: f.KeySlot, Status: Status(f), Stage: string(f.Stage), Exemption: o.Text(f.Exemption),
		Created: iso(f.Created), AgeFrom: string(f.From), AgeDays: f.AgeDays, LimitDays: f.LimitDays,
		DaysLeft: f.DaysLeft, Deadline: iso(f.Deadline),
	}
	if f.KeyID != "" {
		j.KeyID = o.key(f.KeyID)
	}
	if f.LastUsed != nil {
		j.LastUsed = iso(*f.LastUsed)
	}
	return j
}

// Findings renders findings in the chosen format.
func Findings(w io.Writer, fs []policy.Finding, o Options) error {
	switch o.Format {
	case JSON:
		enc := json.NewEncoder(w)
		for _, f := range fs {
			if err := enc.Encode(o.findingRecord(f)); err != nil {
				return err
			}
		}
		return nil
	case CSV:
		cw := csv.NewWriter(w)
		_ = cw.Write(findingCSVHeader)
		for _, f := range fs {
			_ = cw.Write(o.findingCSV(f))
		}
		cw.Flush()
		return cw.Error()
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tUSER\tCREDENTIAL\tKIND\tSTATUS\tAGE\tLAST USED\tDEADLINE")
	for _, f := range fs {
		deadline := DaysLeft(f.DaysLeft, f.Stage)
		if f.Whitelisted() {
			deadline += " (" + o.Text(f.Exemption) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%dd\t%s\t%s\n", f.AccountID, f.UserName,
			o.credential(f.Kind, f.KeyID, f.KeySlot), f.Kind, Status(f), f.AgeDays, lastUsed(f.LastUsed), deadline)
	}
	return tw.Flush()
}

func itoa0(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// issueJSON is the machine form of an issue (schema version 1).
type issueJSON struct {
	ID           int64          `json:"id"`
	Kind         string         `json:"kind"`
	Account      string         `json:"account"`
	Subject      string         `json:"subject"`
	Status       string         `json:"status"`
	Stage        string         `json:"stage"`
	Exemption    string         `json:"exemption,omitempty"`
	IssueDetails issues.Details `json:"issue_details"`
	AgeDays      int            `json:"age_days"`
	LimitDays    int            `json:"limit_days"`
	DaysLeft     int            `json:"days_left"`
	Detected     string         `json:"detected"`
	Updated      string         `json:"updated"`
	Closed       string         `json:"closed,omitempty"`
	CloseReason  string         `json:"close_reason,omitempty"`
}

func (o Options) issueSubject(is issues.Issue) string {
	if is.Kind == policy.InactivePasswords {
		return is.Subject
	}
	if strings.Contains(is.Subject, "/") { // key slot subject: user/access_key_N
		return is.Subject
	}
	return o.key(is.Subject)
}

func (o Options) issueRecord(is issues.Issue) issueJSON {
	j := issueJSON{ID: is.ID, Kind: string(is.Kind), Account: is.AccountID, Subject: o.issueSubject(is),
		Status: string(is.Status), Stage: string(is.Stage), Exemption: o.Text(is.Exemption), IssueDetails: is.Details,
		AgeDays: is.AgeDays, LimitDays: is.LimitDays, DaysLeft: is.DaysLeft,
		Detected: iso(is.Detected), Updated: iso(is.Updated), CloseReason: o.Text(is.CloseReason)}
	if is.Closed != nil {
		j.Closed = iso(*is.Closed)
	}
	return j
}

// Issues renders issues in the chosen format.
func Issues(w io.Writer, list []issues.Issue, o Options) error {
	switch o.Format {
	case JSON:
		enc := json.NewEncoder(w)
		for _, is := range list {
			if err := enc.Encode(o.issueRecord(is)); err != nil {
				return err
			}
		}
		return nil
	case CSV:
		cw := csv.NewWriter(w)
		_ = cw.Write(issueCSVHeader)
		for _, is := range list {
			_ = cw.Write(o.issueCSV(o.issueRecord(is)))
		}
		cw.Flush()
		return cw.Error()
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tACCOUNT\tUSER\tCREDENTIAL\tKIND\tSTATUS\tSTAGE\tDETECTED\tNOTE")
	for _, is := range list {
		note := DaysLeft(is.DaysLeft, is.Stage)
		switch {
		case is.Status.Closed():
			note = is.CloseReason
		case is.Exemption != "":
			note = is.Exemption
		}
		note = o.Text(note)
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", is.ID, is.AccountID, is.Details.Username,
			o.credentialOfIssue(is), is.Kind, is.Status, is.Stage, day(is.Detected), note)
	}
	return tw.Flush()
}

func (o Options) credentialOfIssue(is issues.Issue) string {
	if is.Kind == policy.InactivePasswords {
		return "password"
	}
	if strings.Contains(is.Subject, "/") {
		return fmt.Sprintf("key slot %d", is.KeySlot)
	}
	return o.key(is.Subject)
}

// Issue renders one issue in full for people (or as JSON).
func Issue(w io.Writer, is issues.Issue, o Options) error {
	if o.Format != Table {
		return Issues(w, []issues.Issue{is}, o)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
		}
	}
	row("Issue", strconv.FormatInt(is.ID, 10))
	row("Kind", string(is.Kind))
	row("Account", is.AccountID)
	row("User", is.Details.Username)
	row("User ARN", is.UserARN)
	row("Credential", o.credentialOfIssue(is))
	row("Status", string(is.Status))
	row("Stage", string(is.Stage))
	row("Whitelisted by", o.Text(is.Exemption))
	row("Created", is.Details.CreateDate)
	lu := is.Details.LastUsed
	if lu == "" {
		lu = "never"
	}
	row("Last used", lu)
	row("Threshold", Count(is.LimitDays, "day"))
	row("Age", Count(is.AgeDays, "day"))
	if !is.Status.Closed() {
		row("Deadline", day(is.Deadline)+" ("+DaysLeft(is.DaysLeft, is.Stage)+")")
	}
	row("Detected", iso(is.Detected))
	row("Updated", iso(is.Updated))
	if is.Closed != nil {
		row("Closed", iso(*is.Closed)+" ("+o.Text(is.CloseReason)+")")
	}
	return tw.Flush()
}

// keyIDPattern finds AWS access key IDs (long-term AKIA, temporary ASIA) in
// free text: outcome details, journal notes, exemption and close reasons.
var keyIDPattern = regexp.MustCompile(`\b(AKIA|ASIA)[A-Z0-9]{12,124}\b`)

// MaskText masks every access key ID in s (MaskKeyID).
func MaskText(s string) string {
	return keyIDPattern.ReplaceAllStringFunc(s, MaskKeyID)
}

// Text is free text for output: every access key ID in it masked unless
// ShowKeyIDs.
func (o Options) Text(s string) string {
	if o.ShowKeyIDs {
		return s
	}
	return MaskText(s)
}

// Count says n things in English: "1 warning", "2 warnings", "0 days".
// Nouns that do not take an s ("whitelisted") are left as they are.
func Count(n int, noun string) string {
	if n == 1 || strings.HasSuffix(noun, "ed") {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
