package cfapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock drives a pacer without real waiting: sleeping advances the clock.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	slept  []time.Duration
	logged []string
}

func newTestPacer(limit int, window time.Duration) (*pacer, *fakeClock) {
	c := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	p := newPacer(limit, window, time.Minute, func(format string, args ...any) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.logged = append(c.logged, fmt.Sprintf(format, args...))
	})
	p.now = func() time.Time {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.t
	}
	p.sleep = func(_ context.Context, d time.Duration) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.slept = append(c.slept, d)
		c.t = c.t.Add(d)
		return nil
	}
	return p, c
}

func answer(status int, headers ...string) *http.Response {
	res := &http.Response{StatusCode: status, Header: http.Header{}}
	for i := 0; i+1 < len(headers); i += 2 {
		res.Header.Set(headers[i], headers[i+1])
	}
	return res
}

// send acquires one request slot and answers it with res.
func send(t *testing.T, p *pacer, res *http.Response) {
	t.Helper()
	if err := p.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.observe(res)
}

func TestPacerWaitsForTheServerWindowInsteadOfCrossingIt(t *testing.T) {
	p, clock := newTestPacer(1200, 5*time.Minute)
	send(t, p, answer(200, "Ratelimit", `"default";r=2;t=10`))
	send(t, p, answer(200)) // no header: the pacer counts this one itself
	send(t, p, answer(200))
	if len(clock.slept) != 0 {
		t.Fatalf("waited %v while the quota lasted", clock.slept)
	}
	send(t, p, answer(200, "Ratelimit", `"default";r=1199;t=300`))
	if len(clock.slept) != 1 || clock.slept[0] != 10*time.Second {
		t.Fatalf("slept %v, want one wait of 10s (until the window reset)", clock.slept)
	}
	if len(clock.logged) != 1 || !strings.Contains(clock.logged[0], "rate budget") {
		t.Errorf("log %q, want one line about the rate budget", clock.logged)
	}
}

func TestPacerHoldsItsOwnRequestsToThePolicyWithoutHeaders(t *testing.T) {
	p, clock := newTestPacer(3, time.Minute)
	for range 3 {
		send(t, p, answer(200))
	}
	send(t, p, answer(200))
	if len(clock.slept) != 1 || clock.slept[0] != time.Minute {
		t.Fatalf("slept %v, want one wait of a minute for the oldest request to leave the window", clock.slept)
	}
}

func TestPacerLearnsThePolicyFromTheServer(t *testing.T) {
	p, clock := newTestPacer(1200, 5*time.Minute)
	send(t, p, answer(200, "Ratelimit-Policy", `"default";q=2;w=30`))
	send(t, p, answer(200))
	send(t, p, answer(200))
	if len(clock.slept) != 1 || clock.slept[0] != 30*time.Second {
		t.Fatalf("slept %v, want one 30s wait from the server's 2-per-30s policy", clock.slept)
	}
}

func TestPacerStopsEverythingAfterA429(t *testing.T) {
	p, clock := newTestPacer(1200, 5*time.Minute)
	// The window says 300 s to reset, but the block ends when Retry-After says.
	send(t, p, answer(http.StatusTooManyRequests, "Retry-After", "7", "Ratelimit", `"default";r=900;t=300`))
	send(t, p, answer(200))
	if len(clock.slept) != 1 || clock.slept[0] != 7*time.Second {
		t.Fatalf("slept %v, want the 7s the server asked for", clock.slept)
	}
	// A block longer than the engine waits out fails at once instead of hanging.
	send(t, p, answer(http.StatusTooManyRequests, "Retry-After", "300"))
	err := p.acquire(context.Background())
	if err == nil || !strings.Contains(err.Error(), "try again later") {
		t.Errorf("acquire during a 5-minute block: %v, want a try-again-later error", err)
	}
	if len(clock.slept) != 1 {
		t.Errorf("slept %v during a block it should refuse to wait out", clock.slept[1:])
	}
}

