// Package confined is the one way flareform reads a file that its inputs name: the spec, the
// code esbuild bundles (and the package.json and tsconfig.json files it consults), saved plans,
// wrangler configs for `import`, `invoke --data @FILE`, `smoke.body_file` and key files.
//
// Every read follows the same rules, so a hostile path is refused with an error instead of
// hanging flareform, exhausting its memory or shipping its environment to a public URL:
//
//   - symlinks are resolved first, and the real path must not lie under /proc, /sys or /dev
//     (/proc/self/environ is flareform's own environment, token included);
//   - only regular files: a FIFO, socket, device or directory is refused before it is opened,
//     and the open is non-blocking and does not follow a final symlink, so a FIFO or link
//     swapped in after the check cannot hang the read or redirect it;
//   - a size cap per kind of file, checked before reading and enforced while reading (a file
//     that grows under the reader), and a deadline for the whole read;
//   - with a Tree, the real path must lie inside it: the project's code cannot pull in files
//     from elsewhere on the machine, through `..` or through a symlink.
//
// Errors name the path and the rule and say how to fix it; they never hold file content.
package confined

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ReadTimeout bounds one read. Regular files on local disks answer at once; the deadline is
// for the ones that do not (a stuck network or FUSE mount), so flareform fails instead of
// hanging.
const ReadTimeout = 5 * time.Second

// Kind is a kind of file flareform reads, with its size cap. docs/security.md lists the caps.
type Kind struct {
	// Name says what the file is for, in messages: "spec", "worker module".
	Name string
	// Limit is the most bytes a file of this kind may hold.
	Limit int64
	// Fix is how to repair a refused file of this kind, in the user's terms.
	Fix string
}

// The kinds of file flareform reads. The caps are an order of magnitude above what a real
// file of the kind holds, and far below what would hurt the machine.
var (
	// Spec is flareform.yaml.
	Spec = Kind{Name: "spec", Limit: 1 << 20, Fix: "pass the right path with --file, or create one with `flareform init`"}
	// Module is one file the bundle imports: a worker module on Cloudflare is at most 10 MiB
	// gzipped on the paid plan, so one source file of more is no worker's.
	Module = Kind{Name: "worker module", Limit: 10 << 20, Fix: "import only the project's own source files (regular files inside the project)"}
	// PackageConfig is a package.json, tsconfig.json or jsconfig.json esbuild consults while
	// resolving imports.
	PackageConfig = Kind{Name: "package config", Limit: 4 << 20, Fix: "make it a regular file inside the project"}
	// SavedPlan is a file `plan --out` wrote.
	SavedPlan = Kind{Name: "saved plan", Limit: 16 << 20, Fix: "pass a file written by `flareform plan --out`"}
	// WranglerConfig is the wrangler.toml, wrangler.json or wrangler.jsonc `import` reads.
	WranglerConfig = Kind{Name: "wrangler config", Limit: 1 << 20, Fix: "pass the project's wrangler.toml, wrangler.json or wrangler.jsonc"}
	// RequestBody is a file `invoke --data @FILE` sends.
	RequestBody = Kind{Name: "request body", Limit: 32 << 20, Fix: "pass a regular file of at most 32 MiB (a picture, a WAV, a JSON body)"}
	// SmokeBody is `smoke.body_file`.
	SmokeBody = Kind{Name: "smoke body", Limit: 10 << 20, Fix: "point it at a regular file of at most 10 MiB inside the project, relative to the spec"}
	// KeyFile is a file holding one API key.
	KeyFile = Kind{Name: "key file", Limit: 4 << 10, Fix: "point it at a regular file holding only the key"}
)

// MaxBundleInput caps the bytes one bundle may read in all, its modules and package configs
// together: a tree of many files each under Module.Limit must not add up to gigabytes.
const MaxBundleInput = 64 << 20

// pseudoRoots hold files that are not data at rest: /proc/self/environ is flareform's own
// environment (token included), /dev/zero never ends, /sys changes under the reader.
var pseudoRoots = []string{"/proc", "/sys", "/dev"}

// Error is a file flareform refuses to read. Problem names the path and the rule, never the
// file's content.
type Error struct {
	Path    string
	Problem string
	Fix     string
}

func (e *Error) Error() string { return e.Problem }

func refuse(path, fix, format string, args ...any) *Error {
	return &Error{Path: path, Problem: fmt.Sprintf(format, args...), Fix: fix}
}

