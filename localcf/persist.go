package localcf

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

const (
	stateFile    = "state.json"
	blobDir      = "blobs"
	requestsFile = "requests.jsonl"
)

// writeFileAtomic replaces path with data so that a crash at any moment leaves either the old or
// the new content: write a temp file in the same directory, fsync it, rename, fsync the directory.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// blobStore keeps module bodies by content hash. State refers to blobs by hash, and a blob is
// written (durably) before any state that names it, so a crash never leaves a dangling reference.
type blobStore struct {
	dir string // "" = memory only

	mu    sync.Mutex
	cache map[string][]byte
}

func newBlobStore(stateDir string) (*blobStore, error) {
	b := &blobStore{cache: map[string][]byte{}}
	if stateDir != "" {
		b.dir = filepath.Join(stateDir, blobDir)
		if err := os.MkdirAll(b.dir, 0o700); err != nil {
			return nil, fmt.Errorf("create blob dir: %w", err)
		}
	}
	return b, nil
}

func blobID(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func (b *blobStore) put(data []byte) (string, error) {
	id := blobID(data)
	b.mu.Lock()
	_, cached := b.cache[id]
	b.mu.Unlock()
	if cached {
		return id, nil
	}
	if b.dir != "" {
		path := filepath.Join(b.dir, id)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			if err := writeFileAtomic(path, data, 0o600); err != nil {
				return "", fmt.Errorf("store module blob: %w", err)
			}
		}
	}
	b.mu.Lock()
	b.cache[id] = data
	b.mu.Unlock()
	return id, nil
}

func (b *blobStore) get(id string) ([]byte, error) {
	b.mu.Lock()
	data, ok := b.cache[id]
	b.mu.Unlock()
	if ok {
		return data, nil
	}
	if b.dir == "" {
		return nil, fmt.Errorf("blob %s missing", id)
	}
	data, err := os.ReadFile(filepath.Join(b.dir, id))
	if err != nil {
		return nil, fmt.Errorf("read module blob: %w", err)
	}
	if blobID(data) != id {
		return nil, fmt.Errorf("module blob %s is corrupt", id)
	}
	b.mu.Lock()
	b.cache[id] = data
	b.mu.Unlock()
	return data, nil
}

// saveState writes the whole state document atomically.
func saveState(dir string, st *state) error {
	if dir == "" {
		return nil
	}
	data, err := json.MarshalIndent(st, "", " ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, stateFile), data, 0o600); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}

// loadState reads the state document; a missing file is an empty state.
func loadState(dir string) (*state, error) {
	st := newState()
	if dir == "" {
		return st, nil
	}
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	if err := json.Unmarshal(data, st); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, stateFile), err)
	}
	st.init()
	return st, nil
}
