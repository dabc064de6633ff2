package localcf

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/flareform/flareform/internal/lazyre"
)

// The storage behind KV namespaces and R2 buckets: a containerStore per kind, where a container
// (a namespace or a bucket) holds entries (KV pairs or R2 objects) by key.
//
// On disk (with a state directory) every container is a directory,
// <state>/<kind>/<account>/<container id>/, holding container.json (its record) and per entry
// two files named by the SHA-256 of the key, never by the key itself: <hash>.meta (the key, its
// size, etag and metadata, as JSON) and the data file that meta names, <hash>.<random>. A write
// puts the data in a new file and fsyncs it, then replaces the meta file atomically
// (writeFileAtomic): that rename is the commit. A crash before it leaves an unreferenced data
// file, and one after it the old data file; both are removed at the next start, so an entry is
// always its old or its new value, whole. A container is created as a hidden directory renamed
// into place and deleted by a rename to a hidden name before its files go, so a crash leaves it
// whole or gone. Without a state directory the data lives in memory.
//
// Entry metadata is kept in memory (loaded once), so listing never reads data files.

// storageStores are the KV and R2 stores of a server, opened on first use (under the state
// lock, which Start takes before anything can call them).
type storageStores struct {
	once sync.Once
	kv   *containerStore[kvNamespace]
	r2   *containerStore[r2Bucket]
	err  error
}

// Directories of the stores under the state directory.
const (
	kvStoreDir = "kv"
	r2StoreDir = "r2"
)

func (s *Server) storage() (*containerStore[kvNamespace], *containerStore[r2Bucket], error) {
	st := &s.storageStores
	st.once.Do(func() {
		kvDir, r2Dir := "", ""
		if dir := s.opts.StateDir; dir != "" {
			kvDir, r2Dir = filepath.Join(dir, kvStoreDir), filepath.Join(dir, r2StoreDir)
		}
		if st.kv, st.err = openContainerStore[kvNamespace](kvDir); st.err != nil {
			return
		}
		st.r2, st.err = openContainerStore[r2Bucket](r2Dir)
	})
	if st.err != nil {
		return nil, nil, fmt.Errorf("open the KV and R2 storage: %w", st.err)
	}
	return st.kv, st.r2, nil
}

// entryMeta describes one stored entry: a KV pair or an R2 object.
type entryMeta struct {
	Key      string    `json:"key"`
	File     string    `json:"file,omitempty"` // data file in the container directory
	Size     int64     `json:"size"`
	ETag     string    `json:"etag"`    // MD5 of the data, hex (R2's etag of a single-part upload)
	Version  string    `json:"version"` // new random id per write
	Uploaded time.Time `json:"uploaded"`
	// KV: absolute expiry (Unix seconds, 0 = never) and the pair's metadata (JSON).
	Expiration int64           `json:"expiration,omitempty"`
	Metadata   json.RawMessage `json:"metadata,omitempty"`
	// R2: the object's HTTP and custom metadata.
	HTTPMetadata   map[string]string `json:"http_metadata,omitempty"`
	CustomMetadata map[string]string `json:"custom_metadata,omitempty"`
}

// storedContainer is one namespace or bucket: its record, its entries and, in memory mode,
// their data.
type storedContainer[R any] struct {
	record  R
	dir     string // "" in memory mode
	entries map[string]*entryMeta
	data    map[string][]byte // memory mode only
}

// containerStore holds the containers of one kind for every account.
type containerStore[R any] struct {
	dir string // "" = memory only

	mu         sync.RWMutex
	containers map[string]map[string]*storedContainer[R] // account -> container id -> container
}

// Errors of the store; the API and binding layers turn them into their own answers.
var (
	errNoContainer    = errors.New("no such container")
	errContainerFull  = errors.New("the container is not empty")
	errContainerTaken = errors.New("a container by that id exists")
	errEntryTooLarge  = errors.New("the value is over the size limit")
)

// Names used in paths are checked again here, whatever the caller validated: an account id is
// 32 hex digits, a container id is a KV namespace id (32 hex) or an R2 bucket name.
var (
	storeAccountPattern   = lazyre.Regexp{Expr: `^[0-9a-f]{32}$`}
	storeContainerPattern = lazyre.Regexp{Expr: `^[a-z0-9][a-z0-9-]{1,62}$`}
)

const (
	containerRecordFile = "container.json"
	metaSuffix          = ".meta"
)

func checkStoreNames(account, id string) error {
	if !storeAccountPattern.MatchString(account) || !storeContainerPattern.MatchString(id) {
		return fmt.Errorf("refusing a storage path for account %q, container %q", account, id)
	}
	return nil
}

