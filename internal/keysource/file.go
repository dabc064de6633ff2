package keysource

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ReadTimeout bounds one file read. Regular files on local disks answer at once; the deadline
// is for the ones that do not (a stuck network or FUSE mount), so flareform fails instead of
// hanging.
const ReadTimeout = 5 * time.Second

// pseudoRoots hold files that are not data at rest: /proc/self/environ is flareform's own
// environment (token included), /dev/zero never ends, /sys changes under the reader.
var pseudoRoots = []string{"/proc", "/sys", "/dev"}

const regularFix = "point it at a regular file holding only the key"

// ReadFile reads a small regular file: symlinks are resolved first, the real path must not be
// under /proc, /sys or /dev, its type is checked before it is opened (so a FIFO is never
// opened, and the open is non-blocking in case it was swapped in since), and more than limit
// bytes or ReadTimeout is an error. The content never appears in an error.
func ReadFile(path string, limit int64) ([]byte, error) {
	real, err := regularPath(path)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(real, os.O_RDONLY|openFlags, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, errors.Unwrap(err))
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	if !info.Mode().IsRegular() {
		return nil, refuse(regularFix, "%s: is %s, not a regular file", path, describeMode(info.Mode()))
	}
	if info.Size() > limit {
		return nil, tooLarge(path, limit)
	}
	return readWithin(f, path, limit, ReadTimeout)
}

// regularPath resolves symlinks in path and checks the result is a regular file outside the
// pseudo file systems, without opening it.
func regularPath(path string) (string, error) {
	if path == "" {
		return "", refuse("give the path of the key file", "no file given")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", path, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", refuse("create it or fix the path", "%s: does not exist", path)
		}
		return "", fmt.Errorf("resolve %s: %w", path, errors.Unwrap(err))
	}
	if root := pseudoRoot(real); root != "" {
		return "", refuse(regularFix, "%s: resolves to %s, under %s, where flareform reads no files", path, real, root)
	}
	info, err := os.Lstat(real)
	if err != nil {
		return "", fmt.Errorf("stat %s: %w", path, errors.Unwrap(err))
	}
	if !info.Mode().IsRegular() {
		return "", refuse(regularFix, "%s: is %s, not a regular file", path, describeMode(info.Mode()))
	}
	return real, nil
}

func pseudoRoot(real string) string {
	for _, root := range pseudoRoots {
		if real == root || strings.HasPrefix(real, root+"/") {
			return root
		}
	}
	return ""
}

func describeMode(m fs.FileMode) string {
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

func tooLarge(path string, limit int64) error {
	return refuse("is this the right file? it should hold only the key", "%s: larger than %d bytes", path, limit)
}

// readWithin reads at most limit bytes of f, giving up after timeout. A read that never
// returns leaves its goroutine behind; closing f (deferred by the caller) usually ends it.
func readWithin(f *os.File, path string, limit int64, timeout time.Duration) ([]byte, error) {
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		data, err := io.ReadAll(io.LimitReader(f, limit+1))
		done <- result{data, err}
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("read %s: %w", path, r.err)
		}
		if int64(len(r.data)) > limit {
			return nil, tooLarge(path, limit)
		}
		return r.data, nil
	case <-timer.C:
		return nil, refuse(regularFix, "%s: reading took longer than %s", path, timeout)
	}
}

// CheckRegular reports why path cannot be read as a small regular file (see ReadFile), without
// opening it: for files that another component reads later, such as a Worker's entry file.
func CheckRegular(path string) error {
	_, err := regularPath(path)
	return err
}

// CheckWritable reports why flareform must not replace path with a file it writes (--key-out):
// an existing path must be a regular file, so a device, FIFO or symlink is never written
// through or read back. A path that does not exist yet is fine.
func CheckWritable(path string) error {
	info, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("stat %s: %w", path, errors.Unwrap(err))
	case !info.Mode().IsRegular():
		return refuse("give the path of a regular file (it is created with mode 0600)", "%s: is %s, not a regular file", path, describeMode(info.Mode()))
	}
	return nil
}
