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
	ctx, stop := interruptContext(os.Args[1:])
	code := run(ctx, SystemIOStreams(), os.Args[1:], os.Getenv)
	stop()
	os.Exit(code)
}

// interruptContext is cancelled by the first Ctrl-C (SIGINT) or SIGTERM, so writes in flight
// finish cleanly; after it the default handling is back, so a second Ctrl-C ends the process
// at once. Commands that only print (version, help, schema, completion) keep the default
// handling from the start: they have nothing to finish, and installing signal handling
// starts two OS threads, about a fifth of `flareform version`'s wall time.
func interruptContext(args []string) (context.Context, context.CancelFunc) {
	if onlyPrints(args) {
		return context.WithCancel(context.Background())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	return ctx, stop
}

// onlyPrints reports whether args name a command that writes its answer and does nothing
// else. Only the first argument counts: with a flag before the command, it is handled as
// any other command.
func onlyPrints(args []string) bool {
	if len(args) == 0 {
		return true // the help
	}
	switch args[0] {
	case "version", "--version", "help", "--help", "-h", "schema", "completion":
		return true
	}
	return false
}
