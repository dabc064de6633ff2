// Package keystore is a project's own record of the API keys flareform generated: a JSON file
// under the project's .flareform directory (file 0600 in a 0700 directory), written atomically.
//
// A generated key is recorded as pending before the upload that installs it, so a crash between
// the upload and the hand-over never loses the only copy of a key the worker accepts. The next
// run matches pending keys against the live worker's key fingerprint and keeps the one that
// landed (Promote) or drops the ones that never did (Remove).
//
// The store holds secrets: it is never printed, and nothing in it appears in errors.
package keystore

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// FileName is the store's file inside the project's .flareform directory.
const FileName = "keys.json"

// Key states.
const (
	// Active keys are deployed and handed over: clients may hold them.
	Active = "active"
	// Pending keys were written before an upload or rotation that may or may not have landed.
	Pending = "pending"
)

// Entry is one key of one worker's binding.
type Entry struct {
	Script  string    `json:"script"`  // script name on Cloudflare
	Binding string    `json:"binding"` // secret binding, e.g. API_KEY
	Key     string    `json:"key"`
	State   string    `json:"state"`
	Written time.Time `json:"written"`
}

type document struct {
	Version int     `json:"version"`
	Keys    []Entry `json:"keys"`
}

// Store is the key file of one project. Methods are safe for concurrent use within a process;
// across processes the project lock (Lock) keeps writers apart.
type Store struct {
	path string
	// writing is held by the goroutine writing a group of updates; mu guards queue, the
	// updates waiting for the next group.
	writing sync.Mutex
	mu      sync.Mutex
	queue   []*queuedUpdate
}

// Open returns the store in dir (the project's .flareform directory), creating dir with mode
// 0700 when it is missing. The file itself is created on the first write.
func Open(dir string) (*Store, error) {
	if err := ensurePrivateDir(dir); err != nil {
		return nil, err
	}
	return &Store{path: filepath.Join(dir, FileName)}, nil
}

// ActiveKey is the newest active key of script's binding in the store in dir, read without
// creating anything and without the project lock (readers such as smoke and invoke); "" when
// there is none or the store cannot be read.
func ActiveKey(dir, script, binding string) string {
	s := &Store{path: filepath.Join(dir, FileName)}
	entries, err := s.Keys(script, binding)
	if err != nil || len(entries) == 0 || entries[0].State != Active {
		return ""
	}
	return entries[0].Key
}

// Reader is the store in dir for reading only: nothing is created, and a missing file holds
// no keys (plan reads the consumer salt and keys without the project lock).
func Reader(dir string) *Store { return &Store{path: filepath.Join(dir, FileName)} }

// Path is the store's file.
func (s *Store) Path() string { return s.path }

// ensurePrivateDir creates dir as 0700 and tightens an existing one that others could read.
func ensurePrivateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create key store directory %s: %w", dir, err)
	}
	info, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("key store directory %s: %w", dir, err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("restrict key store directory %s to its owner: %w", dir, err)
		}
	}
	return nil
}

