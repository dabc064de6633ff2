//go:build !linux

package main

import "os"

// isTerminal reports whether f is a character device, which is what a terminal looks like
// without golang.org/x/term. (/dev/null is one too; reading it gives EOF, which a confirmation
// prompt treats as "no".)
func isTerminal(f *os.File) bool {
	info, err := f.Stat()
	if err != nil {
		return false
	}
	return info.Mode()&os.ModeCharDevice != 0
}
