package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/flareform/flareform/localcf"
	"github.com/flareform/flareform/localcf/localcftest"
)

// Issue 25's acceptance at the CLI (TestStorageAcceptance) and the helpers TestStorageCrashes
// shares: a small worker binding one extra secret, a KV namespace, an R2 bucket and a D1
// database, deployed to the local Cloudflare (workers in real workerd).

const (
	storWorker = "notes"
	storKV     = "notes-cache"
	storR2     = "notes-images"
	storD1     = "notes-db"
)

// storageWorkerJS uses every binding the spec gives it. /secret compares WEBHOOK_SECRET with
// the X-Expect-Secret header and answers only whether they match (never the value); /store?v=X
// writes X to KV, R2 and a D1 table and reads each back; /d1/drop drops the table again (a D1
// database without a table counts as empty); /ping answers without touching any binding.
const storageWorkerJS = `export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    switch (url.pathname) {
      case "/ping":
        return Response.json({ ok: true, mode: env.MODE });
      case "/secret":
        return Response.json({
          bound: typeof env.WEBHOOK_SECRET === "string" && env.WEBHOOK_SECRET.length > 0,
          matches: request.headers.get("x-expect-secret") === env.WEBHOOK_SECRET,
        });
      case "/store": {
        const v = url.searchParams.get("v");
        const out = {};
        await env.CACHE.put("k-" + v, "kv:" + v);
        out.kv = await env.CACHE.get("k-" + v);
        await env.IMAGES.put("o-" + v, "r2:" + v, { httpMetadata: { contentType: "text/plain" } });
        const obj = await env.IMAGES.get("o-" + v);
        out.r2 = obj === null ? null : await obj.text();
        await env.DB.prepare("CREATE TABLE IF NOT EXISTS notes (id TEXT PRIMARY KEY, v TEXT NOT NULL)").run();
        await env.DB.prepare("INSERT OR REPLACE INTO notes (id, v) VALUES (?1, ?2)").bind("n-" + v, "d1:" + v).run();
        const row = await env.DB.prepare("SELECT v FROM notes WHERE id = ?1").bind("n-" + v).first();
        out.d1 = row === null ? null : row.v;
        const { results } = await env.DB.prepare("SELECT count(*) AS n FROM notes").all();
        out.rows = results[0].n;
        return Response.json(out);
      }
      case "/d1/drop":
        await env.DB.prepare("DROP TABLE IF EXISTS notes").run();
        return Response.json({ dropped: true });
    }
    return new Response("not found", { status: 404 });
  },
};
`

// storageBlock is the spec's storage (kv, r2, d1), indented for the worker.
const storageBlock = "    kv:\n      CACHE: " + storKV + "\n    r2:\n      IMAGES: " + storR2 + "\n    d1:\n      DB: " + storD1 + "\n"

// storageSpec is the project's spec: the worker with the secret, MODE as its one var, and
// storage (a block like storageBlock, "" for none).
func storageSpec(mode, storage string) string {
	return "project: notes\nworkers:\n  " + storWorker + ":\n    main: ./src/worker.js\n    compatibility_date: \"2025-06-01\"\n" +
		"    workers_dev: true\n    vars:\n      MODE: \"" + mode + "\"\n" +
		"    secrets:\n      WEBHOOK_SECRET: \"env:WEBHOOK_SECRET\"\n" + storage
}

// storageProject writes the worker and the spec (mode, storage) into a new project directory
// and returns the spec's path.
func storageProject(t *testing.T, mode, storage string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "notes")
	makeDirs(t, filepath.Join(dir, "src"))
	writeTestFile(t, filepath.Join(dir, "src", "worker.js"), storageWorkerJS)
	spec := filepath.Join(dir, "flareform.yaml")
	writeTestFile(t, spec, storageSpec(mode, storage))
	return spec
}

// storageWorld is one test's local Cloudflare and project.
type storageWorld struct {
	t      *testing.T
	srv    *localcf.Server
	c      *cli
	spec   string
	secret string
	// keys is how many keys (and objects) the worker wrote to KV (and R2): what a refusal says
	// they hold.
	keys int
}

