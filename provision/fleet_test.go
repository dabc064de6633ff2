package provision

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flareform/flareform/localcf/faults"
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
