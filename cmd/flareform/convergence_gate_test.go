package main

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// callGate is a reverse proxy between one flareform process and the local Cloudflare. It
// numbers the API calls (requests under the API base path) in the order they arrive and holds
// the one at position holdAt until the test ends the hold:
//   - before forwarding it (afterHandled false): the server has not seen the call;
//   - after the server answered it (afterHandled true): the call took effect, the client has
//     not seen the answer.
//
// The held call is a point in the run the test hits every time, whatever the machine's speed,
// which a timer or an injected latency cannot promise.
type callGate struct {
	url          string // the API base URL to give the process instead of the server's
	apiPath      string // the API base path; other requests (/__localcf/info) pass unnumbered
	holdAt       int
	afterHandled bool
	// holdWhen, when set, holds the first API call it matches instead of the one at holdAt.
	holdWhen func(*http.Request) bool
	proxy    *httputil.ReverseProxy

	held    chan struct{} // closed once the call at holdAt is being held
	ended   chan struct{} // closed by end: the hold is over
	forward bool          // set before ended is closed: deliver the held call (false: drop it)

	mu       sync.Mutex
	calls    int
	log      []gateCall
	endOnce  sync.Once
	heldOnce sync.Once
}

// gateCall is one API call the gate forwarded: what it was and when it went on to the server
// (for the held call, after the hold). A concurrent-run schedule compares these times with the
// end of the other run, to tell whether the command read the worker after that run.
type gateCall struct {
	method, path string
	forwarded    time.Time
}

func newCallGate(t *testing.T, apiBase string, holdAt int, afterHandled bool) *callGate {
	t.Helper()
	target, err := url.Parse(apiBase)
	if err != nil {
		t.Fatalf("parse the API base URL: %v", err)
	}
	g := &callGate{
		apiPath: strings.TrimSuffix(target.Path, "/") + "/", holdAt: holdAt, afterHandled: afterHandled,
		held: make(chan struct{}), ended: make(chan struct{}),
	}
	host := &url.URL{Scheme: target.Scheme, Host: target.Host}
	g.proxy = &httputil.ReverseProxy{
		Rewrite:  func(r *httputil.ProxyRequest) { r.SetURL(host) },
		ErrorLog: log.New(io.Discard, "", 0), // a killed client makes the proxy complain
	}
	srv := httptest.NewServer(g)
	t.Cleanup(func() {
		g.end(false) // a hold nobody ended would keep Close waiting
		srv.Close()
	})
	g.url = srv.URL + strings.TrimSuffix(target.Path, "/")
	return g
}

// ServeHTTP forwards every request, holding the API call at position holdAt.
func (g *callGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, g.apiPath) {
		g.proxy.ServeHTTP(w, r)
		return
	}
	if strings.HasSuffix(r.URL.Path, "/tokens/verify") {
		// The token check runs beside the command's calls, which never wait for it: holding it
		// would not pause the command, and the other party would then write while the command
		// goes on (or after it ended). It is not a position of the schedule.
		g.proxy.ServeHTTP(w, r)
		return
	}
	if !g.isHeldCall(r) {
		g.logCall(r)
		g.proxy.ServeHTTP(w, r)
		return
	}
	if !g.afterHandled {
		if g.hold(r.Context()) {
			g.logCall(r)
			g.proxy.ServeHTTP(w, r)
		}
		return
	}
	// The server completes the call even if the client dies during the hold.
	answer := httptest.NewRecorder()
	g.logCall(r)
	g.proxy.ServeHTTP(answer, r.WithContext(context.WithoutCancel(r.Context())))
	if !g.hold(r.Context()) {
		return
	}
	for k, vs := range answer.Header() {
		w.Header()[k] = vs
	}
	w.WriteHeader(answer.Code)
	_, _ = w.Write(answer.Body.Bytes())
}

// isHeldCall numbers the API call r and reports whether it is the one to hold.
func (g *callGate) isHeldCall(r *http.Request) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := g.calls
	g.calls++
	if g.holdWhen != nil {
		if g.holdAt == -2 || !g.holdWhen(r) {
			return false
		}
		g.holdAt = -2 // held once
		return true
	}
	return n == g.holdAt
}

// logCall records that r goes on to the server now.
func (g *callGate) logCall(r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.log = append(g.log, gateCall{method: r.Method, path: r.URL.Path, forwarded: time.Now()})
}

// forwarded returns the API calls forwarded so far, in the order they went to the server.
func (g *callGate) forwarded() []gateCall {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]gateCall(nil), g.log...)
}

// hold signals that the call is held and waits for end; it reports whether to deliver it.
// A client that went away ends the hold too (its call is then dropped).
func (g *callGate) hold(ctx context.Context) bool {
	g.heldOnce.Do(func() { close(g.held) })
	select {
	case <-g.ended:
		return g.forward
	case <-ctx.Done():
		return false
	}
}

// end ends the hold: the held call is delivered when forward, dropped otherwise. Only the
// first end counts.
func (g *callGate) end(forward bool) {
	g.endOnce.Do(func() {
		g.forward = forward
		close(g.ended)
	})
}

// waitHeld waits until the call at holdAt is held; false when the process p ended first (it
// made fewer calls). A run that neither ends nor reaches the call within two minutes fails
// the test.
func (g *callGate) waitHeld(t *testing.T, p *proc) bool {
	t.Helper()
	select {
	case <-g.held:
		return true
	case <-p.done:
		return false
	case <-time.After(2 * time.Minute):
		t.Fatalf("flareform %s neither ended nor reached API call %d within 2 minutes\nstderr:\n%s",
			strings.Join(p.args, " "), g.holdAt, p.stderr.String())
		return false
	}
}