// newStorageWorld starts a local Cloudflare of the test's own and writes the project (mode
// "one", storage as given).
func newStorageWorld(t *testing.T, storage string) *storageWorld {
	t.Helper()
	return newStorageWorldWith(t, storage, localcf.Options{RateLimit: 1 << 30})
}

// newStorageWorldWith is newStorageWorld against a local Cloudflare started with opts.
func newStorageWorldWith(t *testing.T, storage string, opts localcf.Options) *storageWorld {
	t.Helper()
	srv := localcftest.New(t, opts)
	w := &storageWorld{t: t, srv: srv, secret: "whsec-" + randomKey(t)}
	w.c = newCLI(t, map[string]string{
		envAPIBaseURL:    srv.APIBaseURL(),
		envAPIToken:      srv.Token(),
		envAccountID:     srv.AccountID(),
		"WEBHOOK_SECRET": w.secret,
	})
	w.spec = storageProject(t, "one", storage)
	return w
}

func (w *storageWorld) run(want int, args ...string) result {
	w.t.Helper()
	return w.c.mustRun(want, append([]string{"-f", w.spec}, args...)...)
}

// request sends one request to the worker's workers.dev URL (with the X-Expect-Secret header
// when expect is set) and decodes its JSON answer into out.
func (w *storageWorld) request(path, expect string, out any) int {
	w.t.Helper()
	return storageRequest(w.t, w.srv, path, expect, out)
}

func storageRequest(t *testing.T, srv *localcf.Server, path, expect string, out any) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+srv.WorkersDevAddr()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = storWorker + "." + srv.Subdomain() + ".workers.dev"
	if expect != "" {
		req.Header.Set("X-Expect-Secret", expect)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s from the worker: %v", path, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode == http.StatusOK && out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Errorf("GET %s: not JSON: %v (%.200s)", path, err, body)
		}
	} else if res.StatusCode != http.StatusOK {
		t.Logf("GET %s from the worker: %d %.300s", path, res.StatusCode, body)
	}
	return res.StatusCode
}

// storeResult is the worker's answer to /store.
type storeResult struct {
	KV, R2, D1 *string
	Rows       int
}

// wantStore has the worker write v to KV, R2 and D1 and read each back.
func wantStore(t *testing.T, srv *localcf.Server, v string) {
	t.Helper()
	var got storeResult
	if status := storageRequest(t, srv, "/store?v="+url.QueryEscape(v), "", &got); status != http.StatusOK {
		t.Errorf("the worker's write and read of KV, R2 and D1 (%s): status %d, want 200", v, status)
		return
	}
	for name, p := range map[string]*string{"kv": got.KV, "r2": got.R2, "d1": got.D1} {
		if p == nil || *p != name+":"+v {
			t.Errorf("the worker read back from %s %v, want %q", name, storDeref(p), name+":"+v)
		}
	}
}

func storDeref(p *string) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprintf("%q", *p)
}

// accountStorage is every KV namespace (title -> id), R2 bucket and D1 database (name -> uuid)
// in the account, read through the REST API.
type accountStorage struct {
	kv, d1  map[string]string
	buckets []string
}

func readAccountStorage(t *testing.T, srv *localcf.Server) accountStorage {
	t.Helper()
	a := accountStorage{kv: map[string]string{}, d1: map[string]string{}}
	_, raw := storageAPI(t, srv, http.MethodGet, "storage/kv/namespaces?per_page=100", "")
	var kvs []struct{ ID, Title string }
	if err := json.Unmarshal(raw, &kvs); err != nil {
		t.Fatalf("list KV namespaces: %v (%s)", err, raw)
	}
	for _, ns := range kvs {
		if _, dup := a.kv[ns.Title]; dup {
			t.Errorf("two KV namespaces are titled %q", ns.Title)
		}
		a.kv[ns.Title] = ns.ID
	}
	_, raw = storageAPI(t, srv, http.MethodGet, "r2/buckets?per_page=1000", "")
	var bs struct{ Buckets []struct{ Name string } }
	if err := json.Unmarshal(raw, &bs); err != nil {
		t.Fatalf("list R2 buckets: %v (%s)", err, raw)
	}
	for _, b := range bs.Buckets {
		a.buckets = append(a.buckets, b.Name)
	}
	_, raw = storageAPI(t, srv, http.MethodGet, "d1/database?per_page=100", "")
	var dbs []struct{ UUID, Name string }
	if err := json.Unmarshal(raw, &dbs); err != nil {
		t.Fatalf("list D1 databases: %v (%s)", err, raw)
	}
	for _, d := range dbs {
		if _, dup := a.d1[d.Name]; dup {
			t.Errorf("two D1 databases are named %q", d.Name)
		}
		a.d1[d.Name] = d.UUID
	}
	return a
}

