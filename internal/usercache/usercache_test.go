package usercache

import (
	"path/filepath"
	"runtime"
	"testing"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestBaseFollowsOSUserCacheDirRules(t *testing.T) {
	tests := []struct {
		goos string
		env  map[string]string
		want string // "" = no cache directory
	}{
		{"linux", map[string]string{"XDG_CACHE_HOME": "/x/cache", "HOME": "/home/u"}, "/x/cache"},
		{"linux", map[string]string{"HOME": "/home/u"}, "/home/u/.cache"},
		{"linux", map[string]string{"XDG_CACHE_HOME": "rel/cache", "HOME": "/home/u"}, ""}, // as os.UserCacheDir: no fallback
		{"linux", map[string]string{"HOME": "rel"}, ""},
		{"linux", map[string]string{}, ""},
		{"freebsd", map[string]string{"HOME": "/home/u"}, "/home/u/.cache"},
		{"darwin", map[string]string{"XDG_CACHE_HOME": "/x/cache", "HOME": "/Users/u"}, "/Users/u/Library/Caches"},
		{"darwin", map[string]string{"XDG_CACHE_HOME": "/x/cache"}, ""},
		{"plan9", map[string]string{"home": "/usr/u"}, "/usr/u/lib/cache"},
		{"windows", map[string]string{"HOME": "/home/u"}, ""},
	}
	for _, tt := range tests {
		got, err := base(tt.goos, envOf(tt.env))
		if (err == nil) != (tt.want != "") || got != tt.want {
			t.Errorf("%s %v: base = %q, %v; want %q", tt.goos, tt.env, got, err, tt.want)
		}
	}
}

func TestDir(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "darwin" || runtime.GOOS == "ios" || runtime.GOOS == "plan9" {
		t.Skip("the rules checked are the Unix ones")
	}
	if got, want := Dir(envOf(map[string]string{"HOME": "/home/u"}), "bundles"), filepath.Join("/home/u/.cache", "flareform", "bundles"); got != want {
		t.Errorf("Dir = %q, want %q", got, want)
	}
	if got := Dir(envOf(nil), "bundles"); got != "" {
		t.Errorf("Dir without HOME or XDG_CACHE_HOME = %q, want none", got)
	}
}
