package provision

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/flareform/flareform/localcf"
	"github.com/flareform/flareform/provision/spec"
)

// storageWorker is a worker binding the given KV namespaces, R2 buckets and D1 databases.
func storageWorker(t testing.TB, name string, kv, r2, d1 []spec.StorageBinding) spec.Worker {
	t.Helper()
	dir := t.TempDir()
	main := filepath.Join(dir, "worker.js")
	code := `export default { async fetch(req, env) { return new Response("ok") } }`
	if err := os.WriteFile(main, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	return spec.Worker{Key: name, Name: name, Main: main, CompatibilityDate: "2025-06-01", WorkersDev: true,
		KV: kv, R2: r2, D1: d1, Pos: map[string]spec.Position{"": {Line: 2, Col: 3}}}
}

func sb(binding, name string) []spec.StorageBinding {
	return []spec.StorageBinding{{Binding: binding, Name: name}}
}

// appWorker binds one of each: CACHE (KV app-cache), IMAGES (R2 app-images), DB (D1 app-db).
func appWorker(t testing.TB) spec.Worker {
	return storageWorker(t, "app", sb("CACHE", "app-cache"), sb("IMAGES", "app-images"), sb("DB", "app-db"))
}

// withoutStorage is w binding nothing.
func withoutStorage(w spec.Worker) spec.Worker {
	w.KV, w.R2, w.D1 = nil, nil, nil
	return w
}

// engineWith is a second engine on h's server and machine, with the data policy p.
func engineWith(t *testing.T, h *harness, p DataPolicy) *harness {
	return newHarnessOn(t, h, func(c *Config) { c.Data = p })
}

// kvID is the id of the namespace titled title ("" when there is none).
func (h *harness) kvID(t testing.TB, title string) string {
	t.Helper()
	_, raw := h.api(t, http.MethodGet, "storage/kv/namespaces?per_page=100", "")
	var list []kvNamespace
	if err := json.Unmarshal(raw, &list); err != nil {
		t.Fatalf("list namespaces: %v (%s)", err, raw)
	}
	for _, ns := range list {
		if ns.Title == title {
			return ns.ID
		}
	}
	return ""
}

// d1ID is the uuid of the database named name ("" when there is none).
func (h *harness) d1ID(t testing.TB, name string) string {
	t.Helper()
	_, raw := h.api(t, http.MethodGet, "d1/database?per_page=100", "")
	var list []d1Database
	if err := json.Unmarshal(raw, &list); err != nil {
		t.Fatalf("list databases: %v (%s)", err, raw)
	}
	for _, db := range list {
		if db.Name == name {
			return db.UUID
		}
	}
	return ""
}

func (h *harness) must(t testing.TB, method, path, body string) json.RawMessage {
	t.Helper()
	status, raw := h.api(t, method, path, body)
	if status >= 300 {
		t.Fatalf("%s %s: %d %s", method, path, status, raw)
	}
	return raw
}

// putData writes a KV key and an R2 object into app-cache and app-images.
func (h *harness) putData(t testing.TB) {
	t.Helper()
	h.must(t, http.MethodPut, "storage/kv/namespaces/"+h.kvID(t, "app-cache")+"/values/answer", "42")
	h.must(t, http.MethodPut, "r2/buckets/app-images/objects/cats/1.png", "png")
	h.must(t, http.MethodPut, "r2/buckets/app-images/objects/cats/2.png", "png")
}

func resourceOf(p *Plan, kind, name string) *ResourcePlan {
	for i := range p.Resources {
		if p.Resources[i].Kind == kind && p.Resources[i].Name == name {
			return &p.Resources[i]
		}
	}
	return nil
}

// writesSince lists the API writes (not GET) the request log holds.
func (h *harness) writesSince() []string {
	var out []string
	for _, r := range h.srv.Requests() {
		if strings.Contains(r.Path, "/client/v4/") && r.Method != http.MethodGet {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	return out
}

func TestStorageCreatedBoundAndNoOpAfter(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	s := projectSpec(appWorker(t))
	p := h.plan(t, s)
	want := []string{"kv_namespace app-cache create", "r2_bucket app-images create", "d1_database app-db create", "worker app create"}
	if got := kindsAndActions(p); !slices.Equal(got, want) {
		t.Fatalf("plan %v, want %v", got, want)
	}
	if !hasNewValue(p.Workers[0].Changes, "kv.CACHE", OpAdd, "app-cache (id known after apply)") ||
		!hasNewValue(p.Workers[0].Changes, "d1.DB", OpAdd, "app-db (id known after apply)") ||
		!slices.Contains(p.Workers[0].Changes, Change{Path: "r2.IMAGES", Op: OpAdd, New: "app-images"}) {
		t.Errorf("worker changes %+v", p.Workers[0].Changes)
	}
	if _, err := h.eng.Apply(ctx, p, ApplyOptions{SkipSmoke: true}); err != nil {
		t.Fatalf("apply: %v\n%s", err, h.log)
	}
	b := h.scriptBindings(t, "app")
	if b["CACHE"]["type"] != "kv_namespace" || b["CACHE"]["namespace_id"] != h.kvID(t, "app-cache") || h.kvID(t, "app-cache") == "" {
		t.Errorf("CACHE binding %v, namespace %q", b["CACHE"], h.kvID(t, "app-cache"))
	}
	if b["IMAGES"]["type"] != "r2_bucket" || b["IMAGES"]["bucket_name"] != "app-images" {
		t.Errorf("IMAGES binding %v", b["IMAGES"])
	}
	if b["DB"]["type"] != "d1" || b["DB"]["id"] != h.d1ID(t, "app-db") || h.d1ID(t, "app-db") == "" {
		t.Errorf("DB binding %v, database %q", b["DB"], h.d1ID(t, "app-db"))
	}
	// Ownership is on the version, not in script tags.
	sv, err := h.eng.servedVersion(ctx, h.srv.AccountID(), "app")
	if err != nil || len(sv.Identity.Own) != 3 {
		t.Errorf("served version's marks %v (%v), want 3", sv.Identity.Own, err)
	}
	if tags := h.scriptTags(t, "app"); slices.ContainsFunc(tags, isVersionMark) {
		t.Errorf("script tags %v carry storage marks", tags)
	}
	if p := h.plan(t, s); p.HasChanges() {
		t.Errorf("plan after apply has changes: %v %+v", kindsAndActions(p), p.Workers[0].Changes)
	}
	// A second machine (no version cache) reads the same.
	other := newHarnessOn(t, h, func(c *Config) { c.VersionCacheDir = t.TempDir() })
	if p := other.plan(t, s); p.HasChanges() {
		t.Errorf("plan on another machine has changes: %v", kindsAndActions(p))
	}
}

func (h *harness) scriptTags(t testing.TB, name string) []string {
	t.Helper()
	tags, err := h.eng.api.Script(h.srv.AccountID(), name).Tags(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tags
}

func TestStorageSharedBetweenWorkersAndForeignObjectNeverDeleted(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	// A namespace flareform did not create.
	h.must(t, http.MethodPost, "storage/kv/namespaces", `{"title":"theirs"}`)
	a := storageWorker(t, "a", []spec.StorageBinding{{Binding: "MINE", Name: "shared"}, {Binding: "THEIRS", Name: "theirs"}}, nil, nil)
	b := storageWorker(t, "b", sb("CACHE", "shared"), nil, nil)
	s := projectSpec(a, b)
	p := h.plan(t, s)
	if got := kindsAndActions(p); !slices.Contains(got, "kv_namespace shared create") || !slices.Contains(got, "kv_namespace theirs no-op") {
		t.Fatalf("plan %v", got)
	}
	if r := resourceOf(p, "kv_namespace", "theirs"); !strings.Contains(r.Note, "not created by flareform") {
		t.Errorf("foreign namespace note %q", r.Note)
	}
	if _, err := h.eng.Apply(ctx, p, ApplyOptions{SkipSmoke: true}); err != nil {
		t.Fatalf("apply: %v\n%s", err, h.log)
	}
	id := h.kvID(t, "shared")
	if h.scriptBindings(t, "a")["MINE"]["namespace_id"] != id || h.scriptBindings(t, "b")["CACHE"]["namespace_id"] != id {
		t.Errorf("the two workers do not bind the one namespace %s", id)
	}
	if p := h.plan(t, s); p.HasChanges() {
		t.Fatalf("plan after apply: %v", kindsAndActions(p))
	}
	// a drops both: shared stays (b binds it), theirs is never deleted.
	s2 := projectSpec(withoutStorage(a), b)
	s2.File = s.File
	p = h.plan(t, s2)
	for _, r := range p.Resources {
		if r.Action == ActionDelete {
			t.Errorf("plan deletes %s %s", r.Kind, r.Name)
		}
	}
	if _, err := h.eng.Apply(ctx, p, ApplyOptions{SkipSmoke: true}); err != nil {
		t.Fatalf("apply: %v\n%s", err, h.log)
	}
	if h.kvID(t, "shared") == "" || h.kvID(t, "theirs") == "" {
		t.Errorf("a namespace was deleted")
	}
	// destroy: shared (flareform's, empty) goes, theirs stays.
	p, err := h.eng.PlanDestroy(ctx, s2)
	if err != nil {
		t.Fatal(err)
	}
	if r := resourceOf(p, "kv_namespace", "shared"); r == nil || r.Action != ActionDelete {
		t.Errorf("destroy plan %v", kindsAndActions(p))
	}
	if _, err := h.eng.Apply(ctx, p, ApplyOptions{SkipSmoke: true}); err != nil {
		t.Fatalf("destroy: %v\n%s", err, h.log)
	}
	if h.kvID(t, "shared") != "" || h.kvID(t, "theirs") == "" {
		t.Errorf("after destroy: shared %q (want gone), theirs %q (want kept)", h.kvID(t, "shared"), h.kvID(t, "theirs"))
	}
}

// deployApp applies appWorker, writes data into KV and R2 and returns the spec without storage.
func deployApp(t *testing.T, h *harness) (*spec.Spec, *spec.Spec) {
	t.Helper()
	w := appWorker(t)
	s := projectSpec(w)
	h.deploy(t, s, ApplyOptions{SkipSmoke: true})
	h.putData(t)
	removed := projectSpec(withoutStorage(w))
	removed.File = s.File
	return s, removed
}

func TestStorageHoldingDataRefusedBeforeAnyWrite(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	_, removed := deployApp(t, h)
	p := h.plan(t, removed)
	kv, r2, d1 := resourceOf(p, "kv_namespace", "app-cache"), resourceOf(p, "r2_bucket", "app-images"), resourceOf(p, "d1_database", "app-db")
	if kv == nil || r2 == nil || d1 == nil {
		t.Fatalf("plan %v", kindsAndActions(p))
	}
	if !kv.HoldsData || !strings.HasPrefix(kv.Note, "holds 1 key") || !r2.HoldsData || !strings.HasPrefix(r2.Note, "holds 2 objects") || d1.HoldsData || d1.Action != ActionDelete {
		t.Errorf("plan: kv %+v\nr2 %+v\nd1 %+v", *kv, *r2, *d1)
	}
	if got := p.DataRefused(); len(got) != 2 {
		t.Errorf("refused %v", got)
	}
	h.srv.ResetRequests()
	_, err := h.eng.Apply(ctx, p, ApplyOptions{SkipSmoke: true})
	if !errors.Is(err, ErrDataRefused) || !strings.Contains(err.Error(), "--delete-data") || !strings.Contains(err.Error(), "--keep-data") ||
		!strings.Contains(err.Error(), "kv_namespace app-cache") || !strings.Contains(err.Error(), "r2_bucket app-images") {
		t.Fatalf("apply: %v, want the refusal naming both objects and both flags", err)
	}
	if w := h.writesSince(); len(w) > 0 {
		t.Errorf("refused apply wrote: %v", w)
	}

	// --keep-data: exit 0, KV and R2 stay with their data, the empty D1 goes.
	keep := engineWith(t, h, DataKeep)
	p = keep.plan(t, removed)
	if r := resourceOf(p, "kv_namespace", "app-cache"); r.Action != ActionNoOp || !r.HoldsData || !strings.Contains(r.Note, "--keep-data") {
		t.Errorf("keep plan kv %+v", *r)
	}
	if _, err := keep.eng.Apply(ctx, p, ApplyOptions{SkipSmoke: true}); err != nil {
		t.Fatalf("apply --keep-data: %v\n%s", err, h.log)
	}
	if h.kvID(t, "app-cache") == "" || !h.exists(t, "r2/buckets/app-images/objects/cats/1.png") || h.d1ID(t, "app-db") != "" {
		t.Errorf("after --keep-data: kv %q, r2 object kept %t, d1 %q (want gone)", h.kvID(t, "app-cache"), h.exists(t, "r2/buckets/app-images/objects/cats/1.png"), h.d1ID(t, "app-db"))
	}
	// No longer managed: a plain plan leaves them alone.
	if p := h.plan(t, removed); p.HasChanges() || len(p.DataRefused()) > 0 {
		t.Errorf("plan after --keep-data: %v", kindsAndActions(p))
	}
}

func TestStorageDeleteDataDeletesWithData(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	_, removed := deployApp(t, h)
	del := engineWith(t, h, DataDelete)
	p := del.plan(t, removed)
	r2 := resourceOf(p, "r2_bucket", "app-images")
	if r2 == nil || !r2.DeleteData || !r2.Destructive || !strings.Contains(r2.Note, "one by one") {
		t.Fatalf("delete-data plan r2 %+v", r2)
	}
	h.srv.ResetRequests()
	if _, err := del.eng.Apply(ctx, p, ApplyOptions{SkipSmoke: true}); err != nil {
		t.Fatalf("apply --delete-data: %v\n%s", err, h.log)
	}
	if h.kvID(t, "app-cache") != "" || h.exists(t, "r2/buckets/app-images") || h.d1ID(t, "app-db") != "" {
		t.Errorf("after --delete-data something is left")
	}
	writes := h.writesSince()
	bucket := slices.IndexFunc(writes, func(w string) bool { return strings.HasSuffix(w, "/r2/buckets/app-images") })
	object := slices.IndexFunc(writes, func(w string) bool { return strings.Contains(w, "/r2/buckets/app-images/objects/") })
	if object < 0 || bucket < object {
		t.Errorf("the bucket was not emptied before its delete: %v", writes)
	}
}

func TestStorageDestroyFollowsTheDataRule(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	s, _ := deployApp(t, h)
	p, err := h.eng.PlanDestroy(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	h.srv.ResetRequests()
	if _, err := h.eng.Apply(ctx, p, ApplyOptions{SkipSmoke: true}); !errors.Is(err, ErrDataRefused) || !strings.Contains(err.Error(), "destroy --delete-data") {
		t.Fatalf("destroy: %v, want the refusal", err)
	}
	if w := h.writesSince(); len(w) > 0 {
		t.Errorf("refused destroy wrote: %v", w)
	}
	keep := engineWith(t, h, DataKeep)
	p, err = keep.eng.PlanDestroy(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keep.eng.Apply(ctx, p, ApplyOptions{SkipSmoke: true}); err != nil {
		t.Fatalf("destroy --keep-data: %v", err)
	}
	if h.exists(t, "workers/scripts/app/settings") || h.kvID(t, "app-cache") == "" || !h.exists(t, "r2/buckets/app-images") || h.d1ID(t, "app-db") != "" {
		t.Errorf("after destroy --keep-data: script left %t, kv %q, bucket %t, d1 %q",
			h.exists(t, "workers/scripts/app/settings"), h.kvID(t, "app-cache"), h.exists(t, "r2/buckets/app-images"), h.d1ID(t, "app-db"))
	}
}

func TestStorageDestroyDeleteData(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	s, _ := deployApp(t, h)
	del := engineWith(t, h, DataDelete)
	p, err := del.eng.PlanDestroy(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := del.eng.Apply(ctx, p, ApplyOptions{SkipSmoke: true}); err != nil {
		t.Fatalf("destroy --delete-data: %v\n%s", err, h.log)
	}
	if h.kvID(t, "app-cache") != "" || h.exists(t, "r2/buckets/app-images") || h.d1ID(t, "app-db") != "" {
		t.Errorf("after destroy --delete-data something is left")
	}
}

func TestStorageR2WithoutObjectListIsTreatedAsHoldingData(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	w := storageWorker(t, "app", nil, sb("IMAGES", "app-images"), nil)
	s := projectSpec(w)
	h.deploy(t, s, ApplyOptions{SkipSmoke: true})
	h.srv.SetQuirks(localcf.Quirks{R2NoObjectList: true})
	removed := projectSpec(withoutStorage(w))
	removed.File = s.File
	p := h.plan(t, removed)
	r := resourceOf(p, "r2_bucket", "app-images")
	if r == nil || !r.HoldsData || !strings.Contains(r.Note, "cannot tell") {
		t.Fatalf("plan of an empty bucket whose objects cannot be listed: %+v", r)
	}
	if _, err := h.eng.Apply(ctx, p, ApplyOptions{SkipSmoke: true}); !errors.Is(err, ErrDataRefused) {
		t.Fatalf("apply: %v, want the refusal", err)
	}
	if !h.exists(t, "r2/buckets/app-images") {
		t.Error("bucket deleted")
	}
}

// Data written after the plan read an object empty stops its delete.
func TestStorageRecheckBeforeDeleteStopsIt(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	w := storageWorker(t, "app", sb("CACHE", "app-cache"), nil, nil)
	s := projectSpec(w)
	h.deploy(t, s, ApplyOptions{SkipSmoke: true})
	removed := projectSpec(withoutStorage(w))
	removed.File = s.File
	p := h.plan(t, removed)
	if r := resourceOf(p, "kv_namespace", "app-cache"); r == nil || r.Action != ActionDelete || r.HoldsData {
		t.Fatalf("plan %+v", r)
	}
	h.must(t, http.MethodPut, "storage/kv/namespaces/"+h.kvID(t, "app-cache")+"/values/late", "1")
	_, err := h.eng.Apply(ctx, p, ApplyOptions{SkipSmoke: true})
	if err == nil || !strings.Contains(err.Error(), "holds 1 key now") {
		t.Fatalf("apply: %v, want the delete refused after the late write", err)
	}
	if h.kvID(t, "app-cache") == "" {
		t.Error("namespace deleted with its late key")
	}
}

func TestStorageMarksRoundTripInTheAnnotation(t *testing.T) {
	tags := []string{storageKind{kvAPI{}}.ownerTag("a"), storageKind{d1API{}}.ownerTag("b"), vectorizeKind{}.ownerTag("x")}
	marks := marksOf(tags)
	if len(marks) != 2 || !strings.HasPrefix(marks[0], "d1-") || !strings.HasPrefix(marks[1], "kv-") {
		t.Fatalf("marks %v", marks)
	}
	id := versionIdentity{BundleTag: "ff-bundle-0123456789abcdef", Own: marks, Run: "r"}
	back, ok := parseIdentity(id.message())
	if !ok || !slices.Equal(back.Own, marks) || !slices.Equal(tagsOfMarks(back.Own), []string{tags[1], tags[0]}) {
		t.Errorf("round trip of %q: %v", id.message(), back.Own)
	}
	if got := tagsOfMarks([]string{"zz-0123", "vx-abc"}); len(got) != 0 {
		t.Errorf("unknown marks taken: %v", got)
	}
}

// A rollback to a version that does not record a namespace's mark makes flareform leave the
// namespace alone: bound while the spec names it, never deleted once it does not.
func TestStorageRollbackLosingTheMarkNeverDeletes(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	bare := storageWorker(t, "app", nil, nil, nil)
	s1 := projectSpec(bare)
	_, res := h.deploy(t, s1, ApplyOptions{SkipSmoke: true})
	v1 := res.Workers[0].VersionID
	with := bare
	with.KV = sb("CACHE", "app-cache")
	s2 := projectSpec(with)
	s2.File = s1.File
	h.deploy(t, s2, ApplyOptions{SkipSmoke: true})
	if err := h.eng.deployVersion(ctx, h.srv.AccountID(), "app", v1, "rollback"); err != nil {
		t.Fatal(err)
	}
	p := h.plan(t, s2)
	if r := resourceOf(p, "kv_namespace", "app-cache"); r == nil || r.Action != ActionNoOp || !strings.Contains(r.Note, "not created by flareform") {
		t.Fatalf("plan after the rollback: %+v", r)
	}
	if _, err := h.eng.Apply(ctx, p, ApplyOptions{SkipSmoke: true}); err != nil {
		t.Fatalf("apply: %v\n%s", err, h.log)
	}
	p = h.plan(t, s1)
	for _, r := range p.Resources {
		if r.Action == ActionDelete {
			t.Errorf("plan deletes %s %s after its mark was lost", r.Kind, r.Name)
		}
	}
	if _, err := h.eng.Apply(ctx, p, ApplyOptions{SkipSmoke: true}); err != nil {
		t.Fatalf("apply: %v\n%s", err, h.log)
	}
	if h.kvID(t, "app-cache") == "" {
		t.Error("the namespace was deleted")
	}
}

// A canary dropping a namespace keeps it: the stable version serving beside the canary still
// binds it. The canary's own version records no mark, but the stable one's counts.
func TestStorageCanaryKeepsWhatTheStableVersionBinds(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	w := storageWorker(t, "app", sb("CACHE", "app-cache"), nil, nil)
	s := projectSpec(w)
	h.deploy(t, s, ApplyOptions{SkipSmoke: true})
	canary := newHarnessOn(t, h, func(c *Config) { c.Canary = 10 })
	removed := projectSpec(withoutStorage(w))
	removed.File = s.File
	p := canary.plan(t, removed)
	r := resourceOf(p, "kv_namespace", "app-cache")
	if r == nil || r.Action != ActionNoOp || !strings.Contains(r.Note, "beside the canary") {
		t.Fatalf("canary plan: %+v (%v)", r, kindsAndActions(p))
	}
	if _, err := canary.eng.Apply(ctx, p, ApplyOptions{SkipSmoke: true}); err != nil {
		t.Fatalf("apply --canary: %v\n%s", err, h.log)
	}
	if h.kvID(t, "app-cache") == "" {
		t.Fatal("the namespace the stable version binds was deleted")
	}
	// While the split serves, the stable version's mark counts: the spec naming the namespace
	// again takes it as flareform's.
	p = h.plan(t, s)
	if r := resourceOf(p, "kv_namespace", "app-cache"); r == nil || strings.Contains(r.Note, "not created by flareform") {
		t.Errorf("plan over the split: %+v", r)
	}
}

// --delete-data on a bucket whose objects the API does not list: the delete says whether the
// bucket was empty. Refused (strict reading), it fails naming the way out and deletes nothing
// else; deleting with its objects (quirk r2_delete_nonempty), it is gone.
func TestStorageR2DeleteDataWithoutObjectList(t *testing.T) {
	for name, quirks := range map[string]localcf.Quirks{
		"refused":  {R2NoObjectList: true},
		"nonempty": {R2NoObjectList: true, R2DeleteNonEmpty: true},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			ctx := context.Background()
			w := storageWorker(t, "app", nil, sb("IMAGES", "app-images"), nil)
			s := projectSpec(w)
			h.deploy(t, s, ApplyOptions{SkipSmoke: true})
			h.must(t, http.MethodPut, "r2/buckets/app-images/objects/a.png", "png")
			h.srv.SetQuirks(quirks)
			removed := projectSpec(withoutStorage(w))
			removed.File = s.File
			del := engineWith(t, h, DataDelete)
			p := del.plan(t, removed)
			_, err := del.eng.Apply(ctx, p, ApplyOptions{SkipSmoke: true})
			if quirks.R2DeleteNonEmpty {
				if err != nil || h.exists(t, "r2/buckets/app-images") {
					t.Fatalf("apply --delete-data: %v, bucket left %t", err, h.exists(t, "r2/buckets/app-images"))
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "empty it") || !h.exists(t, "r2/buckets/app-images") {
				t.Fatalf("apply --delete-data: %v, bucket left %t; want a refusal naming the way out", err, h.exists(t, "r2/buckets/app-images"))
			}
		})
	}
}

// The worker uses what apply bound: it writes and reads KV and R2 and queries D1 through the
// local Cloudflare, and the plan after is empty.
func TestStorageBoundObjectsWorkInTheWorker(t *testing.T) {
	h := newHarness(t)
	w := appWorker(t)
	code := `export default { async fetch(req, env) {
  await env.CACHE.put("q", "cached answer");
  await env.IMAGES.put("cat.png", "png bytes");
  await env.DB.exec("CREATE TABLE IF NOT EXISTS t (v TEXT)");
  await env.DB.prepare("INSERT INTO t (v) VALUES (?)").bind("row").run();
  const row = await env.DB.prepare("SELECT count(*) AS n FROM t").first();
  const obj = await env.IMAGES.get("cat.png");
  return new Response([await env.CACHE.get("q"), await obj.text(), row.n].join("|"));
} }`
	if err := os.WriteFile(w.Main, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	s := projectSpec(w)
	h.deploy(t, s, ApplyOptions{SkipSmoke: true})
	body, status := h.get(t, "app", "/", "")
	if status != http.StatusOK || body != "cached answer|png bytes|1" {
		t.Fatalf("worker answered %d %q", status, body)
	}
	if p := h.plan(t, s); p.HasChanges() {
		t.Errorf("plan after: %v", kindsAndActions(p))
	}
	// Everything now holds data: removing the three refuses; --delete-data takes all three.
	removed := projectSpec(withoutStorage(w))
	removed.File = s.File
	p := h.plan(t, removed)
	if got := p.DataRefused(); len(got) != 3 {
		t.Errorf("refused %v, want all three", got)
	}
	if r := resourceOf(p, "d1_database", "app-db"); r == nil || !strings.HasPrefix(r.Note, "holds 1 table") {
		t.Errorf("d1 plan %+v", r)
	}
}

// Another party creating the namespace between the plan and the apply makes the create fail
// before any upload: flareform never claims (nor would later delete) what it did not create.
func TestStorageCreatedByAnotherAfterThePlan(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	s := projectSpec(storageWorker(t, "app", sb("CACHE", "app-cache"), nil, nil))
	p := h.plan(t, s)
	h.must(t, http.MethodPost, "storage/kv/namespaces", `{"title":"app-cache"}`)
	h.srv.ResetRequests()
	_, err := h.eng.Apply(ctx, p, ApplyOptions{SkipSmoke: true})
	if err == nil || !strings.Contains(err.Error(), "created by another party") || !strings.Contains(err.Error(), "run plan again") {
		t.Fatalf("apply: %v", err)
	}
	for _, w := range h.writesSince() {
		if strings.Contains(w, "/workers/scripts/") {
			t.Errorf("the worker was written: %s", w)
		}
	}
	p = h.plan(t, s)
	if r := resourceOf(p, "kv_namespace", "app-cache"); r == nil || r.Action != ActionNoOp || !strings.Contains(r.Note, "not created by flareform") {
		t.Errorf("plan again: %+v", r)
	}
}

// A run that dies between creating the storage and the upload that records it: the next apply
// binds what exists (unrecorded, so never deleted later) and converges; its plan after is empty.
func TestStorageCrashBetweenCreateAndUpload(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	s := projectSpec(appWorker(t))
	p := h.plan(t, s)
	if err := h.eng.applyResources(ctx, p, ApplyOptions{}, &Result{}, false); err != nil { // then "killed"
		t.Fatal(err)
	}
	if h.kvID(t, "app-cache") == "" || !h.exists(t, "r2/buckets/app-images") || h.d1ID(t, "app-db") == "" {
		t.Fatal("the creates did not happen")
	}
	again := newHarnessOn(t, h, func(*Config) {})
	p = again.plan(t, s)
	for _, r := range p.Resources {
		if r.Action != ActionNoOp || !strings.Contains(r.Note, "not created by flareform") {
			t.Errorf("re-run plan: %s %s %s %q", r.Kind, r.Name, r.Action, r.Note)
		}
	}
	if _, err := again.eng.Apply(ctx, p, ApplyOptions{SkipSmoke: true}); err != nil {
		t.Fatalf("re-run apply: %v\n%s", err, h.log)
	}
	if p := again.plan(t, s); p.HasChanges() {
		t.Errorf("plan after the re-run: %v", kindsAndActions(p))
	}
	b := h.scriptBindings(t, "app")
	if b["CACHE"]["namespace_id"] != h.kvID(t, "app-cache") || b["DB"]["id"] != h.d1ID(t, "app-db") {
		t.Errorf("bindings after the re-run: %v", b)
	}
}

// Live bindings are compared by the object they name: an id mapped back to its title is
// unchanged when it is the spec's, changed when it is another's or unknown.
func TestStorageBindingDiffByName(t *testing.T) {
	ctx := withStorageCache(context.Background())
	ctx.Value(storageCacheKey{}).(*storageCache).lists["kv"] = &storageList{
		byName: map[string]string{"cache": "id-cache", "old": "id-old"},
		byID:   map[string]string{"id-cache": "cache", "id-old": "old"},
	}
	w := spec.Worker{Name: "app", KV: []spec.StorageBinding{{Binding: "A", Name: "cache"}, {Binding: "B", Name: "cache"}, {Binding: "C", Name: "cache"}, {Binding: "D", Name: "new"}}}
	live := &liveWorker{exists: true, storage: liveStorage{bound: map[string]map[string]string{"kv": {"A": "id-cache", "B": "id-old", "C": "id-gone", "E": "id-old"}}}}
	p := &Plan{Workers: []WorkerPlan{{Name: "app", Action: ActionNoOp, desired: &desiredWorker{worker: w}, live: live}}}
	kv := storageKind{kvAPI{}}
	resources := []ResourcePlan{
		{Kind: kv.name(), Name: "cache", obj: &storageObject{api: kvAPI{}, name: "cache", want: true, id: "id-cache", have: kvNamespace{}}},
		{Kind: kv.name(), Name: "new", obj: &storageObject{api: kvAPI{}, name: "new", want: true}},
	}
	if err := (&Engine{}).planStorageBindings(ctx, p, resources); err != nil {
		t.Fatal(err)
	}
	want := []Change{
		{Path: "kv.B", Op: OpChange, Old: "old", New: "cache"},
		{Path: "kv.C", Op: OpChange, Old: "(unknown KV namespace id-gone)", New: "cache"},
		{Path: "kv.D", Op: OpAdd, New: "new (id known after apply)"},
		{Path: "kv.E", Op: OpRemove, Old: "old"},
	}
	wp := p.Workers[0]
	if !slices.Equal(wp.Changes, want) || wp.Action != ActionUpdate || !wp.desired.upload {
		t.Errorf("changes %+v (action %s, upload %t), want %+v", wp.Changes, wp.Action, wp.desired.upload, want)
	}
	resources[1].obj.(*storageObject).id = "id-new" // created by apply
	got := storageBindings(wp.desired)
	if len(got) != 4 || got[0].NamespaceID != "id-cache" || got[3].NamespaceID != "id-new" || got[3].Type != "kv_namespace" || got[3].Name != "D" {
		t.Errorf("upload bindings %+v", got)
	}
}
