package inventory

import (
	"bytes"
	"context"
	"encoding/base64"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var updateReportGolden = flag.Bool("update-report", false, "rewrite testdata/report/*.err from the parser's errors")

// reportHeader is the column set of a real IAM credential report, in IAM's
// order.
const reportHeader = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated"

const reportRootRow = "<root_account>,arn:aws:iam::123456789012:root,2024-02-11T09:30:12+00:00,not_supported,2026-10-02T08:14:55+00:00,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A"

// reportCSV builds a report with the given header; each row maps column
// names to values, and unset columns are "false" for booleans and "N/A"
// otherwise, as IAM writes them. A root account row comes first unless the
// rows hold one.
func reportCSV(header string, rows ...map[string]string) string {
	cols := strings.Split(header, ",")
	var b strings.Builder
	b.WriteString(header + "\n")
	hasRoot := false
	for _, r := range rows {
		hasRoot = hasRoot || r["user"] == RootAccountName
	}
	if !hasRoot {
		rows = append([]map[string]string{reportRoot}, rows...)
	}
	for _, r := range rows {
		for i, c := range cols {
			if i > 0 {
				b.WriteByte(',')
			}
			v, ok := r[c]
			switch {
			case ok:
			case strings.HasSuffix(c, "_active"), c == "password_enabled":
				v = "false"
			default:
				v = "N/A"
			}
			b.WriteString(v)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// reportRoot is the root account row reportCSV adds.
var reportRoot = map[string]string{
	"user": RootAccountName, "arn": "arn:aws:iam::123456789012:root", "user_creation_time": "2024-02-11T09:30:12+00:00",
	"password_enabled": "not_supported", "password_last_used": "no_information", "password_last_changed": "not_supported",
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func tp(s string) *time.Time {
	t := ts(s)
	return &t
}

func TestParseCredentialReport(t *testing.T) {
	reordered := "arn,access_key_2_last_used_date,user,access_key_1_last_used_date,password_enabled,access_key_1_active,user_creation_time,access_key_2_active,password_last_changed,access_key_1_last_rotated,password_last_used,access_key_2_last_rotated"
	tests := []struct {
		name     string
		in       string
		account  string
		root     *RootRow
		want     []User
		wantNone bool // zero users expected
	}{
		{
			name: "real column set",
			in: reportHeader + "\n" + reportRootRow + "\n" +
				"alice,arn:aws:iam::123456789012:user/alice,2024-03-04T10:15:22+00:00,true,2026-11-20T16:42:08+00:00,2026-07-01T09:00:41+00:00,N/A,true,true,2026-09-15T08:30:00+00:00,2026-11-24T17:05:00+00:00,us-east-1,s3,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n" +
				"ci-deployer,arn:aws:iam::123456789012:user/ci/ci-deployer,2024-02-20T12:00:00+00:00,false,N/A,N/A,N/A,false,true,2025-05-14T07:30:00+00:00,2026-11-24T23:41:09+00:00,us-east-1,cloudformation,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n",
			account: "123456789012",
			root: &RootRow{
				ARN:              "arn:aws:iam::123456789012:root",
				Created:          ts("2024-02-11T09:30:12Z"),
				PasswordLastUsed: tp("2026-10-02T08:14:55Z"),
				MFAActive:        true,
			},
			want: []User{
				{
					Name: "alice", ARN: "arn:aws:iam::123456789012:user/alice", Created: ts("2024-03-04T10:15:22Z"),
					Password: &Password{Enabled: true, Created: ts("2026-07-01T09:00:41Z"), LastUsed: tp("2026-11-20T16:42:08Z")},
					Keys: []AccessKey{{Slot: 1, Status: StatusActive, Created: ts("2026-09-15T08:30:00Z"),
						LastUsed: tp("2026-11-24T17:05:00Z"), LastUsedRegion: "us-east-1", LastUsedService: "s3"}},
				},
				{
					Name: "ci-deployer", ARN: "arn:aws:iam::123456789012:user/ci/ci-deployer", Created: ts("2024-02-20T12:00:00Z"),
					Keys: []AccessKey{{Slot: 1, Status: StatusActive, Created: ts("2025-05-14T07:30:00Z"),
						LastUsed: tp("2026-11-24T23:41:09Z"), LastUsedRegion: "us-east-1", LastUsedService: "cloudformation"}},
				},
			},
		},
		{
			name: "reordered columns, only the required ones",
			in: reportCSV(reordered, map[string]string{
				"user": "bob", "arn": "arn:aws:iam::123456789012:user/bob", "user_creation_time": "2025-01-02T03:04:05+00:00",
				"password_enabled": "true", "password_last_used": "2026-01-02T00:00:00+00:00", "password_last_changed": "2025-01-03T00:00:00+00:00",
				"access_key_1_active": "true", "access_key_1_last_rotated": "2025-06-01T00:00:00+00:00", "access_key_1_last_used_date": "2026-02-01T00:00:00+00:00",
			}),
			account: "123456789012",
			want: []User{{
				Name: "bob", ARN: "arn:aws:iam::123456789012:user/bob", Created: ts("2025-01-02T03:04:05Z"),
				Password: &Password{Enabled: true, Created: ts("2025-01-03T00:00:00Z"), LastUsed: tp("2026-01-02T00:00:00Z")},
				Keys:     []AccessKey{{Slot: 1, Status: StatusActive, Created: ts("2025-06-01T00:00:00Z"), LastUsed: tp("2026-02-01T00:00:00Z")}},
			}},
		},
		{
			name: "extra unknown column",
			in: reportCSV(reportHeader+",access_key_1_last_used_account,some_future_column", map[string]string{
				"user": "carol", "arn": "arn:aws:iam::123456789012:user/carol", "user_creation_time": "2025-01-02T03:04:05+00:00",
				"some_future_column": `"whatever, ""quoted"""`,
			}),
			account: "123456789012",
			want:    []User{{Name: "carol", ARN: "arn:aws:iam::123456789012:user/carol", Created: ts("2025-01-02T03:04:05Z")}},
		},
		{
			name: "both key slots, inactive key, never-used key",
			in: reportCSV(reportHeader, map[string]string{
				"user": "dave", "arn": "arn:aws:iam::123456789012:user/dave", "user_creation_time": "2024-01-01T00:00:00+00:00",
				"access_key_1_active": "false", "access_key_1_last_rotated": "2024-01-01T00:00:05+00:00",
				"access_key_1_last_used_date": "2024-06-01T12:00:00+00:00", "access_key_1_last_used_region": "eu-west-1", "access_key_1_last_used_service": "iam",
				"access_key_2_active": "true", "access_key_2_last_rotated": "2026-03-01T00:00:00+00:00",
			}),
			account: "123456789012",
			want: []User{{
				Name: "dave", ARN: "arn:aws:iam::123456789012:user/dave", Created: ts("2024-01-01T00:00:00Z"),
				Keys: []AccessKey{
					{Slot: 1, Status: StatusInactive, Created: ts("2024-01-01T00:00:05Z"), LastUsed: tp("2024-06-01T12:00:00Z"), LastUsedRegion: "eu-west-1", LastUsedService: "iam"},
					{Slot: 2, Status: StatusActive, Created: ts("2026-03-01T00:00:00Z")},
				},
			}},
		},
		{
			name: "only slot 2 holds a key",
			in: reportCSV(reportHeader, map[string]string{
				"user": "eve", "arn": "arn:aws:iam::123456789012:user/eve", "user_creation_time": "2024-01-01T00:00:00+00:00",
				"access_key_2_active": "true", "access_key_2_last_rotated": "2026-03-01T00:00:00+00:00", "access_key_2_last_used_date": "2026-03-02T00:00:00+00:00",
				"access_key_2_last_used_region": "N/A", "access_key_2_last_used_service": "sts",
			}),
			account: "123456789012",
			want: []User{{
				Name: "eve", ARN: "arn:aws:iam::123456789012:user/eve", Created: ts("2024-01-01T00:00:00Z"),
				Keys: []AccessKey{{Slot: 2, Status: StatusActive, Created: ts("2026-03-01T00:00:00Z"), LastUsed: tp("2026-03-02T00:00:00Z"), LastUsedService: "sts"}},
			}},
		},
		{
			name: "no_information password: never used",
			in: reportCSV(reportHeader, map[string]string{
				"user": "erin", "arn": "arn:aws:iam::123456789012:user/erin", "user_creation_time": "2026-07-30T13:45:10+00:00",
				"password_enabled": "true", "password_last_used": "no_information", "password_last_changed": "2026-07-30T13:45:11+00:00",
			}),
			account: "123456789012",
			want: []User{{
				Name: "erin", ARN: "arn:aws:iam::123456789012:user/erin", Created: ts("2026-07-30T13:45:10Z"),
				Password: &Password{Enabled: true, Created: ts("2026-07-30T13:45:11Z")},
			}},
		},
		{
			name: "password without last_changed falls back to user creation",
			in: reportCSV(reportHeader, map[string]string{
				"user": "fay", "arn": "arn:aws:iam::123456789012:user/fay", "user_creation_time": "2026-07-30T13:45:10+00:00",
				"password_enabled": "TRUE", "password_last_changed": "N/A",
			}),
			account: "123456789012",
			want: []User{{
				Name: "fay", ARN: "arn:aws:iam::123456789012:user/fay", Created: ts("2026-07-30T13:45:10Z"),
				Password: &Password{Enabled: true, Created: ts("2026-07-30T13:45:10Z")},
			}},
		},
		{
			name: "removed login profile leaves password_last_used: no password",
			in: reportCSV(reportHeader, map[string]string{
				"user": "frank", "arn": "arn:aws:iam::123456789012:user/frank", "user_creation_time": "2024-11-12T15:30:00+00:00",
				"password_enabled": "False", "password_last_used": "2025-11-03T12:00:43+00:00",
			}),
			account: "123456789012",
			want:    []User{{Name: "frank", ARN: "arn:aws:iam::123456789012:user/frank", Created: ts("2024-11-12T15:30:00Z")}},
		},
		{
			name: "not_supported root row is not a user",
			in: reportCSV(reportHeader, map[string]string{
				"user": "<root_account>", "arn": "arn:aws:iam::123456789012:root", "user_creation_time": "2024-02-11T09:30:12+00:00",
				"password_enabled": "not_supported", "password_last_used": "no_information", "password_last_changed": "not_supported",
				"password_next_rotation": "not_supported", "mfa_active": "false",
				"access_key_1_active": "true", "access_key_1_last_rotated": "2024-02-12T00:00:00+00:00",
			}),
			account: "123456789012",
			root: &RootRow{
				ARN: "arn:aws:iam::123456789012:root", Created: ts("2024-02-11T09:30:12Z"),
				Keys: []AccessKey{{Slot: 1, Status: StatusActive, Created: ts("2024-02-12T00:00:00Z")}},
			},
			wantNone: true,
		},
		{
			name: "offsets, Z and fractional seconds convert to UTC",
			in: reportCSV(reportHeader, map[string]string{
				"user": "grace", "arn": "arn:aws-us-gov:iam::123456789012:user/grace", "user_creation_time": "2024-01-01T01:30:00+02:00",
				"password_enabled": "true", "password_last_used": "2026-03-01T10:00:00.123456Z", "password_last_changed": "2025-12-31T20:00:00-05:00",
				"access_key_1_active": "true", "access_key_1_last_rotated": "2026-03-01T00:15:00+05:30", "access_key_1_last_used_date": "2026-03-02T00:00:00.5+01:00",
			}),
			account: "123456789012",
			want: []User{{
				Name: "grace", ARN: "arn:aws-us-gov:iam::123456789012:user/grace", Created: ts("2023-12-31T23:30:00Z"),
				Password: &Password{Enabled: true, Created: ts("2026-01-01T01:00:00Z"), LastUsed: tp("2026-03-01T10:00:00.123456Z")},
				Keys:     []AccessKey{{Slot: 1, Status: StatusActive, Created: ts("2026-02-28T18:45:00Z"), LastUsed: tp("2026-03-01T23:00:00.5Z")}},
			}},
		},
		{
			name:     "root row only: zero users",
			in:       reportCSV(reportHeader),
			account:  "123456789012",
			wantNone: true,
		},
		{
			name: "byte order mark, CRLF and blank lines",
			in: "\ufeff" + strings.ReplaceAll(reportCSV(reportHeader, map[string]string{
				"user": "heidi", "arn": "arn:aws:iam::123456789012:user/heidi", "user_creation_time": "2025-02-17T09:45:00+00:00",
			}), "\n", "\r\n") + "\r\n\r\n",
			account: "123456789012",
			want:    []User{{Name: "heidi", ARN: "arn:aws:iam::123456789012:user/heidi", Created: ts("2025-02-17T09:45:00Z")}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := ParseCredentialReport(strings.NewReader(tt.in), "credential-report.csv")
			if err != nil {
				t.Fatalf("ParseCredentialReport: %v", err)
			}
			if rep.AccountID != tt.account {
				t.Errorf("AccountID = %q, want %q", rep.AccountID, tt.account)
			}
			if rep.Root == nil || tt.root != nil && !reflect.DeepEqual(rep.Root, tt.root) {
				t.Errorf("Root = %+v, want %+v", rep.Root, tt.root)
			}
			if tt.wantNone {
				if len(rep.Users) != 0 {
					t.Errorf("Users = %+v, want none", rep.Users)
				}
				return
			}
			if len(rep.Users) != len(tt.want) {
				t.Fatalf("got %d users, want %d: %+v", len(rep.Users), len(tt.want), rep.Users)
			}
			for i := range tt.want {
				if got, want := rep.Users[i], tt.want[i]; !reflect.DeepEqual(got, want) {
					t.Errorf("user %d:\n got %s\nwant %s", i, dumpUser(got), dumpUser(want))
				}
			}
		})
	}
}

func dumpUser(u User) string {
	var b strings.Builder
	b.WriteString(u.Name + " " + u.ARN + " created " + u.Created.String())
	if p := u.Password; p != nil {
		b.WriteString(" password{created " + p.Created.String() + " last used " + dumpTime(p.LastUsed) + "}")
	}
	for _, k := range u.Keys {
		b.WriteString(" key{" + k.Status + " slot " + string(rune('0'+k.Slot)) + " created " + k.Created.String() +
			" last used " + dumpTime(k.LastUsed) + " " + k.LastUsedRegion + "/" + k.LastUsedService + "}")
	}
	return b.String()
}

func dumpTime(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.String()
}

// TestParseCredentialReportErrors runs the broken fixtures under
// testdata/report: each X.csv must fail with exactly the message in X.err
// (go test -run ReportErrors -update-report rewrites them).
func TestParseCredentialReportErrors(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "report", "*.csv"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(strings.TrimSuffix(name, ".csv"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := ParseCredentialReport(bytes.NewReader(data), name)
			if err == nil {
				t.Fatalf("parsed %d users, want an error", len(rep.Users))
			}
			golden := strings.TrimSuffix(file, ".csv") + ".err"
			if *updateReportGolden {
				if err := os.WriteFile(golden, []byte(err.Error()+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, rerr := os.ReadFile(golden)
			if rerr != nil {
				t.Fatalf("%v (run with -update-report to create it)", rerr)
			}
			if got := err.Error(); got != strings.TrimSpace(string(want)) {
				t.Errorf("error:\n got %s\nwant %s", got, strings.TrimSpace(string(want)))
			}
		})
	}
}

func TestParseCredentialReportKeysDoNotAlias(t *testing.T) {
	in := reportCSV(reportHeader,
		map[string]string{"user": "a", "arn": "arn:aws:iam::123456789012:user/a", "user_creation_time": "2024-01-01T00:00:00+00:00",
			"access_key_1_active": "true", "access_key_1_last_rotated": "2024-01-01T00:00:00+00:00"},
		map[string]string{"user": "b", "arn": "arn:aws:iam::123456789012:user/b", "user_creation_time": "2024-01-01T00:00:00+00:00",
			"access_key_1_active": "true", "access_key_1_last_rotated": "2025-01-01T00:00:00+00:00"},
	)
	rep, err := ParseCredentialReport(strings.NewReader(in), "r.csv")
	if err != nil {
		t.Fatal(err)
	}
	rep.Users[0].Keys = append(rep.Users[0].Keys, AccessKey{ID: "AKIAEXTRA"})
	if k := rep.Users[1].Keys[0]; k.ID != "" || !k.Created.Equal(ts("2025-01-01T00:00:00Z")) {
		t.Fatalf("appending to one user's keys changed the next user's: %+v", k)
	}
}

func TestParseReportTime(t *testing.T) {
	tests := []struct {
		in   string
		want string // RFC 3339 in UTC; empty: invalid
	}{
		{"2024-01-02T15:04:05+00:00", "2024-01-02T15:04:05Z"},
		{"2024-01-02T15:04:05Z", "2024-01-02T15:04:05Z"},
		{"2024-01-02T01:04:05+02:00", "2024-01-01T23:04:05Z"},
		{"2024-12-31T23:30:00-01:00", "2025-01-01T00:30:00Z"},
		{"2024-02-29T00:00:00+00:00", "2024-02-29T00:00:00Z"},
		{"2024-01-02T15:04:05.999+00:00", "2024-01-02T15:04:05.999Z"},
		{"0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"},
		{"2023-02-29T00:00:00+00:00", ""},
		{"2024-13-01T00:00:00+00:00", ""},
		{"2024-13-01", ""},
		{"2024-01-02", ""},
		{"2024-01-02 15:04:05+00:00", ""},
		{"2024-01-02T24:00:00+00:00", ""},
		{"2024-01-02T15:04:05+0000", ""},
		{"20x4-01-02T15:04:05+00:00", ""},
		{"yesterday", ""},
	}
	for _, tt := range tests {
		got, ok := parseReportTime(tt.in)
		if tt.want == "" {
			if ok {
				t.Errorf("parseReportTime(%q) = %v, want invalid", tt.in, got)
			}
			continue
		}
		if want := ts(tt.want); !ok || got != want {
			t.Errorf("parseReportTime(%q) = %v, %v; want %v", tt.in, got, ok, want)
		}
	}
}

// TestExampleReport guards examples/credential-report.csv, the demo data:
// it must parse, and keep the cases the demo shows.
func TestExampleReport(t *testing.T) {
	rep, err := ReadCredentialReportFile(filepath.Join("..", "..", "examples", "credential-report.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.AccountID != "123456789012" || rep.Root == nil || len(rep.Users) < 12 {
		t.Fatalf("account %q, root %v, %d users", rep.AccountID, rep.Root, len(rep.Users))
	}
	asOf := ts("2026-11-25T00:00:00Z")
	users := map[string]User{}
	for _, u := range rep.Users {
		users[u.Name] = u
		if !u.Created.Before(asOf) {
			t.Errorf("%s created %v, not before %v", u.Name, u.Created, asOf)
		}
	}
	if u := users["frank"]; u.Password != nil {
		t.Errorf("frank: password_enabled=false must mean no password, got %+v", u.Password)
	}
	if u := users["erin"]; u.Password == nil || u.Password.LastUsed != nil {
		t.Errorf("erin: want a never-used password, got %+v", u.Password)
	}
	if u := users["svc-backup"]; len(u.Keys) != 1 || u.Keys[0].LastUsed != nil {
		t.Errorf("svc-backup: want one never-used key, got %+v", u.Keys)
	}
	if u := users["carol"]; len(u.Keys) != 2 {
		t.Errorf("carol: want two keys, got %+v", u.Keys)
	}
	if u := users["judy"]; len(u.Keys) != 2 || u.Keys[0].Active() {
		t.Errorf("judy: want an inactive key in slot 1, got %+v", u.Keys)
	}
}

func TestFileSource(t *testing.T) {
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "report.csv")
	csvData := reportHeader + "\n" + reportRootRow + "\n" +
		"alice,arn:aws:iam::123456789012:user/alice,2024-03-04T10:15:22+00:00,false,N/A,N/A,N/A,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
	if err := os.WriteFile(csvPath, []byte(csvData), 0o644); err != nil {
		t.Fatal(err)
	}
	jsonPath := filepath.Join(dir, "report.json")
	envelope := `{
    "Content": "` + base64.StdEncoding.EncodeToString([]byte(csvData)) + `",
    "ReportFormat": "text/csv",
    "GeneratedTime": "2026-11-24T21:03:11+00:00"
}`
	if err := os.WriteFile(jsonPath, []byte(envelope), 0o644); err != nil {
		t.Fatal(err)
	}
	badPath := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(badPath, []byte(reportHeader+"\nalice,arn:aws:iam::123456789012:user/alice,yesterday"+strings.Repeat(",", 19)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	t.Run("account from the report", func(t *testing.T) {
		f, err := FileSource{Path: csvPath}.Collect(ctx, Account{Name: "demo"})
		if err != nil {
			t.Fatal(err)
		}
		if f.Account != (Account{ID: "123456789012", Name: "demo"}) || len(f.Users) != 1 || f.Users[0].Name != "alice" {
			t.Fatalf("got %+v", f)
		}
	})
	t.Run("matching account, JSON output of get-credential-report", func(t *testing.T) {
		f, err := (&FileSource{Path: jsonPath}).Collect(ctx, Account{ID: "123456789012", Name: "prod"})
		if err != nil {
			t.Fatal(err)
		}
		if f.Account.ID != "123456789012" || len(f.Users) != 1 || !f.ReportGenerated.Equal(ts("2026-11-24T21:03:11Z")) {
			t.Fatalf("got %+v", f)
		}
	})
	t.Run("other account", func(t *testing.T) {
		_, err := FileSource{Path: csvPath}.Collect(ctx, Account{ID: "210987654321"})
		want := "credential report " + csvPath + " is for account 123456789012, not account 210987654321: check the file and the account it is audited as"
		if err == nil || err.Error() != want {
			t.Fatalf("error = %v, want %s", err, want)
		}
	})
	t.Run("bad row names the path", func(t *testing.T) {
		_, err := ReadCredentialReportFile(badPath)
		want := badPath + ` line 2: column user_creation_time: invalid date "yesterday": want ISO 8601 like 2024-01-02T15:04:05+00:00`
		if err == nil || err.Error() != want {
			t.Fatalf("error = %v, want %s", err, want)
		}
	})
	t.Run("missing file names the path", func(t *testing.T) {
		missing := filepath.Join(dir, "nope.csv")
		_, err := ReadCredentialReportFile(missing)
		if err == nil || !strings.Contains(err.Error(), missing) || !os.IsNotExist(unwrapAll(err)) {
			t.Fatalf("error = %v", err)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := (FileSource{Path: csvPath}).Collect(cctx, Account{}); err == nil {
			t.Fatal("want an error")
		}
	})
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

// FuzzParseCredentialReport checks that no input panics and that every
// accepted report keeps the parser's promises. The seeds (fixtures, the
// example and the test reports) run as a normal test.
func FuzzParseCredentialReport(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "report", "*.csv"))
	files = append(files, filepath.Join("..", "..", "examples", "credential-report.csv"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(reportHeader + "\n"))
	f.Add([]byte(reportCSV(reportHeader, map[string]string{
		"user": "a", "arn": "arn:aws:iam::123456789012:user/a", "user_creation_time": "2024-01-01T00:00:00.5-03:00",
		"password_enabled": "true", "password_last_used": "no_information",
		"access_key_2_active": "true", "access_key_2_last_rotated": "2024-01-01T00:00:00Z",
	})))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := ParseCredentialReport(bytes.NewReader(data), "fuzz.csv")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.csv") {
				t.Fatalf("error does not name the input: %v", err)
			}
			return
		}
		for _, u := range rep.Users {
			if u.Name == "" || u.Name == RootAccountName || !strings.HasSuffix(u.ARN, "/"+u.Name) {
				t.Fatalf("bad user %+v", u)
			}
			if !strings.Contains(u.ARN, ":"+rep.AccountID+":") {
				t.Fatalf("user %s not in account %s", u.ARN, rep.AccountID)
			}
			if u.Created.IsZero() || u.Created.Location() != time.UTC {
				t.Fatalf("user %s created %v", u.Name, u.Created)
			}
			if u.Password != nil && !u.Password.Enabled {
				t.Fatalf("user %s has a disabled password", u.Name)
			}
			for _, k := range u.Keys {
				if k.Slot != 1 && k.Slot != 2 || k.Status != StatusActive && k.Status != StatusInactive {
					t.Fatalf("user %s key %+v", u.Name, k)
				}
			}
		}
	})
}

// FuzzParseReportTime checks the hand-written fast path against
// time.Parse: whatever it accepts, time.Parse accepts as the same instant.
func FuzzParseReportTime(f *testing.F) {
	for _, s := range []string{"2024-01-02T15:04:05+00:00", "2024-01-02T15:04:05Z", "2024-02-29T23:59:59-12:30", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59+23:59"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := fastReportTime(s)
		if !ok {
			return
		}
		want, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatalf("fast path accepts %q, time.Parse does not: %v", s, err)
		}
		if !got.Equal(want) || got.Location() != time.UTC {
			t.Fatalf("%q: fast path %v, time.Parse %v", s, got, want)
		}
	})
}
