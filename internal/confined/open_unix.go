//go:build unix

package confined

import "syscall"

// openFlags: opening a FIFO returns at once instead of waiting for a writer, and a final
// component swapped for a symlink after the check is refused (ELOOP) instead of followed.
const openFlags = syscall.O_NONBLOCK | syscall.O_NOFOLLOW
