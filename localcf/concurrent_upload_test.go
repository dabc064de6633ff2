package localcf

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
)

// Uploads start workerd outside the global lock, so concurrent uploads of one script must still
// each build on the state they commit to: every version inherits the secret the first upload
// set, and none is lost or numbered twice.
func TestConcurrentUploadsOfOneScriptEachBuildOnTheLatest(t *testing.T) {
	srv := startTestServer(t, Options{})
	c := newClient(t, srv)
	c.mustUpload("app", defaultMeta(map[string]any{"type": "secret_text", "name": "API_KEY", "text": "s0"}), testWorker("v0"))
	c.enableWorkersDev("app")

	const n = 4
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			meta := defaultMeta(map[string]any{"type": "plain_text", "name": "GREETING", "text": fmt.Sprint(i)})
			meta["keep_bindings"] = []string{"secret_text"}
			statuses[i] = c.upload("app", meta, testWorker(fmt.Sprintf("v%d", i+1))).Status
		}()
	}
	wg.Wait()
	for i, status := range statuses {
		if status != http.StatusOK {
			t.Errorf("concurrent upload %d: HTTP %d", i+1, status)
		}
	}
	if ids := c.versionIDs("app"); len(ids) != n+1 {
		t.Fatalf("%d versions after %d uploads, want %d", len(ids), n+1, n+1)
	}
	var numbers struct {
		Items []struct {
			Number int `json:"number"`
		} `json:"items"`
	}
	c.do(http.MethodGet, "/workers/scripts/app/versions", "", nil).result(t, &numbers)
	seen := map[int]bool{}
	for _, it := range numbers.Items {
		if seen[it.Number] {
			t.Errorf("version number %d given twice", it.Number)
		}
		seen[it.Number] = true
	}
	env := c.envOf("app")
	if env["secret"] != "s0" {
		t.Errorf("serving version has API_KEY %v, want the inherited secret", env["secret"])
	}
	if v := env["version"]; v == "v0" {
		t.Errorf("still serving %v after four newer uploads", v)
	}
}

// Uploads of different scripts proceed in parallel and every one of them serves.
func TestConcurrentUploadsOfManyScripts(t *testing.T) {
	srv := startTestServer(t, Options{})
	c := newClient(t, srv)
	const n = 6
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = c.upload(fmt.Sprintf("w%d", i), defaultMeta(), testWorker(fmt.Sprintf("w%d", i))).Status
		}()
	}
	wg.Wait()
	for i := range n {
		if statuses[i] != http.StatusOK {
			t.Fatalf("upload w%d: HTTP %d", i, statuses[i])
		}
		c.enableWorkersDev(fmt.Sprintf("w%d", i))
		expectServing(t, srv, fmt.Sprintf("w%d", i), fmt.Sprintf("w%d", i))
	}
}
