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

// FindBinary returns the path of the native workerd binary. It tries, in
// order: $FLAREFORM_WORKERD (which must exist), node_modules found walking up
// from the current directory, the same walking up from the running
// executable's directory, and the user cache that Install fills.
func FindBinary() (string, error) {
	if p := os.Getenv(BinaryEnv); p != "" {
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
	if dir, err := cacheDir(); err == nil {
		p := filepath.Join(dir, nativeBinary)
		if checkExecutable(p) == nil {
			return p, nil
		}
	}
	return "", errors.New("workerd binary not found: run `npm ci` in the flareform repository, " +
		"or set " + BinaryEnv + " to the native binary (node_modules/@cloudflare/workerd-linux-64/bin/workerd), " +
		"or install workerd@" + PinnedVersion + " into the user cache with workerd.Install (npm needed)")
}

// FindOrInstall returns FindBinary's answer, installing the pinned workerd
// into the user cache with npm when no binary is found.
func FindOrInstall(ctx context.Context, log io.Writer) (string, error) {
	if p, err := FindBinary(); err == nil {
		return p, nil
	}
	return Install(ctx, log)
}

// Install runs `npm install --no-save --prefix <cache> workerd@PinnedVersion`
// and returns the installed native binary. npm's output goes to log.
func Install(ctx context.Context, log io.Writer) (string, error) {
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", fmt.Errorf("install workerd@%s: npm not found on PATH (install Node.js 18+ or set %s): %w", PinnedVersion, BinaryEnv, err)
	}
	dir, err := cacheDir()
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

// cacheDir is where Install puts the pinned workerd, one directory per version.
func cacheDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("user cache directory: %w", err)
	}
	return filepath.Join(base, "flareform", "workerd", PinnedVersion), nil
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
