package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// errNotApproved is returned when a human answers anything but "yes".
var errNotApproved = errors.New("cancelled: only 'yes' approves; nothing was changed")

// confirm asks a human to approve what the plan above describes. Without a terminal on stdin
// there is nobody to ask, so it refuses and points at --auto-approve; nothing has been written
// at that point. The prompt goes to stderr with --json so stdout stays pure JSON.
func confirm(opts *rootOptions, question, what string) error {
	if !opts.IO.StdinTTY {
		return fmt.Errorf("%s needs approval but stdin is not a terminal; nothing was changed. "+
			"Review the plan above and rerun with --auto-approve", what)
	}
	w := opts.IO.Out
	if opts.JSON {
		w = opts.IO.ErrOut
	}
	fmt.Fprintf(w, "\n%s\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ", question)
	answer, err := bufio.NewReader(opts.IO.In).ReadString('\n')
	fmt.Fprintln(w)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read answer: %w", err)
	}
	if strings.TrimSpace(answer) != "yes" {
		return errNotApproved
	}
	return nil
}
