package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/flareform/flareform/internal/wranglerenv"
)

// Where a fleet is applied.
const (
	fleetOnStub  = "null API stub"
	fleetOnLocal = "local Cloudflare"
)

// Readings of the script upload's answer the stub can give (the local Cloudflare's quirk
// deployment_id): the strict one, with only the SDK's documented fields, and wrangler's, which
// names the new version in deployment_id. Under the strict reading apply reads the newest
// version and its annotation to find its own, two calls per worker more.
const (
	readingStrict       = ""
	readingDeploymentID = "deployment_id"
)

// callsPerWorker is about how many calls a fleet's first deploy makes per worker under a
// reading (upload, workers.dev, the checks; provision's apiCallsPerChange), to tell whether it
// spends more than one budget.
func callsPerWorker(reading string) int {
	if reading == readingDeploymentID {
		return 3
	}
	return 5
}

// fleetRun is every round of one fleet size against one API.
type fleetRun struct {
	API   string // fleetOnStub or fleetOnLocal
	Size  int
	Smoke bool
	// Reading is the stub's reading of the upload's answer (readingStrict or
	// readingDeploymentID); the local Cloudflare runs strict.
	Reading string
	// Budget is the API's rate budget during the run.
	Budget budget
	series
}

// budget is a rate budget: Limit requests per Window per token.
type budget struct {
	Limit  int
	Window time.Duration
}

// cloudflareBudget is Cloudflare's client API budget, the local Cloudflare's default.
var cloudflareBudget = budget{Limit: rateLimit, Window: rateWindow}

// stubBudget is the null API stub's budget for a fleet of size under a reading. A fleet whose
// calls fit one budget gets the configured budget (Cloudflare's by default): the target is
// measured under it. A larger fleet, which by design spends more than one budget, gets the same
// quota per a shorter window (-stub-bound-window): it waits out windows as against Cloudflare,
// only shorter ones, so a 1000-worker round takes minutes rather than a quarter of an hour. Its
// row measures pacing under a binding budget (wall against the budget floor, no 429), not the
// time such a fleet takes against Cloudflare.
func (o options) stubBudget(size int, reading string) budget {
	b := budget{Limit: o.stubRateLimit, Window: o.stubRateWindow}
	if size*callsPerWorker(reading) > b.Limit && o.stubBoundWindow > 0 && o.stubBoundWindow < b.Window {
		b.Window = o.stubBoundWindow
	}
	return b
}

// fleetResults are the fleet scenario's runs, smallest fleet first, the stub before the local
// Cloudflare for each size.
type fleetResults struct {
	Runs []*fleetRun
}

// fleetNames are the workers of a fleet of size.
func fleetNames(size int) []string {
	names := make([]string, size)
	for i := range names {
		names[i] = fmt.Sprintf("fleet-%04d", i)
	}
	return names
}

// stubFleetRound applies a fleet of size with --no-smoke against the null API stub (the stub
// has no workers.dev), with a token of its own, so only flareform's cost and the latency show.
func (b *bench) stubFleetRound(ctx context.Context, round, size int, budget budget, reading string) (sample, error) {
	name := fmt.Sprintf("stub-fleet-%d-r%d", size, round)
	if reading != readingStrict {
		name += "-" + strings.ReplaceAll(reading, "_", "-")
	}
	p, err := b.newProjectOn(name, wranglerenv.API{BaseURL: b.stub.baseURL(), Token: randomHex(20), AccountID: randomHex(16)})
	if err != nil {
		return sample{}, err
	}
	if err := writeFile(filepath.Join(p.dir, "flareform.yaml"), flareformSpec(fleetNames(size), "generate", "unused: no smoke test")); err != nil {
		return sample{}, err
	}
	b.stub.setBudget(budget.Limit, budget.Window)
	defer b.stub.setBudget(rateLimit, rateWindow)
	b.stub.setDeploymentID(reading == readingDeploymentID)
	defer b.stub.setDeploymentID(false)
	b.stub.take()
	apply := b.flareformCmd(p, "", "apply", "--auto-approve", "--no-smoke", "--key-out", filepath.Join(p.dir, "keys"))
	apply.Timeout = fleetTimeout(size, budget)
	o := run(ctx, apply)
	s := sample{Wall: o.Wall, RSSKiB: o.RSSKiB, Calls: statsIn(b.stub.take(), budget.Window)}
	if o.Err != nil {
		s.Failed = true
		fmt.Fprintf(b.log, "bench: stub fleet of %d FAILED (left out of the medians): %v\n", size, o.Err)
	}
	return s, nil
}