// ReadFile reads path as a file of kind, following the package's rules; with tree non-nil the
// file's real path must also lie inside tree.
func ReadFile(path string, kind Kind, tree *Tree) ([]byte, error) {
	real, info, err := check(path, kind, tree)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(real, os.O_RDONLY|openFlags, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, refuse(path, kind.Fix, "%s: was replaced by a symbolic link while flareform read it", path)
		}
		return nil, fmt.Errorf("open %s: %w", path, unwrapPath(err))
	}
	defer f.Close()
	opened, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, unwrapPath(err))
	}
	if !opened.Mode().IsRegular() {
		return nil, refuse(path, kind.Fix, "%s: is %s, not a regular file", path, DescribeMode(opened.Mode()))
	}
	if !os.SameFile(info, opened) {
		return nil, refuse(path, kind.Fix, "%s: was replaced while flareform read it", path)
	}
	if opened.Size() > kind.Limit {
		return nil, tooLarge(path, kind)
	}
	return readWithin(f, path, kind, opened.Size(), ReadTimeout)
}

// Check reports why path cannot be read as a file of kind (see ReadFile), without opening it:
// for files another component reads later. It returns the real path.
func Check(path string, kind Kind, tree *Tree) (string, error) {
	real, _, err := check(path, kind, tree)
	return real, err
}

// check resolves symlinks in path and checks the result is a regular file of at most
// kind.Limit bytes, outside the pseudo file systems and, with tree, inside it.
func check(path string, kind Kind, tree *Tree) (string, fs.FileInfo, error) {
	if path == "" {
		return "", nil, refuse(path, kind.Fix, "no %s file given", kind.Name)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", nil, fmt.Errorf("resolve %s: %w", path, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", nil, resolveError(path, kind, err)
	}
	if root := pseudoRoot(real); root != "" {
		return "", nil, refuse(path, kind.Fix, "%s: resolves to %s, under %s, where flareform reads no files", path, real, root)
	}
	if tree != nil && !tree.Contains(real) {
		return "", nil, tree.outside(path, real, kind)
	}
	info, err := os.Lstat(real)
	if err != nil {
		return "", nil, fmt.Errorf("stat %s: %w", path, unwrapPath(err))
	}
	if !info.Mode().IsRegular() {
		return "", nil, refuse(path, kind.Fix, "%s: is %s, not a regular file", path, DescribeMode(info.Mode()))
	}
	if info.Size() > kind.Limit {
		return "", nil, tooLarge(path, kind)
	}
	return real, info, nil
}

// resolveError explains why path's symlinks could not be resolved.
func resolveError(path string, kind Kind, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return refuse(path, "create it or fix the path", "%s: does not exist", path)
	case errors.Is(err, syscall.ELOOP) || strings.Contains(err.Error(), "too many links"):
		// EvalSymlinks reports a loop with an unwrapped error of its own.
		return refuse(path, "fix the symbolic links so they end at a regular file", "%s: its symbolic links form a loop", path)
	}
	return fmt.Errorf("resolve %s: %w", path, unwrapPath(err))
}

// unwrapPath drops the *PathError around err (its path is already in our message), and keeps
// err itself when there is nothing to unwrap.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func pseudoRoot(real string) string {
	for _, root := range pseudoRoots {
		if real == root || strings.HasPrefix(real, root+"/") {
			return root
		}
	}
	return ""
}

// DescribeMode says what kind of file m is, for messages ("a named pipe (FIFO)").
func DescribeMode(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	default:
		return "not a regular file"
	}
}

func tooLarge(path string, kind Kind) error {
	return refuse(path, kind.Fix, "%s: larger than %d bytes, the most a %s may hold", path, kind.Limit, kind.Name)
}

// readWithin reads at most kind.Limit bytes of f, giving up after timeout. size is f's size
// when it was opened: the buffer starts that large, so a large file is read in one go rather
// than by a buffer doubling from 512 bytes (a file that grew is still cut off at the cap). A
// read that never returns leaves its goroutine behind; closing f (deferred by the caller)
// usually ends it.
func readWithin(f *os.File, path string, kind Kind, size int64, timeout time.Duration) ([]byte, error) {
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		buf := bytes.NewBuffer(make([]byte, 0, min(size, kind.Limit)+bytes.MinRead)) // ReadFrom grows below MinRead
		_, err := buf.ReadFrom(io.LimitReader(f, kind.Limit+1))
		done <- result{buf.Bytes(), err}
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("read %s: %w", path, unwrapPath(r.err))
		}
		if int64(len(r.data)) > kind.Limit {
			return nil, tooLarge(path, kind)
		}
		return r.data, nil
	case <-timer.C:
		return nil, refuse(path, kind.Fix, "%s: reading took longer than %s", path, timeout)
	}
}

// CheckWritable reports why flareform must not replace path with a file it writes (--key-out,
// `import`'s spec): an existing path must be a regular file, so a device, FIFO or symlink is
// never written through or read back. A path that does not exist yet is fine.
func CheckWritable(path string) error {
	info, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("stat %s: %w", path, unwrapPath(err))
	case !info.Mode().IsRegular():
		return refuse(path, "give the path of a regular file, not a link, device or pipe", "%s: is %s, not a regular file", path, DescribeMode(info.Mode()))
	}
	return nil
}
