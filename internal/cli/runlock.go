package cli

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"time"

	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/issues"
)

// RunLockName is the store lock every run takes.
const RunLockName = "keywarden-run"

// lockRun takes the run lock in the configured store; release frees it and
// closes the store.
func lockRun(ctx context.Context, g *globals, cfg *config.Config, ttl time.Duration) (func(), error) {
	st, err := openIssueStore(ctx, g, cfg)
	if err != nil {
		return nil, err
	}
	lk, ok := st.(issues.Locker)
	if !ok {
		st.Close()
		return nil, fmt.Errorf("the %s store cannot hold the run lock", cfg.Store.Type)
	}
	host, _ := os.Hostname()
	// Unique per run, even for two runs of one process in the same instant.
	owner := fmt.Sprintf("%s/%d/%s", host, os.Getpid(), rand.Text())
	if ttl <= 0 {
		ttl = 2 * time.Hour
	}
	rel, err := lk.Lock(ctx, RunLockName, owner, ttl)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("run lock: %w", err)
	}
	return func() {
		if err := rel(context.WithoutCancel(ctx)); err != nil {
			g.logger().Error("releasing the run lock failed; it expires by itself", "err", err)
		}
		st.Close()
	}, nil
}
