package provision

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Close leaves no API connection open: a connection the engine keeps (or dialled and never
// used) would make an embedded local Cloudflare's shutdown wait out its grace period.
func TestCloseReleasesEveryAPIConnection(t *testing.T) {
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(5 * time.Millisecond) // concurrent requests need connections of their own
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"success":true,"errors":[],"messages":[],"result":{"subdomain":"acct"}}`))
	}))
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		open[c] = s != http.StateClosed && s != http.StateHijacked
	}
	srv.Start()
	defer srv.Close()
	e, err := New(Config{APIBaseURL: srv.URL, APIToken: "t", RateLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.accountSubdomain(context.Background(), "acct"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	e.Close()
	openConns := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, o := range open {
			if o {
				n++
			}
		}
		return n
	}
	for deadline := time.Now().Add(5 * time.Second); openConns() > 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := openConns(); n > 0 {
		t.Errorf("%d API connections still open after Close", n)
	}
}
