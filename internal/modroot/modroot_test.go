package modroot

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFromWorkingDirFindsTheModule(t *testing.T) {
	root, err := FromWorkingDir()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil || len(data) == 0 {
		t.Fatalf("%s has no go.mod: %v", root, err)
	}
	if filepath.Base(root) == "modroot" {
		t.Errorf("root %s is this package's directory, not the module's", root)
	}
}

func TestFromWorkingDirOutsideAModule(t *testing.T) {
	t.Chdir(t.TempDir())
	if _, err := FromWorkingDir(); err == nil {
		t.Error("found a module root above a fresh temp dir")
	}
}
