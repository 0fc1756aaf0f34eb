package output

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/policy"
)

func sampleReport() Report {
	rules := []policy.Rule{{Kind: policy.InactiveKeys, LimitDays: 90, WarningDays: 14}, {Kind: policy.KeysRotation, LimitDays: 180, WarningDays: 14}}
	ages := policy.NewAgeHistogram()
	used := asOf.AddDate(0, 0, -100)
	facts := &inventory.Facts{Users: []inventory.User{{Name: "alice", Keys: []inventory.AccessKey{{Status: "Active", Created: asOf.AddDate(0, 0, -400), LastUsed: &used}}}}}
	ages.Add(facts, rules, asOf)
	fs := findings()
	fs[1].Deadline = time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC) // a Thursday: week of Monday 2026-11-30
	return Report{
		AsOf:     asOf,
		Accounts: []ReportAccount{{ID: "123456789012", Name: "prod", Users: 40}, {ID: "210987654321", Name: "dev", Err: "account 210987654321: AccessDenied"}},
		Findings: fs,
		Rules:    rules,
		Ages:     ages,
		Actions:  []ReportAction{{Time: asOf, AccountID: "123456789012", User: "alice", KeyID: "AKIAIOSFODNN7EXAMPLE", Kind: policy.InactiveKeys, Action: "deactivate_key", State: "done"}},
	}
}

func TestHTMLReportGolden(t *testing.T) {
	var b bytes.Buffer
	if err := RenderHTML(&b, sampleReport(), Options{Format: HTML}); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	for _, want := range []string{
		`id="total-violations">1<`, `id="total-warnings">1<`, `id="total-whitelisted">1<`,
		`<td>123456789012</td><td>prod</td>`, `class="badge failed"`, `AccessDenied`,
		`id="chart-user_inactivekeys"`, `class="limit"`, `limit 90d`, `warn 76d`, `class="bar over"`,
		`<td>2026-11-30</td><td class="num">1</td><td>bob</td>`,
		`deactivate_key`, `AKIA…MPLE`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(html, "AKIAIOSFODNN7EXAMPLE") {
		t.Error("full key ID in the report without --show-key-ids")
	}
	golden(t, "report.html", b.Bytes())
}

// TestHTMLReportSelfContained: nothing in the page may load from elsewhere.
func TestHTMLReportSelfContained(t *testing.T) {
	var b bytes.Buffer
	if err := RenderHTML(&b, sampleReport(), Options{Format: HTML}); err != nil {
		t.Fatal(err)
	}
	ext := regexp.MustCompile(`(?i)(src|href|url\()\s*=?\s*["']?\s*(https?:)?//`)
	if m := ext.FindString(b.String()); m != "" {
		t.Errorf("external reference in the report: %q", m)
	}
	if !strings.Contains(b.String(), `Content-Security-Policy" content="default-src 'none'`) {
		t.Error("no Content-Security-Policy forbidding other sources")
	}
}
