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
// does not wait: a lock that is held fails at once with *HeldError naming the holder.
func Acquire(dir, what string) (*Lock, error) {
	if err := ensurePrivateDir(dir); err != nil {
		return nil, err
	}
	return AcquireFile(filepath.Join(dir, LockFileName), what)
}

// AcquireFile takes the lock on path itself (its directory must exist).
func AcquireFile(path, what string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
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
	// Unlock explicitly before closing: a child process forked by another goroutine (workerd,
	// a test's flareform binary) shares the open file description until it execs, and a
	// flock is only dropped by close when every descriptor of it is closed. LOCK_UN drops it
	// for all of them at once.
	unlockErr := syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	err := l.f.Close()
	l.f = nil
	if unlockErr != nil {
		return fmt.Errorf("unlock: %w", unlockErr)
	}
	return err
}
