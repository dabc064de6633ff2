package main

import (
	"os"
	"syscall"
	"unsafe"
)

// isTerminal asks the kernel for terminal attributes (what isatty(3) does). Unlike a
// character-device check this says no for /dev/null, so `apply < /dev/null` counts as
// non-interactive and gets the --auto-approve hint.
func isTerminal(f *os.File) bool {
	var t syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), uintptr(syscall.TCGETS), uintptr(unsafe.Pointer(&t)))
	return errno == 0
}
