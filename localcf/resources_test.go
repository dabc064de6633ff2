package localcf

import (
	"net/http"
	"testing"
)

// TestAIGatewayCRUD creates, lists, reads, updates and deletes a gateway over the API and
// checks the errors for a bad id, a duplicate and a missing gateway.
func TestAIGatewayCRUD(t *testing.T) {
	dir := t.TempDir()
	srv := startTestServer(t, Options{StateDir: dir})
	c := newClient(t, srv)

	expect(t, c.json(http.MethodPost, "/ai-gateway/gateways", map[string]any{"id": "Bad_ID"}), http.StatusBadRequest, codeValidation)
	expect(t, c.json(http.MethodPost, "/ai-gateway/gateways", map[string]any{"id": "gw", "rate_limiting_technique": "leaky"}), http.StatusBadRequest, codeValidation)
	created := c.json(http.MethodPost, "/ai-gateway/gateways", map[string]any{
		"id": "my-gateway", "cache_ttl": 3600, "cache_invalidate_on_update": false, "collect_logs": true,
		"rate_limiting_interval": 60, "rate_limiting_limit": 100, "rate_limiting_technique": "sliding", "authentication": false})
	expect(t, created, http.StatusOK, 0)
	var g aiGateway
	created.result(t, &g)
	if g.ID != "my-gateway" || g.CacheTTL != 3600 || g.RateLimitingLimit != 100 || g.RateLimitingTechnique != "sliding" || !g.CollectLogs {
		t.Fatalf("created gateway = %+v", g)
	}
	expect(t, c.json(http.MethodPost, "/ai-gateway/gateways", map[string]any{"id": "my-gateway"}), http.StatusConflict, codeResourceExists)
	expect(t, c.json(http.MethodPost, "/ai-gateway/gateways", map[string]any{"id": "another"}), http.StatusOK, 0)

	var list []aiGateway
	listed := c.do(http.MethodGet, "/ai-gateway/gateways", "", nil)
	expect(t, listed, http.StatusOK, 0)
	listed.result(t, &list)
	if len(list) != 2 || list[0].ID != "another" || list[1].ID != "my-gateway" {
		t.Fatalf("list = %+v, want another and my-gateway", list)
	}

	updated := c.json(http.MethodPut, "/ai-gateway/gateways/my-gateway", map[string]any{"cache_ttl": 60})
	expect(t, updated, http.StatusOK, 0)
	updated.result(t, &g)
	if g.CacheTTL != 60 || g.RateLimitingLimit != 100 {
		t.Fatalf("after PUT cache_ttl=60: %+v; other fields must keep their values", g)
	}
	expect(t, c.json(http.MethodPut, "/ai-gateway/gateways/my-gateway", map[string]any{"id": "other"}), http.StatusBadRequest, codeValidation)
	expect(t, c.json(http.MethodPut, "/ai-gateway/gateways/nope", map[string]any{"cache_ttl": 1}), http.StatusNotFound, codeResourceNotFound)
	expect(t, c.do(http.MethodGet, "/ai-gateway/gateways/nope", "", nil), http.StatusNotFound, codeResourceNotFound)
	expect(t, c.do(http.MethodDelete, "/ai-gateway/gateways/another", "", nil), http.StatusOK, 0)
	expect(t, c.do(http.MethodDelete, "/ai-gateway/gateways/another", "", nil), http.StatusNotFound, codeResourceNotFound)

	srv.Close()
	srv = startTestServer(t, Options{StateDir: dir})
	c = newClient(t, srv)
	got := c.do(http.MethodGet, "/ai-gateway/gateways/my-gateway", "", nil)
	expect(t, got, http.StatusOK, 0)
	got.result(t, &g)
	if g.CacheTTL != 60 {
		t.Fatalf("after a restart the gateway is %+v, want cache_ttl 60", g)
	}
}

