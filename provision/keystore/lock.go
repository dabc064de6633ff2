package keystore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/flareform/flareform/internal/flock"
)

// LockFileName is the project lock inside the project's .flareform directory.
const LockFileName = "lock"

// Lock is the project lock held by one flareform run (an OS lock: a dead process holds nothing).
type Lock struct {
	l *flock.Lock
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
// does not wait for another run: a lock that is held fails with *HeldError naming the holder.
func Acquire(dir, what string) (*Lock, error) {
	if err := ensurePrivateDir(dir); err != nil {
		return nil, err
	}
	return AcquireFile(filepath.Join(dir, LockFileName), what)
}

// AcquireFile takes the lock on path itself (its directory must exist).
func AcquireFile(path, what string) (*Lock, error) {
	holder := fmt.Sprintf("pid %d, flareform %s, since %s", os.Getpid(), what, time.Now().UTC().Format(time.RFC3339))
	l, err := flock.TryLock(path, holder)
	var held *flock.HeldError
	if errors.As(err, &held) {
		return nil, &HeldError{Path: path, Holder: held.Holder}
	}
	if err != nil {
		return nil, err
	}
	return &Lock{l: l}, nil
}

// Release drops the lock. The file stays: removing it would race with a run opening it.
func (l *Lock) Release() error {
	if l == nil {
		return nil
	}
	return l.l.Release()
}