// keyHash names an entry's files.
func keyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// openContainerStore loads every container under dir ("" = memory only), removing what a crash
// left behind: half-created or half-deleted containers and unreferenced data files.
func openContainerStore[R any](dir string) (*containerStore[R], error) {
	cs := &containerStore[R]{dir: dir, containers: map[string]map[string]*storedContainer[R]{}}
	if dir == "" {
		return cs, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	accounts, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	for _, a := range accounts {
		if !a.IsDir() || !storeAccountPattern.MatchString(a.Name()) {
			continue
		}
		if err := cs.loadAccount(a.Name()); err != nil {
			return nil, err
		}
	}
	return cs, nil
}

func (cs *containerStore[R]) loadAccount(account string) error {
	adir := filepath.Join(cs.dir, account)
	items, err := os.ReadDir(adir)
	if err != nil {
		return fmt.Errorf("read %s: %w", adir, err)
	}
	for _, it := range items {
		path := filepath.Join(adir, it.Name())
		if strings.HasPrefix(it.Name(), ".") {
			// A container being created or deleted when the process stopped.
			if err := os.RemoveAll(path); err != nil {
				return fmt.Errorf("remove the leftover %s: %w", path, err)
			}
			continue
		}
		if !it.IsDir() || checkStoreNames(account, it.Name()) != nil {
			continue
		}
		c, err := loadContainer[R](path)
		if err != nil {
			return err
		}
		if cs.containers[account] == nil {
			cs.containers[account] = map[string]*storedContainer[R]{}
		}
		cs.containers[account][it.Name()] = c
	}
	return nil
}

// loadContainer reads a container directory: its record, every meta file, and removes files
// no meta names (data of writes that did not commit, or that a later write replaced).
func loadContainer[R any](dir string) (*storedContainer[R], error) {
	c := &storedContainer[R]{dir: dir, entries: map[string]*entryMeta{}}
	data, err := os.ReadFile(filepath.Join(dir, containerRecordFile))
	if err != nil {
		return nil, fmt.Errorf("read the record of %s: %w", dir, err)
	}
	if err := json.Unmarshal(data, &c.record); err != nil {
		return nil, fmt.Errorf("parse the record of %s: %w", dir, err)
	}
	files, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	referenced := map[string]bool{containerRecordFile: true}
	for _, f := range files {
		name := f.Name()
		if !strings.HasSuffix(name, metaSuffix) || strings.HasPrefix(name, ".") {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", filepath.Join(dir, name), err)
		}
		var m entryMeta
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, name), err)
		}
		if keyHash(m.Key)+metaSuffix != name || filepath.Base(m.File) != m.File || m.File == "" {
			return nil, fmt.Errorf("%s does not match the entry it describes", filepath.Join(dir, name))
		}
		referenced[name], referenced[m.File] = true, true
		c.entries[m.Key] = &m
	}
	for _, f := range files {
		if !referenced[f.Name()] {
			if err := os.RemoveAll(filepath.Join(dir, f.Name())); err != nil {
				return nil, fmt.Errorf("remove the leftover %s: %w", filepath.Join(dir, f.Name()), err)
			}
		}
	}
	return c, nil
}

// container returns a container; the caller holds mu.
func (cs *containerStore[R]) container(account, id string) *storedContainer[R] {
	return cs.containers[account][id]
}

