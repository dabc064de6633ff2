package localcf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// stateLockFile keeps two local Cloudflares off one state directory: both would write
// state.json and the seal key, and the second start would not see the first one's changes.
const stateLockFile = "lock"

// lockStateDir takes an exclusive flock on dir's lock file without waiting. The kernel drops
// it when the process dies, so a crash never leaves a stale lock.
func lockStateDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, stateLockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open state lock: %w", err)
	}
	// Retried for a moment: right after another server released it, a child process that
	// server's process was forking can still share the descriptor until its exec closes it.
	deadline := time.Now().Add(250 * time.Millisecond)
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	if err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			who := strings.TrimSpace(string(holder))
			if who == "" {
				who = "another process"
			}
			return nil, fmt.Errorf("state directory %s is in use by another local Cloudflare (%s); stop it or use another state directory", dir, who)
		}
		return nil, fmt.Errorf("lock state directory %s: %w", dir, err)
	}
	if f.Truncate(0) == nil {
		f.WriteAt([]byte(fmt.Sprintf("pid %d, since %s\n", os.Getpid(), time.Now().UTC().Format(time.RFC3339))), 0)
	}
	return f, nil
}
