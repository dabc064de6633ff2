package workerd

import (
	"context"
	"encoding/json"
	"os"
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

func TestFindBinaryMissingSaysHowToFix(t *testing.T) {
	t.Setenv(BinaryEnv, "")
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Chdir(t.TempDir())
	_, err := FindBinary()
	if err == nil {
		t.Fatal("FindBinary found a binary outside the repository and with an empty cache")
	}
	for _, fix := range []string{"npm ci", BinaryEnv, "Install"} {
		if !strings.Contains(err.Error(), fix) {
			t.Errorf("error %q does not mention %q", err, fix)
		}
	}
}

func TestCachedBinaryIsFound(t *testing.T) {
	cache := t.TempDir()
	t.Setenv(BinaryEnv, "")
	t.Setenv("XDG_CACHE_HOME", cache)
	t.Chdir(t.TempDir())
	want := filepath.Join(cache, "flareform", "workerd", PinnedVersion, nativeBinary)
	if err := os.MkdirAll(filepath.Dir(want), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(want, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := FindBinary(); err != nil || got != want {
		t.Fatalf("FindBinary = %q, %v; want %q", got, err, want)
	}
}

func TestInstallWithoutNpm(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	_, err := Install(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "npm not found") {
		t.Fatalf("err = %v, want npm not found", err)
	}
}

func TestCapnpString(t *testing.T) {
	got := capnpString("a\"b\\c\n\x01\x7fü")
	want := `"a\"b\\c\x0a\x01\x7fü"`
	if got != want {
		t.Fatalf("capnpString = %s, want %s", got, want)
	}
}
