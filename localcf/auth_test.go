package localcf

import (
	"net/http"
	"testing"
)

func TestAuth(t *testing.T) {
	srv := startTestServer(t, Options{})
	otherAcct, otherToken, err := srv.AddAccount("other-team")
	if err != nil {
		t.Fatal(err)
	}
	owner := newClient(t, srv)
	as := func(token string) *client { c := newClient(t, srv); c.token = token; return c }
	ct, body := multipartBody(t, metaPart(t, defaultMeta()), modulePart("worker.js", testWorker("v1")))

	cases := []struct {
		name         string
		send         func() *apiResponse
		status, code int
	}{
		{"missing token", func() *apiResponse { return as("").do(http.MethodPut, "/workers/scripts/app", ct, body) }, 403, codeAuthError},
		{"unknown token", func() *apiResponse { return as("not-a-token").do(http.MethodPut, "/workers/scripts/app", ct, body) }, 403, codeAuthError},
		{"wrong account", func() *apiResponse { return as(otherToken).do(http.MethodPut, "/workers/scripts/app", ct, body) }, 403, codeAuthError},
		{"malformed header", func() *apiResponse {
			c := as("")
			return c.do(http.MethodPut, "/workers/scripts/app", ct, body, "Authorization", "Basic dXNlcjpwYXNz")
		}, 400, codeBadHeaders},
		{"verify unknown token", func() *apiResponse { return as("not-a-token").do(http.MethodGet, "!/user/tokens/verify", "", nil) }, 401, codeInvalidToken},
		{"verify without header", func() *apiResponse { return as("").do(http.MethodGet, "!/user/tokens/verify", "", nil) }, 400, codeMissingAuth},
		{"account verify, other account", func() *apiResponse { return as(otherToken).do(http.MethodGet, "/tokens/verify", "", nil) }, 403, codeAuthError},
		{"malformed account id", func() *apiResponse { return owner.do(http.MethodGet, "!/accounts/XYZ/workers/scripts", "", nil) }, 400, codeCouldNotRoute},
		{"unknown route", func() *apiResponse { return owner.do(http.MethodGet, "/workers/nonsense", "", nil) }, 400, codeCouldNotRoute},
		{"wrong method", func() *apiResponse { return owner.do(http.MethodPost, "/workers/scripts/app", ct, body) }, 405, codeMethodNotAllowed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.send()
			expect(t, r, tc.status, tc.code)
			var list []any
			owner.do(http.MethodGet, "/workers/scripts", "", nil).result(t, &list)
			if len(list) != 0 {
				t.Fatalf("a refused request created a script: %v", list)
			}
		})
	}
	// The malformed-header error carries 6111 in its error_chain.
	r := as("").do(http.MethodGet, "/workers/scripts", "", nil, "Authorization", "Bearer bad token")
	expect(t, r, 400, codeBadHeaders)
	if chain := r.Env.Errors[0].ErrorChain; len(chain) != 1 || chain[0].Code != codeBadAuthFormat {
		t.Fatalf("error_chain %+v, want 6111", chain)
	}
	// Valid tokens verify on both endpoints, each on its own account.
	for _, path := range []string{"!/user/tokens/verify", "/tokens/verify"} {
		r := owner.do(http.MethodGet, path, "", nil)
		expect(t, r, 200, 0)
		var res map[string]any
		r.result(t, &res)
		if res["status"] != "active" || res["id"] == "" {
			t.Fatalf("%s result %v", path, res)
		}
	}
	other := as(otherToken)
	other.account = otherAcct
	expect(t, other.do(http.MethodGet, "/workers/subdomain", "", nil), 200, 0)
	var accts []map[string]any
	other.do(http.MethodGet, "!/accounts", "", nil).result(t, &accts)
	if len(accts) != 1 || accts[0]["id"] != otherAcct {
		t.Fatalf("GET /accounts for the other token: %v", accts)
	}
	expect(t, other.do(http.MethodGet, "!/memberships", "", nil), 200, 0)
}

func TestRateLimitPerToken(t *testing.T) {
	srv := startTestServer(t, Options{RateLimit: 3})
	c := newClient(t, srv)
	for i := 0; i < 3; i++ {
		expect(t, c.do(http.MethodGet, "/workers/subdomain", "", nil), 200, 0)
	}
	r := c.do(http.MethodGet, "/workers/subdomain", "", nil)
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Fatalf("4th call: HTTP %d Retry-After %q, want 429 with Retry-After", r.Status, r.Header.Get("Retry-After"))
	}
	// Another account's token has its own budget.
	_, other, err := srv.AddAccount("")
	if err != nil {
		t.Fatal(err)
	}
	o := newClient(t, srv)
	o.token = other
	expect(t, o.do(http.MethodGet, "!/user/tokens/verify", "", nil), 200, 0)
}
