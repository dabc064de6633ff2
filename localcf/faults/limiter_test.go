package faults

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// fakeClock is a settable clock for Limiter.SetClock; tests drive it from one goroutine.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time          { return c.now }
func (c *fakeClock) Advance(d time.Duration) { c.now = c.now.Add(d) }

func newTestLimiter(limit int, window time.Duration) (*Limiter, *fakeClock, *stateful, http.Handler) {
	clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	l := NewLimiter(limit, window)
	l.SetClock(clock.Now)
	api := &stateful{}
	return l, clock, api, l.Middleware(api)
}

func bearer(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

func TestLimiterHeadersCountDown(t *testing.T) {
	_, clock, _, h := newTestLimiter(3, time.Minute)
	wantT := []int{60, 50, 40}
	for n := range 3 {
		rec := serve(h, "GET", scriptPath, bearer("tok"))
		if rec.Code != 200 {
			t.Fatalf("request %d: status %d, want 200", n+1, rec.Code)
		}
		want := fmt.Sprintf(`"default";r=%d;t=%d`, 2-n, wantT[n])
		if got := rec.Header().Get("Ratelimit"); got != want {
			t.Errorf("request %d: Ratelimit = %q, want %q", n+1, got, want)
		}
		if got := rec.Header().Get("Ratelimit-Policy"); got != `"default";q=3;w=60` {
			t.Errorf("request %d: Ratelimit-Policy = %q", n+1, got)
		}
		if got := rec.Header().Get("Retry-After"); got != "" {
			t.Errorf("request %d within the limit has Retry-After %q", n+1, got)
		}
		clock.Advance(10 * time.Second)
	}
}

func TestLimiterBlocksForRestOfWindow(t *testing.T) {
	_, clock, api, h := newTestLimiter(2, 5*time.Minute)
	for range 2 {
		if rec := serve(h, "PUT", scriptPath, bearer("tok")); rec.Code != 200 {
			t.Fatalf("within limit: status %d", rec.Code)
		}
	}

	clock.Advance(90*time.Second + 500*time.Millisecond)
	rec := serve(h, "PUT", scriptPath, bearer("tok"))
	if rec.Code != 429 {
		t.Fatalf("request over the limit: status %d, want 429", rec.Code)
	}
	env := decodeEnvelope(t, rec.Body.Bytes())
	if env.Errors[0].Code != 971 {
		t.Errorf("error code %d, want 971", env.Errors[0].Code)
	}
	if got := rec.Header().Get("Retry-After"); got != "210" { // 300s - 90.5s, rounded up
		t.Errorf("Retry-After = %q, want 210", got)
	}
	if got := rec.Header().Get("Ratelimit"); got != `"default";r=0;t=210` {
		t.Errorf("Ratelimit = %q, want r=0 (never negative)", got)
	}
	if rec.Header().Get(FaultHeader) != "" {
		t.Error("real rate limiting must not carry the injected-fault header")
	}

	// Still blocked right up to the end of the window, however long the caller waits in between.
	clock.Advance(209 * time.Second)
	if rec := serve(h, "PUT", scriptPath, bearer("tok")); rec.Code != 429 || rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("just before the window ends: status %d Retry-After %q, want 429 and 1", rec.Code, rec.Header().Get("Retry-After"))
	}
	if n := api.calls.Load(); n != 2 {
		t.Errorf("API calls = %d; refused requests must not reach it", n)
	}

	clock.Advance(time.Second)
	rec = serve(h, "PUT", scriptPath, bearer("tok"))
	if rec.Code != 200 || rec.Header().Get("Ratelimit") != `"default";r=1;t=300` {
		t.Fatalf("new window: status %d Ratelimit %q, want 200 and r=1;t=300", rec.Code, rec.Header().Get("Ratelimit"))
	}
}

func TestLimiterKeepsCallersApart(t *testing.T) {
	_, _, _, h := newTestLimiter(1, time.Minute)
	callers := []struct {
		name   string
		header http.Header
	}{
		{"token A", bearer("a")},
		{"token B", bearer("b")},
		{"global key", http.Header{"X-Auth-Key": {"k"}, "X-Auth-Email": {"e@example.com"}}},
		{"anonymous", nil},
	}
	for _, c := range callers {
		if rec := serve(h, "GET", scriptPath, c.header); rec.Code != 200 {
			t.Errorf("%s first request: status %d, want 200", c.name, rec.Code)
		}
	}
	for _, c := range callers {
		if rec := serve(h, "GET", scriptPath, c.header); rec.Code != 429 {
			t.Errorf("%s second request: status %d, want 429", c.name, rec.Code)
		}
	}
}

func TestLimiterKeysAnonymousCallersByIP(t *testing.T) {
	_, _, _, h := newTestLimiter(1, time.Minute)
	status := func(remoteAddr string) int {
		req, _ := http.NewRequest("GET", scriptPath, nil)
		req.RemoteAddr = remoteAddr
		rec := newRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	if got := status("10.0.0.1:1000"); got != 200 {
		t.Fatalf("first from 10.0.0.1: %d", got)
	}
	if got := status("10.0.0.1:2000"); got != 429 {
		t.Errorf("second from 10.0.0.1 (other port): %d, want 429", got)
	}
	if got := status("10.0.0.2:1000"); got != 200 {
		t.Errorf("first from 10.0.0.2: %d, want 200", got)
	}
}

func TestLimiterDisabledPassesEverythingWithoutHeaders(t *testing.T) {
	for _, limit := range []int{0, -1} {
		api := &stateful{}
		h := NewLimiter(limit, time.Minute).Middleware(api)
		for range 50 {
			rec := serve(h, "GET", scriptPath, bearer("tok"))
			if rec.Code != 200 || rec.Header().Get("Ratelimit") != "" {
				t.Fatalf("limit %d: status %d Ratelimit %q; want 200 and no header", limit, rec.Code, rec.Header().Get("Ratelimit"))
			}
		}
	}
}

func TestLimiterDefaultsToCloudflareWindow(t *testing.T) {
	rec := serve(NewLimiter(DefaultRateLimit, 0).Middleware(&stateful{}), "GET", scriptPath, bearer("t"))
	if got := rec.Header().Get("Ratelimit-Policy"); got != `"default";q=1200;w=300` {
		t.Errorf("Ratelimit-Policy = %q, want q=1200;w=300", got)
	}
	if got := rec.Header().Get("Ratelimit"); !strings.HasPrefix(got, `"default";r=1199;t=`) {
		t.Errorf("Ratelimit = %q, want r=1199", got)
	}
}

func TestLimiterForgetsExpiredCallers(t *testing.T) {
	l, clock, _, h := newTestLimiter(5, time.Minute)
	for n := range sweepThreshold {
		serve(h, "GET", scriptPath, bearer(fmt.Sprint("tok", n)))
	}
	clock.Advance(time.Minute)
	serve(h, "GET", scriptPath, bearer("late"))
	l.mu.Lock()
	tracked := len(l.callers)
	l.mu.Unlock()
	if tracked != 1 {
		t.Errorf("tracking %d callers after every earlier window expired; want 1", tracked)
	}
}

func BenchmarkLimiterMiddleware(b *testing.B) {
	h := NewLimiter(1<<30, time.Minute).Middleware(&stateful{})
	header := bearer("tok")
	b.ReportAllocs()
	for b.Loop() {
		serve(h, "GET", scriptPath, header)
	}
}