// localFleetRound applies a fleet of size in a fresh account of the local Cloudflare (its own
// token budget) with fleetLatency on every API call, smoke-testing every worker, then
// destroys it without latency (not measured), which stops its workerd processes.
func (b *bench) localFleetRound(ctx context.Context, round, size int) (sample, error) {
	name := fmt.Sprintf("local-fleet-%d-r%d", size, round)
	accountID, token, err := b.cloud.srv.AddAccount(name)
	if err != nil {
		return sample{}, fmt.Errorf("fleet account: %w", err)
	}
	p, err := b.newProject(name, token, accountID)
	if err != nil {
		return sample{}, err
	}
	if err := writeFile(filepath.Join(p.dir, "flareform.yaml"), flareformSpec(fleetNames(size), "generate", "a cute robot cooking breakfast, "+p.dir)); err != nil {
		return sample{}, err
	}
	b.cloud.injectLatency(fleetLatency)
	apply := b.flareformCmd(p, "", "apply", "--auto-approve", "--key-out", filepath.Join(p.dir, "keys"))
	apply.Timeout = fleetTimeout(size, cloudflareBudget)
	s := b.measure(ctx, apply)
	b.cloud.injectLatency(0)
	if err := b.setup(ctx, b.flareformCmd(p, "", "destroy", "--auto-approve")); err != nil {
		return s, err
	}
	return s, nil
}

// runFleets runs every fleet size: rounds rounds up to 100 workers, largeRounds above (a
// fleet above 1200 API calls waits out the rate window, five minutes a round). The local
// Cloudflare runs fleets up to localMax (each worker is a workerd process).
func (b *bench) runFleets(ctx context.Context, o options) (*fleetResults, error) {
	res := &fleetResults{}
	for _, size := range o.fleetSizes {
		rounds := o.fleetRounds
		if size > 100 {
			rounds = min(rounds, o.fleetRoundsLarge)
		}
		stubs := o.stubRuns(size)
		local := &fleetRun{API: fleetOnLocal, Size: size, Smoke: true, Budget: cloudflareBudget,
			series: series{Label: fmt.Sprintf("%d workers, %s, smoke-tested", size, fleetOnLocal)}}
		for round := range rounds {
			fmt.Fprintf(b.log, "bench: fleet of %d, round %d/%d\n", size, round+1, rounds)
			for _, stub := range stubs {
				s, err := b.stubFleetRound(ctx, round, size, stub.Budget, stub.Reading)
				if err != nil {
					return nil, err
				}
				stub.add(s)
			}
			if size > o.fleetLocalMax {
				continue
			}
			s, err := b.localFleetRound(ctx, round, size)
			if err != nil {
				return nil, err
			}
			local.add(s)
		}
		res.Runs = append(res.Runs, stubs...)
		if len(local.Samples) > 0 {
			res.Runs = append(res.Runs, local)
		}
	}
	return res, nil
}

// stubRuns are the null API stub's runs of a fleet of size, not yet measured: every size under
// the strict reading, the target size also under wrangler's.
func (o options) stubRuns(size int) []*fleetRun {
	readings := []string{readingStrict}
	if size == targetFleetSize {
		readings = append(readings, readingDeploymentID)
	}
	var runs []*fleetRun
	for _, reading := range readings {
		quota := o.stubBudget(size, reading)
		label := fmt.Sprintf("%d workers, %s, --no-smoke", size, fleetOnStub)
		if reading == readingDeploymentID {
			label += ", upload answer names the version"
		}
		if quota != cloudflareBudget {
			label += fmt.Sprintf(", budget %d per %s", quota.Limit, fmtWindow(quota.Window))
		}
		runs = append(runs, &fleetRun{API: fleetOnStub, Size: size, Reading: reading, Budget: quota, series: series{Label: label}})
	}
	return runs
}

// fleetTimeout leaves a fleet's apply time for every rate window its calls (about six per
// worker at most) need, on top of the usual bound.
func fleetTimeout(size int, b budget) time.Duration {
	windows := (size*(callsPerWorker(readingStrict)+1) + b.Limit - 1) / b.Limit
	return childTimeout + time.Duration(windows)*b.Window
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
