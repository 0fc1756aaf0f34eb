package inventory

import (
	"context"
	"testing"
)

// A throttled call halves the calls in flight once per round (the other
// calls of that round, throttled too, do not halve it again); the limit
// then grows back by one per round of unthrottled calls.
func TestLimiterHalvesAndRecoversSlowly(t *testing.T) {
	l := NewLimiter(16)
	ctx := context.Background()
	var gens []int
	for range 16 {
		g, err := l.acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		gens = append(gens, g)
	}
	for _, g := range gens {
		l.release(g, true) // a storm: every call of the round throttled
	}
	if got := l.Limit(); got != 8 {
		t.Fatalf("after a throttled round: limit %d, want 8", got)
	}
	if got := l.Throttled(); got != 16 {
		t.Errorf("throttled %d, want 16", got)
	}
	// The next round throttled too: 4.
	g, _ := l.acquire(ctx)
	l.release(g, true)
	if got := l.Limit(); got != 4 {
		t.Fatalf("after a second throttled round: limit %d, want 4", got)
	}
	// Recovery: one more in flight per round of unthrottled calls.
	round := func() {
		n := l.Limit()
		for range n {
			g, _ := l.acquire(ctx)
			l.release(g, false)
		}
	}
	round()
	if got := l.Limit(); got != 5 {
		t.Errorf("after a clean round: limit %d, want 5", got)
	}
	for range 50 {
		round()
	}
	if got := l.Limit(); got != 16 {
		t.Errorf("after many clean rounds: limit %d, want back to 16 (never above)", got)
	}
	// Never below one.
	for range 10 {
		g, _ := l.acquire(ctx)
		l.release(g, true)
	}
	if got := l.Limit(); got != 1 {
		t.Errorf("limit %d, want 1", got)
	}
}

// acquire waits for a free slot and gives up with the context.
func TestLimiterBlocksAtTheLimit(t *testing.T) {
	l := NewLimiter(1)
	g, _ := l.acquire(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.acquire(ctx); err == nil {
		t.Fatal("a second call went in flight past the limit of 1")
	}
	l.release(g, false)
	if _, err := l.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
}
