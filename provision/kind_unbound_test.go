package provision

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/flareform/flareform/localcf"
	"github.com/flareform/flareform/provision/spec"
)

// crashAfterUpload is an engine on h's server and machine with the data policy p whose apply
// "is killed" once its workers are done: the Stop channel closes as the worker's upload has
// landed, so no storage delete after it starts (ErrInterrupted), as a kill between the upload
// and the deletes would leave it.
func crashAfterUpload(t *testing.T, h *harness, p DataPolicy) (*harness, ApplyOptions) {
	stop := make(chan struct{})
	var once sync.Once
	c := newHarnessOn(t, h, func(c *Config) {
		c.Data = p
		c.OnWorkerDone = func(WorkerDone) { once.Do(func() { close(stop) }) }
	})
	return c, ApplyOptions{SkipSmoke: true, Stop: stop}
}

// servedUnbound is the unbound= field of the version that serves worker name.
func (h *harness) servedUnbound(t *testing.T, name string) string {
	t.Helper()
	sv, err := h.eng.servedVersion(context.Background(), h.srv.AccountID(), name)
	if err != nil || !sv.Identified {
		t.Fatalf("served version of %s: %+v, %v", name, sv, err)
	}
	return sv.Identity.Unbound
}

// wantUnboundAfterCrash checks the state a crash after the unbinding upload leaves: the worker
// binds none of app's storage, all three objects are still there, and the serving version
// records them as unbound.
func wantUnboundAfterCrash(t *testing.T, h *harness) {
	t.Helper()
	b := h.scriptBindings(t, "app")
	if b["CACHE"] != nil || b["IMAGES"] != nil || b["DB"] != nil {
		t.Fatalf("after the crash the worker still binds storage: %v", b)
	}
	if h.kvID(t, "app-cache") == "" || !h.exists(t, "r2/buckets/app-images") || h.d1ID(t, "app-db") == "" {
		t.Fatal("an object was deleted before the crash")
	}
	if u := h.servedUnbound(t, "app"); u == "" {
		t.Fatal("the unbinding upload recorded no unbound= field")
	}
}

// An apply removing storage with --delete-data, killed after the upload that unbinds it and
// before the deletes, leaves the objects to the next run: a plain re-run deletes the empty
// database but refuses, before any write, for the namespace and bucket that hold data, naming
// --delete-data; with --delete-data the re-run deletes all three, and the next plan is clean.
// Without the unbound= field the re-run would see neither binding nor mark and say "No
// changes": the objects would be forgotten for good.
func TestStorageDeleteAfterUnbindSurvivesACrash(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	_, removed := deployApp(t, h)
	crash, opts := crashAfterUpload(t, h, DataDelete)
	p := crash.plan(t, removed)
	if _, err := crash.eng.Apply(ctx, p, opts); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("the crashing apply: %v, want its deletes interrupted", err)
	}
	wantUnboundAfterCrash(t, h)

	// A plain re-run: the empty database is planned for deletion, the others refused.
	p = h.plan(t, removed)
	kv, r2, d1 := resourceOf(p, "kv_namespace", "app-cache"), resourceOf(p, "r2_bucket", "app-images"), resourceOf(p, "d1_database", "app-db")
	if kv == nil || r2 == nil || d1 == nil {
		t.Fatalf("the re-run forgot the unbound storage: %v", kindsAndActions(p))
	}
	if d1.Action != ActionDelete || d1.HoldsData || !strings.HasPrefix(d1.Note, "empty: deleted") {
		t.Errorf("re-run plan d1 %+v", *d1)
	}
	if kv.Action != ActionDelete || !kv.HoldsData || r2.Action != ActionDelete || !r2.HoldsData {
		t.Errorf("re-run plan kv %+v\nr2 %+v", *kv, *r2)
	}
	h.srv.ResetRequests()
	_, err := h.eng.Apply(ctx, p, ApplyOptions{SkipSmoke: true})
	if !errors.Is(err, ErrDataRefused) || !strings.Contains(err.Error(), "kv_namespace app-cache (holds 1 key)") || !strings.Contains(err.Error(), "--delete-data") {
		t.Fatalf("plain re-run: %v, want the refusal naming the namespace and --delete-data", err)
	}
	if w := h.writesSince(); len(w) > 0 {
		t.Errorf("the refused re-run wrote: %v", w)
	}

	// --delete-data: all three go, with their data.
	del := engineWith(t, h, DataDelete)
	p = del.plan(t, removed)
	if _, err := del.eng.Apply(ctx, p, ApplyOptions{SkipSmoke: true}); err != nil {
		t.Fatalf("re-run with --delete-data: %v\n%s", err, h.log)
	}
	if h.kvID(t, "app-cache") != "" || h.exists(t, "r2/buckets/app-images") || h.d1ID(t, "app-db") != "" {
		t.Error("the re-run with --delete-data left storage behind")
	}
	if p := h.plan(t, removed); p.HasChanges() || len(p.Resources) > 0 {
		t.Errorf("plan after the re-run: %v", kindsAndActions(p))
	}
}

