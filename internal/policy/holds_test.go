package policy

import (
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/inventory"
)

// A rollback hold (an exemption with an end) whitelists the held key's
// findings (both key kinds) until it ends, in its account only; a whitelist
// entry keeps its own reason.
func TestHolds(t *testing.T) {
	held := key("AKIAHELD000000000001", "Active", daysAgo(400), nil)
	other := key("AKIAOTHER00000000001", "Active", daysAgo(400), nil)
	until := asOf.Add(10 * Day)
	hold := Exemption{AccountID: "123456789012", Subject: held.ID, Until: until, Owner: HoldOwner, Reason: HoldReason(7), Source: SourceRollback, Action: 7}
	h := NewDated([]Exemption{hold})
	text := "exempt until " + until.Format("2006-01-02") + ": rolled back (action 7) (keywarden rollback)"
	wl := map[Kind]map[string][]string{KeysRotation: {"123456789012": {"listed"}}}
	tests := []struct {
		name    string
		account string
		user    string
		key     inventory.AccessKey
		kind    Kind
		at      time.Time
		want    string
	}{
		{"held key, inactivity", "123456789012", "u", held, InactiveKeys, asOf, text},
		{"held key, rotation", "123456789012", "u", held, KeysRotation, asOf, hold.Text()},
		{"a second before the end", "123456789012", "u", held, InactiveKeys, until.Add(-time.Second), hold.Text()},
		{"at the end: due again", "123456789012", "u", held, InactiveKeys, until, ""},
		{"another key", "123456789012", "u", other, InactiveKeys, asOf, ""},
		{"another account", "999999999999", "u", held, InactiveKeys, asOf, ""},
		{"whitelist wins", "123456789012", "listed", held, KeysRotation, asOf, ExemptWhitelist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			facts := &inventory.Facts{Account: inventory.Account{ID: tt.account},
				Users: []inventory.User{{Name: tt.user, Keys: []inventory.AccessKey{tt.key}}}}
			got := Evaluate(facts, []Rule{{Kind: tt.kind, LimitDays: 90}}, Exemptions{Whitelist: wl, Dated: h}, tt.at)
			if len(got) != 1 {
				t.Fatalf("want 1 finding, got %d", len(got))
			}
			if got[0].Exemption != tt.want {
				t.Errorf("exemption %q, want %q", got[0].Exemption, tt.want)
			}
			if IsHold(got[0].Exemption) != (tt.want != "" && tt.want != ExemptWhitelist) {
				t.Errorf("IsHold(%q) = %v", got[0].Exemption, IsHold(got[0].Exemption))
			}
		})
	}
}