// create adds a container. conflict, called under the lock with every container of the
// account, refuses it (a duplicate title, say).
func (cs *containerStore[R]) create(account, id string, rec R, conflict func(existing []R) error) error {
	if err := checkStoreNames(account, id); err != nil {
		return err
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.containers[account][id] != nil {
		return errContainerTaken
	}
	if conflict != nil {
		if err := conflict(cs.recordsLocked(account)); err != nil {
			return err
		}
	}
	c := &storedContainer[R]{record: rec, entries: map[string]*entryMeta{}}
	if cs.dir == "" {
		c.data = map[string][]byte{}
	} else {
		dir, err := cs.createDir(account, id, rec)
		if err != nil {
			return err
		}
		c.dir = dir
	}
	if cs.containers[account] == nil {
		cs.containers[account] = map[string]*storedContainer[R]{}
	}
	cs.containers[account][id] = c
	return nil
}

// createDir makes the container's directory with its record in a hidden directory, then
// renames it into place, so a crash leaves no container without a record.
func (cs *containerStore[R]) createDir(account, id string, rec R) (string, error) {
	adir := filepath.Join(cs.dir, account)
	if err := os.MkdirAll(adir, 0o700); err != nil {
		return "", fmt.Errorf("create %s: %w", adir, err)
	}
	tmp, err := os.MkdirTemp(adir, ".new-*")
	if err != nil {
		return "", fmt.Errorf("create a container directory: %w", err)
	}
	data, err := json.Marshal(rec)
	if err == nil {
		err = writeFileAtomic(filepath.Join(tmp, containerRecordFile), data, 0o600)
	}
	final := filepath.Join(adir, id)
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err == nil {
		err = syncDir(adir)
	}
	if err != nil {
		_ = os.RemoveAll(tmp)
		return "", fmt.Errorf("create the container %s: %w", id, err)
	}
	return final, nil
}

// recordsLocked lists the account's records; the caller holds mu.
func (cs *containerStore[R]) recordsLocked(account string) []R {
	out := make([]R, 0, len(cs.containers[account]))
	for _, c := range cs.containers[account] {
		out = append(out, c.record)
	}
	return out
}

// records lists the account's containers (unordered).
func (cs *containerStore[R]) records(account string) []R {
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	return cs.recordsLocked(account)
}

// record returns one container's record.
func (cs *containerStore[R]) record(account, id string) (R, bool) {
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	c := cs.container(account, id)
	if c == nil {
		var zero R
		return zero, false
	}
	return c.record, true
}

// update changes a container's record durably; change may refuse with an error, and sees the
// account's other records.
func (cs *containerStore[R]) update(account, id string, change func(rec *R, others []R) error) (R, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	var zero R
	c := cs.container(account, id)
	if c == nil {
		return zero, errNoContainer
	}
	var others []R
	for oid, o := range cs.containers[account] {
		if oid != id {
			others = append(others, o.record)
		}
	}
	rec := c.record
	if err := change(&rec, others); err != nil {
		return zero, err
	}
	if c.dir != "" {
		data, err := json.Marshal(rec)
		if err != nil {
			return zero, fmt.Errorf("encode the record: %w", err)
		}
		if err := writeFileAtomic(filepath.Join(c.dir, containerRecordFile), data, 0o600); err != nil {
			return zero, fmt.Errorf("save the record: %w", err)
		}
	}
	c.record = rec
	return rec, nil
}

// remove deletes a container with its entries. Unless withData, a container holding an entry
// that live says is live is refused (errContainerFull).
func (cs *containerStore[R]) remove(account, id string, withData bool, live func(*entryMeta) bool) error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	c := cs.container(account, id)
	if c == nil {
		return errNoContainer
	}
	if !withData {
		for _, m := range c.entries {
			if live == nil || live(m) {
				return errContainerFull
			}
		}
	}
	if c.dir != "" {
		// Out of sight first (one rename, synced), so a crash mid-removal leaves no half
		// container: the hidden leftover goes at the next start.
		adir := filepath.Dir(c.dir)
		trash := filepath.Join(adir, ".deleted-"+randomHex(8))
		if err := os.Rename(c.dir, trash); err != nil {
			return fmt.Errorf("delete the container %s: %w", id, err)
		}
		if err := syncDir(adir); err != nil {
			return fmt.Errorf("delete the container %s: %w", id, err)
		}
		_ = os.RemoveAll(trash) // a failure leaves a hidden leftover, removed at the next start
	}
	delete(cs.containers[account], id)
	return nil
}