func (a accountStorage) String() string {
	return fmt.Sprintf("kv %v, r2 %v, d1 %v", sortedNames(a.kv), a.buckets, sortedNames(a.d1))
}

// wantOnly checks that the account holds exactly the storage named (a name "" for none of
// that kind): nothing created twice, nothing left behind.
func (a accountStorage) wantOnly(t *testing.T, what string, kv, r2, d1 []string) {
	t.Helper()
	if got := sortedNames(a.kv); !slices.Equal(got, kv) {
		t.Errorf("%s: KV namespaces %v, want %v", what, got, kv)
	}
	if got := slices.Sorted(slices.Values(a.buckets)); !slices.Equal(got, r2) && !(len(got) == 0 && len(r2) == 0) {
		t.Errorf("%s: R2 buckets %v, want %v", what, got, r2)
	}
	if got := sortedNames(a.d1); !slices.Equal(got, d1) {
		t.Errorf("%s: D1 databases %v, want %v", what, got, d1)
	}
}

// storageRaw GETs an account API path and returns the status and the raw body (a KV value or
// an R2 object is not an envelope).
func storageRaw(t *testing.T, srv *localcf.Server, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.APIBaseURL()+"/accounts/"+srv.AccountID()+"/"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+srv.Token())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// wantData checks, through the REST API, that the KV namespace holds key k-v and the bucket
// object o-v with the values the worker wrote.
func wantData(t *testing.T, srv *localcf.Server, kvID, v string) {
	t.Helper()
	if status, body := storageRaw(t, srv, "storage/kv/namespaces/"+kvID+"/values/k-"+v); status != http.StatusOK || body != "kv:"+v {
		t.Errorf("KV key k-%s through the REST API: %d %q, want 200 %q", v, status, body, "kv:"+v)
	}
	if status, body := storageRaw(t, srv, "r2/buckets/"+storR2+"/objects/o-"+v); status != http.StatusOK || body != "r2:"+v {
		t.Errorf("R2 object o-%s through the REST API: %d %q, want 200 %q", v, status, body, "r2:"+v)
	}
}

// scriptStorageBindings is what the worker's settings bind: "kv.CACHE" -> namespace id,
// "r2.IMAGES" -> bucket, "d1.DB" -> database uuid, "secret.NAME" -> "".
func scriptStorageBindings(t *testing.T, srv *localcf.Server) map[string]string {
	t.Helper()
	status, raw := storageAPI(t, srv, http.MethodGet, "workers/scripts/"+storWorker+"/settings", "")
	if status != http.StatusOK {
		t.Fatalf("read the worker's settings: %d %s", status, raw)
	}
	var settings struct {
		Bindings []struct {
			Type, Name  string
			NamespaceID string `json:"namespace_id"`
			BucketName  string `json:"bucket_name"`
			ID          string `json:"id"`
			DatabaseID  string `json:"database_id"`
		} `json:"bindings"`
	}
	if err := json.Unmarshal(raw, &settings); err != nil {
		t.Fatalf("the worker's settings: %v", err)
	}
	out := map[string]string{}
	for _, b := range settings.Bindings {
		switch b.Type {
		case "kv_namespace":
			out["kv."+b.Name] = b.NamespaceID
		case "r2_bucket":
			out["r2."+b.Name] = b.BucketName
		case "d1":
			out["d1."+b.Name] = b.ID + b.DatabaseID
		case "secret_text":
			out["secret."+b.Name] = ""
		}
	}
	return out
}

