// Package workerd finds the pinned workerd binary and runs one uploaded worker
// version per workerd process, so the local Cloudflare executes scripts in the
// same runtime Cloudflare uses.
package workerd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/flareform/flareform/internal/usercache"
)

// PinnedVersion is the npm version of workerd flareform runs. It must equal
// the workerd entry in the repository's package.json (a test checks).
const PinnedVersion = "1.20261117.1"

// BinaryEnv names the environment variable that overrides binary discovery.
const BinaryEnv = "FLAREFORM_WORKERD"

// nativeBinary is the native executable inside the npm package. The
// node_modules/.bin/workerd entry may be a Node wrapper that adds start-up
// time and leaves the real workerd orphaned when signalled, so it is never used.
var nativeBinary = filepath.Join("node_modules", "@cloudflare", "workerd-linux-64", "bin", "workerd")

// Finder finds the native workerd binary and installs the pinned one with npm when asked. Its
// environment is the caller's, never read from the process behind its back: the CLI passes the
// one it was given, so a test's environment decides where a test's install goes.
type Finder struct {
	// Getenv reads FLAREFORM_WORKERD; nil means os.Getenv.
	Getenv func(string) string
	// CacheDir is the user cache directory Install fills, one directory per version under it
	// (<user cache>/flareform/workerd). "" means none: Find does not look there and Install
	// refuses.
	CacheDir string
}

// FinderFromEnv is the Finder of the environment getenv: FLAREFORM_WORKERD and the user cache
// directory (XDG_CACHE_HOME, else HOME/.cache on Linux; none without either) both as getenv
// gives them.
func FinderFromEnv(getenv func(string) string) Finder {
	return Finder{Getenv: getenv, CacheDir: usercache.Dir(getenv, "workerd")}
}

// FindBinary is the process environment's Finder's Find, for callers that have no environment
// of their own to pass (a library's default, tools); the CLI uses FinderFromEnv.
func FindBinary() (string, error) {
	return FinderFromEnv(os.Getenv).Find()
}

// Find returns the path of the native workerd binary. It tries, in order: $FLAREFORM_WORKERD
// (which must exist), node_modules found walking up from the current directory, the same
// walking up from the running executable's directory, and the user cache that Install fills.
func (f Finder) Find() (string, error) {
	getenv := f.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if p := getenv(BinaryEnv); p != "" {
		if err := checkExecutable(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w; point it at the native workerd binary (…/%s) or unset it", BinaryEnv, p, err, nativeBinary)
		}
		return p, nil
	}
	for _, start := range searchRoots() {
		if p, ok := findUpwards(start, nativeBinary); ok {
			return p, nil
		}
	}
	if dir, err := f.installDir(); err == nil {
		p := filepath.Join(dir, nativeBinary)
		if checkExecutable(p) == nil {
			return p, nil
		}
	}
	return "", errors.New("workerd binary not found: run `npm ci` in the flareform repository, " +
		"or set " + BinaryEnv + " to the native binary (node_modules/@cloudflare/workerd-linux-64/bin/workerd), " +
		"or install workerd@" + PinnedVersion + " into the user cache with Finder.Install (npm needed)")
}

// FindOrInstall returns Find's answer, installing the pinned workerd into the user cache with
// npm when no binary is found.
func (f Finder) FindOrInstall(ctx context.Context, log io.Writer) (string, error) {
	if p, err := f.Find(); err == nil {
		return p, nil
	}
	return f.Install(ctx, log)
}

// Install runs `npm install --no-save --prefix <cache> workerd@PinnedVersion`
// and returns the installed native binary. npm's output goes to log.
func (f Finder) Install(ctx context.Context, log io.Writer) (string, error) {
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", fmt.Errorf("install workerd@%s: npm not found on PATH (install Node.js 18+ or set %s): %w", PinnedVersion, BinaryEnv, err)
	}
	dir, err := f.installDir()
	if err != nil {
		return "", fmt.Errorf("install workerd@%s: %w", PinnedVersion, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("install workerd@%s: %w", PinnedVersion, err)
	}
	if log == nil {
		log = io.Discard
	}
	cmd := exec.CommandContext(ctx, npm, "install", "--no-save", "--no-audit", "--no-fund",
		"--prefix", dir, "workerd@"+PinnedVersion)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("install workerd@%s with npm into %s: %w", PinnedVersion, dir, err)
	}
	p := filepath.Join(dir, nativeBinary)
	if err := checkExecutable(p); err != nil {
		return "", fmt.Errorf("install workerd@%s: npm finished but %w (is this linux-x64?)", PinnedVersion, err)
	}
	return p, nil
}

// installDir is where Install puts the pinned workerd, one directory per version.
func (f Finder) installDir() (string, error) {
	if f.CacheDir == "" {
		return "", fmt.Errorf("no user cache directory to install into (the environment sets neither XDG_CACHE_HOME nor HOME); set HOME, or set %s to a workerd binary", BinaryEnv)
	}
	return filepath.Join(f.CacheDir, PinnedVersion), nil
}

// searchRoots are the directories whose ancestors may hold node_modules.
func searchRoots() []string {
	var roots []string
	if wd, err := os.Getwd(); err == nil {
		roots = append(roots, wd)
	}
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		roots = append(roots, filepath.Dir(exe))
	}
	return roots
}

// findUpwards looks for rel in dir and each of its ancestors.
func findUpwards(dir, rel string) (string, bool) {
	for {
		p := filepath.Join(dir, rel)
		if checkExecutable(p) == nil {
			return p, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

func checkExecutable(p string) error {
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s does not exist", p)
	}
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", p)
	}
	return nil
}
