package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/inventory"
)

// An exemption with an end covers its subject (user name: every credential
// of the user; key ID: that key) in its kinds (all when empty) until its
// end, and no longer; of several, the one lasting longest is shown.
func TestDatedExemptions(t *testing.T) {
	k := key("AKIAKEY0000000000001", "Active", daysAgo(400), nil)
	pw := &inventory.Password{Enabled: true, Created: daysAgo(400)}
	soon, later := asOf.Add(5*Day), asOf.Add(20*Day)
	byUser := Exemption{ID: 1, AccountID: "123456789012", Subject: "alice", Until: soon, Owner: "bob", Reason: "migration", Source: SourceStore}
	byKey := Exemption{ID: 2, Kind: KeysRotation, AccountID: "123456789012", Subject: k.ID, Until: later, Owner: "carol", Reason: "vendor", Source: SourceStore}
	d := NewDated([]Exemption{byUser, byKey})
	facts := &inventory.Facts{Account: inventory.Account{ID: "123456789012"},
		Users: []inventory.User{{Name: "alice", Keys: []inventory.AccessKey{k}, Password: pw}}}
	rules := []Rule{{Kind: InactiveKeys, LimitDays: 90}, {Kind: KeysRotation, LimitDays: 90}, {Kind: InactivePasswords, LimitDays: 90}}
	got := func(at time.Time) map[Kind]string {
		m := map[Kind]string{}
		for _, f := range Evaluate(facts, rules, Exemptions{Dated: d}, at) {
			m[f.Kind] = f.Exemption
		}
		return m
	}
	now := got(asOf)
	if now[InactiveKeys] != "exempt until "+soon.Format("2006-01-02")+": migration (bob)" || now[InactivePasswords] != byUser.Text() {
		t.Errorf("by user: %v", now)
	}
	if now[KeysRotation] != byKey.Text() {
		t.Errorf("rotation: the longer exemption: %v", now)
	}
	after := got(soon)
	if after[InactiveKeys] != "" || after[InactivePasswords] != "" || after[KeysRotation] != byKey.Text() {
		t.Errorf("at the user's end: %v", after)
	}
	if e, ok := d.Ended(InactiveKeys, "123456789012", "alice", k.ID, soon); !ok || e.ID != 1 {
		t.Errorf("ended: %v %v", e, ok)
	}
	if _, ok := d.Find(InactiveKeys, "999999999999", "alice", k.ID, asOf); ok {
		t.Error("another account is not exempt")
	}
	if !IsDated(byUser.Text()) || IsHold(byUser.Text()) {
		t.Error("IsDated/IsHold of a person's exemption")
	}
	hold := Exemption{AccountID: "123456789012", Subject: k.ID, Until: later, Owner: HoldOwner, Reason: HoldReason(3), Source: SourceRollback, Action: 3}
	if !IsHold(hold.Text()) {
		t.Errorf("IsHold(%q)", hold.Text())
	}
}

func TestValidateExemption(t *testing.T) {
	ok := Exemption{Kind: InactiveKeys, AccountID: "123456789012", Subject: "alice", Owner: "bob", Reason: "r", Until: asOf.Add(Day)}
	if err := ValidateExemption(ok, asOf); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		mut  func(*Exemption)
		want string
	}{
		{func(e *Exemption) { e.Kind = "s3" }, `kind "s3": use one of`},
		{func(e *Exemption) { e.AccountID = "1234" }, "12-digit"},
		{func(e *Exemption) { e.Subject = " " }, "subject"},
		{func(e *Exemption) { e.Owner = "" }, "--owner"},
		{func(e *Exemption) { e.Reason = "" }, "--reason"},
		{func(e *Exemption) { e.Until = asOf }, "not after today"},
		{func(e *Exemption) { e.Until = AddDays(asOf, MaxDays+1) }, "more than 36500 days"},
	} {
		e := ok
		tt.mut(&e)
		if err := ValidateExemption(e, asOf); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want %q", e, err, tt.want)
		}
	}
}
