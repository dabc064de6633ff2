package keysource

import (
	"errors"

	"github.com/flareform/flareform/internal/confined"
)

// ReadFile reads a small regular file under the rules of package confined (no /proc, /sys or
// /dev, no FIFO or device, a non-blocking open, at most limit bytes, a deadline). The content
// never appears in an error.
func ReadFile(path string, limit int64) ([]byte, error) {
	kind := confined.KeyFile
	kind.Limit = limit
	data, err := confined.ReadFile(path, kind, nil)
	return data, asKeyError(err)
}

// asKeyError turns a refusal of package confined into this package's *Error, whose Fix the
// commands show.
func asKeyError(err error) error {
	var ce *confined.Error
	if errors.As(err, &ce) {
		return refuse(ce.Fix, "%s", ce.Problem)
	}
	return err
}

// CheckWritable reports why flareform must not replace path with a file it writes (--key-out):
// an existing path must be a regular file, so a device, FIFO or symlink is never written
// through or read back. A path that does not exist yet is fine.
func CheckWritable(path string) error {
	err := confined.CheckWritable(path)
	var ce *confined.Error
	if errors.As(err, &ce) {
		return refuse("give the path of a regular file (it is created with mode 0600)", "%s", ce.Problem)
	}
	return err
}
