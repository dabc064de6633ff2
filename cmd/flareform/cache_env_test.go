package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// Every cache path comes from the environment flareform is given, never from the process's:
// apply --local and plan keep their bundles and versions in the injected environment's user
// cache directory, or keep none when it names none, and the process's own cache directory and
// home (a fresh directory each, for this test) stay empty.
func TestCachesFollowTheInjectedEnvironment(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("checks the Linux cache directory rules (XDG_CACHE_HOME, HOME/.cache)")
	}
	processHome, processCache := t.TempDir(), t.TempDir()
	t.Setenv("HOME", processHome)
	t.Setenv("XDG_CACHE_HOME", processCache)

	deploy := func(t *testing.T, c *cli) {
		t.Helper()
		specPath := initProject(t, c, "cache-env")
		settleFiles(t, filepath.Dir(specPath))
		c.mustRun(exitOK, "-f", specPath, "--local", "apply", "--auto-approve")
		c.mustRun(exitOK, "-f", specPath, "--local", "plan", "--detailed-exitcode")
	}
	wantCaches := func(t *testing.T, cacheDir string) {
		t.Helper()
		for _, name := range []string{"bundles", "versions"} {
			if files := filesUnder(t, filepath.Join(cacheDir, "flareform", name)); len(files) == 0 {
				t.Errorf("no %s cached in the injected cache directory %s", name, cacheDir)
			}
		}
	}

	t.Run("XDG_CACHE_HOME", func(t *testing.T) {
		home, cache := t.TempDir(), t.TempDir()
		deploy(t, newCLI(t, map[string]string{"HOME": home, "XDG_CACHE_HOME": cache}))
		wantCaches(t, cache)
		if files := filesUnder(t, home); len(files) != 0 {
			t.Errorf("HOME got files although XDG_CACHE_HOME is set: %v", files)
		}
	})
	t.Run("HOME", func(t *testing.T) {
		home := t.TempDir()
		deploy(t, newCLI(t, map[string]string{"HOME": home}))
		wantCaches(t, filepath.Join(home, ".cache"))
	})
	t.Run("neither", func(t *testing.T) {
		c := newCLI(t, map[string]string{})
		c.cache = "" // no cache directory at all: bundles are made every time, none kept
		deploy(t, c)
	})

	for _, dir := range []string{processHome, processCache} {
		if files := filesUnder(t, dir); len(files) != 0 {
			t.Errorf("the process's own %s got files: %v", dir, files)
		}
	}
}

// settleFiles dates every file and directory under dir a minute back: the bundle cache keeps no
// bundle of inputs changed in the last seconds (an editor may still be saving them).
func settleFiles(t *testing.T, dir string) {
	t.Helper()
	past := time.Now().Add(-time.Minute)
	err := filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Chtimes(path, past, past)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// filesUnder lists everything below dir (nothing when it does not exist).
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && path == dir {
				return nil
			}
			return err
		}
		if path != dir {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
