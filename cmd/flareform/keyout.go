package main

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/flareform/flareform/internal/keysource"
	"github.com/flareform/flareform/provision"
	"github.com/flareform/flareform/provision/keystore"
	"github.com/flareform/flareform/provision/spec"
)

// keyOut is the --key-out destination. It is checked before anything is deployed (so an
// unwritable path or a conflict fails before a key exists that could be lost) and written
// afterwards, atomically and 0600. It merges: keys of other workers already in the file stay.
type keyOut struct {
	path  string
	force bool
	// entries are the file's `<worker key>=<api key>` lines; bare is a file holding one key
	// without a worker name (as a single-key --key-out writes it) and bareOwner whose it is.
	entries   map[string]string
	bare      string
	bareOwner string
}

// prepareKeyOut reads the existing file at path, if any, and checks that keys for the workers
// in writes can be merged into it: a key that would replace another key already in the file
// needs force (that key may still be in use). keyed lists the spec's workers with a managed key,
// to tell whose a bare key is.
func prepareKeyOut(path string, force bool, writes, keyed []string) (*keyOut, error) {
	// Even with force, only a regular file is replaced: renaming over a device or a symlink
	// is never what the user meant.
	if err := keysource.CheckWritable(path); err != nil {
		return nil, fmt.Errorf("--key-out %w", err)
	}
	k := &keyOut{path: path, force: force, entries: map[string]string{}}
	info, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := checkWritableDir(filepath.Dir(path)); err != nil {
			return nil, fmt.Errorf("--key-out %s: %w", path, err)
		}
		return k, nil
	case err != nil:
		return nil, fmt.Errorf("check --key-out %s: %w", path, err)
	case !info.Mode().IsRegular():
		return nil, fmt.Errorf("--key-out %s is not a regular file; give the path of a key file", path)
	}
	content, err := readKeyFile(path)
	if err != nil {
		return nil, fmt.Errorf("read --key-out: %w", err)
	}
	if err := k.parse(content, keyed); err != nil {
		return nil, fmt.Errorf("--key-out %s: %w", path, err)
	}
	for _, w := range writes {
		if _, held := k.entries[w]; (held || k.bareOwner == w) && !force {
			return nil, fmt.Errorf("--key-out %s already holds a key for %s that this apply would replace; move it away or add --force to replace it", path, w)
		}
		if k.bare != "" && k.bareOwner == "" {
			return nil, fmt.Errorf("--key-out %s holds one key without a worker name; add --force to replace it, "+
				"or write `<worker>=` before it so other workers' keys can be added", path)
		}
	}
	return k, checkWritableDir(filepath.Dir(path))
}

// parse reads the existing file. Lines are `<worker>=<key>`; a file of one other line is a bare
// key, which belongs to the spec's only keyed worker when there is exactly one.
func (k *keyOut) parse(content string, keyed []string) error {
	lines := keyFileLines(content)
	if len(lines) == 1 {
		if name, key, ok := strings.Cut(lines[0], "="); !ok || !isKeyLineName(name) || key == "" {
			k.bare = lines[0]
			if len(keyed) == 1 {
				k.bareOwner = keyed[0]
			}
			return nil
		}
	}
	for _, line := range lines {
		name, key, ok := strings.Cut(line, "=")
		if !ok || !isKeyLineName(name) || key == "" {
			return errors.New("each line must be <worker key>=<api key> (or <worker key>/<consumer>=<key>) when the file holds more than one key")
		}
		k.entries[name] = key
	}
	return nil
}

// generatedKey is a key the engine generated for one worker during apply. WorkerKey is
// "<worker>/<consumer>" for a consumer's key (docs/consumers.md).
type generatedKey struct {
	WorkerKey string
	Key       string
}

// consumerLine is the name of a consumer key's line in a key file: <worker>/<consumer>.
func consumerLine(worker, consumer string) string { return worker + "/" + consumer }

// isKeyLineName reports whether s names a key file line: a worker key, or <worker>/<consumer>.
func isKeyLineName(s string) bool {
	if w, c, ok := strings.Cut(s, "/"); ok {
		return isWorkerKey(w) && isConsumerName(c)
	}
	return isWorkerKey(s)
}

// isConsumerName reports whether s can be a consumer's name ([a-z0-9_-]{1,32}).
func isConsumerName(s string) bool { return len(s) <= 32 && isWorkerKey(s) }

// onlyOwnerKey reports whether the one key of merged is a worker's own key, which alone may be
// written bare: a consumer's key always keeps its <worker>/<consumer> name.
func onlyOwnerKey(merged map[string]string) bool {
	for name := range merged {
		return len(merged) == 1 && !strings.Contains(name, "/")
	}
	return false
}

