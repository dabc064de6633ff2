package provision

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/flareform/flareform/localcf/localcftest"
	"github.com/flareform/flareform/provision/spec"
)

// postHost sends an authorised prompt through the data plane to hostname.
func (h *harness) postHost(t testing.TB, host, key string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+h.srv.WorkersDevAddr()+"/", strings.NewReader(`{"prompt":"a fox"}`))
	req.Host = host
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// attached lists hostname -> worker of the account's custom domains.
func (h *harness) attached(t testing.TB) map[string]string {
	t.Helper()
	status, raw := h.api(t, http.MethodGet, "workers/domains", "")
	if status != http.StatusOK {
		t.Fatalf("list custom domains: %d %s", status, raw)
	}
	var records []domainRecord
	if err := json.Unmarshal(raw, &records); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range records {
		out[r.Hostname] = r.Service
	}
	return out
}

func domainWorker(t *testing.T, hosts ...string) spec.Worker {
	w := imageWorker(t, "image-api", "IMG_KEY")
	w.WorkersDev = false
	w.Domains = hosts
	for _, host := range hosts {
		w.Pos["domains."+host] = spec.Position{Line: 12, Col: 7}
	}
	return w
}

// Custom domains end to end on the local Cloudflare: attached after the worker and smoke-tested
// there (workers.dev is off), one added and one removed later, a hostname outside the account's
// zones refused before any write, and every domain detached by destroy.
func TestCustomDomainsAttachDetachAndDestroy(t *testing.T) {
	h := newHarness(t)
	localcftest.AddZone(t, h.srv, "example.com")
	h.env["IMG_KEY"] = "domain-key-0123456789abcdef0123456789abcd"
	key := h.env["IMG_KEY"]
	ctx := context.Background()

	s := specOf(domainWorker(t, "api.example.com"))
	p, res := h.deploy(t, s, ApplyOptions{})
	if got := kindsAndActions(p); !slices.Equal(got, []string{"worker image-api create", "custom_domain api.example.com create"}) {
		t.Fatalf("plan %v, want the worker created, then its domain attached", got)
	}
	w := res.Workers[0]
	if w.Smoke == nil || !w.Smoke.Passed || !strings.Contains(w.Smoke.URL, "api.example.com") {
		t.Fatalf("smoke %+v, want it passed on the custom domain", w.Smoke)
	}
	if got := h.attached(t); got["api.example.com"] != "image-api" {
		t.Fatalf("attached %v, want api.example.com on image-api", got)
	}
	if status := h.postHost(t, "api.example.com", key); status != http.StatusOK {
		t.Fatalf("POST to the custom domain: %d, want 200", status)
	}
	if p := h.plan(t, s); p.HasChanges() {
		t.Fatalf("plan after apply: %v, want no changes", kindsAndActions(p))
	}

	// Add one, remove one: the new one is attached after the worker, the old one detached first.
	s = specOf(domainWorker(t, "www.example.com"))
	p, _ = h.deploy(t, s, ApplyOptions{})
	if got := kindsAndActions(p); !slices.Equal(got, []string{"custom_domain api.example.com delete", "worker image-api no-op", "custom_domain www.example.com create"}) {
		t.Fatalf("plan %v, want api detached and www attached", got)
	}
	if got := h.attached(t); len(got) != 1 || got["www.example.com"] != "image-api" {
		t.Fatalf("attached %v, want only www.example.com", got)
	}

	// A hostname of no zone on the account: refused by plan, nothing written.
	h.srv.ResetRequests()
	_, err := h.eng.Plan(ctx, specOf(domainWorker(t, "www.example.com", "api.elsewhere.org")))
	var se *spec.Error
	if !errors.As(err, &se) || !strings.Contains(se.Msg, "api.elsewhere.org") || !strings.Contains(se.Msg, "zones") || se.Line != 12 {
		t.Fatalf("plan with a hostname outside the zones: %v, want a spec error at its line naming it", err)
	}
	if _, writes := h.apiCalls(); writes != 0 {
		t.Fatalf("a refused plan wrote %d times", writes)
	}

	// Removing the last domain detaches it (the worker's ff-domains tag remembers it is managed).
	s = specOf(domainWorker(t))
	s.Workers[0].WorkersDev = true
	h.deploy(t, s, ApplyOptions{})
	if got := h.attached(t); len(got) != 0 {
		t.Fatalf("attached %v after the spec dropped every domain, want none", got)
	}

	// Destroy detaches every domain before it deletes the worker.
	s = specOf(domainWorker(t, "api.example.com"))
	h.deploy(t, s, ApplyOptions{})
	dp, err := h.eng.PlanDestroy(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if got := kindsAndActions(dp); !slices.Equal(got, []string{"custom_domain api.example.com delete", "worker image-api delete"}) {
		t.Fatalf("destroy plan %v, want the domain detached, then the worker deleted", got)
	}
	if _, err := h.eng.Apply(ctx, dp, ApplyOptions{}); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	if got := h.attached(t); len(got) != 0 {
		t.Fatalf("attached %v after destroy, want none", got)
	}
}

// PrepareLocal (apply --local) creates the zone a spec's domain needs on the local Cloudflare.
func TestPrepareLocalCreatesTheZonesOfTheSpecsDomains(t *testing.T) {
	h := newHarness(t)
	localcftest.AddZone(t, h.srv, "example.com")
	s := specOf(domainWorker(t, "api.example.com", "img.shop.example.dev"))
	if err := h.eng.PrepareLocal(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, z := range h.srv.Zones() {
		names = append(names, z.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"example.com", "example.dev"}) {
		t.Fatalf("zones %v, want example.com kept and example.dev created", names)
	}
}
