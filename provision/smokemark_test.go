package provision

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// stopAfterUpload closes stop once a script upload (PUT .../workers/scripts/NAME) has been
// answered: Ctrl-C while the upload was on its way.
type stopAfterUpload struct {
	next http.RoundTripper
	stop chan struct{}
	once sync.Once
}

func (s *stopAfterUpload) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := s.next.RoundTrip(r)
	if err == nil && r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/workers/scripts/") &&
		!strings.Contains(strings.SplitN(r.URL.Path, "/workers/scripts/", 2)[1], "/") {
		s.once.Do(func() { close(s.stop) })
	}
	return res, err
}

// An apply stopped after its upload, before its smoke test, leaves code no test has passed
// serving. The next plan must not say "No changes": it plans the worker again, and the apply
// smoke-tests it (and, when it fails, does not roll back to the untested version).
func TestInterruptedUploadIsTestedByTheNextApply(t *testing.T) {
	stop := &stopAfterUpload{stop: make(chan struct{})}
	h := newHarness(t, func(c *Config) {
		stop.next = c.HTTPClient.Transport
		c.HTTPClient = &http.Client{Transport: stop, Timeout: c.HTTPClient.Timeout}
	})
	ctx := context.Background()
	h.env["IMG_KEY"] = "smoke-mark-key-0123456789abcdef0123456789"
	good := specOf(imageWorker(t, "image-api", "IMG_KEY"))
	// The first deploy is stopped too: its upload is untested, and so is any later one.
	p := h.plan(t, good)
	_, err := h.eng.Apply(ctx, p, ApplyOptions{Stop: stop.stop})
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("apply stopped after its upload: %v, want ErrInterrupted", err)
	}
	p = h.plan(t, good)
	if !p.HasChanges() || !hasChange(p.Workers[0].Changes, "smoke") {
		t.Fatalf("plan after an apply stopped before its smoke test: changes %+v, want the untested version planned again", p.Workers[0].Changes)
	}
	if _, err := h.eng.Apply(ctx, p, ApplyOptions{}); err != nil {
		t.Fatalf("apply of the untested version: %v\nlog:\n%s", err, h.log)
	}
	if p := h.plan(t, good); p.HasChanges() {
		t.Fatalf("plan after the smoke test passed: %+v, want no changes", p.Workers[0].Changes)
	}

	// Broken code (answers text, not a PNG), uploaded by an apply stopped before its test.
	broken := specOf(imageWorker(t, "image-api", "IMG_KEY"))
	broken.Workers[0].Main = testdataWorker(t, "text-not-png.js")
	stop.once, stop.stop = sync.Once{}, make(chan struct{})
	p = h.plan(t, broken)
	if _, err := h.eng.Apply(ctx, p, ApplyOptions{Stop: stop.stop}); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("apply of broken code stopped after its upload: %v, want ErrInterrupted", err)
	}
	p = h.plan(t, broken)
	if !p.HasChanges() || !hasChange(p.Workers[0].Changes, "smoke") {
		t.Fatalf("plan after broken code was uploaded and not tested: changes %+v, want it planned again", p.Workers[0].Changes)
	}
	res, err := h.eng.Apply(ctx, p, ApplyOptions{})
	if err == nil || !strings.Contains(err.Error(), "smoke") {
		t.Fatalf("apply of the broken, untested code: %v, want its smoke test to fail", err)
	}
	if res.Workers[0].RolledBack {
		t.Errorf("rolled back to the version that serves, which no smoke test passed either")
	}
	if p := h.plan(t, broken); !p.HasChanges() {
		t.Fatalf("plan after the failed smoke test says no changes: the broken code would pass for deployed")
	}
	// The spec's good code again: uploaded, tested, and then nothing is left to do.
	h.deploy(t, good, ApplyOptions{})
	if p := h.plan(t, good); p.HasChanges() {
		t.Fatalf("plan after the good code passed: %+v, want no changes", p.Workers[0].Changes)
	}
}

func hasChange(changes []Change, path string) bool {
	for _, c := range changes {
		if c.Path == path {
			return true
		}
	}
	return false
}
