// Package flock is the exclusive advisory file lock (flock(2)) that keeps two flareform runs
// off one project, and two local Cloudflares off one state directory. The kernel drops the lock
// when the process dies, so a crash or kill -9 never leaves a stale lock behind.
package flock

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"
)

// grace is how long TryLock keeps trying a held lock. A lock is held for a whole run, so this
// does not make runs wait for each other; it covers the moment after a holder released it in
// which a child process it was just forking still shares the descriptor (until its exec closes
// it), which would otherwise make a run that follows another fail.
const grace = 250 * time.Millisecond

// Lock is a held lock.
type Lock struct {
	f *os.File
}

// HeldError says that another process holds the lock, and who (as it wrote itself in the lock
// file; "" when unknown).
type HeldError struct {
	Path   string
	Holder string
}

func (e *HeldError) Error() string {
	who := e.Holder
	if who == "" {
		who = "another process"
	}
	return fmt.Sprintf("%s is locked by %s", e.Path, who)
}

// TryLock takes the lock on path (created 0600 when missing; its directory must exist) and
// writes holder into it for the message a process that finds it taken prints. It does not wait
// for another holder beyond a moment: a held lock fails with *HeldError.
func TryLock(path, holder string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	deadline := time.Now().Add(grace)
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	if err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &HeldError{Path: path, Holder: readHolder(path)}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if f.Truncate(0) == nil {
		f.WriteAt([]byte(holder+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

func readHolder(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Release drops the lock. The file stays: removing it would race with a process opening it.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	l.f.Truncate(0)
	// Unlock explicitly: a child process forked meanwhile (workerd, a test's subprocess) holds a
	// copy of the descriptor until it execs, and closing ours alone would leave the lock held
	// through that copy, so the next run in this process would find it taken.
	unlockErr := syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	err := l.f.Close()
	l.f = nil
	return errors.Join(unlockErr, err)
}
