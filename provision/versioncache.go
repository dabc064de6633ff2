package provision

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"

	"github.com/flareform/flareform/internal/usercache"
	"github.com/flareform/flareform/provision/cfapi"
)

// versionCache remembers the workers/message annotation of versions this machine has read or
// uploaded. A version is immutable: its id names one annotation for as long as it exists, so an
// entry never goes stale and needs no check against the API. What it saves is the read of the
// serving version after the deployments read: with the entry, a plan learns what serves in one
// round trip (all reads at once) instead of two.
//
// Entries are keyed by API base URL, account, script and version id, so two APIs (the real one
// and a local Cloudflare) or two accounts never share one. An unreadable cache is no cache.
type versionCache struct {
	dir string // "" disables the cache
}

// versionCacheEntry is one file of the cache.
type versionCacheEntry struct {
	Message string `json:"message"` // the version's workers/message annotation ("" when none)
}

// UserVersionCacheDir is $XDG_CACHE_HOME/flareform/versions (~/.cache on Linux) as getenv
// gives it, "" when it gives no user cache directory (then no version cache is kept).
func UserVersionCacheDir(getenv func(string) string) string {
	return usercache.Dir(getenv, "versions")
}

func (c *versionCache) path(apiBase, accountID, script, versionID string) string {
	return filepath.Join(c.dir, cacheName(apiBase, accountID, script, versionID)+".json")
}

// scriptPath marks a script this machine has seen a version of (known).
func (c *versionCache) scriptPath(apiBase, accountID, script string) string {
	return filepath.Join(c.dir, cacheName(apiBase, accountID, script)+".script")
}

func cacheName(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:16])
}

// known reports whether this machine has seen a version of the script: then it most likely
// exists, and a plan reads all of it at once rather than its settings first.
func (c *versionCache) known(apiBase, accountID, script string) bool {
	if c == nil || c.dir == "" {
		return false
	}
	_, err := os.Stat(c.scriptPath(apiBase, accountID, script))
	return err == nil
}

// get returns the cached annotation of the version and whether there is an entry.
func (c *versionCache) get(apiBase, accountID, script, versionID string) (string, bool) {
	if c == nil || c.dir == "" || versionID == "" {
		return "", false
	}
	data, err := os.ReadFile(c.path(apiBase, accountID, script, versionID))
	if err != nil {
		return "", false
	}
	var e versionCacheEntry
	if json.Unmarshal(data, &e) != nil {
		return "", false
	}
	return e.Message, true
}

// put records the version's annotation; best effort, since a missing entry only costs a read.
func (c *versionCache) put(apiBase, accountID, script, versionID, message string) {
	if c == nil || c.dir == "" || versionID == "" {
		return
	}
	data, err := json.Marshal(versionCacheEntry{Message: message})
	if err != nil || os.MkdirAll(c.dir, 0o700) != nil {
		return
	}
	if !c.known(apiBase, accountID, script) {
		c.write(c.scriptPath(apiBase, accountID, script), nil)
	}
	c.write(c.path(apiBase, accountID, script, versionID), data)
}

// write replaces path with data through a unique temporary name, so a reader never sees half
// an entry.
func (c *versionCache) write(path string, data []byte) {
	tmp, err := os.CreateTemp(c.dir, ".entry-*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if werr != nil || cerr != nil || os.Rename(tmp.Name(), path) != nil {
		_ = os.Remove(tmp.Name())
	}
}

// versionMessageOf is the workers/message annotation of a version, from the cache when this
// machine has seen the version before, else read from the API (and then cached). found is false
// when the version does not exist (deleted meanwhile).
func (e *Engine) versionMessageOf(ctx context.Context, accountID, name, versionID string) (message string, found bool, err error) {
	if msg, ok := e.versions.get(e.cfg.APIBaseURL, accountID, name, versionID); ok {
		return msg, true, nil
	}
	raw, err := e.versionJSON(ctx, accountID, name, versionID)
	if err != nil {
		if cfapi.IsNotFound(err) {
			return "", false, nil
		}
		return "", false, err
	}
	msg := versionAnnotation(raw, "workers/message")
	e.versions.put(e.cfg.APIBaseURL, accountID, name, versionID, msg)
	return msg, true, nil
}

// rememberUpload caches the annotation this run sent with the version the API says the upload
// made, so the next plan needs no read of it.
func (e *Engine) rememberUpload(accountID, name, versionID string, id versionIdentity) {
	e.versions.put(e.cfg.APIBaseURL, accountID, name, versionID, id.message())
}
