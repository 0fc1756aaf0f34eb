package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/internal/awstest"
	"github.com/keywarden/keywarden/internal/output"
)

// TestSecurityHubImport: scan --security-hub -o asff sends exactly the ASFF
// it prints, in batches of at most 100, into the caller's account and
// region; a re-import updates the same findings instead of adding more.
func TestSecurityHubImport(t *testing.T) {
	w := newWorld(t, baseConfig)
	acct := seedAlpha()
	for i := 0; i < 120; i++ { // 120 more stale keys: 246 findings, three batches
		acct.Users = append(acct.Users, awstest.User{Name: fmt.Sprintf("stale%03d", i), Created: daysAgo(900),
			Keys: []awstest.Key{{ID: fmt.Sprintf("AKIASTALE%011d", i), Created: daysAgo(400)}}})
	}
	w.srv.AddAccount(acct)
	r := w.scan(0, "--security-hub", "-o", "asff", "--no-track")
	var printed []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &printed); err != nil {
		t.Fatalf("-o asff is not a JSON array: %v", err)
	}
	if len(printed) != 246 {
		t.Fatalf("printed %d findings, want 246", len(printed))
	}
	var sent []map[string]any
	var batches []int
	for _, c := range w.srv.Calls() {
		if c.Action != "BatchImportFindings" {
			continue
		}
		if c.Service != "securityhub" || c.Account != acctA {
			t.Errorf("import went to %s/%s", c.Service, c.Account)
		}
		var fs []map[string]any
		if err := json.Unmarshal([]byte(c.Params.Get("Findings")), &fs); err != nil {
			t.Fatal(err)
		}
		batches = append(batches, len(fs))
		sent = append(sent, fs...)
	}
	if fmt.Sprint(batches) != "[100 100 46]" {
		t.Errorf("batches %v, want [100 100 46]", batches)
	}
	// Exactly what -o asff printed, in order, field for field, except that
	// the printed findings mask the key IDs in their identifiers too.
	a, _ := json.Marshal(printed)
	b, _ := json.Marshal(sent)
	if string(a) != output.MaskText(string(b)) {
		t.Errorf("imported findings differ from the printed ASFF")
	}
	if printed[0]["ProductArn"] != "arn:aws:securityhub:us-east-1:111111111111:product/111111111111/default" {
		t.Errorf("product ARN %v", printed[0]["ProductArn"])
	}
	if !strings.Contains(r.stderr, "security hub: 246 finding(s) imported") {
		t.Errorf("stderr: %s", r.stderr)
	}
	// Re-import: same IDs, Security Hub still holds 246.
	w.scan(0, "--security-hub", "-o", "json", "--no-track")
	if n := len(w.srv.ImportedFindings()); n != 246 {
		t.Errorf("after a re-import Security Hub holds %d findings, want 246 (stable IDs update)", n)
	}
	// A failing import fails the scan (exit 1) after printing the findings.
	w.srv.Inject(awstest.Fault{Action: "BatchImportFindings", Code: "AccessDenied"})
	r = w.run("scan", "--as-of", asOf.Format("2006-01-02T15:04:05Z07:00"), "--report-poll-interval", "1ms", "--security-hub", "-o", "json", "--no-track")
	if r.code != 1 || !strings.Contains(r.stderr, "security hub") || r.stdout == "" {
		t.Errorf("denied import: exit %d\n%s", r.code, r.stderr)
	}
}

// TestIssuesExportHTML: the report of the store's issues, with the
// remediation history from the journal.
func TestIssuesExportHTML(t *testing.T) {
	w := newWorld(t, runConfig)
	w.srv.AddTopic("arn:aws:sns:us-east-1:111111111111:keywarden-notifications")
	w.srv.AddAccount(seedAlpha())
	w.srv.AddAccount(awstest.Account{ID: acctB})
	if r := w.run("run", "--as-of", asOf.Format("2006-01-02T15:04:05Z07:00"), "-o", "json"); r.code != 0 {
		t.Fatalf("run: %s", r.stderr)
	}
	out := w.dir + "/issues.html"
	r := w.run("issues", "export", "--status", "all", "-o", "html", "--output", out)
	if r.code != 0 {
		t.Fatalf("export: %d %s", r.code, r.stderr)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	html := string(data)
	for _, want := range []string{"keywarden: tracked issues", "Remediation history", "deactivate_key", "<td>111111111111</td><td>alpha</td>", "<td>222222222222</td><td>beta</td>"} {
		if !strings.Contains(html, want) {
			t.Errorf("export lacks %q", want)
		}
	}
}
