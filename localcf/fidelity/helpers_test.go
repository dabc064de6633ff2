package fidelity

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flareform/flareform/bundler"
	"github.com/flareform/flareform/internal/modroot"
	"github.com/flareform/flareform/localcf"
	"github.com/flareform/flareform/localcf/localcftest"
)

// repoRoot is the module root, where node_modules and the templates are.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := modroot.FromWorkingDir()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// canonicalWorker is the text-to-image worker users start from (the `init` template), bundled
// into one module: it imports its shared src/lib modules, and the clients imitated here upload
// a single file.
func canonicalWorker(t *testing.T) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := bundler.Bundle(ctx, bundler.Options{Entry: filepath.Join(repoRoot(t), "examples", "text-to-image", "src", "worker.js")})
	if err != nil {
		t.Fatalf("bundle the canonical worker: %v", err)
	}
	return res.Code
}

func startServer(t *testing.T) *localcf.Server {
	t.Helper()
	return localcftest.New(t)
}

// workersDev sends a request to https://<script>.<subdomain>.workers.dev through the local data plane.
func workersDev(t *testing.T, srv *localcf.Server, script, method, key string, body any) *http.Response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, method, "http://"+srv.WorkersDevAddr()+"/", rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = script + "." + srv.Subdomain() + ".workers.dev"
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, req.Host, err)
	}
	return resp
}

// expectPNG asserts a 200 image/png answer that decodes at the given size.
func expectPNG(t *testing.T, resp *http.Response, width, height int) {
	t.Helper()
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200; body: %.300s", resp.StatusCode, data)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "image/png") {
		t.Fatalf("content type %q, want image/png", ct)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("decode PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != width || b.Dy() != height {
		t.Fatalf("PNG is %dx%d, want %dx%d", b.Dx(), b.Dy(), width, height)
	}
}

func expectStatus(t *testing.T, resp *http.Response, want int) {
	t.Helper()
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("status %d, want %d; body: %.300s", resp.StatusCode, want, data)
	}
}
