// Package localcftest starts a local Cloudflare for other packages' tests.
package localcftest

import (
	"context"
	"testing"

	"github.com/flareform/flareform/localcf"
)

// New starts a memory-state local Cloudflare (or one configured by opts[0]) and closes it when
// the test ends. A missing workerd binary fails the test with the reason. Zones for custom
// domains: opts[0].Zones at start, or AddZone later.
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

// AddZone adds the zone name ("example.com") to srv's default account, so Workers custom
// domains in it can be attached, and returns it (the zone it holds already, if any). An error
// fails the test.
func AddZone(t testing.TB, srv *localcf.Server, name string) localcf.Zone {
	t.Helper()
	z, err := srv.AddZone(name)
	if err != nil {
		t.Fatalf("add zone %s to the local Cloudflare: %v", name, err)
	}
	return z
}
