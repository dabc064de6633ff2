package keystore

import (
	"syscall"
	"testing"
)

// TestReleaseDropsTheLockForSharedDescriptors: a child process forked while a run holds the
// lock shares its open file description until the child execs (the descriptor is
// close-on-exec, not close-on-fork). Release must drop the lock even then, or the next run in
// the same process finds it held by "another process". A dup of the descriptor stands in for
// the child's copy.
func TestReleaseDropsTheLockForSharedDescriptors(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir, "apply")
	if err != nil {
		t.Fatal(err)
	}
	childCopy, err := syscall.Dup(int(l.f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(childCopy)
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	again, err := Acquire(dir, "apply")
	if err != nil {
		t.Fatalf("the lock is still held after Release: %v", err)
	}
	again.Release()
}
