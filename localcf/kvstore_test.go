package localcf

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

const testStoreAccount = "0123456789abcdef0123456789abcdef"

func storePut(t *testing.T, cs *containerStore[kvNamespace], id, key, value string) {
	t.Helper()
	if _, err := cs.put(testStoreAccount, id, entryMeta{Key: key}, strings.NewReader(value), 1<<20); err != nil {
		t.Fatalf("put %q: %v", key, err)
	}
}

func storeGet(t *testing.T, cs *containerStore[kvNamespace], id, key string) (string, bool) {
	t.Helper()
	_, body, found, err := cs.get(testStoreAccount, id, key)
	if err != nil {
		t.Fatalf("get %q: %v", key, err)
	}
	if !found {
		return "", false
	}
	defer body.Close()
	data, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	return string(data), true
}

// TestKVStoreCrashLeftovers: what a crash can leave behind (a container half created or half
// deleted, a data file whose write never committed, an old data file a committed write had not
// removed yet, a meta temp file) is cleaned up at the next open, and committed entries stay.
func TestKVStoreCrashLeftovers(t *testing.T) {
	dir := t.TempDir()
	cs, err := openContainerStore[kvNamespace](dir)
	if err != nil {
		t.Fatal(err)
	}
	id := strings.Repeat("ab", 16)
	if err := cs.create(testStoreAccount, id, kvNamespace{ID: id, Title: "t"}, nil); err != nil {
		t.Fatal(err)
	}
	storePut(t, cs, id, "kept", "v1")
	storePut(t, cs, id, "../../escape", "keys never make paths")
	storePut(t, cs, id, "gone", "x")
	if err := cs.deleteKeys(testStoreAccount, id, []string{"gone"}); err != nil {
		t.Fatal(err)
	}
	cdir := filepath.Join(dir, testStoreAccount, id)
	adir := filepath.Join(dir, testStoreAccount)
	leftovers := []string{
		filepath.Join(cdir, keyHash("kept")[:16]+".deadbeefdeadbeef"),  // uncommitted or replaced data
		filepath.Join(cdir, "."+keyHash("kept")+metaSuffix+".tmp-123"), // meta write cut short
	}
	for _, p := range leftovers {
		if err := os.WriteFile(p, []byte("junk"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{".new-1", ".deleted-2"} {
		if err := os.MkdirAll(filepath.Join(adir, d), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(adir, d, containerRecordFile), []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Nothing is named after a key.
	err = filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
		if strings.Contains(path, "escape") || strings.Contains(path, "kept") {
			t.Errorf("a file is named after a key: %s", path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	cs, err = openContainerStore[kvNamespace](dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range append(leftovers, filepath.Join(adir, ".new-1"), filepath.Join(adir, ".deleted-2")) {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("leftover %s survived the open: %v", p, err)
		}
	}
	if v, ok := storeGet(t, cs, id, "kept"); !ok || v != "v1" {
		t.Errorf("kept: %q %v", v, ok)
	}
	if v, ok := storeGet(t, cs, id, "../../escape"); !ok || v != "keys never make paths" {
		t.Errorf("escape: %q %v", v, ok)
	}
	if _, ok := storeGet(t, cs, id, "gone"); ok {
		t.Error("a deleted key came back")
	}
	files, _ := os.ReadDir(cdir)
	if len(files) != 5 { // container.json, two metas, two data files
		var names []string
		for _, f := range files {
			names = append(names, f.Name())
		}
		t.Errorf("container files after open: %v", names)
	}
	if rec, ok := cs.record(testStoreAccount, id); !ok || rec.Title != "t" {
		t.Errorf("record: %+v %v", rec, ok)
	}
}

// TestKVStoreOverlappingWrites: concurrent writers of one key and readers of it; every read is
// one writer's whole value, the last committed write wins, and no data file is left over.
func TestKVStoreOverlappingWrites(t *testing.T) {
	for _, dir := range []string{"", t.TempDir()} {
		name := "disk"
		if dir == "" {
			name = "memory"
		}
		t.Run(name, func(t *testing.T) {
			cs, err := openContainerStore[kvNamespace](dir)
			if err != nil {
				t.Fatal(err)
			}
			id := strings.Repeat("cd", 16)
			if err := cs.create(testStoreAccount, id, kvNamespace{ID: id}, nil); err != nil {
				t.Fatal(err)
			}
			values := make([]string, 8)
			for i := range values {
				values[i] = strings.Repeat(fmt.Sprint(i), 64<<10)
			}
			var wg sync.WaitGroup
			for i := range values {
				wg.Add(2)
				go func() {
					defer wg.Done()
					if _, err := cs.put(testStoreAccount, id, entryMeta{Key: "hot"}, strings.NewReader(values[i]), 1<<20); err != nil {
						t.Errorf("put: %v", err)
					}
				}()
				go func() {
					defer wg.Done()
					_, body, found, err := cs.get(testStoreAccount, id, "hot")
					if err != nil {
						t.Errorf("get: %v", err)
					}
					if !found {
						return // not written yet
					}
					defer body.Close()
					if v, err := io.ReadAll(body); err != nil || !slices.Contains(values, string(v)) {
						t.Errorf("read a torn value of %d bytes (%v)", len(v), err)
					}
				}()
			}
			wg.Wait()
			last, ok := storeGet(t, cs, id, "hot")
			if !ok || !slices.Contains(values, last) {
				t.Fatalf("final value: %d bytes, found %v", len(last), ok)
			}
			if dir != "" {
				files, _ := os.ReadDir(filepath.Join(dir, testStoreAccount, id))
				if len(files) != 3 { // container.json, the meta file, one data file
					t.Errorf("%d files after overlapping writes, want 3", len(files))
				}
				reopened, err := openContainerStore[kvNamespace](dir)
				if err != nil {
					t.Fatal(err)
				}
				if v, _ := storeGet(t, reopened, id, "hot"); v != last {
					t.Error("the reopened store has another value")
				}
			}
			// A write over the limit leaves the old value.
			if _, err := cs.put(testStoreAccount, id, entryMeta{Key: "hot"}, bytes.NewReader(make([]byte, 11)), 10); err != errEntryTooLarge {
				t.Fatalf("oversized put: %v", err)
			}
			if v, _ := storeGet(t, cs, id, "hot"); v != last {
				t.Error("an oversized put changed the value")
			}
		})
	}
}
