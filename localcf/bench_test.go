package localcf

import (
	"context"
	"fmt"
	"net/http"
	"testing"
)

// BenchmarkStartToReady measures Start until the API answers a token verify, then Close.
func BenchmarkStartToReady(b *testing.B) {
	for b.Loop() {
		srv, err := Start(context.Background(), Options{})
		if err != nil {
			b.Fatalf("start: %v", err)
		}
		req, _ := http.NewRequest(http.MethodGet, srv.APIBaseURL()+"/user/tokens/verify", nil)
		req.Header.Set("Authorization", "Bearer "+srv.Token())
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("verify: %v %v", resp, err)
		}
		resp.Body.Close()
		srv.Close()
	}
}

// BenchmarkUploadToFirstResponse measures a script PUT (new version, workerd start, swap) until
// workers.dev answers with the new version. Target: < 300 ms on 2 cores.
func BenchmarkUploadToFirstResponse(b *testing.B) {
	srv := startTestServer(b, Options{})
	c := newClient(b, srv)
	c.mustUpload("bench", defaultMeta(), testWorker("warmup"))
	c.enableWorkersDev("bench")
	i := 0
	for b.Loop() {
		i++
		version := fmt.Sprintf("b%d", i)
		c.mustUpload("bench", defaultMeta(), testWorker(version))
		expectServing(b, srv, "bench", version)
	}
}
