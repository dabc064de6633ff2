package provision

import (
	"compress/gzip"
	"fmt"

	"github.com/flareform/flareform/bundler"
)

// MaxScriptBytes is Cloudflare's Worker size limit on the paid plan, measured after gzip
// (/work/shared/reference/cloudflare-api.md §9.5; the free plan allows 3 MB). Going over is
// error 10027 at upload; plan refuses it first, so nothing is written.
const MaxScriptBytes = 10 << 20

// checkBundleSize reports a bundle that Cloudflare would refuse: the gzip size of the module
// and its source map (uploaded with it) above MaxScriptBytes.
func checkBundleSize(b *bundler.Result) error {
	size, err := gzipSize(b.Code, b.SourceMap)
	if err != nil {
		return fmt.Errorf("measure bundle size: %w", err)
	}
	if size > MaxScriptBytes {
		return fmt.Errorf("the bundle is %d bytes after gzip (%d before), more than Cloudflare's %d-byte Worker size limit",
			size, len(b.Code)+len(b.SourceMap), MaxScriptBytes)
	}
	return nil
}

// gzipSize is the compressed size of parts, without keeping the compressed bytes.
func gzipSize(parts ...[]byte) (int64, error) {
	counter := &countingWriter{}
	zw, err := gzip.NewWriterLevel(counter, gzip.BestSpeed)
	if err != nil {
		return 0, err
	}
	for _, p := range parts {
		if _, err := zw.Write(p); err != nil {
			return 0, err
		}
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	return counter.n, nil
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}
