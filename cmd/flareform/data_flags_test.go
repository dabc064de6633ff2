package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flareform/flareform/localcf"
)

// storageAPI sends one request to the local Cloudflare's account API and returns the status
// and the envelope's result.
func storageAPI(t *testing.T, srv *localcf.Server, method, path, body string) (int, json.RawMessage) {
	t.Helper()
	req, err := http.NewRequest(method, srv.APIBaseURL()+"/accounts/"+srv.AccountID()+"/"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+srv.Token())
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	var env struct {
		Result json.RawMessage `json:"result"`
	}
	_ = json.Unmarshal(data, &env)
	return res.StatusCode, env.Result
}

// kvNamespaceID is the id of the namespace titled title ("" when there is none).
func kvNamespaceID(t *testing.T, srv *localcf.Server, title string) string {
	t.Helper()
	_, raw := storageAPI(t, srv, http.MethodGet, "storage/kv/namespaces?per_page=100", "")
	var list []struct{ ID, Title string }
	if err := json.Unmarshal(raw, &list); err != nil {
		t.Fatalf("list namespaces: %v", err)
	}
	for _, ns := range list {
		if ns.Title == title {
			return ns.ID
		}
	}
	return ""
}

func d1Exists(t *testing.T, srv *localcf.Server, name string) bool {
	t.Helper()
	_, raw := storageAPI(t, srv, http.MethodGet, "d1/database?per_page=100", "")
	return strings.Contains(string(raw), `"name":"`+name+`"`)
}

