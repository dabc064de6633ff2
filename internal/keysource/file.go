package keysource

import (
	"errors"

	"github.com/flareform/flareform/internal/confined"
)

// ReadTimeout bounds one file read; see confined.ReadTimeout.
const ReadTimeout = confined.ReadTimeout

const regularFix = "point it at a regular file holding only the key"

// ReadFile reads a small regular file under the rules of package confined (no /proc, /sys or
// /dev, no FIFO or device, a non-blocking open, at most limit bytes, a deadline). The content
// never appears in an error.
func ReadFile(path string, limit int64) ([]byte, error) {
	data, err := confined.ReadFile(path, confined.Kind{Name: "key file", Limit: limit, Fix: regularFix}, nil)
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

// CheckRegular reports why path cannot be read as a small regular file (see ReadFile), without
// opening it: for files that another component reads later, such as a Worker's entry file.
func CheckRegular(path string) error {
	_, err := confined.Check(path, confined.Kind{Name: "file", Limit: 1 << 62, Fix: regularFix}, nil)
	return asKeyError(err)
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
