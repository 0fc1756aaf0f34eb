package policy

import (
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/inventory"
)

var asOf = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func daysAgo(d float64) time.Time { return asOf.Add(-time.Duration(d * float64(Day))) }
func ptr(t time.Time) *time.Time  { return &t }

func key(id, status string, created time.Time, used *time.Time) inventory.AccessKey {
	return inventory.AccessKey{ID: id, Status: status, Created: created, LastUsed: used}
}

func TestEvaluateKeys(t *testing.T) {
	inactive := Rule{Kind: InactiveKeys, LimitDays: 90, WarningDays: 10}
	rotation := Rule{Kind: KeysRotation, LimitDays: 180, WarningDays: 10}
	tests := []struct {
		name     string
		rule     Rule
		key      inventory.AccessKey
		want     Stage // "" = no finding
		daysLeft int
		from     Reference
	}{
		{"used exactly 90 days ago is not over", inactive, key("K", "Active", daysAgo(400), ptr(daysAgo(90))), Warning, 0, FromLastUsed},
		{"used 90 days and a second ago is over", inactive, key("K", "Active", daysAgo(400), ptr(daysAgo(90).Add(-time.Second))), Violation, 0, FromLastUsed},
		{"used 91 days ago: one day over", inactive, key("K", "Active", daysAgo(400), ptr(daysAgo(91))), Violation, -1, FromLastUsed},
		{"used 79 days ago: outside warning window", inactive, key("K", "Active", daysAgo(400), ptr(daysAgo(79))), "", 0, ""},
		{"used 80 days ago: warning window opens", inactive, key("K", "Active", daysAgo(400), ptr(daysAgo(80))), Warning, 10, FromLastUsed},
		{"used 82.5 days ago: 8 days left (rounded up)", inactive, key("K", "Active", daysAgo(400), ptr(daysAgo(82.5))), Warning, 8, FromLastUsed},
		{"never used falls back to creation", inactive, key("K", "Active", daysAgo(120), nil), Violation, -30, FromCreated},
		{"never used, created recently", inactive, key("K", "Active", daysAgo(5), nil), "", 0, ""},
		{"inactive key is ignored", inactive, key("K", "Inactive", daysAgo(400), nil), "", 0, ""},
		{"rotation counts from creation even when used today", rotation, key("K", "Active", daysAgo(181), ptr(daysAgo(0))), Violation, -1, FromCreated},
		{"rotation exactly at limit is a warning", rotation, key("K", "Active", daysAgo(180), nil), Warning, 0, FromCreated},
		{"rotation 171 days: outside window", rotation, key("K", "Active", daysAgo(169), nil), "", 0, ""},
		{"rotation of an inactive key is ignored", rotation, key("K", "Inactive", daysAgo(900), nil), "", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			facts := &inventory.Facts{Account: inventory.Account{ID: "123456789012"},
				Users: []inventory.User{{Name: "alice", Keys: []inventory.AccessKey{tt.key}}}}
			got := Evaluate(facts, []Rule{tt.rule}, Exemptions{}, asOf)
			if tt.want == "" {
				if len(got) != 0 {
					t.Fatalf("want no finding, got %+v", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("want 1 finding, got %d", len(got))
			}
			f := got[0]
			if f.Stage != tt.want || f.DaysLeft != tt.daysLeft || f.From != tt.from {
				t.Errorf("got stage %s days left %d from %s, want %s %d %s", f.Stage, f.DaysLeft, f.From, tt.want, tt.daysLeft, tt.from)
			}
			if f.Subject() != "K" || f.Kind != tt.rule.Kind || f.AccountID != "123456789012" {
				t.Errorf("identity: %+v", f)
			}
		})
	}
}

func TestEvaluateNoWarningStage(t *testing.T) {
	facts := &inventory.Facts{Users: []inventory.User{{Name: "a", Keys: []inventory.AccessKey{key("K", "Active", daysAgo(89), nil)}}}}
	if got := Evaluate(facts, []Rule{{Kind: InactiveKeys, LimitDays: 90}}, Exemptions{}, asOf); len(got) != 0 {
		t.Fatalf("no warning_days: want no finding a day before the limit, got %+v", got)
	}
}

func TestEvaluateBothSlots(t *testing.T) {
	u := inventory.User{Name: "bob", Keys: []inventory.AccessKey{
		{Slot: 1, Status: "Active", Created: daysAgo(300), LastUsed: ptr(daysAgo(200))},
		{Slot: 2, Status: "Active", Created: daysAgo(100)},
	}}
	got := Evaluate(&inventory.Facts{Users: []inventory.User{u}}, []Rule{{Kind: InactiveKeys, LimitDays: 90}}, Exemptions{}, asOf)
	if len(got) != 2 {
		t.Fatalf("want both slots flagged, got %d", len(got))
	}
	if got[0].Subject() != "bob/access_key_1" || got[1].Subject() != "bob/access_key_2" {
		t.Errorf("subjects: %s %s", got[0].Subject(), got[1].Subject())
	}
}

func TestEvaluatePasswords(t *testing.T) {
	rule := Rule{Kind: InactivePasswords, LimitDays: 90, WarningDays: 14}
	tests := []struct {
		name string
		pw   *inventory.Password
		want Stage
		from Reference
	}{
		{"no login profile", nil, "", ""},
		{"login profile removed but last use kept", &inventory.Password{Enabled: false, Created: daysAgo(500), LastUsed: ptr(daysAgo(400))}, "", ""},
		{"never used, created 100 days ago", &inventory.Password{Enabled: true, Created: daysAgo(100)}, Violation, FromCreated},
		{"never used, created 80 days ago", &inventory.Password{Enabled: true, Created: daysAgo(80)}, Warning, FromCreated},
		{"used 91 days ago", &inventory.Password{Enabled: true, Created: daysAgo(500), LastUsed: ptr(daysAgo(91))}, Violation, FromLastUsed},
		{"used yesterday", &inventory.Password{Enabled: true, Created: daysAgo(500), LastUsed: ptr(daysAgo(1))}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			facts := &inventory.Facts{Users: []inventory.User{{Name: "carol", Created: daysAgo(600), Password: tt.pw}}}
			got := Evaluate(facts, []Rule{rule}, Exemptions{}, asOf)
			if tt.want == "" {
				if len(got) != 0 {
					t.Fatalf("want none, got %+v", got)
				}
				return
			}
			if len(got) != 1 || got[0].Stage != tt.want || got[0].From != tt.from || got[0].Subject() != "carol" {
				t.Fatalf("got %+v, want %s from %s", got, tt.want, tt.from)
			}
		})
	}
}

