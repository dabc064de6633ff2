package faults

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

const scriptPath = "/client/v4/accounts/0123456789abcdef0123456789abcdef/workers/scripts/hello"

func TestEnvelopeFaultsRespondLikeCloudflare(t *testing.T) {
	tests := []struct {
		rule           Rule
		wantStatus     int
		wantCode       int
		wantMessage    string
		wantRetryAfter string
	}{
		{Rule{Kind: "429"}, 429, 971, "Please wait and consider throttling your request speed", "1"},
		{Rule{Kind: "429", RetryAfter: 7}, 429, 971, "Please wait and consider throttling your request speed", "7"},
		{Rule{Kind: "500"}, 500, 10002, "Unexpected internal server error", ""},
	}
	for _, tt := range tests {
		t.Run(tt.rule.String(), func(t *testing.T) {
			api := &stateful{}
			rec := serve(New([]Rule{tt.rule}, 1).Middleware(api), "PUT", scriptPath, nil)

			if rec.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			if got := rec.Header().Get(FaultHeader); got != tt.rule.Kind {
				t.Errorf("%s = %q, want %q", FaultHeader, got, tt.rule.Kind)
			}
			if got := rec.Header().Get("Retry-After"); got != tt.wantRetryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tt.wantRetryAfter)
			}
			if got := rec.Header().Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", got)
			}
			env := decodeEnvelope(t, rec.Body.Bytes())
			if env.Errors[0].Code != tt.wantCode || env.Errors[0].Message != tt.wantMessage {
				t.Errorf("error = %+v, want code %d %q", env.Errors[0], tt.wantCode, tt.wantMessage)
			}
			if n := api.calls.Load(); n != 0 {
				t.Errorf("faulted request reached the API %d times; want 0 (state must not change)", n)
			}
		})
	}
}

func TestEdgeFaultsAnswerWithHTMLErrorPage(t *testing.T) {
	for _, status := range []int{502, 503} {
		kind := fmt.Sprint(status)
		t.Run(kind, func(t *testing.T) {
			api := &stateful{}
			rec := serve(New([]Rule{{Kind: kind}}, 1).Middleware(api), "GET", scriptPath, nil)

			if rec.Code != status {
				t.Errorf("status = %d, want %d", rec.Code, status)
			}
			if got := rec.Header().Get(FaultHeader); got != kind {
				t.Errorf("%s = %q, want %q", FaultHeader, got, kind)
			}
			if got := rec.Header().Get("Content-Type"); !strings.HasPrefix(got, "text/html") {
				t.Errorf("Content-Type = %q, want text/html", got)
			}
			wantTitle := fmt.Sprintf("%d %s", status, http.StatusText(status))
			if !strings.Contains(rec.Body.String(), wantTitle) {
				t.Errorf("body does not name %q:\n%s", wantTitle, rec.Body)
			}
			if n := api.calls.Load(); n != 0 {
				t.Errorf("faulted request reached the API %d times; want 0", n)
			}
		})
	}
}

func TestRequestsNotMatchingAnyRulePassThroughUntouched(t *testing.T) {
	api := &stateful{}
	h := New([]Rule{{Kind: "500", Path: "/client/v4/user/tokens/verify"}}, 1).Middleware(api)
	rec := serve(h, "GET", scriptPath, nil)
	if rec.Code != 200 || rec.Header().Get(FaultHeader) != "" || api.calls.Load() != 1 {
		t.Fatalf("got status %d, fault header %q, API calls %d; want 200, none, 1",
			rec.Code, rec.Header().Get(FaultHeader), api.calls.Load())
	}
}

// newRealServer runs h on loopback; drop and cancellation need a real connection.
func newRealServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// freshClient opens a new connection per request: Go's transport silently retries some
// requests that fail on a reused connection, which would hide a dropped connection.
func freshClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
}

func TestDropClosesConnectionWithoutResponse(t *testing.T) {
	for _, method := range []string{"GET", "PUT"} {
		t.Run(method, func(t *testing.T) {
			api := &stateful{}
			srv := newRealServer(t, New([]Rule{{Kind: "drop", Path: "*/secrets"}}, 1).Middleware(api))
			req, err := http.NewRequest(method, srv.URL+scriptPath+"/secrets", strings.NewReader(`{"name":"K"}`))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := freshClient().Do(req)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("got response %s; want a connection error with no response", resp.Status)
			}
			if n := api.calls.Load(); n != 0 {
				t.Errorf("dropped request reached the API %d times; want 0", n)
			}
		})
	}
}

