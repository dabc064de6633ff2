package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/flareform/flareform/localcf"
)

// Where a fleet is applied.
const (
	fleetOnStub  = "null API stub"
	fleetOnLocal = "local Cloudflare"
)

// fleetRun is every round of one fleet size against one API.
type fleetRun struct {
	API   string // fleetOnStub or fleetOnLocal
	Size  int
	Smoke bool
	series
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
func (b *bench) stubFleetRound(ctx context.Context, round, size int) (sample, error) {
	name := fmt.Sprintf("stub-fleet-%d-r%d", size, round)
	token, accountID := randomHex(20), randomHex(16)
	p, err := b.newProject(name, token, accountID)
	if err != nil {
		return sample{}, err
	}
	// The project's environment points at the local Cloudflare: point it at the stub.
	p.env = append(slices.DeleteFunc(p.env, func(kv string) bool {
		return strings.HasPrefix(kv, "CLOUDFLARE_API_BASE_URL=")
	}), "CLOUDFLARE_API_BASE_URL="+b.stub.baseURL())
	if err := writeFile(filepath.Join(p.dir, "flareform.yaml"), flareformSpec(fleetNames(size), "generate", "unused: no smoke test")); err != nil {
		return sample{}, err
	}
	b.stub.take()
	apply := b.flareformCmd(p, "", "apply", "--auto-approve", "--no-smoke", "--key-out", filepath.Join(p.dir, "keys"))
	apply.Timeout = fleetTimeout(size)
	o := run(ctx, apply)
	s := sample{Wall: o.Wall, RSSKiB: o.RSSKiB, Calls: statsOf(b.stub.take())}
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
	b.cloud.srv.SetFaults([]localcf.FaultRule{{Kind: "latency", Path: "*", LatencyMS: int(fleetLatency / time.Millisecond)}}, 1)
	apply := b.flareformCmd(p, "", "apply", "--auto-approve", "--key-out", filepath.Join(p.dir, "keys"))
	apply.Timeout = fleetTimeout(size)
	s := b.measure(ctx, apply)
	b.cloud.srv.SetFaults(nil, 1)
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
		stub := &fleetRun{API: fleetOnStub, Size: size, series: series{Label: fmt.Sprintf("%d workers, %s, --no-smoke", size, fleetOnStub)}}
		local := &fleetRun{API: fleetOnLocal, Size: size, Smoke: true, series: series{Label: fmt.Sprintf("%d workers, %s, smoke-tested", size, fleetOnLocal)}}
		for round := range rounds {
			fmt.Fprintf(b.log, "bench: fleet of %d, round %d/%d\n", size, round+1, rounds)
			s, err := b.stubFleetRound(ctx, round, size)
			if err != nil {
				return nil, err
			}
			stub.add(s)
			if size > o.fleetLocalMax {
				continue
			}
			if s, err = b.localFleetRound(ctx, round, size); err != nil {
				return nil, err
			}
			local.add(s)
		}
		res.Runs = append(res.Runs, stub)
		if len(local.Samples) > 0 {
			res.Runs = append(res.Runs, local)
		}
	}
	return res, nil
}

// fleetTimeout leaves a fleet's apply time for every rate window its calls (about six per
// worker at most) need, on top of the usual bound.
func fleetTimeout(size int) time.Duration {
	windows := (size*6 + rateLimit - 1) / rateLimit
	return childTimeout + time.Duration(windows)*rateWindow
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
