package localcf

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// zoneResult is the part of a GET /zones item the tests read.
type zoneResult struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Status  string `json:"status"`
	Type    string `json:"type"`
	Account struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"account"`
	Plan struct {
		ID string `json:"id"`
	} `json:"plan"`
}

func (c *client) zones(query string) ([]zoneResult, map[string]any) {
	c.t.Helper()
	r := c.do(http.MethodGet, "!/zones"+query, "", nil)
	expect(c.t, r, http.StatusOK, 0)
	var zs []zoneResult
	r.result(c.t, &zs)
	return zs, r.Env.ResultInfo
}

func zoneNamesOf(zs []zoneResult) string {
	var names []string
	for _, z := range zs {
		names = append(names, z.Name)
	}
	return strings.Join(names, ",")
}

func TestZonesListLikeCloudflare(t *testing.T) {
	srv := startTestServer(t, Options{Zones: []string{"example.com", "example.org"}})
	c := newClient(t, srv)
	acct := srv.AccountID()

	zs, info := c.zones("?name=example.com&account.id=" + acct)
	if len(zs) != 1 {
		t.Fatalf("name=example.com: %d zones, want 1", len(zs))
	}
	z := zs[0]
	if !accountIDPattern.MatchString(z.ID) || z.Name != "example.com" || z.Status != "active" || z.Type != "full" ||
		z.Account.ID != acct || z.Account.Name == "" || z.Plan.ID != freePlanID {
		t.Fatalf("zone %+v", z)
	}
	want := map[string]any{"page": 1.0, "per_page": 20.0, "count": 1.0, "total_count": 1.0, "total_pages": 1.0}
	for k, v := range want {
		if info[k] != v {
			t.Errorf("result_info[%s] = %v, want %v (%v)", k, info[k], v, info)
		}
	}
	if zs, _ := c.zones("?name=equal:example.org"); zoneNamesOf(zs) != "example.org" {
		t.Errorf("name=equal:example.org found %q", zoneNamesOf(zs))
	}
	if zs, _ := c.zones("?name=api.example.com"); len(zs) != 0 {
		t.Errorf("name=api.example.com matched %q: the name filter is exact", zoneNamesOf(zs))
	}
	if zs, _ := c.zones("?account.id=" + strings.Repeat("0", 32)); len(zs) != 0 {
		t.Errorf("another account id matched %q", zoneNamesOf(zs))
	}
	if zs, _ := c.zones("?status=pending"); len(zs) != 0 {
		t.Errorf("status=pending matched %q; local zones are active", zoneNamesOf(zs))
	}
	if zs, _ := c.zones("?match=any&name=example.org&status=pending"); zoneNamesOf(zs) != "example.org" {
		t.Errorf("match=any found %q, want example.org", zoneNamesOf(zs))
	}

	// Idempotent: the zone held already comes back with its id.
	again, err := srv.AddZone("example.com")
	if err != nil || again.ID != z.ID || again.Status != "active" || again.AccountID != acct {
		t.Fatalf("AddZone of a held zone: %+v, %v; want id %s", again, err, z.ID)
	}
	for i := 1; i <= 5; i++ {
		if _, err := srv.AddZone(fmt.Sprintf("site%d.example.net", i)); err != nil {
			t.Fatal(err)
		}
	}
	all, info := c.zones("")
	if got := zoneNamesOf(all); got != "example.com,example.org,site1.example.net,site2.example.net,site3.example.net,site4.example.net,site5.example.net" {
		t.Fatalf("plain listing by name: %s", got)
	}
	if info["total_count"] != 7.0 {
		t.Errorf("result_info %v", info)
	}
	p2, info := c.zones("?per_page=5&page=2")
	if zoneNamesOf(p2) != "site4.example.net,site5.example.net" || info["count"] != 2.0 || info["total_pages"] != 2.0 || info["page"] != 2.0 {
		t.Errorf("page 2 of 5: %s %v", zoneNamesOf(p2), info)
	}
	if p3, _ := c.zones("?per_page=5&page=3"); len(p3) != 0 {
		t.Errorf("page past the end: %s", zoneNamesOf(p3))
	}
	if desc, _ := c.zones("?order=name&direction=desc&per_page=5"); zoneNamesOf(desc) != "site5.example.net,site4.example.net,site3.example.net,site2.example.net,site1.example.net" {
		t.Errorf("direction=desc: %s", zoneNamesOf(desc))
	}

	for _, q := range []string{"?name=starts_with:example", "?name=contains:example", "?per_page=100", "?per_page=4",
		"?page=0", "?page=x", "?status=gone", "?match=some", "?order=size", "?direction=up", "?type=full,weird"} {
		r := c.do(http.MethodGet, "!/zones"+q, "", nil)
		expect(t, r, http.StatusBadRequest, codeValidation)
	}
	r := c.do(http.MethodGet, "!/zones?name=starts_with:example", "", nil)
	if !strings.Contains(r.Env.Errors[0].Message, "starts_with") {
		t.Errorf("operator refusal %q does not name the operator", r.Env.Errors[0].Message)
	}

	// Another account sees only its zones; a zone name is active in one account only.
	other, otherToken, err := srv.AddAccount("other-team")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.AddAccountZone(other, "example.com"); err == nil || !strings.Contains(err.Error(), "another account") {
		t.Errorf("a zone held by another account was added: %v", err)
	}
	if _, err := srv.AddAccountZone(other, "other.example"); err != nil {
		t.Fatal(err)
	}
	oc := &client{t: t, srv: srv, token: otherToken, account: other}
	if zs, _ := oc.zones(""); zoneNamesOf(zs) != "other.example" {
		t.Errorf("the other account lists %q", zoneNamesOf(zs))
	}
	if names := srv.Zones(); len(names) != 7 || names[0].Name != "example.com" {
		t.Errorf("Server.Zones() = %v", names)
	}

	for _, bad := range []string{"", "com", "Example.com", "*.example.com", "example.com.", "app.sub.workers.dev", "workers.dev",
		"my.localhost", "-x.example.com", "ex ample.com", "example.com:443", "https://example.com", "10.0.0.1", "a_b.example.com"} {
		if _, err := srv.AddZone(bad); err == nil {
			t.Errorf("AddZone(%q) accepted", bad)
		}
	}
	if _, err := Start(context.Background(), Options{Zones: []string{"Not A Zone"}}); err == nil || !strings.Contains(err.Error(), "Not A Zone") {
		t.Errorf("Start with a bad zone: %v", err)
	}
}

// adminZones sends a /__localcf/zones request.
func adminZones(t *testing.T, srv *Server, method, token, body string) (int, []byte) {
	t.Helper()
	base := strings.TrimSuffix(srv.APIBaseURL(), "/client/v4")
	req, err := http.NewRequest(method, base+"/__localcf/zones", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

func TestAdminZonesEndpoint(t *testing.T) {
	srv := startTestServer(t, Options{})
	var z zoneResult
	status, body := adminZones(t, srv, http.MethodPost, srv.Token(), `{"name":"example.com"}`)
	if status != http.StatusOK || json.Unmarshal(body, &z) != nil || z.Name != "example.com" || !accountIDPattern.MatchString(z.ID) || z.Account.ID != srv.AccountID() {
		t.Fatalf("POST zone: HTTP %d %s", status, body)
	}
	var again zoneResult
	status, body = adminZones(t, srv, http.MethodPost, srv.Token(), `{"name":"example.com"}`)
	if status != http.StatusOK || json.Unmarshal(body, &again) != nil || again.ID != z.ID {
		t.Fatalf("POST the same zone again: HTTP %d %s, want the zone %s", status, body, z.ID)
	}
	status, body = adminZones(t, srv, http.MethodGet, srv.Token(), "")
	var list []zoneResult
	if status != http.StatusOK || json.Unmarshal(body, &list) != nil || len(list) != 1 || list[0].ID != z.ID {
		t.Fatalf("GET zones: HTTP %d %s", status, body)
	}
	_, otherToken, err := srv.AddAccount("")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		token, body string
		want        int
	}{
		{srv.Token(), `{"name":"example.org","plan":"pro"}`, http.StatusBadRequest},
		{srv.Token(), `{"name":"*.example.org"}`, http.StatusBadRequest},
		{srv.Token(), `["example.org"]`, http.StatusBadRequest},
		{otherToken, `{"name":"example.com"}`, http.StatusConflict},
		{"", `{"name":"example.org"}`, http.StatusUnauthorized},
		{"not-a-token", `{"name":"example.org"}`, http.StatusForbidden},
	} {
		if status, body := adminZones(t, srv, http.MethodPost, tc.token, tc.body); status != tc.want {
			t.Errorf("POST %s: HTTP %d %s, want %d", tc.body, status, body, tc.want)
		}
	}
	if status, _ := adminZones(t, srv, http.MethodDelete, srv.Token(), ""); status != http.StatusMethodNotAllowed {
		t.Errorf("DELETE zones: HTTP %d, want 405", status)
	}
	if zs := srv.Zones(); len(zs) != 1 {
		t.Errorf("refused requests changed the zones: %v", zs)
	}
}

type domainResult struct {
	ID          string `json:"id"`
	CertID      string `json:"cert_id"`
	Environment string `json:"environment"`
	Hostname    string `json:"hostname"`
	Service     string `json:"service"`
	ZoneID      string `json:"zone_id"`
	ZoneName    string `json:"zone_name"`
}

func (c *client) attach(body map[string]any) *apiResponse {
	c.t.Helper()
	return c.json(http.MethodPut, "/workers/domains", body)
}

func (c *client) mustAttach(body map[string]any) domainResult {
	c.t.Helper()
	r := c.attach(body)
	expect(c.t, r, http.StatusOK, 0)
	var d domainResult
	r.result(c.t, &d)
	return d
}

func (c *client) domains(query string) []domainResult {
	c.t.Helper()
	r := c.do(http.MethodGet, "/workers/domains"+query, "", nil)
	expect(c.t, r, http.StatusOK, 0)
	var ds []domainResult
	r.result(c.t, &ds)
	return ds
}

func hostnamesOf(ds []domainResult) string {
	var names []string
	for _, d := range ds {
		names = append(names, d.Hostname+"->"+d.Service)
	}
	return strings.Join(names, ",")
}

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func TestCustomDomainsAttachUpdateListDetach(t *testing.T) {
	srv := startTestServer(t, Options{Zones: []string{"example.com"}})
	c := newClient(t, srv)
	c.mustUpload("api", defaultMeta(), testWorker("api"))
	c.mustUpload("web", defaultMeta(), testWorker("web"))
	zone := srv.Zones()[0]

	d := c.mustAttach(map[string]any{"hostname": "api.example.com", "service": "api"})
	if !accountIDPattern.MatchString(d.ID) || !uuidPattern.MatchString(d.CertID) || d.Environment != "production" ||
		d.Hostname != "api.example.com" || d.Service != "api" || d.ZoneID != zone.ID || d.ZoneName != "example.com" {
		t.Fatalf("attach result %+v", d)
	}
	// Attaching the host name again updates its one record.
	upd := c.mustAttach(map[string]any{"hostname": "api.example.com", "service": "web", "zone_id": zone.ID, "environment": "production"})
	if upd.ID != d.ID || upd.CertID != d.CertID || upd.Service != "web" {
		t.Fatalf("update %+v, want id %s with service web", upd, d.ID)
	}
	if got := hostnamesOf(c.domains("")); got != "api.example.com->web" {
		t.Fatalf("after update: %s", got)
	}
	// The apex, a zone given by name, and the longest zone containing the name.
	c.mustAttach(map[string]any{"hostname": "example.com", "service": "web", "zone_name": "example.com"})
	dev, err := srv.AddZone("dev.example.com")
	if err != nil {
		t.Fatal(err)
	}
	inDev := c.mustAttach(map[string]any{"hostname": "x.dev.example.com", "service": "api"})
	if inDev.ZoneID != dev.ID || inDev.ZoneName != "dev.example.com" {
		t.Errorf("x.dev.example.com went to zone %s (%s), want dev.example.com", inDev.ZoneName, inDev.ZoneID)
	}
	c.mustAttach(map[string]any{"hostname": "y.dev.example.com", "service": "api", "zone_name": "example.com"})

	before := hostnamesOf(c.domains(""))
	if before != "api.example.com->web,example.com->web,x.dev.example.com->api,y.dev.example.com->api" {
		t.Fatalf("list: %s", before)
	}
	refusals := []struct {
		name   string
		body   any
		status int
		code   int
	}{
		{"outside every zone", map[string]any{"hostname": "api.example.net", "service": "api"}, 400, codeZoneNotFound},
		{"unknown zone_name", map[string]any{"hostname": "api.example.org", "service": "api", "zone_name": "example.org"}, 400, codeZoneNotFound},
		{"unknown zone_id", map[string]any{"hostname": "api.example.com", "service": "api", "zone_id": strings.Repeat("a", 32)}, 400, codeZoneNotFound},
		{"not in the named zone", map[string]any{"hostname": "api.example.com", "service": "api", "zone_name": "dev.example.com"}, 400, codeValidation},
		{"zone_id and zone_name disagree", map[string]any{"hostname": "api.example.com", "service": "api", "zone_id": zone.ID, "zone_name": "dev.example.com"}, 400, codeValidation},
		{"unknown service", map[string]any{"hostname": "new.example.com", "service": "nope"}, 404, codeServiceNotFound},
		{"invalid service name", map[string]any{"hostname": "new.example.com", "service": "Bad Name"}, 400, codeInvalidName},
		{"unknown field", map[string]any{"hostname": "new.example.com", "service": "api", "enabled": true}, 400, codeValidation},
		{"wildcard", map[string]any{"hostname": "*.example.com", "service": "api"}, 400, codeValidation},
		{"route pattern", map[string]any{"hostname": "new.example.com/*", "service": "api"}, 400, codeValidation},
		{"upper case", map[string]any{"hostname": "New.example.com", "service": "api"}, 400, codeValidation},
		{"trailing dot", map[string]any{"hostname": "new.example.com.", "service": "api"}, 400, codeValidation},
		{"bad label", map[string]any{"hostname": "new_host.example.com", "service": "api"}, 400, codeValidation},
		{"no hostname", map[string]any{"service": "api"}, 400, codeValidation},
		{"no service", map[string]any{"hostname": "new.example.com"}, 400, codeValidation},
		{"empty zone_id", map[string]any{"hostname": "new.example.com", "service": "api", "zone_id": ""}, 400, codeValidation},
		{"other environment", map[string]any{"hostname": "new.example.com", "service": "api", "environment": "staging"}, 400, codeValidation},
		{"hostname not a string", map[string]any{"hostname": 7, "service": "api"}, 400, codeParseBody},
		{"not an object", []string{"new.example.com"}, 400, codeParseBody},
	}
	for _, tc := range refusals {
		r := c.json(http.MethodPut, "/workers/domains", tc.body)
		if r.Status != tc.status || r.code() != tc.code {
			t.Errorf("%s: HTTP %d code %d, want HTTP %d code %d (%s)", tc.name, r.Status, r.code(), tc.status, tc.code, r.Body)
		}
	}
	if after := hostnamesOf(c.domains("")); after != before {
		t.Fatalf("refused attaches changed the domains: %s, was %s", after, before)
	}

	// Filters.
	for q, want := range map[string]string{
		"?hostname=api.example.com":      "api.example.com->web",
		"?service=api":                   "x.dev.example.com->api,y.dev.example.com->api",
		"?zone_id=" + dev.ID:             "x.dev.example.com->api",
		"?zone_name=example.com":         "api.example.com->web,example.com->web,y.dev.example.com->api",
		"?environment=production":        before,
		"?environment=staging":           "",
		"?service=web&zone_id=" + dev.ID: "",
	} {
		if got := hostnamesOf(c.domains(q)); got != want {
			t.Errorf("list %s: %q, want %q", q, got, want)
		}
	}

	// Get and detach by id.
	r := c.do(http.MethodGet, "/workers/domains/"+d.ID, "", nil)
	expect(t, r, http.StatusOK, 0)
	var got domainResult
	r.result(t, &got)
	if got != upd {
		t.Errorf("GET %s = %+v, want %+v", d.ID, got, upd)
	}
	expect(t, c.do(http.MethodGet, "/workers/domains/"+strings.Repeat("b", 32), "", nil), http.StatusNotFound, codeResourceNotFound)
	expect(t, c.do(http.MethodDelete, "/workers/domains/"+strings.Repeat("b", 32), "", nil), http.StatusNotFound, codeResourceNotFound)
	r = c.do(http.MethodDelete, "/workers/domains/"+d.ID, "", nil)
	expect(t, r, http.StatusOK, 0)
	if string(r.Env.Result) != "null" {
		t.Errorf("DELETE result %s, want null", r.Env.Result)
	}
	expect(t, c.do(http.MethodGet, "/workers/domains/"+d.ID, "", nil), http.StatusNotFound, codeResourceNotFound)
	expect(t, c.do(http.MethodDelete, "/workers/domains/"+d.ID, "", nil), http.StatusNotFound, codeResourceNotFound)

	// Deleting a Worker detaches its domains, and only its.
	expect(t, c.do(http.MethodDelete, "/workers/scripts/api", "", nil), http.StatusOK, 0)
	if got := hostnamesOf(c.domains("")); got != "example.com->web" {
		t.Errorf("after deleting the api Worker: %s", got)
	}
	c.mustUpload("api", defaultMeta(), testWorker("api again"))
	if got := hostnamesOf(c.domains("?service=api")); got != "" {
		t.Errorf("a re-created Worker got its old domains back: %s", got)
	}

	// Another account cannot see these domains, nor attach a host name attached here.
	other, otherToken, err := srv.AddAccount("")
	if err != nil {
		t.Fatal(err)
	}
	oc := &client{t: t, srv: srv, token: otherToken, account: other}
	oc.mustUpload("theirs", defaultMeta(), testWorker("theirs"))
	if _, err := srv.AddAccountZone(other, "b.example.com"); err != nil {
		t.Fatal(err)
	}
	c.mustAttach(map[string]any{"hostname": "x.b.example.com", "service": "web", "zone_name": "example.com"})
	expect(t, oc.attach(map[string]any{"hostname": "x.b.example.com", "service": "theirs"}), http.StatusConflict, codeResourceExists)
	if got := hostnamesOf(oc.domains("")); got != "" {
		t.Errorf("the other account lists %s", got)
	}
	expect(t, oc.do(http.MethodGet, "/workers/domains", "", nil, "Authorization", "Bearer "+srv.Token()), http.StatusForbidden, codeAuthError)
}

// customHost sends GET path to the data plane with the Host header host.
func customHost(t *testing.T, srv *Server, host, path string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+srv.WorkersDevAddr()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("data plane with Host %s: %v", host, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func expectCustomHost(t *testing.T, srv *Server, host string, wantStatus int, wantBody string) {
	t.Helper()
	status, body := customHost(t, srv, host, "/")
	if status != wantStatus || (wantBody != "" && body != wantBody) {
		t.Fatalf("Host %s: HTTP %d %.200q, want %d %q", host, status, body, wantStatus, wantBody)
	}
}

// TestCustomDomainServesTheWorker: a request whose Host is an attached host name reaches the
// Worker's deployed version in workerd, as its workers.dev name does, whether or not workers.dev
// is enabled; it follows deploys, detaches and deletes.
func TestCustomDomainServesTheWorker(t *testing.T) {
	srv := startTestServer(t, Options{Zones: []string{"example.com"}})
	c := newClient(t, srv)
	c.mustUpload("app", defaultMeta(), testWorker("v1"))
	d := c.mustAttach(map[string]any{"hostname": "api.example.com", "service": "app"})

	expectCustomHost(t, srv, "api.example.com", http.StatusOK, "ok v1")
	expectCustomHost(t, srv, "API.Example.com:443", http.StatusOK, "ok v1")
	expectCustomHost(t, srv, "api.example.com.", http.StatusOK, "ok v1")
	status, body := customHost(t, srv, "api.example.com", "/env")
	if status != http.StatusOK || !strings.Contains(body, `"version":"v1"`) {
		t.Fatalf("/env on the custom domain: HTTP %d %s", status, body)
	}
	// workers.dev is still disabled for the script (new scripts start so): only the domain serves.
	expectDevStatus(t, srv, "app", http.StatusNotFound)
	// A name in the zone with nothing attached is Cloudflare's 404; a name in no zone is refused.
	expectCustomHost(t, srv, "www.example.com", http.StatusNotFound, "")
	expectCustomHost(t, srv, "api.example.net", http.StatusForbidden, "")
	// The API listener does not serve custom domains.
	if status := listScriptsWithHost(t, srv, "api.example.com"); status != http.StatusForbidden {
		t.Errorf("API with Host api.example.com: HTTP %d, want 403", status)
	}

	c.mustUpload("app", defaultMeta(), testWorker("v2"))
	expectCustomHost(t, srv, "api.example.com", http.StatusOK, "ok v2")
	c.enableWorkersDev("app")
	expectServing(t, srv, "app", "v2")

	expect(t, c.do(http.MethodDelete, "/workers/domains/"+d.ID, "", nil), http.StatusOK, 0)
	expectCustomHost(t, srv, "api.example.com", http.StatusNotFound, "")
	expectServing(t, srv, "app", "v2")

	c.mustAttach(map[string]any{"hostname": "api.example.com", "service": "app"})
	expectCustomHost(t, srv, "api.example.com", http.StatusOK, "ok v2")
	expect(t, c.do(http.MethodDelete, "/workers/scripts/app", "", nil), http.StatusOK, 0)
	expectCustomHost(t, srv, "api.example.com", http.StatusNotFound, "")
}

// TestZonesAndDomainsPersistAcrossRestart: zones and custom domains are part of the saved
// state; after a restart the domain serves again (its process starts on the first request).
func TestZonesAndDomainsPersistAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	srv, err := Start(context.Background(), Options{StateDir: dir, Zones: []string{"example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, srv)
	c.mustUpload("app", defaultMeta(), testWorker("v1"))
	d := c.mustAttach(map[string]any{"hostname": "api.example.com", "service": "app"})
	zone := srv.Zones()[0]
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	srv = startTestServer(t, Options{StateDir: dir})
	if zs := srv.Zones(); len(zs) != 1 || zs[0] != zone {
		t.Fatalf("zones after restart %v, want [%v]", zs, zone)
	}
	c = newClient(t, srv)
	ds := c.domains("")
	if len(ds) != 1 || ds[0] != d {
		t.Fatalf("domains after restart %+v, want [%+v]", ds, d)
	}
	expectCustomHost(t, srv, "api.example.com", http.StatusOK, "ok v1")
	zs, _ := c.zones("?name=example.com&account.id=" + srv.AccountID())
	if len(zs) != 1 || zs[0].ID != zone.ID {
		t.Fatalf("GET /zones after restart: %+v", zs)
	}
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(`"custom_domains"`)) || !bytes.Contains(data, []byte(`"zones"`)) {
		t.Errorf("state.json has no zones or custom_domains")
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	// Options.Zones naming a zone the state holds keeps it as it is.
	srv = startTestServer(t, Options{StateDir: dir, Zones: []string{"example.com", "example.org"}})
	zs2 := srv.Zones()
	if len(zs2) != 2 || zs2[0] != zone || zs2[1].Name != "example.org" {
		t.Fatalf("zones after a restart with Options.Zones: %v", zs2)
	}
}