// Commit merges keys into the file and renames it into place.
func (k *keyOut) Commit(keys []generatedKey) error {
	merged := maps.Clone(k.entries)
	bareKept := k.bare != "" && (k.bareOwner == "" || !slices.ContainsFunc(keys, func(g generatedKey) bool { return g.WorkerKey == k.bareOwner }))
	if bareKept && k.bareOwner != "" {
		merged[k.bareOwner] = k.bare
		bareKept = false
	}
	for _, g := range keys {
		merged[g.WorkerKey] = g.Key
	}
	var content string
	switch {
	case bareKept: // unreachable after prepare's checks unless nothing new is written
		content = k.bare + "\n"
	case onlyOwnerKey(merged) && len(k.entries) == 0:
		// One key is written bare, so `$(cat FILE)` is the key.
		for _, v := range merged {
			content = v + "\n"
		}
	default:
		content = formatKeyLines(merged)
	}
	if err := keystore.WriteFileAtomic(k.path, []byte(content)); err != nil {
		return fmt.Errorf("--key-out: %w", err)
	}
	return nil
}

func formatKeyLines(keys map[string]string) string {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(keys)) {
		fmt.Fprintf(&b, "%s=%s\n", name, keys[name])
	}
	return b.String()
}

// formatKeyFile renders keys as a new key file: one key bare, several as lines.
func formatKeyFile(keys []generatedKey) string {
	if len(keys) == 1 && !strings.Contains(keys[0].WorkerKey, "/") {
		return keys[0].Key + "\n"
	}
	m := map[string]string{}
	for _, g := range keys {
		m[g.WorkerKey] = g.Key
	}
	return formatKeyLines(m)
}

// checkWritableDir makes sure a file can be created in dir, before any key exists.
func checkWritableDir(dir string) error {
	f, err := os.CreateTemp(dir, ".flareform-write-check-*")
	if err != nil {
		return fmt.Errorf("cannot write there: %w", err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// isWorkerKey reports whether s can be a worker key of a spec (a script name).
func isWorkerKey(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func keyFileLines(content string) []string {
	var lines []string
	for _, line := range strings.Split(content, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			lines = append(lines, line)
		}
	}
	return lines
}

// parseKeyFile reads a --key-file written by apply --key-out (or by hand) into keys per
// worker key. Lines `<worker key>=<api key>` name their worker (lines of workers not in keyed
// belong to other specs and are skipped); a file holding a single other line is the key of
// every worker in keyed (the workers that have a managed key).
func parseKeyFile(content string, keyed []string) (map[string]string, error) {
	lines := keyFileLines(content)
	if len(lines) == 0 {
		return nil, errors.New("key file is empty")
	}
	keys := map[string]string{}
	for _, line := range lines {
		name, key, ok := strings.Cut(line, "=")
		if ok && slices.Contains(keyed, name) {
			keys[name] = key
			continue
		}
		if ok && isKeyLineName(name) && key != "" && (len(lines) > 1 || strings.Contains(name, "/")) {
			continue // another worker's key, or a consumer's (parseConsumerKeys)
		}
		if len(lines) != 1 {
			return nil, errors.New("key file: each line must be <worker key>=<api key> when it holds more than one key")
		}
		for _, name := range keyed {
			keys[name] = line
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("key file holds no key for %s", strings.Join(keyed, ", "))
	}
	return keys, nil
}

// parseConsumerKeys reads the consumer keys of a key file: `<worker>/<consumer>=<key>` lines,
// by worker key and consumer name. Other lines are not its business (parseKeyFile's).
func parseConsumerKeys(content string) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, line := range keyFileLines(content) {
		name, key, ok := strings.Cut(line, "=")
		worker, consumer, isConsumer := strings.Cut(name, "/")
		if !ok || !isConsumer || key == "" || !isKeyLineName(name) {
			continue
		}
		if out[worker] == nil {
			out[worker] = map[string]string{}
		}
		out[worker][consumer] = key
	}
	return out
}

// fileConsumerKeys adds a key file's consumer lines to the key store's entries, as keys the
// caller holds: apply matches them by fingerprint like the store's own.
type fileConsumerKeys struct {
	provision.KeyLookup
	lines map[string][]keystore.Entry // "<script>\x00consumer:<name>" -> the file's key
}

func (f fileConsumerKeys) Keys(script, binding string) ([]keystore.Entry, error) {
	entries, err := f.KeyLookup.Keys(script, binding)
	return append(entries, f.lines[script+"\x00"+binding]...), err
}

// withConsumerKeyFile is store, plus the consumer lines of the --key-file at path ("" = none).
func withConsumerKeyFile(store provision.KeyLookup, path string, s *spec.Spec) (provision.KeyLookup, error) {
	if path == "" {
		return store, nil
	}
	content, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	byWorker := parseConsumerKeys(content)
	f := fileConsumerKeys{KeyLookup: store, lines: map[string][]keystore.Entry{}}
	for _, w := range s.Workers {
		for name, raw := range byWorker[w.Key] {
			key, err := keysource.Normalize(raw)
			if err != nil {
				return nil, fmt.Errorf("--key-file %s: the key for %s: %w; %s", path, consumerLine(w.Key, name), err, keysource.Fix)
			}
			binding := spec.ConsumerKeyBinding(name)
			f.lines[w.Name+"\x00"+binding] = append(f.lines[w.Name+"\x00"+binding], keystore.Entry{Script: w.Name, Binding: binding, Key: key, State: keystore.Active})
		}
	}
	return f, nil
}
