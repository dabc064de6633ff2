package keystore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// LockFileName is the project lock inside the project's .flareform directory.
const LockFileName = "lock"

// Lock is an exclusive advisory lock (flock) held by one flareform run. The kernel drops it
// when the process dies, so a crash or kill -9 never leaves a stale lock behind.
type Lock struct {
	f *os.File
}

// HeldError says who holds a lock another run asked for.
type HeldError struct {
	Path   string
	Holder string // "pid 123, flareform apply, since 2026-12-01T10:00:00Z"; "" when unknown
}

func (e *HeldError) Error() string {
	who := e.Holder
	if who == "" {
		who = "another process"
	}
	return fmt.Sprintf("another flareform run holds the lock %s (%s); wait for it to finish and run again", e.Path, who)
}

// Acquire takes the lock file in dir (created 0700 when missing) for what (e.g. "apply"). It
// does not wait for another run (beyond lockGrace): a lock that is held fails with *HeldError
// naming the holder.
func Acquire(dir, what string) (*Lock, error) {
	if err := ensurePrivateDir(dir); err != nil {
		return nil, err
	}
	return AcquireFile(filepath.Join(dir, LockFileName), what)
}

// lockGrace is how long Acquire keeps trying a held lock. A lock is held for a whole run, so
// this does not make runs wait for each other; it covers the moment after a holder released it
// in which a child process it was just forking still shares the descriptor (until its exec
// closes it), which would otherwise make a run that follows another fail.
const lockGrace = 250 * time.Millisecond

// AcquireFile takes the lock on path itself (its directory must exist).
func AcquireFile(path, what string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	deadline := time.Now().Add(lockGrace)
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	if err != nil {
		holder := readHolder(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &HeldError{Path: path, Holder: holder}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// Who holds it, for the message another run prints. Written after the lock is ours.
	info := fmt.Sprintf("pid %d, flareform %s, since %s", os.Getpid(), what, time.Now().UTC().Format(time.RFC3339))
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(info+"\n"), 0)
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

// Release drops the lock. The file stays: removing it would race with a run opening it.
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
