package workerd

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSwapVersionsDropsNoRequest does what the data plane does on a new
// upload: start the new version, swap the pointer, retire the old one, while
// requests keep arriving. Every request must succeed.
func TestSwapVersionsDropsNoRequest(t *testing.T) {
	version := func(v string) Worker {
		return esmWorker("swap", `
export default {
  async fetch() {
    await new Promise((r) => setTimeout(r, 20));
    return new Response("`+v+`");
  },
};`)
	}
	var current atomic.Pointer[Process]
	old := startTest(t, Options{}, version("v1"))
	current.Store(old)
	base := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		current.Load().ServeHTTP(w, r)
	}))

	var (
		mu       sync.Mutex
		failures []string
		seen     = map[string]int{}
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				body, err := fetchBody(base)
				mu.Lock()
				if err != nil {
					failures = append(failures, err.Error())
				} else {
					seen[body]++
				}
				mu.Unlock()
			}
		}()
	}
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return seen["v1"] >= 8 })

	next := startTest(t, Options{}, version("v2"))
	current.Store(next)
	old.Retire()
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return seen["v2"] >= 8 })
	close(stop)
	wg.Wait()

	select {
	case <-old.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("retired version still running")
	}
	if len(failures) > 0 || len(seen) != 2 {
		t.Fatalf("failures %v, bodies %v", failures, seen)
	}
}

func fetchBody(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", errors.New(resp.Status + ": " + strings.TrimSpace(string(b)))
	}
	return string(b), nil
}

func TestStartHonoursCancelledContext(t *testing.T) {
	checkNoLeakedChildren(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p, err := Start(ctx, Options{Binary: testBinary(t)}, esmWorker("cancelled", `export default {};`))
	if err == nil {
		p.Close()
		t.Fatal("Start succeeded with a cancelled context")
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
