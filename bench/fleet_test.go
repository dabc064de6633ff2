package main

import (
	"testing"
	"time"
)

// Fleets whose calls fit one budget run under the configured budget; larger ones under the same
// quota per the short window.
func TestStubBudgetShortensOnlyLargeFleetsWindow(t *testing.T) {
	o := options{stubRateLimit: 1200, stubRateWindow: 5 * time.Minute, stubBoundWindow: 30 * time.Second}
	if got := o.stubBudget(targetFleetSize, readingDeploymentID); got != cloudflareBudget {
		t.Errorf("target fleet, 3 calls per worker: %v, want Cloudflare's budget", got)
	}
	short := budget{Limit: 1200, Window: 30 * time.Second}
	if got := o.stubBudget(targetFleetSize, readingStrict); got != short {
		t.Errorf("target fleet, 5 calls per worker (1500 > 1200): %v, want %v", got, short)
	}
	if got := o.stubBudget(1000, readingDeploymentID); got != short {
		t.Errorf("1000 workers: %v, want %v", got, short)
	}
}

// Call k·Limit+1 waits k windows: 1200 calls fit one window, 1201 need a second.
func TestBudgetFloor(t *testing.T) {
	b := budget{Limit: 1200, Window: 30 * time.Second}
	for calls, want := range map[int]float64{0: 0, 1200: 0, 1201: 30000, 3600: 60000, 3601: 90000} {
		if got := budgetFloorMS(sample{Calls: callStats{Calls: calls}}, b); got != want {
			t.Errorf("%d calls: budget floor %v ms, want %v", calls, got, want)
		}
	}
	run := &fleetRun{Budget: b}
	if got := run.floorMS(sample{Calls: callStats{Calls: 10, Critical: 4}}); got != 200 {
		t.Errorf("10 calls, 4 round trips: floor %v ms, want the latency floor 200", got)
	}
}

// The fleet target is judged against the latency floor: a 300-worker run that waited for the
// rate budget misses it, though it is close to its budget floor.
func TestFleetTargetIgnoresTheBudgetFloor(t *testing.T) {
	waited := sample{Wall: 5*time.Minute + 8*time.Second, Calls: callStats{Calls: 1802, Critical: 150}}
	run := &fleetRun{API: fleetOnStub, Size: targetFleetSize, Budget: cloudflareBudget, series: series{Samples: []sample{waited}}}
	r := &report{Fleet: &fleetResults{Runs: []*fleetRun{run}}}
	if tg := r.fleetTarget(readingStrict); tg.Met {
		t.Errorf("target met by a run that waited 5 min for the budget: %+v", tg)
	}
}