// A plain apply removing an empty database, whose delete fails after the upload unbound it
// (the local Cloudflare's fault injection), leaves it to the next run: a plain re-run deletes
// it. Then nothing is pending, and the next upload writes no unbound= field.
func TestStorageEmptyUnboundDeletedByAPlainRerun(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxRetries = -1 })
	ctx := context.Background()
	w := storageWorker(t, "app", nil, nil, sb("DB", "app-db"))
	s := projectSpec(w)
	h.deploy(t, s, ApplyOptions{SkipSmoke: true})
	removed := projectSpec(withoutStorage(w))
	removed.File = s.File

	h.srv.SetFaults([]localcf.FaultRule{{Path: "*/d1/database/*", Method: http.MethodDelete, Kind: "500"}}, 1)
	p := h.plan(t, removed)
	if _, err := h.eng.Apply(ctx, p, ApplyOptions{SkipSmoke: true}); err == nil {
		t.Fatal("the apply whose delete failed reported no error")
	}
	h.srv.SetFaults(nil, 0)
	if h.d1ID(t, "app-db") == "" || h.scriptBindings(t, "app")["DB"] != nil || h.servedUnbound(t, "app") == "" {
		t.Fatalf("after the failed delete: database %q, bindings %v", h.d1ID(t, "app-db"), h.scriptBindings(t, "app"))
	}

	p = h.plan(t, removed)
	if r := resourceOf(p, "d1_database", "app-db"); r == nil || r.Action != ActionDelete || r.HoldsData {
		t.Fatalf("re-run plan: %v", kindsAndActions(p))
	}
	if _, err := h.eng.Apply(ctx, p, ApplyOptions{SkipSmoke: true}); err != nil {
		t.Fatalf("plain re-run: %v\n%s", err, h.log)
	}
	if h.d1ID(t, "app-db") != "" {
		t.Error("the plain re-run did not delete the empty database")
	}
	if p := h.plan(t, removed); p.HasChanges() {
		t.Errorf("plan after the re-run: %v", kindsAndActions(p))
	}

	// The next upload (a var changed) no longer records anything unbound.
	changed := projectSpec(withoutStorage(w))
	changed.File = s.File
	changed.Workers[0].Vars = map[string]string{"MODE": "two"}
	h.deploy(t, changed, ApplyOptions{SkipSmoke: true})
	if u := h.servedUnbound(t, "app"); u != "" {
		t.Errorf("an upload with nothing pending wrote unbound=%s", u)
	}
}

// After such a crash, --keep-data leaves what holds data and stops recording it (its worker
// uploads a version without it), deleting the empty rest: a plain plan is clean after it. A
// spec that declares an unbound object again binds it and owns it again (no second object).
func TestStorageUnboundKeptOrDeclaredAgain(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	s, removed := deployApp(t, h)
	crash, opts := crashAfterUpload(t, h, DataDelete)
	if _, err := crash.eng.Apply(ctx, crash.plan(t, removed), opts); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("the crashing apply: %v", err)
	}
	wantUnboundAfterCrash(t, h)

	// Declared again: bound again (the same namespace), its mark written, nothing created.
	kvID := h.kvID(t, "app-cache")
	p := h.plan(t, s)
	for _, r := range p.Resources {
		if r.Action != ActionNoOp || strings.Contains(r.Note, "not created by flareform") {
			t.Errorf("declared again: %s %s %s %q, want it used as flareform's", r.Kind, r.Name, r.Action, r.Note)
		}
	}
	if _, err := h.eng.Apply(ctx, p, ApplyOptions{SkipSmoke: true}); err != nil {
		t.Fatalf("apply declaring them again: %v\n%s", err, h.log)
	}
	if b := h.scriptBindings(t, "app"); b["CACHE"]["namespace_id"] != kvID || h.servedUnbound(t, "app") != "" {
		t.Errorf("declared again: bindings %v, unbound %q", b, h.servedUnbound(t, "app"))
	}

	// Crash again, then --keep-data.
	crash, opts = crashAfterUpload(t, h, DataDelete)
	if _, err := crash.eng.Apply(ctx, crash.plan(t, removed), opts); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("the second crashing apply: %v", err)
	}
	wantUnboundAfterCrash(t, h)
	keep := engineWith(t, h, DataKeep)
	p = keep.plan(t, removed)
	if len(p.Workers) != 1 || p.Workers[0].Action != ActionUpdate {
		t.Errorf("--keep-data plan: %v, want the worker to stop recording what it keeps", kindsAndActions(p))
	}
	if _, err := keep.eng.Apply(ctx, p, ApplyOptions{SkipSmoke: true}); err != nil {
		t.Fatalf("apply --keep-data: %v\n%s", err, h.log)
	}
	if h.kvID(t, "app-cache") != kvID || !h.exists(t, "r2/buckets/app-images/objects/cats/1.png") || h.d1ID(t, "app-db") != "" {
		t.Errorf("after --keep-data: kv %q, r2 object kept %t, d1 %q (want gone)", h.kvID(t, "app-cache"), h.exists(t, "r2/buckets/app-images/objects/cats/1.png"), h.d1ID(t, "app-db"))
	}
	if p := h.plan(t, removed); p.HasChanges() || len(p.DataRefused()) > 0 {
		t.Errorf("plain plan after --keep-data: %v", kindsAndActions(p))
	}
}

