// Package localcftest starts a local Cloudflare for other packages' tests.
package localcftest

import (
	"context"
	"testing"

	"github.com/flareform/flareform/localcf"
)

// New starts a memory-state local Cloudflare (or one configured by opts[0]) and closes it when
// the test ends. A missing workerd binary fails the test with the reason.
func New(t testing.TB, opts ...localcf.Options) *localcf.Server {
	t.Helper()
	var o localcf.Options
	if len(opts) > 0 {
		o = opts[0]
	}
	srv, err := localcf.Start(context.Background(), o)
	if err != nil {
		t.Fatalf("start local Cloudflare: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close local Cloudflare: %v", err)
		}
	})
	return srv
}