// shopProject writes a project with one worker, shop, answering "ok", under t.TempDir(); its
// write puts the spec there with the storage block given (lines under the worker).
func shopProject(t *testing.T) (specPath string, write func(storage string)) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "worker.js"), []byte(`export default { fetch() { return new Response("ok") } }`), 0o644); err != nil {
		t.Fatal(err)
	}
	specPath = filepath.Join(dir, "flareform.yaml")
	return specPath, func(storage string) {
		t.Helper()
		spec := "project: shop\nworkers:\n  shop:\n    main: ./worker.js\n    compatibility_date: \"2025-06-01\"\n" + storage
		if err := os.WriteFile(specPath, []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// --delete-data and --keep-data end to end: a spec that drops a KV namespace and an R2 bucket
// holding data and an empty D1 database. Without a flag plan marks them and apply and destroy
// refuse before any write; the flags exclude each other; a saved plan keeps its choice and
// refuses the other; --keep-data leaves the data and deletes the empty database; destroy
// --delete-data deletes a namespace with its keys.
func TestStorageDataFlags(t *testing.T) {
	srv, env := startStandalone(t)
	c := newCLI(t, env)
	specPath, writeSpec := shopProject(t)
	dir := filepath.Dir(specPath)
	writeSpec("    kv:\n      CACHE: shop-cache\n    r2:\n      IMAGES: shop-images\n    d1:\n      DB: shop-db\n")
	c.mustRun(exitOK, "-f", specPath, "apply", "--auto-approve")
	c.mustRun(exitOK, "-f", specPath, "plan", "--detailed-exitcode")
	id := kvNamespaceID(t, srv, "shop-cache")
	if id == "" || !d1Exists(t, srv, "shop-db") {
		t.Fatalf("apply did not create the storage")
	}
	for _, put := range []string{"storage/kv/namespaces/" + id + "/values/answer", "r2/buckets/shop-images/objects/a.png"} {
		if status, raw := storageAPI(t, srv, http.MethodPut, put, "data"); status != http.StatusOK {
			t.Fatalf("PUT %s: %d %s", put, status, raw)
		}
	}
	writeSpec("")

	r := c.mustRun(exitChanges, "-f", specPath, "plan", "--detailed-exitcode")
	for _, want := range []string{`kv_namespace "shop-cache" (delete) DESTRUCTIVE`, "holds 1 key", "--delete-data", "--keep-data", `d1_database "shop-db" (delete)`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plan lacks %q:\n%s", want, r.stdout)
		}
	}
	r = c.mustRun(exitOK, "-f", specPath, "plan", "--json")
	plan := assertJSONShape(t, jsonSchemas(t), "plan", r, "plan --json")
	if !strings.Contains(r.stdout, `"holds_data": true`) && !strings.Contains(r.stdout, `"holds_data":true`) {
		t.Errorf("plan --json has no holds_data: %v", plan)
	}

	srv.ResetRequests()
	r = c.mustRun(exitError, "-f", specPath, "apply", "--auto-approve", "--delete-data", "--keep-data")
	if !strings.Contains(r.stderr, "exclude each other") {
		t.Errorf("both flags: %s", r.stderr)
	}
	r = c.mustRun(exitError, "-f", specPath, "apply", "--auto-approve")
	for _, want := range []string{"kv_namespace shop-cache", "r2_bucket shop-images", "--delete-data", "--keep-data", "nothing was changed"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("refusal lacks %q:\n%s", want, r.stderr)
		}
	}
	if n := countWrites(srv.Requests()); n != 0 {
		t.Errorf("the refused apply made %d writes", n)
	}

	for _, cmd := range []string{"plan", "destroy"} {
		r = c.mustRun(exitError, "-f", specPath, cmd, "--delete-data", "--keep-data")
		if !strings.Contains(r.stderr, "exclude each other") {
			t.Errorf("%s with both flags: %s", cmd, r.stderr)
		}
	}

	// A saved plan is stale when what it deletes holds other data now.
	delFile := filepath.Join(dir, "delete.plan")
	c.mustRun(exitOK, "-f", specPath, "plan", "--delete-data", "--out", delFile)
	if status, raw := storageAPI(t, srv, http.MethodPut, "storage/kv/namespaces/"+id+"/values/more", "data"); status != http.StatusOK {
		t.Fatalf("PUT key: %d %s", status, raw)
	}
	srv.ResetRequests()
	r = c.mustRun(exitError, "apply", delFile)
	if !strings.Contains(r.stderr, "stale") || countWrites(srv.Requests()) != 0 {
		t.Errorf("apply of a plan whose namespace holds more now: %s (%d writes)", r.stderr, countWrites(srv.Requests()))
	}

	// A saved plan keeps its choice and refuses the other.
	planFile := filepath.Join(dir, "keep.plan")
	c.mustRun(exitOK, "-f", specPath, "plan", "--keep-data", "--out", planFile)
	r = c.mustRun(exitError, "apply", planFile, "--delete-data")
	if !strings.Contains(r.stderr, "--delete-data differs from the saved plan") {
		t.Errorf("apply FILE --delete-data over a --keep-data plan: %s", r.stderr)
	}
	c.mustRun(exitOK, "apply", planFile)
	if kvNamespaceID(t, srv, "shop-cache") != id || d1Exists(t, srv, "shop-db") {
		t.Errorf("after --keep-data: namespace %q (want %s kept), database left %t (want deleted)", kvNamespaceID(t, srv, "shop-cache"), id, d1Exists(t, srv, "shop-db"))
	}
	if status, _ := storageAPI(t, srv, http.MethodGet, "r2/buckets/shop-images/objects/a.png", ""); status != http.StatusOK {
		t.Errorf("the kept bucket's object: %d", status)
	}
	c.mustRun(exitOK, "-f", specPath, "plan", "--detailed-exitcode") // no longer managed

	// destroy: the same rule and flags.
	writeSpec("    kv:\n      CACHE: shop-cache-2\n")
	c.mustRun(exitOK, "-f", specPath, "apply", "--auto-approve")
	id2 := kvNamespaceID(t, srv, "shop-cache-2")
	if status, raw := storageAPI(t, srv, http.MethodPut, "storage/kv/namespaces/"+id2+"/values/k", "v"); status != http.StatusOK {
		t.Fatalf("PUT key: %d %s", status, raw)
	}
	srv.ResetRequests()
	r = c.mustRun(exitError, "-f", specPath, "destroy", "--auto-approve")
	if !strings.Contains(r.stderr, "destroy --delete-data") || !strings.Contains(r.stderr, "--keep-data") {
		t.Errorf("destroy refusal: %s", r.stderr)
	}
	if n := countWrites(srv.Requests()); n != 0 {
		t.Errorf("the refused destroy made %d writes", n)
	}
	r = c.mustRun(exitOK, "-f", specPath, "destroy", "--auto-approve", "--delete-data", "--json")
	assertJSONShape(t, jsonSchemas(t), "apply", r, "destroy --json")
	if !strings.Contains(r.stdout, `"kind": "kv_namespace"`) && !strings.Contains(r.stdout, `"kind":"kv_namespace"`) {
		t.Errorf("destroy --json names no namespace:\n%s", r.stdout)
	}
	if kvNamespaceID(t, srv, "shop-cache-2") != "" {
		t.Errorf("destroy --delete-data left the namespace")
	}
	if kvNamespaceID(t, srv, "shop-cache") != id {
		t.Errorf("destroy touched the namespace flareform no longer manages")
	}
}
