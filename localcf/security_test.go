package localcf

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
)

// adminCall sends method to /__localcf/<endpoint> on the API listener with the given bearer
// token ("" = no Authorization header) and Host ("" = the listener's address).
func adminCall(t *testing.T, srv *Server, method, endpoint, token, host, body string) (int, map[string]any) {
	t.Helper()
	base := strings.TrimSuffix(srv.APIBaseURL(), "/client/v4")
	req, err := http.NewRequest(method, base+"/__localcf/"+endpoint, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s /__localcf/%s: %v", method, endpoint, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var doc map[string]any
	_ = json.Unmarshal(data, &doc) // requests answers an array; callers that need it use status only
	return resp.StatusCode, doc
}

func TestAdminEndpointsNeedAnAccountToken(t *testing.T) {
	srv := startTestServer(t, Options{})
	endpoints := []struct{ method, endpoint, body string }{
		{http.MethodGet, "info", ""},
		{http.MethodGet, "faults", ""},
		{http.MethodPut, "faults", `{"seed":1,"rules":[{"path":"*","kind":"503"}]}`},
		{http.MethodDelete, "faults", ""},
		{http.MethodGet, "requests", ""},
		{http.MethodDelete, "requests", ""},
	}
	for _, e := range endpoints {
		name := e.method + " " + e.endpoint
		if status, doc := adminCall(t, srv, e.method, e.endpoint, "", "", e.body); status != http.StatusUnauthorized || doc["error"] == nil {
			t.Errorf("%s without a token: HTTP %d %v, want 401 with a JSON error", name, status, doc)
		}
		if status, doc := adminCall(t, srv, e.method, e.endpoint, "not-a-token-of-this-server", "", e.body); status != http.StatusForbidden || doc["error"] == nil {
			t.Errorf("%s with an unknown token: HTTP %d %v, want 403 with a JSON error", name, status, doc)
		}
		if status, _ := adminCall(t, srv, e.method, e.endpoint, srv.Token(), "", e.body); status != http.StatusOK {
			t.Errorf("%s with the account's token: HTTP %d, want 200", name, status)
		}
	}
	if rules, _ := srv.faults.Rules(); len(rules) != 0 {
		t.Fatalf("faults set without a token: %v", rules)
	}
}

// Another account's token reads its own account's info, never the default account's token.
func TestAdminInfoDescribesTheCallersAccount(t *testing.T) {
	srv := startTestServer(t, Options{})
	other, otherToken, err := srv.AddAccount("other-team")
	if err != nil {
		t.Fatal(err)
	}
	status, doc := adminCall(t, srv, http.MethodGet, "info", otherToken, "", "")
	if status != http.StatusOK || doc["account_id"] != other || doc["api_token"] != otherToken ||
		doc["subdomain"] != "other-team" || doc["workers_dev_addr"] != srv.WorkersDevAddr() {
		t.Fatalf("info with another account's token: HTTP %d %v", status, doc)
	}
}

// DNS rebinding: a page on evil.example whose name now resolves to 127.0.0.1 sends its own
// host name; nothing may answer it, not even with a valid token.
func TestAPIListenerRefusesForeignHosts(t *testing.T) {
	srv := startTestServer(t, Options{})
	for _, host := range []string{"evil.example", "evil.example:" + portOf(srv.APIBaseURL()), "localhost.evil.example", "127.0.0.1.nip.io", "app.sub.workers.dev"} {
		if status, _ := adminCall(t, srv, http.MethodGet, "info", srv.Token(), host, ""); status != http.StatusForbidden {
			t.Errorf("GET /__localcf/info with Host %s: HTTP %d, want 403", host, status)
		}
		if status := listScriptsWithHost(t, srv, host); status != http.StatusForbidden {
			t.Errorf("API call with Host %s: HTTP %d, want 403", host, status)
		}
	}
	for _, host := range []string{"localhost", "LOCALHOST:8787", "api.localhost", "127.0.0.2", "[::1]:8787"} {
		if status, _ := adminCall(t, srv, http.MethodGet, "info", srv.Token(), host, ""); status != http.StatusOK {
			t.Errorf("GET /__localcf/info with loopback Host %s: HTTP %d, want 200", host, status)
		}
		if status := listScriptsWithHost(t, srv, host); status != http.StatusOK {
			t.Errorf("API call with loopback Host %s: HTTP %d, want 200", host, status)
		}
	}
}

// listScriptsWithHost lists the default account's scripts with the token and a Host header.
func listScriptsWithHost(t *testing.T, srv *Server, host string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.APIBaseURL()+"/accounts/"+srv.AccountID()+"/workers/scripts", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	req.Header.Set("Authorization", "Bearer "+srv.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("list scripts with Host %s: %v", host, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestWorkersDevListenerServesOnlyWorkersDevAndLoopbackHosts(t *testing.T) {
	srv := startTestServer(t, Options{})
	devStatus := func(host string) int {
		t.Helper()
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+srv.WorkersDevAddr()+"/", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("workers.dev with Host %s: %v", host, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, host := range []string{"evil.example", "workers.dev.evil.example", "app.sub.workers.dev.evil.example:80"} {
		if status := devStatus(host); status != http.StatusForbidden {
			t.Errorf("Host %s: HTTP %d, want 403", host, status)
		}
	}
	// Names the data plane serves reach the router: nothing is deployed, so Cloudflare's 404.
	for _, host := range []string{"app." + srv.Subdomain() + ".workers.dev", "localhost", "127.0.0.1"} {
		if status := devStatus(host); status != http.StatusNotFound {
			t.Errorf("Host %s: HTTP %d, want 404 (nothing deployed)", host, status)
		}
	}
}

func TestStartRefusesRemoteListenersWithoutAllowRemote(t *testing.T) {
	for _, opts := range []Options{{Addr: "0.0.0.0:0"}, {Addr: ":0"}, {WorkersDevAddr: "0.0.0.0:0"}, {Addr: "[::]:0"}} {
		srv, err := Start(context.Background(), opts)
		if err == nil {
			srv.Close()
			t.Errorf("Start(Addr %q, WorkersDevAddr %q) listened beyond loopback", opts.Addr, opts.WorkersDevAddr)
			continue
		}
		if !strings.Contains(err.Error(), "AllowRemote") || !strings.Contains(err.Error(), "not loopback") {
			t.Errorf("error %q does not name the problem and the fix", err)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0", "[::1]:0", "127.0.0.5:0"} {
		if err := CheckListenAddrs(false, addr); err != nil {
			t.Errorf("loopback %s refused: %v", addr, err)
		}
	}
}

func TestUploadRefusesTooManyParts(t *testing.T) {
	srv := startTestServer(t, Options{})
	c := newClient(t, srv)
	parts := []part{metaPart(t, defaultMeta())}
	parts = append(parts, modulePart("worker.js", testWorker("v1")))
	for i := len(parts); i <= maxUploadParts; i++ {
		parts = append(parts, modulePart(fmt.Sprintf("m%d.js", i), "export const x = 1;"))
	}
	ct, body := multipartBody(t, parts...)
	r := c.do(http.MethodPut, "/workers/scripts/many?bindings_inherit=strict", ct, body)
	expect(t, r, http.StatusBadRequest, codeParseBody)
	if !strings.Contains(string(r.Body), fmt.Sprint(maxUploadParts)) {
		t.Errorf("error does not name the limit: %s", r.Body)
	}
	// One part fewer is an upload like any other.
	ct, body = multipartBody(t, parts[:maxUploadParts]...)
	expect(t, c.do(http.MethodPut, "/workers/scripts/many?bindings_inherit=strict", ct, body), http.StatusOK, 0)
}

func portOf(baseURL string) string {
	hostport := strings.TrimPrefix(strings.TrimSuffix(baseURL, "/client/v4"), "http://")
	return hostport[strings.LastIndex(hostport, ":")+1:]
}

// A deployed worker's workerd process sees none of the server's environment.
func TestDeployedWorkerdHasNoneOfTheCallersEnvironment(t *testing.T) {
	t.Setenv("FLAREFORM_TEST_CANARY", "canary-secret-5d1e")
	srv := startTestServer(t, Options{})
	c := newClient(t, srv)
	c.mustUpload("envcheck", defaultMeta(), testWorker("v1"))
	c.enableWorkersDev("envcheck")
	expectServing(t, srv, "envcheck", "v1")

	srv.live.mu.Lock()
	var ref *procRef
	for _, r := range srv.live.workers[liveKey{srv.AccountID(), "envcheck"}].procs {
		ref = r // the one version deployed
	}
	srv.live.mu.Unlock()
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", ref.proc.Pid()))
	if err != nil {
		t.Fatalf("read the workerd child's environment: %v", err)
	}
	if strings.Contains(string(environ), "canary-secret-5d1e") {
		t.Fatal("the workerd child inherited FLAREFORM_TEST_CANARY")
	}
}