// wantBound checks that the worker binds exactly the storage objects the account holds under
// the spec's names.
func wantBound(t *testing.T, srv *localcf.Server, a accountStorage) {
	t.Helper()
	b := scriptStorageBindings(t, srv)
	want := map[string]string{"kv.CACHE": a.kv[storKV], "r2.IMAGES": storR2, "d1.DB": a.d1[storD1]}
	for name, id := range want {
		if id == "" || b[name] != id {
			t.Errorf("the worker binds %s to %q, want %q (account: %s)", name, b[name], id, a)
		}
	}
}

// TestStorageAcceptance is issue 25's acceptance at the CLI, against the local Cloudflare:
//
//   - plan and apply create the KV namespace, the R2 bucket and the D1 database (exactly one
//     each, bound to the worker); through its workers.dev URL the worker writes and reads KV
//     and R2, creates a D1 table, inserts and queries, and sees WEBHOOK_SECRET (it answers
//     whether a header matches it, never the value); the value appears in no output of plan,
//     plan --json, apply, apply --json, nor in any project file; plan --detailed-exitcode is 0.
//   - With the three removed from the spec while KV and R2 hold data (the D1 table dropped, so
//     the database is empty): apply and apply --auto-approve refuse with no write in the local
//     Cloudflare's request log and the account unchanged, naming both objects and both flags;
//     apply --keep-data exits 0, leaves KV and R2 with their data (read through the REST API)
//     and deletes the empty D1, and plan is clean after. From the same start, apply
//     --delete-data deletes all three (and the data: a namespace or bucket created again
//     under the same name is empty). destroy is refused without a flag; destroy --keep-data
//     deletes the worker and the empty D1 and keeps KV and R2 with their data.
//
// What breaks it: an apply or destroy that deletes storage without reading what it holds
// (or that reads it after its first write) writes to the request log or deletes the
// namespace, so the refusal checks fail; a --keep-data that deletes or empties them fails
// wantData; a --delete-data that leaves a bucket (e.g. its delete refused because it holds
// objects) fails wantOnly; a secret printed by plan or the upload's error fails the leak
// check; a worker uploaded without the bindings fails the /store round trip.
func TestStorageAcceptance(t *testing.T) {
	t.Parallel()
	w := newStorageWorld(t, storageBlock)

	r := w.run(exitOK, "plan")
	for _, want := range []string{"kv_namespace", storKV, "r2_bucket", storR2, "d1_database", storD1, "secrets.WEBHOOK_SECRET: (sensitive, new)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plan lacks %q:\n%s", want, r.stdout)
		}
	}
	w.run(exitOK, "plan", "--json")
	r = w.run(exitOK, "apply", "--auto-approve", "--json")
	assertJSONShape(t, jsonSchemas(t), "apply", r, "apply --json")

	a := readAccountStorage(t, w.srv)
	a.wantOnly(t, "after apply", []string{storKV}, []string{storR2}, []string{storD1})
	wantBound(t, w.srv, a)
	if _, ok := scriptStorageBindings(t, w.srv)["secret.WEBHOOK_SECRET"]; !ok {
		t.Error("the worker has no WEBHOOK_SECRET secret binding")
	}

	// The worker uses all three and sees the secret.
	wantStore(t, w.srv, "first")
	wantStore(t, w.srv, "second")
	w.keys = 2
	var seen struct{ Bound, Matches bool }
	if status := w.request("/secret", w.secret, &seen); status != http.StatusOK || !seen.Bound || !seen.Matches {
		t.Errorf("the worker's secret: status %d, %+v; want it bound and equal to the value exported", status, seen)
	}
	if status := w.request("/secret", w.secret+"x", &seen); status != http.StatusOK || seen.Matches {
		t.Errorf("the worker's secret compared with another value: status %d, %+v; want no match", status, seen)
	}
	w.run(exitOK, "plan", "--detailed-exitcode")
	w.run(exitOK, "plan", "--detailed-exitcode", "--json")
	// apply again (text) with nothing to do: the secret's fingerprint matches.
	r = w.run(exitOK, "apply", "--auto-approve")
	if strings.Contains(r.stdout, "WEBHOOK_SECRET") && strings.Contains(r.stdout, "changed") {
		t.Errorf("apply with nothing to do changes the secret:\n%s", r.stdout)
	}

	// Remove the three; the database is made empty first (the worker drops its table).
	if status := w.request("/d1/drop", "", nil); status != http.StatusOK {
		t.Fatalf("drop the D1 table: %d", status)
	}
	w.dropStorage()
	w.checkRefusals("apply", []string{"apply"}, []string{"apply", "--auto-approve"}, []string{"apply", "--auto-approve", "--json"})

	t.Run("keep-data", func(t *testing.T) {
		w.t, w.c.t = t, t
		r := w.run(exitOK, "apply", "--auto-approve", "--keep-data")
		if !strings.Contains(r.stdout+r.stderr, "--keep-data") {
			t.Errorf("apply --keep-data does not say what it kept:\n%s%s", r.stdout, r.stderr)
		}
		after := readAccountStorage(t, w.srv)
		after.wantOnly(t, "after apply --keep-data", []string{storKV}, []string{storR2}, nil)
		if after.kv[storKV] != a.kv[storKV] {
			t.Errorf("the kept namespace is %q, was %q", after.kv[storKV], a.kv[storKV])
		}
		for _, v := range []string{"first", "second"} {
			wantData(t, w.srv, a.kv[storKV], v)
		}
		if b := scriptStorageBindings(t, w.srv); len(b) != 1 {
			t.Errorf("after apply --keep-data the worker binds %v, want the secret alone", b)
		}
		w.wantServes("two")
		w.run(exitOK, "plan", "--detailed-exitcode")
		// No longer managed: a later plain apply and destroy leave them too.
		w.run(exitOK, "destroy", "--auto-approve")
		readAccountStorage(t, w.srv).wantOnly(t, "after destroy", []string{storKV}, []string{storR2}, nil)
		wantData(t, w.srv, a.kv[storKV], "first")
		w.checkNoSecret()
	})

	t.Run("delete-data", func(t *testing.T) {
		t.Parallel()
		w := deployedStorageWorld(t)
		w.dropStorage()
		w.checkRefusals("apply", []string{"apply", "--auto-approve"})
		r := w.run(exitOK, "apply", "--auto-approve", "--delete-data")
		if !strings.Contains(r.stdout+r.stderr, "--delete-data") {
			t.Errorf("apply --delete-data does not say it deletes data:\n%s%s", r.stdout, r.stderr)
		}
		readAccountStorage(t, w.srv).wantOnly(t, "after apply --delete-data", nil, nil, nil)
		w.wantServes("two")
		w.run(exitOK, "plan", "--detailed-exitcode")
		// The data went with them: the same names created again hold nothing.
		writeTestFile(t, w.spec, storageSpec("two", storageBlock))
		w.run(exitOK, "apply", "--auto-approve")
		a := readAccountStorage(t, w.srv)
		if status, _ := storageRaw(t, w.srv, "storage/kv/namespaces/"+a.kv[storKV]+"/values/k-first"); status != http.StatusNotFound {
			t.Errorf("a namespace created again under the deleted one's title holds its key: %d", status)
		}
		if status, _ := storageRaw(t, w.srv, "r2/buckets/"+storR2+"/objects/o-first"); status != http.StatusNotFound {
			t.Errorf("a bucket created again under the deleted one's name holds its object: %d", status)
		}
		w.checkNoSecret()
	})

	t.Run("destroy", func(t *testing.T) {
		t.Parallel()
		w := deployedStorageWorld(t)
		a := readAccountStorage(t, w.srv)
		w.checkRefusals("destroy", []string{"destroy"}, []string{"destroy", "--auto-approve"})
		w.run(exitOK, "destroy", "--auto-approve", "--keep-data")
		after := readAccountStorage(t, w.srv)
		after.wantOnly(t, "after destroy --keep-data", []string{storKV}, []string{storR2}, nil)
		wantData(t, w.srv, a.kv[storKV], "first")
		if n := len(listScripts(t, w.srv.APIBaseURL(), w.srv.Token(), w.srv.AccountID())); n != 0 {
			t.Errorf("destroy --keep-data left %d scripts", n)
		}
		w.checkNoSecret()
	})

	w.t, w.c.t = t, t
	w.checkNoSecret()
}

