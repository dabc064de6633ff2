// Package usercache finds flareform's directory in the user's cache from an environment the
// caller passes in. It never reads the process environment itself: the CLI injects its
// environment (tests pass their own), and a cache path taken from os.UserCacheDir would let a
// test run write into the real user's cache.
package usercache

import (
	"errors"
	"path/filepath"
	"runtime"
)

// Base is the user's cache directory as os.UserCacheDir finds it, with the variables read
// through getenv: %LocalAppData% on Windows, $HOME/Library/Caches on macOS, $home/lib/cache on
// Plan 9, else $XDG_CACHE_HOME or $HOME/.cache. Unlike os.UserCacheDir it also refuses a
// relative result (a relative HOME), which would put the cache in the working directory.
func Base(getenv func(string) string) (string, error) {
	return base(runtime.GOOS, getenv)
}

func base(goos string, getenv func(string) string) (string, error) {
	var dir string
	switch goos {
	case "windows":
		dir = getenv("LocalAppData")
		if dir == "" {
			return "", errors.New("%LocalAppData% is not defined")
		}
	case "darwin", "ios":
		dir = getenv("HOME")
		if dir == "" {
			return "", errors.New("$HOME is not defined")
		}
		dir += "/Library/Caches"
	case "plan9":
		dir = getenv("home")
		if dir == "" {
			return "", errors.New("$home is not defined")
		}
		dir += "/lib/cache"
	default: // Unix
		dir = getenv("XDG_CACHE_HOME")
		if dir == "" {
			dir = getenv("HOME")
			if dir == "" {
				return "", errors.New("neither $XDG_CACHE_HOME nor $HOME are defined")
			}
			dir += "/.cache"
		} else if !filepath.IsAbs(dir) {
			return "", errors.New("path in $XDG_CACHE_HOME is relative")
		}
	}
	if !filepath.IsAbs(dir) {
		return "", errors.New("the user cache directory " + dir + " is relative")
	}
	return dir, nil
}

// Dir is the directory name in flareform's part of the user's cache, Base/flareform/name, as
// getenv gives it; "" when getenv gives no user cache directory: the caller then keeps no
// cache on disk (never the process's own cache directory instead).
func Dir(getenv func(string) string, name string) string {
	b, err := Base(getenv)
	if err != nil {
		return ""
	}
	return filepath.Join(b, "flareform", name)
}
