package keystore

import (
	"syscall"
	"testing"
)

// A forked child keeps a copy of every descriptor until it execs; Release must free the lock
// even then. syscall.Dup makes the same kind of copy.
func TestReleaseFreesTheLockWhileACopyOfTheDescriptorLives(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir, "apply")
	if err != nil {
		t.Fatal(err)
	}
	copied, err := syscall.Dup(int(l.f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(copied)
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	again, err := Acquire(dir, "apply")
	if err != nil {
		t.Fatalf("lock still held through the copied descriptor: %v", err)
	}
	again.Release()
}
