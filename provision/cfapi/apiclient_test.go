package cfapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cloudflare/cloudflare-go/v6/option"
)

// The JSON client must send what the SDK's root client sent: the path under the
// base URL's path, the token, a JSON body the retrier can replay, through every middleware in
// order; and report a failed call as an *APIError with the envelope's code and message.
func TestAPIClientSendsThroughMiddlewares(t *testing.T) {
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, string(b))
		if r.URL.Path != "/client/v4/accounts/a1/ai-gateway/gateways" {
			t.Errorf("path = %s", r.URL.Path)
		}
		if got := r.Header.Get("Authorization"); got != "Bearer tok-123" {
			t.Errorf("Authorization = %q", got)
		}
		if got := r.Header.Get("Content-Type"); got != "application/json" {
			t.Errorf("Content-Type = %q", got)
		}
		if got := r.Header.Get("User-Agent"); !strings.HasPrefix(got, "Cloudflare/Go") {
			t.Errorf("User-Agent = %q", got)
		}
		if len(bodies) == 1 { // the first attempt fails, so the retrier replays the body
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"success":true,"result":{"id":"gw"}}`)
	}))
	defer srv.Close()

	var order []string
	mark := func(name string) option.Middleware {
		return func(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
			order = append(order, name)
			return next(req)
		}
	}
	r := &retrier{maxRetries: 1, maxRetryAfter: time.Second, logf: func(string, ...any) {}}
	c, err := newAPIClient(srv.URL+"/client/v4", "tok-123", srv.Client(), []option.Middleware{mark("outer"), r.middleware, mark("inner")})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.call(context.Background(), http.MethodPost, "accounts/a1/ai-gateway/gateways", []byte(`{"id":"gw"}`))
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	if string(got) != `{"success":true,"result":{"id":"gw"}}` {
		t.Errorf("answer = %s", got)
	}
	if strings.Join(bodies, "|") != `{"id":"gw"}|{"id":"gw"}` {
		t.Errorf("bodies = %q, want the body on both attempts", bodies)
	}
	if strings.Join(order, ",") != "outer,inner,inner" {
		t.Errorf("middlewares ran %v, want outer once around the retrier, inner per attempt", order)
	}
}

func TestAPIClientReportsAPIError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"success":false,"errors":[{"code":7002,"message":"index not found"}]}`)
	}))
	defer srv.Close()
	c, err := newAPIClient(srv.URL, "tok-123", srv.Client(), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.call(context.Background(), http.MethodGet, "/accounts/a1/vectorize/v2/indexes/x", nil)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 404 || apiErr.Code != 7002 || apiErr.Message != "index not found" {
		t.Fatalf("err = %#v, want *APIError 404 code 7002", err)
	}
	if strings.Contains(err.Error(), "tok-123") {
		t.Errorf("error shows the token: %v", err)
	}
}
