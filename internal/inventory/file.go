package inventory

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// FileSource reads the facts of an account from a credential report file:
// audits with no AWS access at all.
type FileSource struct {
	// Path of the report: the CSV from the IAM console, the base64-decoded
	// Content of `aws iam get-credential-report`, or that command's JSON
	// output as it is.
	Path string
}

// Collect parses the report. When account.ID is set it must be the
// report's account; when empty it is taken from the report.
func (s FileSource) Collect(ctx context.Context, account Account) (*Facts, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rep, generated, err := readCredentialReportFile(s.Path)
	if err != nil {
		return nil, err
	}
	switch {
	case account.ID == "":
		account.ID = rep.AccountID
	case rep.AccountID != "" && rep.AccountID != account.ID:
		return nil, fmt.Errorf("credential report %s is for account %s, not account %s: check the file and the account it is audited as", s.Path, rep.AccountID, account.ID)
	}
	// Not Complete: a file cut at a line boundary still parses, so a user
	// it does not list may exist; issues of such users stay open.
	return &Facts{Account: account, ReportGenerated: generated, Users: rep.Users}, nil
}

// ReadCredentialReportFile reads and parses a credential report file (see
// FileSource.Path for the formats). Errors name the path.
func ReadCredentialReportFile(path string) (*CredentialReport, error) {
	rep, _, err := readCredentialReportFile(path)
	return rep, err
}

// readCredentialReportFile also returns when the report was generated, when
// the file says so (the JSON output of get-credential-report).
func readCredentialReportFile(path string) (*CredentialReport, time.Time, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("read credential report: %w", err)
	}
	var generated time.Time
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '{' {
		var out struct {
			Content       string
			GeneratedTime string
			ReportFormat  string
		}
		if err := json.Unmarshal(trimmed, &out); err != nil {
			return nil, time.Time{}, fmt.Errorf("%s: looks like the JSON output of aws iam get-credential-report but is not: %w", path, err)
		}
		if out.ReportFormat != "" && out.ReportFormat != "text/csv" {
			return nil, time.Time{}, fmt.Errorf("%s: report format %q, want text/csv", path, out.ReportFormat)
		}
		data, err = base64.StdEncoding.DecodeString(out.Content)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("%s: Content: invalid base64: %w", path, err)
		}
		if out.GeneratedTime != "" {
			t, ok := parseReportTime(out.GeneratedTime)
			if !ok {
				return nil, time.Time{}, fmt.Errorf("%s: GeneratedTime: invalid date %q: %s", path, out.GeneratedTime, reportDateHint)
			}
			generated = t
		}
	}
	rep, err := ParseCredentialReportBytes(data, path)
	if err != nil {
		return nil, time.Time{}, err
	}
	return rep, generated, nil
}
