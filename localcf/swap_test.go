package localcf

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestRedeployDropsNoRequest keeps requests flowing while versions are deployed one after
// another: every request must get a 200 from some version, none an error.
func TestRedeployDropsNoRequest(t *testing.T) {
	srv := startTestServer(t, Options{})
	c := newClient(t, srv)
	c.mustUpload("app", defaultMeta(), testWorker("v0"))
	c.enableWorkersDev("app")

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var ok, failed atomic.Int64
	var firstFailure atomic.Value
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				req, _ := http.NewRequest(http.MethodGet, "http://"+srv.WorkersDevAddr()+"/", nil)
				req.Host = "app." + srv.Subdomain() + ".workers.dev"
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, err.Error())
					continue
				}
				var buf [64]byte
				n, _ := resp.Body.Read(buf[:])
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(buf[:n]), "ok v") {
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, fmt.Sprintf("HTTP %d %q", resp.StatusCode, buf[:n]))
					continue
				}
				ok.Add(1)
			}
		}()
	}
	for i := 1; i <= 8; i++ {
		c.mustUpload("app", defaultMeta(), testWorker(fmt.Sprintf("v%d", i)))
	}
	stop()
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed during redeploys; first: %v", failed.Load(), failed.Load()+ok.Load(), firstFailure.Load())
	}
	if ok.Load() == 0 {
		t.Fatal("no request completed")
	}
	expectServing(t, srv, "app", "v8")
}

// TestLazyStartIsSingleFlight: after a restart from state, concurrent first requests share one
// workerd start.
func TestLazyStartIsSingleFlight(t *testing.T) {
	dir := t.TempDir()
	srv := startTestServer(t, Options{StateDir: dir})
	c := newClient(t, srv)
	c.mustUpload("app", defaultMeta(), testWorker("v1"))
	c.enableWorkersDev("app")
	srv.Close()

	srv = startTestServer(t, Options{StateDir: dir})
	var starts atomic.Int64
	inner := srv.live.start
	srv.live.start = func(ctx context.Context, k liveKey, v *version) (p *wprocess, d duration, err error) {
		starts.Add(1)
		return inner(ctx, k, v)
	}
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			expectServing(t, srv, "app", "v1")
		}()
	}
	wg.Wait()
	if n := starts.Load(); n != 1 {
		t.Fatalf("%d workerd starts for concurrent first requests, want 1", n)
	}
}
