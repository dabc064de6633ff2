//go:build !unix

package confined

// openFlags: the checks before opening are the only guard where O_NONBLOCK is unknown.
const openFlags = 0