// Before the first answer a small burst goes out at once (a plan's first reads), and the
// request after it waits for that answer: the budget is learned before more are sent.
func TestPacerSendsAFirstBurstThenWaitsForTheFirstAnswer(t *testing.T) {
	p, _ := newTestPacer(1200, 5*time.Minute)
	for i := range firstBurst {
		done := make(chan error, 1)
		go func() { done <- p.acquire(context.Background()) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("request %d of the first burst was held", i+1)
		}
	}
	next := make(chan error, 1)
	go func() { next <- p.acquire(context.Background()) }()
	select {
	case err := <-next:
		t.Fatalf("request %d went out before the first answer (err %v)", firstBurst+1, err)
	case <-time.After(50 * time.Millisecond):
	}
	p.observe(answer(200, "Ratelimit", `"default";r=100;t=60`))
	select {
	case err := <-next:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the request after the burst is still held after the first answer")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	q, _ := newTestPacer(1200, 5*time.Minute)
	for range firstBurst {
		_ = q.acquire(context.Background())
	}
	if err := q.acquire(ctx); err == nil {
		t.Error("a cancelled wait for the first answer returned no error")
	}
}

func TestParseRateHeaders(t *testing.T) {
	r, reset, ok := parseRateLimit(`"burst";r=50;t=30, "default";r=7;t=120`)
	if !ok || r != 7 || reset != 120*time.Second {
		t.Errorf("Ratelimit: got %d %s %v, want the tightest item (7, 2m0s)", r, reset, ok)
	}
	for _, bad := range []string{"", "default", `"default";r=x;t=1`, `"default";r=-1;t=1`, `"default";t=5`} {
		if _, _, ok := parseRateLimit(bad); ok {
			t.Errorf("Ratelimit %q parsed as valid", bad)
		}
	}
	q, w, ok := parseRatePolicy(`"default";q=1200;w=300`)
	if !ok || q != 1200 || w != 5*time.Minute {
		t.Errorf("Ratelimit-Policy: got %d %s %v", q, w, ok)
	}
	if _, _, ok := parseRatePolicy(`"default";q=0;w=300`); ok {
		t.Error("a zero quota parsed as valid")
	}
}

func TestPacerIgnoresALateAnswerThatCountsLess(t *testing.T) {
	p, clock := newTestPacer(1200, 5*time.Minute)
	send(t, p, answer(200, "Ratelimit", `"default";r=10;t=60`))
	for range 2 { // two requests in flight; the later-sent one is answered first
		if err := p.acquire(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	p.observe(answer(200, "Ratelimit", `"default";r=1;t=60`)) // one left, one still in flight
	p.observe(answer(200, "Ratelimit", `"default";r=2;t=60`)) // older news: must not raise it
	send(t, p, answer(200))
	if len(clock.slept) != 1 || clock.slept[0] != 60*time.Second {
		t.Fatalf("slept %v, want one wait of 60s once the last request was used", clock.slept)
	}
}

// A request leaves the pacer's log a window plus the longest round trip after it was sent: the
// server counted it when it arrived, which may have been that much later, and a request sent
// when the window has passed in the pacer's clock alone may still fall in the server's.
func TestPacerHoldsRequestsAWindowPlusTheLongestTrip(t *testing.T) {
	p, clock := newTestPacer(2, 10*time.Second)
	slow := func(*http.Request) (*http.Response, error) {
		clock.mu.Lock()
		clock.t = clock.t.Add(3 * time.Second) // a slow round trip
		clock.mu.Unlock()
		return answer(200), nil
	}
	req, err := http.NewRequest(http.MethodGet, "http://api.test/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	start := p.now()
	for range 2 {
		if _, err := p.middleware(req, slow); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The first request was logged at 0 s and could have arrived as late as 3 s.
	if got, want := p.now().Sub(start), 13*time.Second; got != want {
		t.Errorf("the third request went out at %s, want %s (window 10s + round trip 3s)", got, want)
	}
}
