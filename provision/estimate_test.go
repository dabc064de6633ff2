package provision

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func fleetPlan(n int, action Action) *Plan {
	p := &Plan{}
	for i := range n {
		name := fmt.Sprintf("fleet-%d", i)
		p.Workers = append(p.Workers, WorkerPlan{Key: name, Name: name, Action: action})
		p.Resources = append(p.Resources, ResourcePlan{Kind: "worker", Name: name, Action: action})
	}
	return p
}

// The estimate counts the plan's calls from the per-change constants and binds only when they
// exceed what is left of the budget.
func TestEstimateApplyBindsOnlyBeyondTheBudget(t *testing.T) {
	e, err := New(Config{APIToken: "t", RateLimit: 1200, RateWindow: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	perCreate := apiCallsPerChange["worker"][ActionCreate]
	small := e.EstimateApply(fleetPlan(10, ActionCreate))
	if small.Calls != 10*perCreate || small.Binds() {
		t.Errorf("10 workers: %+v, want %d calls and no wait", small, 10*perCreate)
	}
	n := 1200/perCreate + 1
	big := e.EstimateApply(fleetPlan(n, ActionCreate))
	if big.Calls != n*perCreate || !big.Binds() || big.Limit != 1200 || big.Window != 5*time.Minute {
		t.Fatalf("%d workers: %+v, want %d calls binding a budget of 1200 per 5m", n, big, n*perCreate)
	}
	if big.Wait != 5*time.Minute {
		t.Errorf("%d workers: wait %s, want one window (5m)", n, big.Wait)
	}
	huge := e.EstimateApply(fleetPlan(3*n, ActionCreate))
	if huge.Wait != 15*time.Minute {
		t.Errorf("%d workers: wait %s, want three windows", 3*n, huge.Wait)
	}
	if noop := e.EstimateApply(fleetPlan(1000, ActionNoOp)); noop.Calls != 0 || noop.Binds() {
		t.Errorf("a no-op plan: %+v, want no calls", noop)
	}
}

// What the plan's reads spent counts: the budget binds sooner, and the wait ends when the
// server says its window resets.
func TestEstimateApplyCountsWhatThePlanSpent(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Ratelimit", `"default";r=100;t=90`)
		fmt.Fprint(w, `{"success":true,"errors":[],"messages":[],"result":{"subdomain":"acct"}}`)
	}))
	defer srv.Close()
	e, err := New(Config{APIBaseURL: srv.URL, APIToken: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.accountSubdomain(context.Background(), "acct"); err != nil { // the plan's read
		t.Fatal(err)
	}
	// One worker more than the 100 left can take.
	est := e.EstimateApply(fleetPlan(100/apiCallsPerChange["worker"][ActionCreate]+1, ActionCreate))
	if est.Available != 100 || !est.Binds() || est.Wait > 90*time.Second || est.Wait < 85*time.Second {
		t.Errorf("%+v: want 100 available and a wait of 90s, until the reset", est)
	}
}
