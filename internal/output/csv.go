package output

import (
	"strconv"

	"github.com/keywarden/keywarden/internal/policy"
)

// CSV cells are opened by spreadsheets, which run a cell that begins with
// =, +, - or @ as a formula (and some also after a leading tab or carriage
// return): an IAM user may be named "=1+2", "+cmd", "-2+3" or "@evil.com".
// As OWASP recommends (CSV injection), every text cell beginning with one of
// those characters gets a leading single quote, which spreadsheets show as
// text and do not evaluate. csv.Writer then quotes cells holding a comma, a
// double quote or a line break, doubling the double quotes.
//
// Numeric cells (ages, day counts, slots, IDs) are written as they are:
// keywarden formats them from integers, so the only one beginning with a
// trigger is a negative number such as "-12" (days left past a deadline),
// which a spreadsheet reads as the number it is, not as a formula.

// textCell neutralises a text cell (see above).
func textCell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

// text neutralises every cell of a row of text cells.
func text(cells ...string) []string {
	for i, c := range cells {
		cells[i] = textCell(c)
	}
	return cells
}

func numberCell(n int) string { return strconv.Itoa(n) }

// findingCSVHeader names the columns of findingCSV.
var findingCSVHeader = []string{"account", "user", "kind", "key_id", "key_slot", "status", "stage", "exemption",
	"created", "last_used", "age_from", "age_days", "limit_days", "days_left", "deadline"}

// findingCSV is the CSV row of a finding.
func (o Options) findingCSV(f policy.Finding) []string {
	j := o.findingRecord(f)
	row := text(j.Account, j.User, j.Kind, j.KeyID)
	row = append(row, itoa0(j.KeySlot))
	row = append(row, text(j.Status, j.Stage, j.Exemption, j.Created, j.LastUsed, j.AgeFrom)...)
	row = append(row, numberCell(j.AgeDays), numberCell(j.LimitDays), numberCell(j.DaysLeft))
	return append(row, textCell(j.Deadline))
}

// issueCSVHeader names the columns of issueCSV.
var issueCSVHeader = []string{"id", "kind", "account", "subject", "username", "status", "stage", "exemption",
	"create_date", "last_used", "days_left", "detected", "updated", "closed", "close_reason"}

// issueCSV is the CSV row of an issue.
func (o Options) issueCSV(j issueJSON) []string {
	row := []string{strconv.FormatInt(j.ID, 10)}
	row = append(row, text(j.Kind, j.Account, j.Subject, j.IssueDetails.Username, j.Status, j.Stage, j.Exemption,
		j.IssueDetails.CreateDate, j.IssueDetails.LastUsed)...)
	row = append(row, numberCell(j.DaysLeft))
	return append(row, text(j.Detected, j.Updated, j.Closed, j.CloseReason)...)
}

// CSVText neutralises every cell of a row of text cells, for commands that
// write their own CSV rows (journal, exempt list).
func CSVText(cells ...string) []string { return text(cells...) }
