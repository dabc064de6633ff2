package provision

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flareform/flareform/localcf"
	"github.com/flareform/flareform/localcf/faults"
	"github.com/flareform/flareform/localcf/localcftest"
	"github.com/flareform/flareform/provision/spec"
)

// fleetSpec is n text-to-image workers named prefix-0 … prefix-(n-1) sharing one main file.
func fleetSpec(t testing.TB, prefix string, n int) *spec.Spec {
	ws := make([]spec.Worker, n)
	for i := range ws {
		ws[i] = imageWorker(t, fmt.Sprintf("%s-%d", prefix, i), "")
	}
	return specOf(ws...)
}

// A fleet's first deploy lists the account's scripts once instead of reading each worker's
// settings, and its destroy reads only each worker's deployments (the deletes' precondition).
func TestFleetReadsOnlyScriptsThatExist(t *testing.T) {
	h := newHarness(t)
	s := fleetSpec(t, "fleet", 5)
	h.srv.ResetRequests()
	h.deploy(t, s, ApplyOptions{SkipSmoke: true})
	// Per worker: upload, workers.dev, and the check that this run's version serves: as the
	// upload's answer need not name the version, the newest version and its annotation (read
	// alongside the workers.dev switch), then the deployments. The plan itself reads no worker:
	// the list said none exists; and apply, following its plan at once, reads none before
	// uploading. The workers share one model: one catalog search.
	if total, writes := h.apiCalls(); total != 3+5*5 || writes != 2*5 {
		t.Errorf("first deploy of 5 workers: %d calls (%d writes), want 28 (10 writes): list, subdomain, model search, then per worker upload, workers.dev, newest version, its annotation, deployments", total, writes)
	}
	for _, r := range h.srv.Requests() {
		if strings.HasSuffix(r.Path, "/settings") {
			t.Errorf("first deploy read %s: the list already said the worker does not exist", r.Path)
		}
	}

	h.srv.ResetRequests()
	p, err := h.eng.PlanDestroy(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	// The list, then each worker's deployments: what serves is each delete's precondition
	// (guard.go), so a delete never removes a version deployed after the plan.
	if total, _ := h.apiCalls(); total != 1+5 {
		t.Errorf("planning the destroy of 5 workers took %d calls, want 6 (the list, then each worker's deployments)", total)
	}
	if _, err := h.eng.Apply(context.Background(), p, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, w := range s.Workers {
		if code := h.post(t, w.Name, "any"); code != http.StatusNotFound {
			t.Errorf("%s answers %d after destroy, want 404", w.Name, code)
		}
	}
}

// BenchmarkFleetApply100 deploys a 100-worker fleet with 50 ms added to every API call, the
// issue's fleet case. Besides time/op it reports the sequential lower bound: the sum of the
// API round trips of the run as the server measured them, injected latency included.
func BenchmarkFleetApply100(b *testing.B) {
	for _, smoke := range []bool{true, false} {
		name := map[bool]string{true: "smoke", false: "no-smoke"}[smoke]
		b.Run(name, func(b *testing.B) { benchmarkFleet(b, 100, smoke) })
	}
}

func benchmarkFleet(b *testing.B, n int, smoke bool) {
	h := newHarness(b)
	ctx := context.Background()
	var calls, roundTrips float64
	for i := 0; b.Loop(); i++ {
		s := fleetSpec(b, fmt.Sprintf("fleet%d", i), n)
		h.srv.ResetRequests()
		h.srv.SetFaults([]faults.Rule{{Path: "/client/v4/*", Kind: faults.KindLatency, LatencyMS: 50}}, 1)
		_, res := h.deploy(b, s, ApplyOptions{SkipSmoke: !smoke})
		for _, w := range res.Workers {
			if smoke && (w.Smoke == nil || !w.Smoke.Passed) {
				b.Fatalf("%s: smoke did not pass: %+v", w.Name, w.Smoke)
			}
		}
		for _, r := range h.srv.Requests() {
			calls++
			roundTrips += r.DurationMS
		}
		b.StopTimer()
		h.srv.SetFaults(nil, 0)
		p, err := h.eng.PlanDestroy(ctx, s)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := h.eng.Apply(ctx, p, ApplyOptions{}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(calls/float64(b.N), "api-calls/op")
	b.ReportMetric(roundTrips/float64(b.N)/float64(time.Second/time.Millisecond), "sequential-s/op")
}

// TestApplyPacesUnderTheRateLimit runs two applies of a 12-worker spec against a local
// Cloudflare allowing only 30 requests per 2 s. Together they need about 75 calls, so they
// must wait for windows to reset; with retries off, a single 429 would fail them.
func TestApplyPacesUnderTheRateLimit(t *testing.T) {
	srv := localcftest.New(t, localcf.Options{RateLimit: 30, RateWindow: 2 * time.Second})
	log := &syncBuffer{}
	newEngine := func() *Engine {
		eng, err := New(Config{APIBaseURL: srv.APIBaseURL(), APIToken: srv.Token(), AccountID: srv.AccountID(),
			Log: log, MaxRetries: -1})
		if err != nil {
			t.Fatal(err)
		}
		return eng
	}
	s := fleetSpec(t, "paced", 12)
	ctx := context.Background()
	for run, vars := range []string{"1000", "900"} {
		for i := range s.Workers {
			s.Workers[i].Vars = map[string]string{"MAX_PROMPT_CHARS": vars}
		}
		eng := newEngine() // a new process each time: it learns the budget from the headers
		p, err := eng.Plan(ctx, s)
		if err != nil {
			t.Fatalf("run %d: plan: %v\nlog:\n%s", run+1, err, log)
		}
		if _, err := eng.Apply(ctx, p, ApplyOptions{SkipSmoke: true}); err != nil {
			t.Fatalf("run %d: apply: %v\nlog:\n%s", run+1, err, log)
		}
	}
	total := 0
	for _, r := range srv.Requests() {
		total++
		if r.Status == http.StatusTooManyRequests {
			t.Errorf("%s %s got 429: the engine crossed the rate limit", r.Method, r.Path)
		}
	}
	if total <= 30 {
		t.Fatalf("only %d API calls: the test no longer needs more than one window", total)
	}
	if !strings.Contains(log.String(), "rate budget") {
		t.Errorf("the log never says the engine waited for the rate budget:\n%s", log)
	}
}
