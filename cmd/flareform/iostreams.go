package main

import (
	"bytes"
	"io"
	"os"
)

// IOStreams is every stream a command touches. Commands never reach for os.Stdin/os.Stdout
// directly, so tests can run them in process with buffers and pretend to be a terminal.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	// StdinTTY and StdoutTTY say whether In and Out are interactive terminals. apply and
	// destroy only ask for confirmation when StdinTTY is true.
	StdinTTY  bool
	StdoutTTY bool
	// StderrTTY says whether ErrOut is a terminal: progress and colours there depend on it.
	StderrTTY bool
}

// SystemIOStreams wires the process's standard streams.
func SystemIOStreams() *IOStreams {
	return &IOStreams{
		In:        os.Stdin,
		Out:       os.Stdout,
		ErrOut:    os.Stderr,
		StdinTTY:  isTerminal(os.Stdin),
		StdoutTTY: isTerminal(os.Stdout),
		StderrTTY: isTerminal(os.Stderr),
	}
}

// TestIOStreams returns streams backed by buffers: stdin reads from in, and the two output
// buffers collect what the command printed. Neither side is a terminal.
func TestIOStreams(in string) (ios *IOStreams, stdout, stderr *bytes.Buffer) {
	stdout, stderr = &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: bytes.NewBufferString(in), Out: stdout, ErrOut: stderr}, stdout, stderr
}
