package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/flareform/flareform/internal/keysource"
)

// keyOut is the --key-out destination. The file is prepared before anything is deployed (so
// an unwritable path fails before a key exists that could be lost) and filled in afterwards
// through a 0600 temporary file in the same directory that is renamed into place.
type keyOut struct {
	path string
	tmp  *os.File
}

// prepareKeyOut checks path and creates the temporary file next to it. An existing file is
// refused unless force: it probably holds a key that is still in use.
func prepareKeyOut(path string, force bool) (*keyOut, error) {
	// Even with force, only a regular file is replaced: renaming over a device or a symlink
	// is never what the user meant.
	if err := keysource.CheckWritable(path); err != nil {
		return nil, fmt.Errorf("--key-out %w", err)
	}
	if _, err := os.Lstat(path); err == nil && !force {
		return nil, fmt.Errorf("--key-out %s already exists; move it away or add --force to overwrite it", path)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("check --key-out %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("prepare --key-out %s: %w", path, err)
	}
	// CreateTemp already uses 0600; Chmod makes it independent of that detail.
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("prepare --key-out %s: %w", path, err)
	}
	return &keyOut{path: path, tmp: tmp}, nil
}

// generatedKey is a key the engine generated for one worker during apply.
type generatedKey struct {
	WorkerKey string
	Key       string
}

// Commit writes keys and renames the file into place. One key is written bare (so
// `$(cat FILE)` is the key); several are written as `<worker key>=<api key>` lines.
func (k *keyOut) Commit(keys []generatedKey) error {
	defer os.Remove(k.tmp.Name()) // no-op after a successful rename
	if _, err := k.tmp.WriteString(formatKeyFile(keys)); err != nil {
		k.tmp.Close()
		return fmt.Errorf("write --key-out %s: %w", k.path, err)
	}
	if err := k.tmp.Sync(); err != nil {
		k.tmp.Close()
		return fmt.Errorf("write --key-out %s: %w", k.path, err)
	}
	if err := k.tmp.Close(); err != nil {
		return fmt.Errorf("write --key-out %s: %w", k.path, err)
	}
	if err := os.Rename(k.tmp.Name(), k.path); err != nil {
		return fmt.Errorf("write --key-out %s: %w", k.path, err)
	}
	return nil
}

// Discard removes the temporary file: no key was generated.
func (k *keyOut) Discard() {
	k.tmp.Close()
	os.Remove(k.tmp.Name())
}

func formatKeyFile(keys []generatedKey) string {
	if len(keys) == 1 {
		return keys[0].Key + "\n"
	}
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k.WorkerKey, k.Key)
	}
	return b.String()
}

// parseKeyFile reads a --key-file written by apply --key-out (or by hand) into keys per
// worker key. Lines `<worker key>=<api key>` name their worker; a file holding a single
// other line is the key of every worker in keyed (the workers that have a managed key).
func parseKeyFile(content string, keyed []string) (map[string]string, error) {
	var lines []string
	for _, line := range strings.Split(content, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			lines = append(lines, line)
		}
	}
	keys := map[string]string{}
	for _, line := range lines {
		if name, key, ok := strings.Cut(line, "="); ok && slices.Contains(keyed, name) {
			keys[name] = key
			continue
		}
		if len(lines) != 1 {
			return nil, errors.New("key file: each line must be <worker key>=<api key> when it holds more than one key")
		}
		for _, name := range keyed {
			keys[name] = line
		}
	}
	if len(lines) == 0 {
		return nil, errors.New("key file is empty")
	}
	return keys, nil
}
