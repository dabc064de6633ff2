// Package modroot finds the flareform module's root directory, for tests and tools that need
// repository files (node_modules, examples, .bench) whatever directory they run in.
package modroot

import (
	"errors"
	"os"
	"path/filepath"
)

// FromWorkingDir walks up from the working directory to the nearest directory holding go.mod.
func FromWorkingDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: run inside the flareform repository")
		}
		dir = parent
	}
}
