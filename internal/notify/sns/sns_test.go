package sns

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/policy"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestBodyGolden(t *testing.T) {
	asOf := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	closed := asOf
	is := issues.Issue{ID: 7, Kind: policy.KeysRotation, AccountID: "111111111111", Subject: "AKIAALICE0000000OLD1",
		Status: issues.Resolved, Stage: policy.Violation, UserARN: "arn:aws:iam::111111111111:user/alice",
		Details: issues.Details{Username: "alice", CreateDate: "2025-10-21T12:00:00Z", LastUsed: "2026-11-24T12:00:00Z"},
		Tags:    map[string]string{"Slack": "UALICE1"}, AgeDays: 400, LimitDays: 180, DaysLeft: -220,
		Deadline: asOf.AddDate(0, 0, -220), Detected: asOf.AddDate(0, 0, -3), Closed: &closed, CloseReason: "rotated: key deleted, newer key in use"}
	n := &notify.Notice{Issue: is, Event: notify.Resolved, AccountName: "alpha", DaysLeft: -220, AsOf: asOf,
		Owner:    config.Owner{JiraProject: "AWSSEC", SlackOwner: []string{"#alpha-team"}},
		Delivery: &notify.Delivery{Seq: 1}}
	b, err := Body(n, false)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatal(err)
	}
	out.WriteByte('\n')
	path := filepath.Join("testdata", "resolved.json")
	if *update {
		if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != string(want) {
		t.Errorf("%s differs (go test -update):\n%s", path, out.String())
	}
	if DeliveryID(n) != DeliveryID(n) || Fingerprint(&is) == "" {
		t.Error("unstable IDs")
	}
	m := attrs(n)
	if m["kind"] != "user_keysrotation" || m["account"] != "111111111111" || m["status"] != "resolved" || m["event"] != "resolved" {
		t.Errorf("attributes %v", m)
	}
}
