package flock

import (
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A forked child keeps a copy of every descriptor until it execs; Release must free the lock
// even then. syscall.Dup makes the same kind of copy.
func TestReleaseFreesTheLockWhileACopyOfTheDescriptorLives(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	l, err := TryLock(path, "first")
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
	again, err := TryLock(path, "second")
	if err != nil {
		t.Fatalf("lock still held through the copied descriptor: %v", err)
	}
	again.Release()
}

// A held lock is refused and names its holder, as the holder wrote itself into the file.
func TestHeldLockNamesItsHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	l, err := TryLock(path, "pid 42, flareform apply")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	_, err = TryLock(path, "second")
	var held *HeldError
	if !errors.As(err, &held) || held.Holder != "pid 42, flareform apply" || !strings.Contains(err.Error(), "pid 42") {
		t.Fatalf("second lock: %v, want a HeldError naming pid 42", err)
	}
}
