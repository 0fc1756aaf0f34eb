package cli

import (
	"os"

	"github.com/mattn/go-isatty"

	"github.com/keywarden/keywarden/internal/progress"
)

// stderrTTY: stderr is a terminal (Run wraps it in a progress.Terminal).
func stderrTTY(env Env) bool {
	if _, ok := env.Stderr.(*progress.Terminal); ok {
		return true
	}
	f, ok := env.Stderr.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}
