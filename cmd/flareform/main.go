// Command flareform deploys Cloudflare Workers that serve Workers AI models, Terraform-style:
// init, validate, plan, apply, smoke, output, destroy — against Cloudflare or a local stand-in.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first Ctrl-C asks for a clean stop (writes in flight finish); after it the
		// default handling is back, so a second Ctrl-C ends the process at once.
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, SystemIOStreams(), os.Args[1:], os.Getenv)
	stop()
	os.Exit(code)
}
