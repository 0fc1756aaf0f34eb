// Command keywarden keeps AWS IAM user credentials healthy.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/keywarden/keywarden/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first interrupt stops the command, which finishes the work in
	// flight and says what it kept; the next one ends the process at once.
	context.AfterFunc(ctx, stop)
	code := cli.Run(ctx, cli.DefaultEnv(), os.Args[1:])
	stop()
	os.Exit(code)
}