func TestDropCountOneThenRequestsSucceed(t *testing.T) {
	api := &stateful{}
	srv := newRealServer(t, New([]Rule{{Kind: "drop", Count: 1}}, 1).Middleware(api))
	client := freshClient()
	if resp, err := client.Post(srv.URL+scriptPath, "application/json", nil); err == nil {
		resp.Body.Close()
		t.Fatalf("first request got %s; want dropped", resp.Status)
	}
	resp, err := client.Post(srv.URL+scriptPath, "application/json", nil)
	if err != nil {
		t.Fatalf("second request: %v; want success after count=1 drop", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || api.calls.Load() != 1 {
		t.Fatalf("second request status %d, API calls %d; want 200 and 1", resp.StatusCode, api.calls.Load())
	}
}

func TestLatencyDelaysThenProceeds(t *testing.T) {
	api := &stateful{}
	h := New([]Rule{{Kind: "latency", LatencyMS: 60}, {Kind: "latency", LatencyMS: 40, Path: "/client/*"}}, 1).Middleware(api)
	start := time.Now()
	rec := serve(h, "GET", scriptPath, nil)
	elapsed := time.Since(start)

	if elapsed < 100*time.Millisecond {
		t.Errorf("took %v; want at least the summed latency of 100ms", elapsed)
	}
	if rec.Code != 200 || api.calls.Load() != 1 {
		t.Errorf("status %d, API calls %d; want the request to proceed (200, 1 call)", rec.Code, api.calls.Load())
	}
	if got := rec.Header().Get(FaultHeader); got != "" {
		t.Errorf("%s = %q on a request that only got latency; want none", FaultHeader, got)
	}
}

func TestLatencyThenErrorFaultWaitsThenFails(t *testing.T) {
	api := &stateful{}
	h := New([]Rule{{Kind: "latency", LatencyMS: 50}, {Kind: "503"}}, 1).Middleware(api)
	start := time.Now()
	rec := serve(h, "GET", scriptPath, nil)
	if elapsed := time.Since(start); elapsed < 50*time.Millisecond {
		t.Errorf("took %v; want at least 50ms of latency before the 503", elapsed)
	}
	if rec.Code != 503 || api.calls.Load() != 0 {
		t.Errorf("status %d, API calls %d; want 503 and 0", rec.Code, api.calls.Load())
	}
}

func TestLatencyStopsWhenClientCancels(t *testing.T) {
	api := &stateful{}
	handlerDone := make(chan struct{})
	inner := New([]Rule{{Kind: "latency", LatencyMS: 60_000}}, 1).Middleware(api)
	srv := newRealServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(handlerDone) // runs even when the middleware aborts with a panic
		inner.ServeHTTP(w, r)
	}))

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+scriptPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := freshClient().Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got %s; want the client's deadline to end the request", resp.Status)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v; want context deadline exceeded", err)
	}
	select {
	case <-handlerDone:
	case <-time.After(10 * time.Second):
		t.Fatal("middleware kept sleeping after the client cancelled")
	}
	if n := api.calls.Load(); n != 0 {
		t.Errorf("cancelled request reached the API %d times; want 0", n)
	}
}

// outcomes sends n requests and records for each the injected fault kind, or "" when it passed.
func outcomes(h http.Handler, n int, method, path string) []string {
	got := make([]string, n)
	for k := range got {
		got[k] = serve(h, method, path, nil).Header().Get(FaultHeader)
	}
	return got
}

func TestSkipThenCountLimitsFiring(t *testing.T) {
	api := &stateful{}
	h := New([]Rule{{Kind: "500", Skip: 2, Count: 3}}, 1).Middleware(api)
	got := outcomes(h, 8, "GET", scriptPath)
	want := []string{"", "", "500", "500", "500", "", "", ""}
	if !slices.Equal(got, want) {
		t.Fatalf("faults = %q, want %q", got, want)
	}
	if n := api.calls.Load(); n != 5 {
		t.Errorf("API calls = %d, want 5 (only the unfaulted requests)", n)
	}
}

func TestFirstFiringNonLatencyRuleWins(t *testing.T) {
	h := New([]Rule{{Kind: "429", Count: 1}, {Kind: "502", Count: 1}, {Kind: "500", Method: "post"}}, 1).Middleware(&stateful{})
	got := outcomes(h, 4, "POST", scriptPath)
	want := []string{"429", "502", "500", "500"}
	if !slices.Equal(got, want) {
		t.Fatalf("faults = %q, want %q", got, want)
	}
}

func TestMethodAndPathSelectRequests(t *testing.T) {
	h := New([]Rule{{Kind: "500", Method: "DELETE", Path: "/client/v4/accounts/*/workers/scripts/*"}}, 1).Middleware(&stateful{})
	cases := []struct {
		method, path, want string
	}{
		{"DELETE", scriptPath, "500"},
		{"delete", scriptPath, "500"},
		{"GET", scriptPath, ""},
		{"DELETE", "/client/v4/accounts/abc/workers/subdomain", ""},
		{"DELETE", scriptPath + "/secrets/KEY", "500"}, // '*' crosses '/'
	}
	for _, c := range cases {
		if got := outcomes(h, 1, c.method, c.path)[0]; got != c.want {
			t.Errorf("%s %s: fault %q, want %q", c.method, c.path, got, c.want)
		}
	}
}

