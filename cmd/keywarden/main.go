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
	code := cli.Run(ctx, cli.DefaultEnv(), os.Args[1:])
	stop()
	os.Exit(code)
}