// TestVectorizeIndexCRUD creates, lists, reads and deletes indexes over the API and checks the
// config validation and the errors for duplicates and missing indexes.
func TestVectorizeIndexCRUD(t *testing.T) {
	dir := t.TempDir()
	srv := startTestServer(t, Options{StateDir: dir})
	c := newClient(t, srv)

	bad := []map[string]any{
		{"name": "Docs", "config": map[string]any{"dimensions": 3, "metric": "cosine"}},
		{"name": "docs", "config": map[string]any{"dimensions": 0, "metric": "cosine"}},
		{"name": "docs", "config": map[string]any{"dimensions": 1537, "metric": "cosine"}},
		{"name": "docs", "config": map[string]any{"dimensions": 3, "metric": "manhattan"}},
		{"name": "docs"},
	}
	for _, body := range bad {
		expect(t, c.json(http.MethodPost, "/vectorize/v2/indexes", body), http.StatusBadRequest, codeValidation)
	}
	created := c.json(http.MethodPost, "/vectorize/v2/indexes", map[string]any{"name": "docs", "config": map[string]any{"dimensions": 768, "metric": "cosine"}})
	expect(t, created, http.StatusOK, 0)
	var ix publicIndex
	created.result(t, &ix)
	if ix.Name != "docs" || ix.Config.Dimensions != 768 || ix.Config.Metric != "cosine" {
		t.Fatalf("created index = %+v", ix)
	}
	expect(t, c.json(http.MethodPost, "/vectorize/v2/indexes", map[string]any{"name": "docs", "config": map[string]any{"dimensions": 3, "metric": "euclidean"}}), http.StatusConflict, codeResourceExists)
	expect(t, c.json(http.MethodPost, "/vectorize/v2/indexes", map[string]any{"name": "faq", "config": map[string]any{"dimensions": 1536, "metric": "dot-product"}}), http.StatusOK, 0)

	var list []publicIndex
	listed := c.do(http.MethodGet, "/vectorize/v2/indexes", "", nil)
	expect(t, listed, http.StatusOK, 0)
	listed.result(t, &list)
	if len(list) != 2 || list[0].Name != "docs" || list[1].Name != "faq" {
		t.Fatalf("list = %+v, want docs and faq", list)
	}
	expect(t, c.do(http.MethodGet, "/vectorize/v2/indexes/nope", "", nil), http.StatusNotFound, codeResourceNotFound)
	expect(t, c.do(http.MethodDelete, "/vectorize/v2/indexes/faq", "", nil), http.StatusOK, 0)
	expect(t, c.do(http.MethodDelete, "/vectorize/v2/indexes/faq", "", nil), http.StatusNotFound, codeResourceNotFound)

	srv.Close()
	srv = startTestServer(t, Options{StateDir: dir})
	c = newClient(t, srv)
	got := c.do(http.MethodGet, "/vectorize/v2/indexes/docs", "", nil)
	expect(t, got, http.StatusOK, 0)
	got.result(t, &ix)
	if ix.Config.Dimensions != 768 {
		t.Fatalf("after a restart the index is %+v", ix)
	}
	expect(t, c.do(http.MethodGet, "/vectorize/v2/indexes/faq", "", nil), http.StatusNotFound, codeResourceNotFound)
}

// TestResourcesNeedTheAccountToken: another account's token cannot see the gateways.
func TestResourcesNeedTheAccountToken(t *testing.T) {
	srv := startTestServer(t, Options{})
	c := newClient(t, srv)
	expect(t, c.json(http.MethodPost, "/ai-gateway/gateways", map[string]any{"id": "gw"}), http.StatusOK, 0)
	_, token, err := srv.AddAccount("")
	if err != nil {
		t.Fatal(err)
	}
	other := newClient(t, srv)
	other.token = token
	expect(t, other.do(http.MethodGet, "/ai-gateway/gateways/gw", "", nil), http.StatusForbidden, codeAuthError)
	expect(t, other.do(http.MethodGet, "/vectorize/v2/indexes", "", nil), http.StatusForbidden, codeAuthError)
}
