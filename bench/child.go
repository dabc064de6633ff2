package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// childTimeout bounds one tool invocation unless its command says otherwise.
const childTimeout = 10 * time.Minute

// command is one invocation of a tool as a child process.
type command struct {
	Path  string
	Args  []string
	Dir   string
	Env   []string
	Stdin string
	// Secrets are values that must not appear in an error message built from the output.
	Secrets []string
	// Timeout replaces childTimeout when set (a fleet that waits out rate windows).
	Timeout time.Duration
}

// outcome is what one invocation took.
type outcome struct {
	Wall   time.Duration
	RSSKiB int64 // peak resident set of the largest process of the tree (Linux ru_maxrss)
	Output string
	Err    error
}

// run executes c and measures its wall time around start and wait, and its peak RSS.
func run(ctx context.Context, c command) outcome {
	timeout := childTimeout
	if c.Timeout > 0 {
		timeout = c.Timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Path, c.Args...)
	cmd.Dir = c.Dir
	cmd.Env = c.Env
	cmd.Stdin = strings.NewReader(c.Stdin)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	start := time.Now()
	err := cmd.Run()
	o := outcome{Wall: time.Since(start), Output: redact(out.String(), c.Secrets)}
	if ru, ok := usage(cmd); ok {
		o.RSSKiB = ru.Maxrss
	}
	if err != nil {
		o.Err = fmt.Errorf("%s %s: %w\n%s", c.Path, strings.Join(c.Args, " "), err, tail(o.Output, 40))
	}
	return o
}

func usage(cmd *exec.Cmd) (*syscall.Rusage, bool) {
	if cmd.ProcessState == nil {
		return nil, false
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return ru, ok && ru != nil
}

// redact replaces every secret in s, so failure output can be shown.
func redact(s string, secrets []string) string {
	for _, secret := range secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}

// tail keeps the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
