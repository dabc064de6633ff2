package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flareform/flareform/cmd/flareform/view"
	"github.com/flareform/flareform/provision"
)

// Exit codes, as Terraform uses them.
const (
	exitOK      = 0
	exitError   = 1
	exitChanges = 2 // plan --detailed-exitcode: the plan has changes
	// exitInterrupted is the shell's code for SIGINT (128+2): the run was stopped by Ctrl-C or
	// SIGTERM and left something undone; what it did and did not do is printed before. A Ctrl-C
	// that came after the last change stopped nothing: the exit code is then the run's own (0
	// when everything was done and verified), never 130 (docs/guarantees.md, "Ctrl-C").
	exitInterrupted = 130
)

// exitStatus ends a command with a given code and nothing more to print: the command has
// already said what needed saying (for example, plan --detailed-exitcode with changes).
type exitStatus struct{ Code int }

func (e *exitStatus) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// run executes one flareform invocation and returns the process exit code. It is main minus
// the process: tests call it with their own streams, arguments and environment.
func run(ctx context.Context, ios *IOStreams, args []string, getenv func(string) string) int {
	stdout := &countingWriter{w: ios.Out}
	counted := *ios
	counted.Out = stdout
	root := newRootCmdFor(&counted, getenv, args)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	err = explainUnknownCommand(root, err)
	code := reportError(ios.ErrOut, err, ctx.Err() != nil)
	if code != exitOK && code != exitChanges && !stdout.written && wantsJSON(cmd, args) {
		// With --json a failure is one JSON object on stdout too (docs/json.md); a command
		// that already printed its result (which carries its own errors) keeps that one.
		if jerr := view.JSON(ios.Out, newErrorResult(err)); jerr != nil {
			fmt.Fprintf(ios.ErrOut, "Error: %v\n", jerr)
		}
	}
	return code
}

// wantsJSON reports whether this invocation asked for --json, also when cobra failed before
// parsing it.
func wantsJSON(cmd *cobra.Command, args []string) bool {
	if on, err := cmd.Flags().GetBool("json"); err == nil && on {
		return true
	}
	return argsAskForJSON(args)
}

// reportError prints err for a human on stderr and picks the exit code. interrupted (the
// run's context was cancelled) makes it 130 only for an error that says the stop cut the run
// short; a run the stop did not affect returns nil (exit 0) or its own failure (exit 1).
func reportError(w io.Writer, err error, interrupted bool) int {
	if err == nil {
		return exitOK
	}
	var status *exitStatus
	if errors.As(err, &status) {
		return status.Code
	}
	if interrupted && (errors.Is(err, context.Canceled) || errors.Is(err, errInterruptedAtPrompt) || errors.Is(err, provision.ErrInterrupted)) {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(w, "Error: interrupted")
		} else {
			fmt.Fprintf(w, "Error: interrupted: %s\n", strings.TrimRight(err.Error(), "\n"))
		}
		return exitInterrupted
	}
	fmt.Fprintf(w, "Error: %s\n", onceEach(strings.TrimRight(err.Error(), "\n")))
	return exitError
}

// onceEach drops the lines of msg that repeat an earlier one: several workers or reads that
// failed for one reason (errors.Join) say it once.
func onceEach(msg string) string {
	lines := strings.Split(msg, "\n")
	seen := make(map[string]bool, len(lines))
	out := lines[:0]
	for _, l := range lines {
		key := strings.TrimSpace(l)
		if key != "" && seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}
