//go:build !unix

package keysource

// openFlags: the type check before opening is the only guard where O_NONBLOCK is unknown.
const openFlags = 0
