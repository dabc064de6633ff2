package provision

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
)

// shares reads the worker's active deployment through the API.
func (h *harness) shares(t testing.TB, name string) []DeploymentShare {
	t.Helper()
	s, err := h.eng.activeShares(context.Background(), h.srv.AccountID(), name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A canary is the new version at the given share beside the one that served; the next plain
// apply of the same spec promotes it after smoke-testing it; a canary whose authorised answer
// is broken fails however the traffic dice fall (its smoke test goes to it by the
// version-override header) and the deployment it replaced serves again.
func TestCanaryDeploysPromotesAndWithdraws(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.env["IMG_KEY"] = "canary-key-0123456789abcdef0123456789abcd"
	w := imageWorker(t, "image-api", "IMG_KEY")
	_, first := h.deploy(t, specOf(w), ApplyOptions{})
	v1 := first.Workers[0].VersionID

	w.Vars = map[string]string{"GREETING": "second"}
	h.eng.cfg.Canary = 10
	p := h.plan(t, specOf(w))
	c := p.Workers[0].Canary
	if c == nil || c.Percent != 10 || c.Stable != v1 || c.Version != "" {
		t.Fatalf("plan --canary 10: canary %+v, want a new version at 10%% beside %s", c, v1)
	}
	res, err := h.eng.Apply(ctx, p, ApplyOptions{})
	if err != nil {
		t.Fatalf("apply --canary 10: %v\nlog:\n%s", err, h.log)
	}
	v2 := res.Workers[0].VersionID
	if smoke := res.Workers[0].Smoke; smoke == nil || !smoke.Passed {
		t.Fatalf("canary smoke: %+v, want passed", smoke)
	}
	want := []DeploymentShare{{VersionID: v1, Percentage: 90}, {VersionID: v2, Percentage: 10}}
	if got := h.shares(t, "image-api"); !slices.Equal(got, want) {
		t.Fatalf("deployment after apply --canary 10: %+v, want %+v", got, want)
	}
	if p := h.plan(t, specOf(w)); p.HasChanges() {
		t.Fatalf("plan --canary 10 again: %+v, want no changes", p.Workers[0].Changes)
	}

	h.eng.cfg.Canary = 0
	p = h.plan(t, specOf(w))
	if c := p.Workers[0].Canary; c == nil || c.Percent != 100 || c.Version != v2 {
		t.Fatalf("plain plan over the canary: canary %+v, want promote %s", c, v2)
	}
	if _, err := h.eng.Apply(ctx, p, ApplyOptions{}); err != nil {
		t.Fatalf("promote by plain apply: %v\nlog:\n%s", err, h.log)
	}
	if got := h.shares(t, "image-api"); !slices.Equal(got, []DeploymentShare{{VersionID: v2, Percentage: 100}}) {
		t.Fatalf("deployment after promotion: %+v, want %s at 100%%", got, v2)
	}
	if p := h.plan(t, specOf(w)); p.HasChanges() {
		t.Fatalf("plan after promotion: %+v, want no changes", p.Workers[0].Changes)
	}

	// Broken only in its authorised answer, so only the authorised request can tell; at 10%
	// that request reaches the canary by chance once in ten, and by the override every time.
	broken := w
	broken.Main = testdataWorker(t, "auth-text-not-png.js")
	h.eng.cfg.Canary = 10
	for i := range 3 {
		p = h.plan(t, specOf(broken))
		_, err = h.eng.Apply(ctx, p, ApplyOptions{})
		if err == nil || !strings.Contains(err.Error(), "authorized") || !strings.Contains(err.Error(), "withdrawn") {
			t.Fatalf("apply --canary 10 of code broken in its authorised answer (try %d): %v, want its smoke test to fail and the canary withdrawn\nlog:\n%s", i+1, err, h.log)
		}
		if got := h.shares(t, "image-api"); !slices.Equal(got, []DeploymentShare{{VersionID: v2, Percentage: 100}}) {
			t.Fatalf("deployment after a failed canary: %+v, want %s at 100%% again", got, v2)
		}
	}
}

// A canary needs a version to split with, and cannot change the key clients hold.
func TestCanaryRefusedForNewWorkerAndKeyChange(t *testing.T) {
	h := newHarness(t)
	h.env["IMG_KEY"] = "canary-key-0123456789abcdef0123456789abcd"
	w := imageWorker(t, "image-api", "IMG_KEY")
	h.eng.cfg.Canary = 10
	if _, err := h.eng.Plan(context.Background(), specOf(w)); err == nil || !strings.Contains(err.Error(), "does not exist yet") {
		t.Fatalf("plan --canary of a new worker: %v, want refused", err)
	}
	h.eng.cfg.Canary = 0
	h.deploy(t, specOf(w), ApplyOptions{})
	h.env["IMG_KEY"] = "canary-key-changed-0123456789abcdef01234567"
	h.eng.cfg.Canary = 10
	if _, err := h.eng.Plan(context.Background(), specOf(w)); err == nil || !strings.Contains(err.Error(), "cannot change") {
		t.Fatalf("plan --canary with a changed key: %v, want refused", err)
	}
}

// A plain apply over a canary whose smoke test fails makes the canary's split serve again, as
// it was: nothing that passed a test is left at 100% by mistake, and nothing is lost.
func TestFailedApplyOverACanaryPutsTheSplitBack(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.env["IMG_KEY"] = "canary-key-0123456789abcdef0123456789abcd"
	w := imageWorker(t, "image-api", "IMG_KEY")
	h.deploy(t, specOf(w), ApplyOptions{})
	w.Vars = map[string]string{"MAX_PROMPT_CHARS": "800"}
	h.eng.cfg.Canary = 20
	h.deploy(t, specOf(w), ApplyOptions{})
	split := h.shares(t, "image-api")
	h.eng.cfg.Canary = 0
	w.Main = testdataWorker(t, "auth-text-not-png.js")
	res, err := h.eng.Apply(ctx, h.plan(t, specOf(w)), ApplyOptions{})
	if err == nil || !res.Workers[0].RolledBack || !strings.Contains(err.Error(), "rolled back to the split") {
		t.Fatalf("failed apply over a canary: %v, want the split rolled back to\nlog:\n%s", err, h.log)
	}
	if got := h.shares(t, "image-api"); !slices.Equal(got, split) {
		t.Fatalf("deployment after the failed apply: %+v, want the split %+v again", got, split)
	}
}

// failAfterSplit answers every request after the split deployment's POST with an error: the
// run ends there, as a crash or a lost connection would end it.
type failAfterSplit struct {
	next http.RoundTripper
	mu   sync.Mutex
	cut  bool
}

func (f *failAfterSplit) RoundTrip(r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	cut := f.cut
	f.mu.Unlock()
	if cut {
		return nil, errors.New("connection lost (test)")
	}
	res, err := f.next.RoundTrip(r)
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/deployments") {
		f.mu.Lock()
		f.cut = true
		f.mu.Unlock()
	}
	return res, err
}

// A run that ends after deploying its canary, before the canary's smoke test passed, leaves
// code no test passed serving a share of the traffic. The next plan of the same canary must
// not say "No changes": it smoke-tests the canary (without deploying again).
func TestInterruptedCanaryIsTestedByTheNextApply(t *testing.T) {
	cut := &failAfterSplit{}
	h := newHarness(t, func(c *Config) {
		cut.next = c.HTTPClient.Transport
		c.HTTPClient = &http.Client{Transport: cut, Timeout: c.HTTPClient.Timeout}
		c.MaxRetries = -1
	})
	ctx := context.Background()
	h.env["IMG_KEY"] = "canary-key-0123456789abcdef0123456789abcd"
	w := imageWorker(t, "image-api", "IMG_KEY")
	h.deploy(t, specOf(w), ApplyOptions{}) // an upload (PUT) deploys: no POST …/deployments
	w.Vars = map[string]string{"MAX_PROMPT_CHARS": "600"}
	h.eng.cfg.Canary = 10
	if _, err := h.eng.Apply(ctx, h.plan(t, specOf(w)), ApplyOptions{}); err == nil {
		t.Fatalf("apply --canary whose connection was lost after the split: exit 0")
	}
	cut.mu.Lock()
	cut.cut = false
	cut.mu.Unlock()
	split := h.shares(t, "image-api")
	if len(split) != 2 {
		t.Fatalf("deployment after the cut: %+v, want the split", split)
	}
	p := h.plan(t, specOf(w))
	if !p.HasChanges() || !hasChange(p.Workers[0].Changes, "smoke") {
		t.Fatalf("plan after a canary deployed but never tested: %+v, want its smoke test planned", p.Workers[0].Changes)
	}
	before := len(h.srv.Requests())
	if _, err := h.eng.Apply(ctx, p, ApplyOptions{}); err != nil {
		t.Fatalf("apply of the untested canary: %v\nlog:\n%s", err, h.log)
	}
	for _, r := range h.srv.Requests()[before:] {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/deployments") {
			t.Errorf("the untested canary was deployed again; only its test was due")
		}
	}
	if got := h.shares(t, "image-api"); !slices.Equal(got, split) {
		t.Fatalf("deployment after the canary's test: %+v, want %+v", got, split)
	}
	if p := h.plan(t, specOf(w)); p.HasChanges() {
		t.Fatalf("plan after the canary passed: %+v, want no changes", p.Workers[0].Changes)
	}
}

// While a canary splits the traffic, `smoke` tests each version of the split: a broken canary
// fails it every time, whatever share it has.
func TestSmokeTestsEveryVersionOfASplit(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.env["IMG_KEY"] = "canary-key-0123456789abcdef0123456789abcd"
	w := imageWorker(t, "image-api", "IMG_KEY")
	h.deploy(t, specOf(w), ApplyOptions{})
	broken := w
	broken.Main = testdataWorker(t, "auth-text-not-png.js")
	h.eng.cfg.Canary = 10
	// Deployed without its smoke test, as another tool (or --no-smoke) would.
	h.deploy(t, specOf(broken), ApplyOptions{SkipSmoke: true})
	for i := range 3 {
		_, err := h.eng.Smoke(ctx, specOf(w), nil, "")
		if err == nil || !strings.Contains(err.Error(), "10% of the traffic") {
			t.Fatalf("smoke of a split with a broken canary (try %d): %v, want it to fail naming the canary", i+1, err)
		}
	}
}
