package awstest

import (
	"bytes"
	"encoding/csv"
	"sort"
	"time"
)

// reportMaxAge is how long a credential report stays fresh: a
// GenerateCredentialReport within it answers COMPLETE without regenerating.
const reportMaxAge = 4 * time.Hour

// credentialReportHeader is the header row of an IAM credential report.
var credentialReportHeader = []string{
	"user", "arn", "user_creation_time", "password_enabled", "password_last_used",
	"password_last_changed", "password_next_rotation", "mfa_active",
	"access_key_1_active", "access_key_1_last_rotated", "access_key_1_last_used_date",
	"access_key_1_last_used_region", "access_key_1_last_used_service",
	"access_key_2_active", "access_key_2_last_rotated", "access_key_2_last_used_date",
	"access_key_2_last_used_region", "access_key_2_last_used_service",
	"cert_1_active", "cert_1_last_rotated", "cert_2_active", "cert_2_last_rotated",
}

// reportTime formats a timestamp as the credential report does.
func reportTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05+00:00")
}

func orNA(v string) string {
	if v == "" {
		return "N/A"
	}
	return v
}

// credentialReport renders the account's credential report CSV as of now.
func (a *account) credentialReport(now time.Time) []byte {
	created := a.created
	if created.IsZero() {
		created = now
		for _, u := range a.users {
			if u.Created.Before(created) {
				created = u.Created
			}
		}
	}
	// Rows are written one at a time through one reused row: a report is
	// rendered under the server lock, and a thousand users' rows built
	// first cost more than the rendering.
	var buf bytes.Buffer
	buf.Grow(256 * (len(a.users) + 2))
	w := csv.NewWriter(&buf)
	// Writes to a bytes.Buffer cannot fail.
	_ = w.Write(credentialReportHeader)
	_ = w.Write([]string{
		"<root_account>", "arn:aws:iam::" + a.id + ":root", reportTime(created),
		"not_supported", "no_information", "not_supported", "not_supported", "false",
		"false", "N/A", "N/A", "N/A", "N/A",
		"false", "N/A", "N/A", "N/A", "N/A",
		"false", "N/A", "false", "N/A",
	})
	row := make([]string, 0, len(credentialReportHeader))
	var keyBuf [2]Key
	for _, u := range a.users {
		row = append(row[:0], u.Name, userARN(a.id, u.Path, u.Name), reportTime(u.Created))
		if lp := u.LoginProfile; lp != nil {
			lastUsed := "no_information"
			if u.PasswordLastUsed != nil {
				lastUsed = reportTime(*u.PasswordLastUsed)
			}
			changed := lp.PasswordLastChanged
			if changed.IsZero() {
				changed = lp.Created
			}
			row = append(row, "true", lastUsed, reportTime(changed), "N/A")
		} else {
			row = append(row, "false", "N/A", "N/A", "N/A")
		}
		row = append(row, "false")
		keys := append(keyBuf[:0], u.Keys...)
		if len(keys) > 1 {
			sort.SliceStable(keys, func(i, j int) bool { return keys[i].Created.Before(keys[j].Created) })
		}
		for slot := range 2 {
			if slot >= len(keys) {
				row = append(row, "false", "N/A", "N/A", "N/A", "N/A")
				continue
			}
			k := keys[slot]
			active := "false"
			if k.Status == "Active" {
				active = "true"
			}
			if k.LastUsed == nil {
				row = append(row, active, reportTime(k.Created), "N/A", "N/A", "N/A")
				continue
			}
			row = append(row, active, reportTime(k.Created), reportTime(*k.LastUsed), orNA(k.LastUsedRegion), orNA(k.LastUsedService))
		}
		row = append(row, "false", "N/A", "false", "N/A")
		_ = w.Write(row)
	}
	w.Flush()
	return buf.Bytes()
}