// The field round-trips through the annotation, and the budget counts it at its largest.
func TestIdentityUnboundField(t *testing.T) {
	v := unboundValue("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", 0b101)
	id := versionIdentity{BundleTag: "ff-bundle-0123456789abcdef", Own: []string{"d1-0", "kv-1", "r2-2"}, Unbound: v, Run: "r"}
	back, ok := parseIdentity(id.message())
	if !ok || back.Unbound != v {
		t.Fatalf("round trip of %q: %+v", id.message(), back)
	}
	if version, mask, ok := parseUnbound(back.Unbound); !ok || version != "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0" || mask != 0b101 {
		t.Errorf("parse %q: %q %b %t", back.Unbound, version, mask, ok)
	}
	for _, bad := range []string{"", "v", "v/12", "v/0000000000000000", "/0000000000000001"} {
		if _, _, ok := parseUnbound(bad); ok {
			t.Errorf("parseUnbound(%q) accepted", bad)
		}
	}
	worst := worstIdentity(spec.Worker{Name: "w"})
	if len(worst.Unbound) != maxUnboundVersionLen+17 || !strings.Contains(worst.message(), " unbound=") {
		t.Errorf("worst identity's unbound field %q", worst.Unbound)
	}
}

// A rollback, after such a crash, to a version that records neither marks nor unbound= makes
// flareform leave the objects alone: nothing is deleted, whatever they hold.
func TestStorageRollbackAfterUnbindLeavesObjectsAlone(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	w := appWorker(t)
	bare := projectSpec(withoutStorage(w))
	_, res := h.deploy(t, bare, ApplyOptions{SkipSmoke: true})
	v0 := res.Workers[0].VersionID
	s := projectSpec(w)
	s.File = bare.File
	h.deploy(t, s, ApplyOptions{SkipSmoke: true})
	crash, opts := crashAfterUpload(t, h, DataDelete)
	if _, err := crash.eng.Apply(ctx, crash.plan(t, bare), opts); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("the crashing apply: %v", err)
	}
	wantUnboundAfterCrash(t, h)
	if err := h.eng.deployVersion(ctx, h.srv.AccountID(), "app", v0, "rollback"); err != nil {
		t.Fatal(err)
	}
	del := engineWith(t, h, DataDelete)
	p := del.plan(t, bare)
	for _, r := range p.Resources {
		if r.Action == ActionDelete {
			t.Errorf("after the rollback the plan deletes %s %s", r.Kind, r.Name)
		}
	}
	if _, err := del.eng.Apply(ctx, p, ApplyOptions{SkipSmoke: true}); err != nil {
		t.Fatalf("apply after the rollback: %v\n%s", err, h.log)
	}
	if h.kvID(t, "app-cache") == "" || !h.exists(t, "r2/buckets/app-images") || h.d1ID(t, "app-db") == "" {
		t.Error("an object was deleted after the rollback")
	}
}

// destroy after such a crash deletes what the crashed run left unbound, under the same rule:
// with --delete-data everything goes, the script and the three objects.
func TestStorageDestroyAfterUnbindCrash(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	_, removed := deployApp(t, h)
	crash, opts := crashAfterUpload(t, h, DataDelete)
	if _, err := crash.eng.Apply(ctx, crash.plan(t, removed), opts); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("the crashing apply: %v", err)
	}
	wantUnboundAfterCrash(t, h)
	p, err := h.eng.PlanDestroy(ctx, removed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.eng.Apply(ctx, p, ApplyOptions{SkipSmoke: true}); !errors.Is(err, ErrDataRefused) || !strings.Contains(err.Error(), "kv_namespace app-cache") {
		t.Fatalf("plain destroy: %v, want the refusal naming the namespace", err)
	}
	del := engineWith(t, h, DataDelete)
	if p, err = del.eng.PlanDestroy(ctx, removed); err != nil {
		t.Fatal(err)
	}
	if _, err := del.eng.Apply(ctx, p, ApplyOptions{SkipSmoke: true}); err != nil {
		t.Fatalf("destroy --delete-data: %v\n%s", err, h.log)
	}
	if h.exists(t, "workers/scripts/app/settings") || h.kvID(t, "app-cache") != "" || h.exists(t, "r2/buckets/app-images") || h.d1ID(t, "app-db") != "" {
		t.Error("destroy --delete-data left something behind")
	}
}