// deployedStorageWorld is the sub-tests' common start: the worker applied with its storage,
// KV and R2 holding what /store?v=first wrote, and the D1 database empty again.
func deployedStorageWorld(t *testing.T) *storageWorld {
	t.Helper()
	w := newStorageWorld(t, storageBlock)
	w.run(exitOK, "apply", "--auto-approve")
	wantStore(t, w.srv, "first")
	w.keys = 1
	if status := w.request("/d1/drop", "", nil); status != http.StatusOK {
		t.Fatalf("drop the D1 table: %d", status)
	}
	return w
}

// dropStorage removes kv, r2 and d1 from the spec and changes MODE, so apply has a write of
// its own to make (the refusal must come before it).
func (w *storageWorld) dropStorage() {
	writeTestFile(w.t, w.spec, storageSpec("two", ""))
}

// wantServes checks that the worker serves the spec's MODE.
func (w *storageWorld) wantServes(mode string) {
	w.t.Helper()
	var got struct{ Mode string }
	if status := w.request("/ping", "", &got); status != http.StatusOK || got.Mode != mode {
		w.t.Errorf("the worker serves MODE %q (status %d), want %q", got.Mode, status, mode)
	}
}

// checkRefusals runs each command (verb: what the refusal tells to run again) while KV and R2
// hold data and checks that it exits 1 before any write: the request log holds no write, the
// account's storage and the worker's bindings are as they were, and the error names both
// objects that hold data (not the empty D1) and both flags.
func (w *storageWorld) checkRefusals(verb string, commands ...[]string) {
	w.t.Helper()
	before := readAccountStorage(w.t, w.srv)
	bound := scriptStorageBindings(w.t, w.srv)
	for _, args := range commands {
		w.srv.ResetRequests()
		r := w.c.run(append([]string{"-f", w.spec}, args...)...)
		what := "flareform " + strings.Join(args, " ")
		if r.code != exitError {
			w.t.Errorf("%s while KV and R2 hold data: exit %d, want 1\n%s%s", what, r.code, r.stdout, r.stderr)
		}
		if n := countWrites(w.srv.Requests()); n != 0 {
			w.t.Errorf("%s made %d writes before refusing", what, n)
		}
		msg := r.stderr
		holds := fmt.Sprintf("kv_namespace %s (holds %s)", storKV, storCount(w.keys, "key"))
		for _, want := range []string{holds, "r2_bucket " + storR2 + " (holds", "--delete-data", "--keep-data", "flareform " + verb, "nothing was changed"} {
			if !strings.Contains(msg, want) {
				w.t.Errorf("%s: the refusal lacks %q:\n%s", what, want, msg)
			}
		}
		if strings.Contains(lastLine(msg), "d1_database") {
			w.t.Errorf("%s: the refusal names the empty D1 database:\n%s", what, msg)
		}
		if now := readAccountStorage(w.t, w.srv); now.String() != before.String() || !storMapsEqual(now.kv, before.kv) || !storMapsEqual(now.d1, before.d1) {
			w.t.Errorf("%s changed the account's storage: %s, was %s", what, now, before)
		}
		if now := scriptStorageBindings(w.t, w.srv); !storMapsEqual(now, bound) {
			w.t.Errorf("%s changed the worker's bindings: %v, was %v", what, now, bound)
		}
	}
}

// storCount is "1 key", "2 keys".
func storCount(n int, one string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %ss", n, one)
}

// secretAndParts adds to m the secret and every 10-character piece of it past its "whsec-"
// prefix, so that a part of the value printed (a prefix, a truncated error) is caught too.
func secretAndParts(name, secret string, m map[string]string) map[string]string {
	m[name] = secret
	random := strings.TrimPrefix(secret, "whsec-")
	for i := 0; i+10 <= len(random); i++ {
		m[fmt.Sprintf("%s[%d:%d]", name, i+6, i+16)] = random[i : i+10]
	}
	return m
}

func storMapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// checkNoSecret checks that WEBHOOK_SECRET's value (and the API token) appears in no output
// of the world's commands and in no project file.
func (w *storageWorld) checkNoSecret() {
	w.t.Helper()
	assertSecretsOnlyIn(w.t, secretAndParts("WEBHOOK_SECRET value", w.secret, map[string]string{"API token": w.srv.Token()}),
		w.c.transcript, "", filepath.Dir(w.spec))
}
