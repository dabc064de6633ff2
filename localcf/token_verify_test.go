package localcf

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// The verify endpoints answer as Cloudflare's: the envelope with the token's id and status
// (active, disabled, expired, with expires_on when the token has an end), 1000 for a token
// they do not know, and an account-owned token known only to its account's endpoint. A token
// that is not active verifies (with its status) but is refused everywhere else.
func TestTokenVerifyEndpoints(t *testing.T) {
	srv := startTestServer(t, Options{})
	past := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	future := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	mustToken := func(o TokenOptions) string {
		t.Helper()
		tok, err := srv.AddToken(o)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	accountTok := mustToken(TokenOptions{AccountOwned: true})
	disabled := mustToken(TokenOptions{Disabled: true})
	expired := mustToken(TokenOptions{ExpiresOn: past})
	ending := mustToken(TokenOptions{ExpiresOn: future})
	otherAcct, otherTok, err := srv.AddAccount("")
	if err != nil {
		t.Fatal(err)
	}
	as := func(token string) *client { c := newClient(t, srv); c.token = token; return c }

	for _, tc := range []struct {
		name, token, path string
		status, code      int
		wantStatus        string // the result's status on success
		wantExpires       string
		wantMessage       bool // message 10000 "valid and active"
	}{
		{"own token, user endpoint", srv.Token(), "!/user/tokens/verify", 200, 0, "active", "", true},
		{"own token, account endpoint", srv.Token(), "/tokens/verify", 200, 0, "active", "", true},
		{"account token, user endpoint", accountTok, "!/user/tokens/verify", 401, codeInvalidToken, "", "", false},
		{"account token, account endpoint", accountTok, "/tokens/verify", 200, 0, "active", "", true},
		{"disabled", disabled, "!/user/tokens/verify", 200, 0, "disabled", "", false},
		{"expired", expired, "!/user/tokens/verify", 200, 0, "expired", past.Format(time.RFC3339), false},
		{"expires later", ending, "/tokens/verify", 200, 0, "active", future.Format(time.RFC3339), true},
		{"unknown, user endpoint", "not-a-token", "!/user/tokens/verify", 401, codeInvalidToken, "", "", false},
		{"unknown, account endpoint", "not-a-token", "/tokens/verify", 401, codeInvalidToken, "", "", false},
		{"other account's token", otherTok, "/tokens/verify", 403, codeAuthError, "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := as(tc.token).do(http.MethodGet, tc.path, "", nil)
			expect(t, r, tc.status, tc.code)
			if r.Env.Messages == nil || r.Env.Errors == nil {
				t.Errorf("envelope without messages or errors arrays: %s", r.Body)
			}
			if tc.status != 200 {
				if string(r.Env.Result) != "null" {
					t.Errorf("failure with a result: %s", r.Body)
				}
				return
			}
			var res map[string]any
			r.result(t, &res)
			if res["status"] != tc.wantStatus || res["id"] == "" {
				t.Errorf("result %v, want status %s and an id", res, tc.wantStatus)
			}
			if got, _ := res["expires_on"].(string); got != tc.wantExpires {
				t.Errorf("expires_on %q, want %q", got, tc.wantExpires)
			}
			if (len(r.Env.Messages) > 0) != tc.wantMessage {
				t.Errorf("messages %s, want the valid-and-active message: %t", r.Body, tc.wantMessage)
			}
		})
	}

	// Only an active token reaches anything else; the other account's own token still works.
	for _, tok := range []string{disabled, expired} {
		expect(t, as(tok).do(http.MethodGet, "/workers/scripts", "", nil), 403, codeAuthError)
	}
	for _, tok := range []string{accountTok, ending} {
		expect(t, as(tok).do(http.MethodGet, "/workers/scripts", "", nil), 200, 0)
	}
	other := as(otherTok)
	other.account = otherAcct
	expect(t, other.do(http.MethodGet, "/tokens/verify", "", nil), 200, 0)
}

// Tokens made with AddToken survive a restart of a server with a state directory.
func TestAddedTokensArePersisted(t *testing.T) {
	dir := t.TempDir()
	srv, err := Start(context.Background(), Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := srv.AddToken(TokenOptions{AccountOwned: true, Disabled: true})
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	srv.Close()
	srv = startTestServer(t, Options{StateDir: dir})
	c := newClient(t, srv)
	c.token = tok
	r := c.do(http.MethodGet, "/tokens/verify", "", nil)
	expect(t, r, 200, 0)
	var res struct{ Status string }
	if err := json.Unmarshal(r.Env.Result, &res); err != nil || res.Status != "disabled" {
		t.Errorf("after a restart: %s (%v), want status disabled", r.Body, err)
	}
	expect(t, c.do(http.MethodGet, "!/user/tokens/verify", "", nil), 401, codeInvalidToken)
}
