package cfapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// closedPortURL is an API base URL on a loopback port nothing listens on.
func closedPortURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr + "/client/v4"
}

func testClient(t *testing.T, baseURL string, logf func(string, ...any)) *Client {
	t.Helper()
	c, err := New(Config{BaseURL: baseURL, Token: "tok", HTTPClient: &http.Client{Timeout: 10 * time.Second},
		Concurrency: 4, MaxRetries: 4, MaxRetryAfter: time.Minute, Logf: logf})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// An API that cannot be reached (a refused connection, an unknown host) fails at once: no
// retries, no retry lines. Waiting does not fix a wrong base URL or a machine off the network.
func TestUnreachableAPIIsNotRetried(t *testing.T) {
	for name, base := range map[string]string{
		"refused connection": closedPortURL(t),
		"unknown host":       "http://flareform-test-no-such-host.invalid/client/v4",
	} {
		t.Run(name, func(t *testing.T) {
			var lines []string
			c := testClient(t, base, func(f string, a ...any) { lines = append(lines, fmt.Sprintf(f, a...)) })
			start := time.Now()
			_, err := c.Account("0123456789abcdef0123456789abcdef").Scripts(context.Background())
			if err == nil || !Unreachable(err) {
				t.Fatalf("err %v, want an unreachable API", err)
			}
			var retryErr *RetryError
			if errors.As(err, &retryErr) || len(lines) > 0 {
				t.Errorf("retried: %v; log %q", err, lines)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
}

// A transient failure is still retried, and a failure that hits many calls is told once.
func TestTransientFailuresAreRetriedAndToldOnce(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 6 { // the first attempt of each of the three calls, and more
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"success":true,"errors":[],"messages":[],"result":{"ok":true}}`)
	}))
	defer srv.Close()
	var mu sync.Mutex
	var lines []string
	c := testClient(t, srv.URL+"/client/v4", func(f string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, fmt.Sprintf(f, a...))
	})
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Call(context.Background(), http.MethodGet, fmt.Sprintf("accounts/a/thing%d", i), nil, &struct{}{}); err != nil {
				t.Errorf("call %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if len(lines) != 1 || !strings.Contains(lines[0], "503") || !strings.Contains(lines[0], "retrying in") {
		t.Errorf("retry lines %q, want one line for the 503", lines)
	}
}

// VerifyToken asks the user endpoint, and for an account token (which that endpoint calls an
// Invalid API Token) its account's endpoint.
func TestVerifyTokenFallsBackToTheAccountEndpoint(t *testing.T) {
	var paths []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Header.Get("Authorization") == "Bearer user-tok" && r.URL.Path == "/client/v4/user/tokens/verify":
			io.WriteString(w, `{"success":true,"errors":[],"messages":[],"result":{"id":"u1","status":"active"}}`)
		case r.Header.Get("Authorization") == "Bearer acct-tok" && r.URL.Path == "/client/v4/accounts/acct1/tokens/verify":
			io.WriteString(w, `{"success":true,"errors":[],"messages":[],"result":{"id":"a1","status":"expired","expires_on":"2026-01-01T00:00:00Z"}}`)
		default:
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"success":false,"errors":[{"code":1000,"message":"Invalid API Token"}],"messages":[],"result":null}`)
		}
	}))
	defer srv.Close()
	verify := func(token, account string) (TokenInfo, error) {
		c, err := New(Config{BaseURL: srv.URL + "/client/v4", Token: token, HTTPClient: srv.Client(), Concurrency: 2})
		if err != nil {
			t.Fatal(err)
		}
		return c.VerifyToken(context.Background(), account)
	}
	if info, err := verify("user-tok", "acct1"); err != nil || info.Kind != UserToken || info.Status != TokenActive || info.ID != "u1" {
		t.Errorf("user token: %+v, %v", info, err)
	}
	if info, err := verify("acct-tok", "acct1"); err != nil || info.Kind != AccountToken || info.Status != TokenExpired || info.ExpiresOn == "" {
		t.Errorf("account token: %+v, %v", info, err)
	}
	var apiErr *APIError
	if _, err := verify("bad", "acct1"); !errors.As(err, &apiErr) || apiErr.Code != CodeInvalidToken {
		t.Errorf("unknown token: %v, want code 1000", err)
	}
	paths = nil
	if _, err := verify("acct-tok", ""); !errors.As(err, &apiErr) || apiErr.Code != CodeInvalidToken || len(paths) != 1 {
		t.Errorf("account token without an account: %v after %v, want the user endpoint's 1000 alone", err, paths)
	}
}
