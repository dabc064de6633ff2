package workerd

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flareform/flareform/internal/syncbuf"
)

const testCompatDate = "2024-09-01"

// testBinary returns the workerd binary or fails the test with the fix.
func testBinary(t testing.TB) string {
	t.Helper()
	bin, err := FindBinary()
	if err != nil {
		t.Fatalf("these tests need the real workerd: %v", err)
	}
	return bin
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer = syncbuf.Buffer

func esmWorker(name, code string, bindings ...Binding) Worker {
	return Worker{
		Name:              name,
		MainModule:        "worker.js",
		Modules:           []Module{{Name: "worker.js", Type: "esm", Content: []byte(code)}},
		CompatibilityDate: testCompatDate,
		Bindings:          bindings,
	}
}

// startTest starts w and registers its Close plus a check that no workerd
// child outlives the test.
func startTest(t testing.TB, opts Options, w Worker) *Process {
	t.Helper()
	checkNoLeakedChildren(t)
	if opts.Binary == "" {
		opts.Binary = testBinary(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := Start(ctx, opts, w)
	if err != nil {
		t.Fatalf("Start(%s): %v", w.Name, err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// checkNoLeakedChildren fails the test if, when it ends, this test process
// still has a live child process.
func checkNoLeakedChildren(t testing.TB) {
	t.Helper()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			kids := childPids(t)
			if len(kids) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("leaked child processes: %v", kids)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// childPids lists live (non-zombie) children of this process from /proc.
func childPids(t testing.TB) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("read /proc: %v", err)
	}
	self := os.Getpid()
	var kids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		// Fields after the parenthesised command: state ppid ...
		rest := string(stat[bytes.LastIndexByte(stat, ')')+2:])
		fields := strings.Fields(rest)
		if len(fields) < 2 || fields[0] == "Z" {
			continue
		}
		if ppid, _ := strconv.Atoi(fields[1]); ppid == self {
			kids = append(kids, pid)
		}
	}
	return kids
}

// serve puts p behind a loopback HTTP server, as the data plane does.
func serve(t testing.TB, p http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv.URL
}

func get(t testing.TB, url, host string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp, body
}

// fakeAI speaks the raw protocol of ai.Handler for a few test models.
type fakeAI struct {
	png  []byte
	gate chan struct{} // "@cf/test/gate" answers once this is closed

	mu    sync.Mutex
	calls []string // "model body"
}

func newFakeAI(t testing.TB) (*fakeAI, string) {
	png := []byte("\x89PNG\r\n\x1a\n")
	for i := 0; i < 70000; i++ { // large enough to need several chunks, all byte values
		png = append(png, byte(i*7+i/256))
	}
	f := &fakeAI{png: png, gate: make(chan struct{})}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, strings.TrimPrefix(srv.URL, "http://")
}

func (f *fakeAI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	model, ok := strings.CutPrefix(r.URL.Path, "/run/")
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.calls = append(f.calls, model+" "+string(body))
	f.mu.Unlock()
	if !ok || r.Method != http.MethodPost {
		http.Error(w, "bad request", http.StatusNotFound)
		return
	}
	var in struct {
		Prompt string `json:"prompt"`
	}
	switch model {
	case "@cf/test/png":
		w.Header().Set("Content-Type", "image/png")
		w.Write(f.png)
	case "@cf/test/json":
		_ = json.Unmarshal(body, &in)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"response": "echo:" + in.Prompt})
	case "@cf/test/jsoncharset":
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write([]byte(`{"response":"charset"}`))
	case "@cf/test/gate":
		select {
		case <-f.gate:
		case <-time.After(10 * time.Second):
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"open":true}`))
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"errors":[{"code":5007,"message":"No such model ` + model + `"}]}`))
	}
}

func (f *fakeAI) callLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}