func TestExemptions(t *testing.T) {
	old := key("AKIAOLD0000000000001", "Active", daysAgo(400), nil)
	mk := func(name string, tags map[string]string) inventory.User {
		return inventory.User{Name: name, Tags: tags, Keys: []inventory.AccessKey{old}}
	}
	ex := Exemptions{Whitelist: map[Kind]map[string][]string{
		InactiveKeys: {"123456789012": {"", "svc-listed"}, "210987654321": {"AKIAOLD0000000000001"}},
	}}
	tests := []struct {
		name    string
		account string
		user    inventory.User
		rule    Kind
		want    string
	}{
		{"user name whitelisted", "123456789012", mk("svc-listed", nil), InactiveKeys, ExemptWhitelist},
		{"empty entry whitelists nobody", "123456789012", mk("", nil), InactiveKeys, ""},
		{"whitelist is per account", "999999999999", mk("svc-listed", nil), InactiveKeys, ""},
		{"whitelist is per kind", "123456789012", mk("svc-listed", nil), KeysRotation, ""},
		{"key id whitelisted", "210987654321", mk("dave", nil), InactiveKeys, ExemptWhitelist},
		{"tag KeyAutoExpire=false", "123456789012", mk("erin", map[string]string{"KeyAutoExpire": "false"}), InactiveKeys, ExemptTag},
		{"tag value is case-insensitive", "123456789012", mk("erin", map[string]string{"KeyAutoExpire": "FALSE"}), KeysRotation, ExemptTag},
		{"tag KeyAutoExpire=true exempts nothing", "123456789012", mk("erin", map[string]string{"KeyAutoExpire": "true"}), InactiveKeys, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			facts := &inventory.Facts{Account: inventory.Account{ID: tt.account}, Users: []inventory.User{tt.user}}
			got := Evaluate(facts, []Rule{{Kind: tt.rule, LimitDays: 90}}, ex, asOf)
			if len(got) != 1 {
				t.Fatalf("want 1 finding (exempt findings are still shown), got %d", len(got))
			}
			if got[0].Exemption != tt.want {
				t.Errorf("exemption %q, want %q", got[0].Exemption, tt.want)
			}
		})
	}
}

func TestRuleAccounts(t *testing.T) {
	facts := &inventory.Facts{Account: inventory.Account{ID: "111111111111"},
		Users: []inventory.User{{Name: "a", Keys: []inventory.AccessKey{key("K", "Active", daysAgo(400), nil)}}}}
	r := Rule{Kind: InactiveKeys, LimitDays: 90, Accounts: []string{"222222222222"}}
	if got := Evaluate(facts, []Rule{r}, Exemptions{}, asOf); len(got) != 0 {
		t.Fatalf("rule limited to another account matched: %+v", got)
	}
}

func TestAgeHistogram(t *testing.T) {
	facts := &inventory.Facts{Users: []inventory.User{
		{Name: "a", Keys: []inventory.AccessKey{
			key("K1", "Active", daysAgo(400), ptr(daysAgo(20))), // inactive: 20d -> bucket 1; rotation: 400d -> bucket 26
			key("K2", "Inactive", daysAgo(10), nil),             // not counted
		}, Password: &inventory.Password{Enabled: true, Created: daysAgo(5000)}}, // 5000d -> last bucket
	}}
	h := NewAgeHistogram()
	h.Add(facts, []Rule{{Kind: InactiveKeys}, {Kind: KeysRotation}, {Kind: InactivePasswords}}, asOf)
	h.Merge(h)
	if h.Counts[InactiveKeys][1] != 2 || h.Counts[KeysRotation][26] != 2 || h.Counts[InactivePasswords][48] != 2 {
		t.Errorf("counts: %v", h.Counts)
	}
	sum := 0
	for _, cs := range h.Counts {
		for _, c := range cs {
			sum += c
		}
	}
	if sum != 6 {
		t.Errorf("total %d, want 6 (inactive key not counted)", sum)
	}
}

func TestRuleExcludeAccounts(t *testing.T) {
	r := Rule{Kind: InactiveKeys, LimitDays: 90, ExcludeAccounts: []string{"111111111111"}}
	if r.AppliesTo("111111111111") || !r.AppliesTo("222222222222") {
		t.Errorf("exclusion: %+v", r)
	}
	r.Accounts = []string{"111111111111", "222222222222"}
	if r.AppliesTo("111111111111") {
		t.Error("an excluded account stays excluded even when listed")
	}
}
