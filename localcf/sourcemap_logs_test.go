package localcf

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flareform/flareform/bundler"
)

// syncBuffer is a log the server's workerd output goroutines write to while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A worker that throws at run time is logged with the user's source position: the local
// Cloudflare maps workerd's worker.js:L:C through the uploaded source map, whose sources the
// bundler wrote relative to the project's directory.
func TestWorkerErrorsAreLoggedAtTheSourceLine(t *testing.T) {
	project := t.TempDir()
	writeSource := func(rel, code string) {
		path := filepath.Join(project, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeSource("src/worker.js", "import { explode } from './lib/explode.js';\n\nexport default {\n  fetch() {\n    return explode();\n  },\n};\n")
	// The throw is on line 5 of src/lib/explode.js.
	writeSource("src/lib/explode.js", "// padding so the line differs from the bundle's\n\nexport function explode() {\n  const reason = 'kaboom';\n  throw new Error('explode: ' + reason);\n}\n")
	res, err := bundler.Bundle(context.Background(), bundler.Options{Entry: filepath.Join(project, "src", "worker.js"), SourceRoot: project})
	if err != nil {
		t.Fatal(err)
	}

	logs := &syncBuffer{}
	srv := startTestServer(t, Options{Log: logs})
	c := newClient(t, srv)
	meta := map[string]any{"main_module": "worker.js", "compatibility_date": "2025-06-01"}
	ct, body := multipartBody(t, metaPart(t, meta), modulePart("worker.js", string(res.Code)),
		part{name: "worker.js.map", filename: "worker.js.map", contentType: "application/source-map", data: res.SourceMap})
	expect(t, c.do(http.MethodPut, "/workers/scripts/thrower?bindings_inherit=strict", ct, body), http.StatusOK, 0)
	c.enableWorkersDev("thrower")

	if status, _, _ := dev(t, srv, "thrower", srv.Subdomain(), "/"); status != http.StatusInternalServerError {
		t.Fatalf("a throwing worker answered %d, want 500", status)
	}
	// workerd writes the exception to stderr when the request fails; wait for the line to arrive.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "kaboom") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	out := logs.String()
	if !strings.Contains(out, "src/lib/explode.js:5:") {
		t.Fatalf("the worker's exception is not logged at src/lib/explode.js:5:\n%s", out)
	}
	if !strings.Contains(out, "src/worker.js:5:") || strings.Contains(strings.ReplaceAll(out, "src/worker.js:", ""), "worker.js:") {
		t.Errorf("the caller's frame is not mapped to src/worker.js:5, or a bundle location is left:\n%s", out)
	}
	if strings.Contains(out, "workerd@") {
		t.Errorf("workerd's native stack addresses reach the log:\n%s", out)
	}
}