func TestMatchGlob(t *testing.T) {
	cases := []struct {
		pattern, path string
		want          bool
	}{
		{"", "/anything", true},
		{"*", "/anything/at/all", true},
		{"/a/b", "/a/b", true},
		{"/a/b", "/a/b/", false},
		{"/a/b", "/a/c", false},
		{"/a/*", "/a/", true},
		{"/a/*", "/a/b/c", true},
		{"/a/*", "/a", false},
		{"*/secrets", "/client/v4/x/secrets", true},
		{"*/secrets", "/client/v4/x/secrets/K", false},
		{"/a/*/c/*", "/a/b/c/d", true},
		{"/a/*/c/*", "/a/b/d/c", false},
		{"/a/*/c", "/a/c/c/c", true},
		{"/a/**/z", "/a/z", false},
		{"/a/**/z", "/a//z", true},
		{"*b*b*", "/aabab", true},
		{"*b*b*", "/aab", false},
	}
	for _, c := range cases {
		if got := matchGlob(c.pattern, c.path); got != c.want {
			t.Errorf("matchGlob(%q, %q) = %v, want %v", c.pattern, c.path, got, c.want)
		}
	}
}

func TestProbabilityIsSeededRepeatableAndNearP(t *testing.T) {
	const n, p = 1000, 0.3
	rules := []Rule{{Kind: "429", Probability: p}}
	inj := New(rules, 42)
	first := outcomes(inj.Middleware(&stateful{}), n, "GET", scriptPath)

	fired := 0
	for _, o := range first {
		if o == "429" {
			fired++
		}
	}
	if rate := float64(fired) / n; rate < 0.25 || rate > 0.35 {
		t.Errorf("fault rate %.3f over %d requests, want near %.2f", rate, n, p)
	}

	again := outcomes(New(rules, 42).Middleware(&stateful{}), n, "GET", scriptPath)
	if !slices.Equal(first, again) {
		t.Error("same rules and seed gave a different fault sequence")
	}
	inj.Set(rules, 42)
	afterReset := outcomes(inj.Middleware(&stateful{}), n, "GET", scriptPath)
	if !slices.Equal(first, afterReset) {
		t.Error("Set with the same seed did not restart the fault sequence")
	}
	other := outcomes(New(rules, 43).Middleware(&stateful{}), n, "GET", scriptPath)
	if slices.Equal(first, other) {
		t.Error("seeds 42 and 43 gave the same 1000-request sequence")
	}
}

func TestSetResetsCountersAndRulesReturnsCopy(t *testing.T) {
	rules := []Rule{{Kind: "500", Count: 1}}
	inj := New(rules, 7)
	h := inj.Middleware(&stateful{})
	if got := outcomes(h, 2, "GET", scriptPath); !slices.Equal(got, []string{"500", ""}) {
		t.Fatalf("before Set: %q", got)
	}
	inj.Set(rules, 9)
	if got := outcomes(h, 2, "GET", scriptPath); !slices.Equal(got, []string{"500", ""}) {
		t.Fatalf("after Set the count should start again: %q", got)
	}

	got, seed := inj.Rules()
	if seed != 9 || !slices.Equal(got, rules) {
		t.Fatalf("Rules() = %v, %d; want %v, 9", got, seed, rules)
	}
	got[0].Kind = "502"
	if again, _ := inj.Rules(); again[0].Kind != "500" {
		t.Error("changing the slice Rules returned changed the Injector's rules")
	}

	inj.Set(nil, 0)
	if got := outcomes(h, 1, "GET", scriptPath); got[0] != "" {
		t.Errorf("after Set(nil) a request got fault %q", got[0])
	}
}

func TestInvalidRuleNeverFires(t *testing.T) {
	api := &stateful{}
	h := New([]Rule{{Kind: "418"}, {Kind: "latency"}}, 1).Middleware(api)
	rec := serve(h, "GET", scriptPath, nil)
	if rec.Code != 200 || api.calls.Load() != 1 {
		t.Fatalf("status %d, API calls %d; an invalid rule must not fire", rec.Code, api.calls.Load())
	}
}

func TestConcurrentRequestsFireExactlyCount(t *testing.T) {
	api := &stateful{}
	srv := newRealServer(t, New([]Rule{{Kind: "503", Count: 5}}, 1).Middleware(api))
	results := make(chan int, 40)
	for range 40 {
		go func() {
			resp, err := http.Get(srv.URL + scriptPath)
			if err != nil {
				results <- -1
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			results <- resp.StatusCode
		}()
	}
	counts := map[int]int{}
	for range 40 {
		counts[<-results]++
	}
	if counts[503] != 5 || counts[200] != 35 || api.calls.Load() != 35 {
		t.Fatalf("status counts %v, API calls %d; want 5x503, 35x200, 35 calls", counts, api.calls.Load())
	}
}

func BenchmarkInjectorMiddleware(b *testing.B) {
	h := New([]Rule{
		{Kind: "429", Path: "/client/v4/accounts/*/workers/scripts/*/secrets", Probability: 0.1},
		{Kind: "500", Path: "*/deployments", Method: "POST"},
	}, 1).Middleware(&stateful{})
	req := httptest.NewRequest("GET", scriptPath, nil)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}