// Keys returns the entries of script's binding: active ones first, then pending ones, newest
// first within each state.
func (s *Store) Keys(script, binding string) ([]Entry, error) {
	s.writing.Lock() // never between a group's read and its write
	defer s.writing.Unlock()
	doc, err := s.load()
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, e := range doc.Keys {
		if e.Script == script && e.Binding == binding {
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(a, b Entry) int {
		if a.State != b.State {
			if a.State == Active {
				return -1
			}
			return 1
		}
		return b.Written.Compare(a.Written)
	})
	return out, nil
}

// AddPending records key as pending for script's binding, durably, before it is deployed.
func (s *Store) AddPending(script, binding, key string) error {
	return s.update(func(doc *document) {
		doc.Keys = slices.DeleteFunc(doc.Keys, func(e Entry) bool {
			return e.Script == script && e.Binding == binding && e.Key == key
		})
		doc.Keys = append(doc.Keys, Entry{Script: script, Binding: binding, Key: key, State: Pending, Written: time.Now().UTC()})
	})
}

// Promote makes key the one active key of script's binding: the worker serves it. Every
// other key of that binding is dropped, unless keep lists it (a rotation's previous key,
// which clients may still use during its window).
func (s *Store) Promote(script, binding, key string, keep ...string) error {
	return s.update(func(doc *document) { promoteIn(doc, script, binding, key, keep) })
}

// Promotion is one key for PromoteAll.
type Promotion struct{ Script, Binding, Key string }

// PromoteAll is Promote (without keep) for many keys in one durable write: a fleet's apply
// hands over hundreds of keys at once, and a write per key would rewrite the file each time.
func (s *Store) PromoteAll(promotions []Promotion) error {
	if len(promotions) == 0 {
		return nil
	}
	return s.update(func(doc *document) {
		for _, p := range promotions {
			promoteIn(doc, p.Script, p.Binding, p.Key, nil)
		}
	})
}

func promoteIn(doc *document, script, binding, key string, keep []string) {
	found := false
	doc.Keys = slices.DeleteFunc(doc.Keys, func(e Entry) bool {
		if e.Script != script || e.Binding != binding {
			return false
		}
		if e.Key == key {
			found = true
			return false
		}
		return !slices.Contains(keep, e.Key)
	})
	for i := range doc.Keys {
		e := &doc.Keys[i]
		if e.Script == script && e.Binding == binding && e.Key == key {
			e.State = Active
		}
	}
	if !found {
		doc.Keys = append(doc.Keys, Entry{Script: script, Binding: binding, Key: key, State: Active, Written: time.Now().UTC()})
	}
}

// Remove drops key from script's binding (a pending key that never landed).
func (s *Store) Remove(script, binding, key string) error {
	return s.update(func(doc *document) {
		doc.Keys = slices.DeleteFunc(doc.Keys, func(e Entry) bool {
			return e.Script == script && e.Binding == binding && e.Key == key
		})
	})
}

// RemoveScript drops every key of script (the worker was destroyed).
func (s *Store) RemoveScript(script string) error {
	return s.update(func(doc *document) {
		doc.Keys = slices.DeleteFunc(doc.Keys, func(e Entry) bool { return e.Script == script })
	})
}

// update applies change to the file durably. Concurrent updates are committed as a group: one
// caller writes every change queued while the previous write ran, in the order they came, with
// one fsync, and each caller returns once its change is on disk (or with the write's error). A
// fleet's workers each record a pending key before their upload; one write per key would
// queue them behind each other's fsyncs.
func (s *Store) update(change func(*document)) error {
	u := &queuedUpdate{change: change}
	s.mu.Lock()
	s.queue = append(s.queue, u)
	s.mu.Unlock()
	// Once this holds writing, u is written: either an earlier writer took it into its group
	// (and set u.err before releasing writing), or it is still queued and goes into this group.
	s.writing.Lock()
	defer s.writing.Unlock()
	s.mu.Lock()
	group := s.queue
	s.queue = nil
	s.mu.Unlock()
	if len(group) > 0 {
		err := s.commit(group)
		for _, g := range group {
			g.err = err
		}
	}
	return u.err
}

// queuedUpdate is one change waiting for its group's write.
type queuedUpdate struct {
	change func(*document)
	err    error // the group's write error, set by its writer under writing
}

func (s *Store) commit(group []*queuedUpdate) error {
	doc, err := s.load()
	if err != nil {
		return err
	}
	for _, g := range group {
		g.change(doc)
	}
	return s.save(doc)
}

func (s *Store) load() (*document, error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return &document{Version: 1}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read key store %s: %w", s.path, err)
	}
	var doc document
	if err := json.Unmarshal(b, &doc); err != nil {
		// Never quote the content: it holds keys.
		return nil, fmt.Errorf("key store %s is not valid JSON; restore it from a backup or move it away (its keys are then unknown to flareform)", s.path)
	}
	if doc.Version != 1 {
		return nil, fmt.Errorf("key store %s has version %d; this flareform reads version 1", s.path, doc.Version)
	}
	return &doc, nil
}

// save writes doc through a synced 0600 temporary file renamed into place, then syncs the
// directory, so a crash leaves either the old or the new file, never a torn one.
func (s *Store) save(doc *document) error {
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("encode key store: %w", err)
	}
	return WriteFileAtomic(s.path, append(b, '\n'))
}

// WriteFileAtomic replaces path with data, mode 0600, durably: temporary file in the same
// directory, fsync, rename, fsync of the directory.
func WriteFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
