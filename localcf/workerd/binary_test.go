package workerd

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestPinnedVersionMatchesPackageJSON(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		data, err := os.ReadFile(filepath.Join(dir, "package.json"))
		if err == nil {
			var pkg struct {
				DevDependencies map[string]string `json:"devDependencies"`
			}
			if err := json.Unmarshal(data, &pkg); err != nil {
				t.Fatalf("%s/package.json: %v", dir, err)
			}
			if got := pkg.DevDependencies["workerd"]; got != PinnedVersion {
				t.Fatalf("package.json pins workerd %q, PinnedVersion is %q", got, PinnedVersion)
			}
			return
		}
		if filepath.Dir(dir) == dir {
			t.Fatalf("no package.json above %s", wd)
		}
	}
}

// envOf is a Finder's environment made of m alone.
func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestFindBinaryNativeFromNodeModules(t *testing.T) {
	t.Setenv(BinaryEnv, "")
	bin := testBinary(t)
	if !strings.HasSuffix(bin, filepath.Join("@cloudflare", "workerd-linux-64", "bin", "workerd")) {
		t.Errorf("FindBinary = %s, want the native binary inside node_modules", bin)
	}
}

func TestFindBinaryEnvOverride(t *testing.T) {
	bin := testBinary(t)
	t.Setenv(BinaryEnv, bin)
	if got, err := FindBinary(); err != nil || got != bin {
		t.Fatalf("FindBinary = %q, %v; want %q", got, err, bin)
	}
	missing := filepath.Join(t.TempDir(), "workerd")
	t.Setenv(BinaryEnv, missing)
	_, err := FindBinary()
	if err == nil || !strings.Contains(err.Error(), BinaryEnv) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("err = %v, want one naming %s and the missing path", err, BinaryEnv)
	}
}

// A Finder reads FLAREFORM_WORKERD from the environment it is given, not the process's.
func TestFinderReadsItsOwnEnvironment(t *testing.T) {
	bin := testBinary(t)
	t.Setenv(BinaryEnv, filepath.Join(t.TempDir(), "missing"))
	if got, err := FinderFromEnv(envOf(map[string]string{BinaryEnv: bin})).Find(); err != nil || got != bin {
		t.Fatalf("Find = %q, %v; want %q", got, err, bin)
	}
}

func TestFindBinaryMissingSaysHowToFix(t *testing.T) {
	t.Chdir(t.TempDir())
	_, err := FinderFromEnv(envOf(map[string]string{"XDG_CACHE_HOME": t.TempDir()})).Find()
	if err == nil {
		t.Fatal("Find found a binary outside the repository and with an empty cache")
	}
	for _, fix := range []string{"npm ci", BinaryEnv, "Install"} {
		if !strings.Contains(err.Error(), fix) {
			t.Errorf("error %q does not mention %q", err, fix)
		}
	}
}

func TestCachedBinaryIsFound(t *testing.T) {
	cache := t.TempDir()
	t.Chdir(t.TempDir())
	want := filepath.Join(cache, "flareform", "workerd", PinnedVersion, nativeBinary)
	if err := os.MkdirAll(filepath.Dir(want), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(want, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := FinderFromEnv(envOf(map[string]string{"XDG_CACHE_HOME": cache})).Find(); err != nil || got != want {
		t.Fatalf("Find = %q, %v; want %q", got, err, want)
	}
	// HOME/.cache when XDG_CACHE_HOME is not set, as os.UserCacheDir on Linux.
	home := t.TempDir()
	want = filepath.Join(home, ".cache", "flareform", "workerd", PinnedVersion, nativeBinary)
	if err := os.MkdirAll(filepath.Dir(want), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(want, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := FinderFromEnv(envOf(map[string]string{"HOME": home})).Find(); err != nil || got != want {
		t.Fatalf("Find = %q, %v; want %q", got, err, want)
	}
}

func TestInstallWithoutNpm(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	cache := t.TempDir()
	_, err := FinderFromEnv(envOf(map[string]string{"XDG_CACHE_HOME": cache})).Install(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "npm not found") {
		t.Fatalf("err = %v, want npm not found", err)
	}
}

// Without a user cache directory in its environment Install refuses: it never falls back to
// the process's cache directory.
func TestInstallWithoutCacheDirRefuses(t *testing.T) {
	if _, err := exec.LookPath("npm"); err != nil {
		t.Fatal("npm is not installed (make setup needs it): Install would stop before it looks for a cache directory")
	}
	processCache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", processCache)
	t.Setenv("HOME", processCache)
	_, err := FinderFromEnv(envOf(nil)).Install(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "no user cache directory") {
		t.Fatalf("err = %v, want a refusal for the missing cache directory", err)
	}
	if entries, _ := os.ReadDir(processCache); len(entries) != 0 {
		t.Fatalf("Install wrote %d entries into the process's cache directory", len(entries))
	}
}

func TestCapnpString(t *testing.T) {
	got := capnpString("a\"b\\c\n\x01\x7fü")
	want := `"a\"b\\c\x0a\x01\x7fü"`
	if got != want {
		t.Fatalf("capnpString = %s, want %s", got, want)
	}
}
