package provision

import (
	"path/filepath"
	"runtime"
	"testing"
)

// ConfigFromEnv places the caches in the user cache directory of the environment it is given,
// and in none when that environment names none: never in the process's.
func TestConfigFromEnvPlacesCachesFromItsEnvironment(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("checks the Linux cache directory rules")
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	cfg := ConfigFromEnv(env(map[string]string{"XDG_CACHE_HOME": "/x/cache", "HOME": "/home/u"}))
	if cfg.VersionCacheDir != filepath.FromSlash("/x/cache/flareform/versions") || cfg.BundleCacheDir != filepath.FromSlash("/x/cache/flareform/bundles") {
		t.Errorf("XDG_CACHE_HOME: caches %q and %q", cfg.VersionCacheDir, cfg.BundleCacheDir)
	}
	cfg = ConfigFromEnv(env(map[string]string{"HOME": "/home/u"}))
	if cfg.VersionCacheDir != filepath.FromSlash("/home/u/.cache/flareform/versions") || cfg.BundleCacheDir != filepath.FromSlash("/home/u/.cache/flareform/bundles") {
		t.Errorf("HOME: caches %q and %q", cfg.VersionCacheDir, cfg.BundleCacheDir)
	}
	cfg = ConfigFromEnv(env(nil))
	if cfg.VersionCacheDir != "" || cfg.BundleCacheDir != "" {
		t.Errorf("no HOME or XDG_CACHE_HOME: caches %q and %q, want none", cfg.VersionCacheDir, cfg.BundleCacheDir)
	}
	cfg.APIToken = "t"
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if e.versions.dir != "" || e.bundles != nil {
		t.Errorf("engine without cache directories keeps caches in %q and %+v", e.versions.dir, e.bundles)
	}
}
