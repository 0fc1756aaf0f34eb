package output

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/policy"
)

var update = flag.Bool("update", false, "rewrite golden files")

var asOf = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/output -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func findings() []policy.Finding {
	used := time.Date(2026, 8, 27, 9, 30, 0, 0, time.UTC)
	return []policy.Finding{
		{Kind: policy.InactiveKeys, AccountID: "123456789012", UserName: "alice", UserARN: "arn:aws:iam::123456789012:user/alice",
			KeyID: "AKIAIOSFODNN7EXAMPLE", KeySlot: 1, Stage: policy.Violation, Created: time.Date(2024, 1, 2, 15, 4, 5, 0, time.UTC),
			LastUsed: &used, Since: used, From: policy.FromLastUsed, AgeDays: 90, LimitDays: 90, DaysLeft: 0,
			Deadline: used.AddDate(0, 0, 90)},
		{Kind: policy.KeysRotation, AccountID: "123456789012", UserName: "bob", KeySlot: 2, Stage: policy.Warning,
			Created: time.Date(2026, 6, 8, 0, 0, 0, 0, time.UTC), From: policy.FromCreated, AgeDays: 170, LimitDays: 180, DaysLeft: 10,
			Deadline: time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)},
		{Kind: policy.InactivePasswords, AccountID: "123456789012", UserName: "carol", Stage: policy.Violation, Exemption: policy.ExemptTag,
			Created: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), From: policy.FromCreated, AgeDays: 693, LimitDays: 90, DaysLeft: -603,
			Deadline: time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)},
	}
}

func TestFindingsGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"findings.table", Options{Format: Table}},
		{"findings.json", Options{Format: JSON}},
		{"findings.csv", Options{Format: CSV}},
		{"findings-keyids.table", Options{Format: Table, ShowKeyIDs: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := Findings(&b, findings(), tc.opts); err != nil {
				t.Fatal(err)
			}
			if !tc.opts.ShowKeyIDs && bytes.Contains(b.Bytes(), []byte("AKIAIOSFODNN7EXAMPLE")) {
				t.Error("a full access key ID was printed without --show-key-ids")
			}
			golden(t, tc.name, b.Bytes())
		})
	}
}

func TestIssuesGolden(t *testing.T) {
	closed := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	list := []issues.Issue{
		issues.FromFinding(findings()[0], asOf),
		issues.FromFinding(findings()[1], asOf),
		issues.FromFinding(findings()[2], asOf),
	}
	for i := range list {
		list[i].ID = int64(i + 1)
	}
	list[1].Status, list[1].Closed, list[1].CloseReason = issues.Resolved, &closed, "key deactivated"
	for _, f := range []Format{Table, JSON, CSV} {
		t.Run(string(f), func(t *testing.T) {
			var b bytes.Buffer
			if err := Issues(&b, list, Options{Format: f}); err != nil {
				t.Fatal(err)
			}
			golden(t, "issues."+string(f), b.Bytes())
		})
	}
	var b bytes.Buffer
	if err := Issue(&b, list[0], Options{Format: Table}); err != nil {
		t.Fatal(err)
	}
	golden(t, "issue-show.table", b.Bytes())
}

func TestMaskAndDaysLeft(t *testing.T) {
	for in, want := range map[string]string{"AKIAIOSFODNN7EXAMPLE": "AKIA…MPLE", "short": "short", "": ""} {
		if got := MaskKeyID(in); got != want {
			t.Errorf("MaskKeyID(%q) = %q, want %q", in, got, want)
		}
	}
	for _, tc := range []struct {
		n     int
		stage policy.Stage
		want  string
	}{{8, policy.Warning, "expires in 8 days"}, {1, policy.Warning, "expires in 1 day"}, {0, policy.Warning, "expires today"},
		{0, policy.Violation, "expired today"}, {-3, policy.Violation, "3 days over"}} {
		if got := DaysLeft(tc.n, tc.stage); got != tc.want {
			t.Errorf("DaysLeft(%d, %s) = %q, want %q", tc.n, tc.stage, got, tc.want)
		}
	}
	if _, err := ParseFormat("yaml"); err == nil {
		t.Error("yaml accepted")
	}
}

func TestWording(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{Count(1, "warning"), "1 warning"}, {Count(2, "warning"), "2 warnings"}, {Count(0, "day"), "0 days"},
		{Count(1, "whitelisted"), "1 whitelisted"}, {Count(3, "whitelisted"), "3 whitelisted"},
		{DaysLeft(-1, "violation"), "1 day over"}, {DaysLeft(-2, "violation"), "2 days over"},
		{DaysLeft(1, "warning"), "expires in 1 day"}, {Options{}.credential("user_keysrotation", "", 1), "key slot 1"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