// put stores body (at most maxBytes) under meta.Key with meta's metadata, filling in size,
// etag, version and file. The data is written and synced before the lock is taken; the meta
// file's atomic replacement commits it.
func (cs *containerStore[R]) put(account, id string, meta entryMeta, body io.Reader, maxBytes int64) (entryMeta, error) {
	cs.mu.RLock()
	c := cs.container(account, id)
	cs.mu.RUnlock()
	if c == nil {
		return meta, errNoContainer
	}
	sum := md5.New()
	limited := &io.LimitedReader{R: body, N: maxBytes + 1}
	var memData []byte
	if c.dir == "" {
		var err error
		if memData, err = io.ReadAll(io.TeeReader(limited, sum)); err != nil {
			return meta, fmt.Errorf("read the value: %w", err)
		}
		meta.Size = int64(len(memData))
	} else {
		meta.File = keyHash(meta.Key)[:16] + "." + randomHex(8)
		n, err := writeDataFile(filepath.Join(c.dir, meta.File), io.TeeReader(limited, sum))
		if err != nil {
			_ = os.Remove(filepath.Join(c.dir, meta.File))
			cs.mu.RLock()
			gone := cs.container(account, id) != c
			cs.mu.RUnlock()
			if gone { // deleted while the data was written: its directory went with it
				return meta, errNoContainer
			}
			return meta, err
		}
		meta.Size = n
	}
	if meta.Size > maxBytes {
		if c.dir != "" {
			_ = os.Remove(filepath.Join(c.dir, meta.File))
		}
		return meta, errEntryTooLarge
	}
	meta.ETag = hex.EncodeToString(sum.Sum(nil))
	meta.Version = randomHex(16)

	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.container(account, id) != c {
		// Deleted (or deleted and re-created) while the data was written.
		if c.dir != "" {
			_ = os.Remove(filepath.Join(c.dir, meta.File))
		}
		return meta, errNoContainer
	}
	old := c.entries[meta.Key]
	if c.dir != "" {
		encoded, err := json.Marshal(meta)
		if err == nil {
			err = writeFileAtomic(filepath.Join(c.dir, keyHash(meta.Key)+metaSuffix), encoded, 0o600)
		}
		if err != nil {
			_ = os.Remove(filepath.Join(c.dir, meta.File))
			return meta, fmt.Errorf("save %q: %w", meta.Key, err)
		}
		if old != nil && old.File != meta.File {
			_ = os.Remove(filepath.Join(c.dir, old.File)) // else removed at the next start
		}
	} else {
		c.data[meta.Key] = memData
	}
	stored := meta
	c.entries[meta.Key] = &stored
	return meta, nil
}

// writeDataFile writes r to a new file at path and syncs it, returning its size.
func writeDataFile(path string, r io.Reader) (int64, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, fmt.Errorf("create %s: %w", path, err)
	}
	n, err := io.Copy(f, r)
	if err != nil {
		f.Close()
		return n, fmt.Errorf("write the value: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return n, fmt.Errorf("sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return n, fmt.Errorf("close %s: %w", path, err)
	}
	return n, nil
}

// get returns an entry's metadata and its data, open for reading; found is false for a key the
// container does not hold. The file is opened under the lock, so a concurrent write replacing
// it cannot remove it first (an open file outlives its name).
func (cs *containerStore[R]) get(account, id, key string) (meta entryMeta, body io.ReadCloser, found bool, err error) {
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	c := cs.container(account, id)
	if c == nil {
		return meta, nil, false, errNoContainer
	}
	m := c.entries[key]
	if m == nil {
		return meta, nil, false, nil
	}
	if c.dir == "" {
		return *m, io.NopCloser(bytes.NewReader(c.data[key])), true, nil
	}
	f, err := os.Open(filepath.Join(c.dir, m.File))
	if err != nil {
		return meta, nil, false, fmt.Errorf("open %q: %w", key, err)
	}
	return *m, f, true, nil
}

// head returns an entry's metadata.
func (cs *containerStore[R]) head(account, id, key string) (entryMeta, bool, error) {
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	c := cs.container(account, id)
	if c == nil {
		return entryMeta{}, false, errNoContainer
	}
	if m := c.entries[key]; m != nil {
		return *m, true, nil
	}
	return entryMeta{}, false, nil
}

// deleteKeys removes entries; keys the container does not hold are skipped.
func (cs *containerStore[R]) deleteKeys(account, id string, keys []string) error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	c := cs.container(account, id)
	if c == nil {
		return errNoContainer
	}
	for _, key := range keys {
		m := c.entries[key]
		if m == nil {
			continue
		}
		if c.dir != "" {
			// The meta file goes first (synced): that is the delete; the data file after it
			// is then only a leftover, removed at the next start if this process stops here.
			if err := os.Remove(filepath.Join(c.dir, keyHash(key)+metaSuffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("delete %q: %w", key, err)
			}
			if err := syncDir(c.dir); err != nil {
				return fmt.Errorf("delete %q: %w", key, err)
			}
			_ = os.Remove(filepath.Join(c.dir, m.File))
		} else {
			delete(c.data, key)
		}
		delete(c.entries, key)
	}
	return nil
}

// list returns the entries whose key starts with prefix and sorts after startAfter, in key
// order (bytes of UTF-8, as KV and R2 list), skipping those live rejects.
func (cs *containerStore[R]) list(account, id, prefix, startAfter string, live func(*entryMeta) bool) ([]entryMeta, error) {
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	c := cs.container(account, id)
	if c == nil {
		return nil, errNoContainer
	}
	out := []entryMeta{}
	for key, m := range c.entries {
		if !strings.HasPrefix(key, prefix) || (startAfter != "" && key <= startAfter) {
			continue
		}
		if live != nil && !live(m) {
			continue
		}
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}
