package localcf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/flareform/flareform/internal/flock"
)

// stateLockFile keeps two local Cloudflares off one state directory: both would write
// state.json and the seal key, and the second start would not see the first one's changes.
const stateLockFile = "lock"

// lockStateDir takes the state directory's lock (internal/flock: an OS lock, dropped when the
// process dies, so a crash never leaves a stale lock).
func lockStateDir(dir string) (*flock.Lock, error) {
	holder := fmt.Sprintf("pid %d, since %s", os.Getpid(), time.Now().UTC().Format(time.RFC3339))
	l, err := flock.TryLock(filepath.Join(dir, stateLockFile), holder)
	var held *flock.HeldError
	if errors.As(err, &held) {
		who := held.Holder
		if who == "" {
			who = "another process"
		}
		return nil, fmt.Errorf("state directory %s is in use by another local Cloudflare (%s); stop it or use another state directory", dir, who)
	}
	if err != nil {
		return nil, fmt.Errorf("lock state directory %s: %w", dir, err)
	}
	return l, nil
}
