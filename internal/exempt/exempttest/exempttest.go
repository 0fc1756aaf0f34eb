// Package exempttest is the contract every exempt.Store honours, run by
// each backend's tests.
package exempttest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/exempt"
	"github.com/keywarden/keywarden/internal/policy"
)

// Open returns an empty store.
type Open func(t *testing.T) exempt.Store

// Run runs the contract.
func Run(t *testing.T, open Open) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	t.Run("add list remove", func(t *testing.T) {
		s := open(t)
		if got, err := s.Exemptions(ctx); err != nil || len(got) != 0 {
			t.Fatalf("empty store: %v %v", got, err)
		}
		a := policy.Exemption{Kind: policy.InactiveKeys, AccountID: "123456789012", Subject: "alice",
			Until: t0.Add(30 * policy.Day), Owner: "bob@example.com", Reason: "migration, \"quoted\"", Created: t0}
		b := policy.Exemption{AccountID: "210987654321", Subject: "AKIAEXAMPLE000000001",
			Until: t0.Add(-policy.Day), Owner: "carol", Reason: "ended", Created: t0.Add(time.Second)}
		for _, e := range []*policy.Exemption{&a, &b} {
			if err := s.AddExemption(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		if a.ID <= 0 || b.ID <= a.ID || a.Source != policy.SourceStore {
			t.Fatalf("IDs %d %d, source %q", a.ID, b.ID, a.Source)
		}
		got, err := s.Exemptions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || !same(got[0], a) || !same(got[1], b) {
			t.Fatalf("listed %+v\nwant %+v\n%+v", got, a, b)
		}
		if err := s.RemoveExemption(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.RemoveExemption(ctx, a.ID); !errors.Is(err, exempt.ErrNotFound) {
			t.Fatalf("removed twice: %v", err)
		}
		if err := s.RemoveExemption(ctx, 999); !errors.Is(err, exempt.ErrNotFound) {
			t.Fatalf("unknown ID: %v", err)
		}
		got, err = s.Exemptions(ctx)
		if err != nil || len(got) != 1 || got[0].ID != b.ID {
			t.Fatalf("after remove: %+v %v", got, err)
		}
		// IDs are never reused.
		c := a
		c.ID = 0
		if err := s.AddExemption(ctx, &c); err != nil {
			t.Fatal(err)
		}
		if c.ID <= b.ID {
			t.Fatalf("ID reused: %d", c.ID)
		}
	})
}

func same(got, want policy.Exemption) bool {
	return got.ID == want.ID && got.Kind == want.Kind && got.AccountID == want.AccountID && got.Subject == want.Subject &&
		got.Until.Equal(want.Until) && got.Owner == want.Owner && got.Reason == want.Reason &&
		got.Created.Equal(want.Created) && got.Source == policy.SourceStore
}
