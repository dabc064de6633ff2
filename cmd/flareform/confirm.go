package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// errInterruptedAtPrompt ends a run stopped with Ctrl-C while it waited for approval.
var errInterruptedAtPrompt = errors.New("interrupted at the prompt; nothing was changed")

// errNotApproved is returned when a human answers anything but "yes".
var errNotApproved = errors.New("cancelled: only 'yes' approves; nothing was changed")

// confirm asks a human to approve what the plan above describes. Without a terminal on stdin
// there is nobody to ask, so it refuses and points at --auto-approve; nothing has been written
// at that point. The prompt goes to stderr with --json so stdout stays pure JSON.
func confirm(ctx context.Context, opts *rootOptions, question, what string) error {
	if !opts.IO.StdinTTY {
		return fmt.Errorf("%s needs approval but stdin is not a terminal; nothing was changed. "+
			"Review the plan above and rerun with --auto-approve", what)
	}
	w := opts.IO.Out
	if opts.JSON {
		w = opts.IO.ErrOut
	}
	fmt.Fprintf(w, "\n%s\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ", question)
	// The read runs aside so Ctrl-C ends the prompt at once: a blocked terminal read cannot be
	// cancelled, and the process exits right after this returns.
	type reply struct {
		answer string
		err    error
	}
	replies := make(chan reply, 1)
	go func() {
		answer, err := bufio.NewReader(opts.IO.In).ReadString('\n')
		replies <- reply{answer, err}
	}()
	var answer string
	select {
	case <-ctx.Done():
		fmt.Fprintln(w)
		return errInterruptedAtPrompt
	case r := <-replies:
		fmt.Fprintln(w)
		if r.err != nil && !errors.Is(r.err, io.EOF) {
			return fmt.Errorf("read answer: %w", r.err)
		}
		answer = r.answer
	}
	if strings.TrimSpace(answer) != "yes" {
		return errNotApproved
	}
	return nil
}
