// Command bench measures flareform against wrangler and Alchemy on a local Cloudflare: first and
// repeat deploys, secret changes, the same with latency injected on every API call (the
// critical path in round trips), fleets of 1 to 1000 workers against a null API stub and the
// local Cloudflare, `flareform version` against a hello world, `apply --local` from cold, and
// peak memory. It prints markdown tables and writes them to docs/design/benchmarks.md.
//
//	go run ./bench [-rounds 5] [-fleet-sizes 1,10,100,300,1000] [-out docs/design/benchmarks.md] ...
//	go run ./bench -only-fleets -fleet-sizes 300 -fleet-local-max 0 [-stub-rate-limit 100000]
//
// The second form runs only the fleets (no wrangler or Alchemy) and prints their table, for
// tuning; -stub-rate-limit lifts the stub's budget to see flareform's own cost alone.
//
// It is a tool run by `make bench`, not a test: it runs the wrangler, Alchemy and Node 22 that
// `make clients` installs for the fidelity tests (another -wrangler-version, and Node when neither
// fits, is installed from npm into .bench/), and runs bin/flareform as users do.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/flareform/flareform/internal/modroot"
	"github.com/flareform/flareform/localcf/workerd"
)

// options are the command-line flags.
type options struct {
	rounds           int
	latencyRounds    int
	latency          time.Duration
	fleetRounds      int
	fleetRoundsLarge int
	fleetSizes       []int
	fleetLocalMax    int
	startupRuns      int
	hello            string
	localRounds      int
	wranglerVersion  string
	out              string
	convergence      string
	// onlyFleets runs the fleets alone (no wrangler or Alchemy needed) and prints their table.
	onlyFleets bool
	// stubRateLimit and stubRateWindow are the budget of the null API stub (see stubBudget).
	stubRateLimit  int
	stubRateWindow time.Duration
	// stubBoundWindow is the stub's window for fleets whose calls exceed its budget.
	stubBoundWindow time.Duration
}

func main() {
	var o options
	flag.IntVar(&o.rounds, "rounds", 5, "rounds of the side-by-side scenarios (1-3)")
	flag.IntVar(&o.latencyRounds, "latency-rounds", 1, "rounds of the side-by-side scenarios with -latency on every API call (0 skips them)")
	flag.DurationVar(&o.latency, "latency", 250*time.Millisecond, "latency injected on every API call in the latency rounds")
	flag.IntVar(&o.fleetRounds, "fleet-rounds", 3, "rounds of each fleet of up to 100 workers (0 skips the fleets)")
	flag.IntVar(&o.fleetRoundsLarge, "fleet-rounds-large", 1, "rounds of each fleet above 100 workers (they wait out the rate window)")
	sizes := flag.String("fleet-sizes", "1,10,100,300,1000", "fleet sizes, comma-separated")
	flag.IntVar(&o.fleetLocalMax, "fleet-local-max", 100, "largest fleet also run on the local Cloudflare (a workerd process per worker)")
	flag.IntVar(&o.startupRuns, "startup-runs", 20, "runs each of `flareform version` and hello world (0 skips them)")
	flag.StringVar(&o.hello, "hello", ".bench/hello", "hello world built like bin/flareform (make bench builds it)")
	flag.IntVar(&o.localRounds, "local-rounds", 3, "rounds of apply --local from cold (0 skips it)")
	flag.StringVar(&o.wranglerVersion, "wrangler-version", "4.164.0", "wrangler version to compare against (the newest one of make clients, else installed from npm into .bench/)")
	flag.StringVar(&o.out, "out", "docs/design/benchmarks.md", "write the markdown report here too (\"\" = stdout only)")
	flag.StringVar(&o.convergence, "convergence", "", "fault-convergence suite report (JSON) to include when it exists")
	flag.BoolVar(&o.onlyFleets, "only-fleets", false, "run only the fleets and print their table (needs bin/flareform, not wrangler or Alchemy; writes no report)")
	flag.IntVar(&o.stubRateLimit, "stub-rate-limit", rateLimit, "null API stub: requests per window per token (Cloudflare's 1200)")
	flag.DurationVar(&o.stubRateWindow, "stub-rate-window", rateWindow, "null API stub: rate window of fleets within the budget (Cloudflare's 5m)")
	flag.DurationVar(&o.stubBoundWindow, "stub-bound-window", 30*time.Second, "null API stub: rate window of fleets whose calls exceed -stub-rate-limit, so they wait out windows of this length instead of 5m")
	flag.Parse()
	var err error
	if o.fleetSizes, err = parseSizes(*sizes); err != nil || o.rounds < 1 || o.fleetRounds < 0 || o.localRounds < 0 || o.latencyRounds < 0 {
		fmt.Fprintln(os.Stderr, "bench: -rounds must be at least 1, -fleet-sizes positive numbers, the other rounds at least 0", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	run := runBench
	if o.onlyFleets {
		run = runOnlyFleets
	}
	if err := run(ctx, o, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func runBench(ctx context.Context, o options, stdout, log io.Writer) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	b, cleanup, err := prepare(ctx, root, o.wranglerVersion, log)
	if err != nil {
		return err
	}
	defer cleanup()

	rep := &report{Rounds: o.rounds, Compare: newComparisonResults(), ConvergencePath: o.convergence,
		Machine: describeMachine(ctx, b), Local: series{Label: "flareform apply --local"}, Latency: o.latency}
	if o.startupRuns > 0 {
		fmt.Fprintf(log, "bench: start-up, %d runs each\n", o.startupRuns)
		hello := o.hello
		if !filepath.IsAbs(hello) {
			hello = filepath.Join(root, hello)
		}
		if rep.Startup, err = b.measureStartup(ctx, hello, o.startupRuns); err != nil {
			return err
		}
	}
	for round := range o.rounds {
		fmt.Fprintf(log, "bench: side-by-side round %d/%d\n", round+1, o.rounds)
		if err := b.compareRound(ctx, round, fmt.Sprint(round), 0, rep.Compare); err != nil {
			return fmt.Errorf("round %d: %w", round+1, err)
		}
	}
	if o.latencyRounds > 0 {
		rep.LatencyCompare = newComparisonResults()
		for round := range o.latencyRounds {
			fmt.Fprintf(log, "bench: side-by-side round %d/%d with %v per API call\n", round+1, o.latencyRounds, o.latency)
			if err := b.compareRound(ctx, round, fmt.Sprintf("lat%d", round), o.latency, rep.LatencyCompare); err != nil {
				return fmt.Errorf("latency round %d: %w", round+1, err)
			}
		}
	}
	if o.fleetRounds > 0 {
		if rep.Fleet, err = b.runFleets(ctx, o); err != nil {
			return err
		}
		rep.FleetLocalMax, rep.FleetBoundWindow = o.fleetLocalMax, o.stubBoundWindow
	}
	for round := range o.localRounds {
		fmt.Fprintf(log, "bench: apply --local round %d/%d\n", round+1, o.localRounds)
		s, err := b.localRound(ctx, round)
		if err != nil {
			return fmt.Errorf("apply --local round %d: %w", round+1, err)
		}
		rep.Local.add(s)
	}
	b.cloud.take() // both move what is left into their history
	b.stub.take()
	whole := statsOf(append(slices.Clone(b.cloud.history), b.stub.history...))
	rep.PeakPerToken, rep.Throttled = whole.PeakPerToken, whole.Throttled
	if o.convergence != "" {
		if rep.Convergence, err = loadConvergence(o.convergence); err != nil {
			return err
		}
	}
	return writeReport(rep, root, o.out, stdout)
}

// parseSizes reads "1,10,100".
func parseSizes(list string) ([]int, error) {
	var sizes []int
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("fleet size %q", f)
		}
		sizes = append(sizes, n)
	}
	return sizes, nil
}

// runOnlyFleets runs the fleets alone and prints their table: for tuning flareform against the
// stub without the side-by-side tools.
func runOnlyFleets(ctx context.Context, o options, stdout, log io.Writer) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	b, cleanup, err := prepareFleets(ctx, root)
	if err != nil {
		return err
	}
	defer cleanup()
	b.log = log
	fleet, err := b.runFleets(ctx, o)
	if err != nil {
		return err
	}
	rep := &report{Fleet: fleet, FleetLocalMax: o.fleetLocalMax, FleetBoundWindow: o.stubBoundWindow}
	rep.renderFleet(stdout)
	for _, t := range rep.fleetTargets() {
		fmt.Fprintf(stdout, "\ntarget: %s: want %s, measured %s, met: %v\n", t.Name, t.Want, t.Got, t.Met)
	}
	return nil
}

// prepareFleets starts the local Cloudflare and the stub for fleets only: no wrangler, no Alchemy.
func prepareFleets(ctx context.Context, root string) (*bench, func(), error) {
	ff, err := flareformBinary(root)
	if err != nil {
		return nil, nil, err
	}
	workerdBin, err := workerd.FindBinary()
	if err != nil {
		return nil, nil, fmt.Errorf("find workerd (run make setup): %w", err)
	}
	sources, err := readTree(filepath.Join(root, exampleSubdir, "src"))
	if err != nil {
		return nil, nil, fmt.Errorf("read the example worker: %w", err)
	}
	work, err := os.MkdirTemp("", "flareform-bench-")
	if err != nil {
		return nil, nil, err
	}
	c, err := startCloud(ctx)
	if err != nil {
		os.RemoveAll(work)
		return nil, nil, err
	}
	stub, err := startNullAPI(fleetLatency)
	if err != nil {
		c.Close()
		os.RemoveAll(work)
		return nil, nil, err
	}
	b := &bench{root: root, flareform: ff, workerd: workerdBin, sources: sources, cloud: c, stub: stub, work: work}
	return b, func() {
		stub.Close()
		c.Close()
		os.RemoveAll(work)
	}, nil
}

// flareformBinary is bin/flareform, which `make build` makes.
func flareformBinary(root string) (string, error) {
	ff := filepath.Join(root, "bin", "flareform")
	if _, err := os.Stat(ff); err != nil {
		return "", fmt.Errorf("%s is missing: run `make build` first (%w)", ff, err)
	}
	return ff, nil
}

// prepare is prepareFleets plus the peers: it installs wrangler and finds Alchemy first.
func prepare(ctx context.Context, root, wranglerVersion string, log io.Writer) (*bench, func(), error) {
	if _, err := flareformBinary(root); err != nil {
		return nil, nil, err // before the slower installs
	}
	w, err := ensureWrangler(ctx, root, wranglerVersion, log)
	if err != nil {
		return nil, nil, err
	}
	al, err := findAlchemy(ctx, root)
	if err != nil {
		return nil, nil, err
	}
	b, cleanup, err := prepareFleets(ctx, root)
	if err != nil {
		return nil, nil, err
	}
	b.wrangler, b.alchemy, b.log = w, al, log
	return b, cleanup, nil
}

// writeReport prints the report and writes it to out (relative to the repository root).
func writeReport(rep *report, root, out string, stdout io.Writer) error {
	var buf bytes.Buffer
	rep.render(&buf)
	if _, err := stdout.Write(buf.Bytes()); err != nil {
		return err
	}
	if out == "" {
		return nil
	}
	if !filepath.IsAbs(out) {
		out = filepath.Join(root, out)
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write the report: %w", err)
	}
	return nil
}

// repoRoot is the module root: bench runs bin/flareform and writes docs/ from there.
func repoRoot() (string, error) { return modroot.FromWorkingDir() }

// readTree reads every file under dir, by path relative to dir: the example's src/ is its
// worker.js and the lib/ modules it imports (src/lib is a link to templates/shared/src/lib, so
// links are followed).
func readTree(dir string) (map[string][]byte, error) {
	files := map[string][]byte{}
	var walk func(abs, rel string) error
	walk = func(abs, rel string) error {
		entries, err := os.ReadDir(abs)
		if err != nil {
			return err
		}
		for _, e := range entries {
			path, name := filepath.Join(abs, e.Name()), filepath.Join(rel, e.Name())
			info, err := os.Stat(path) // follows links
			if err != nil {
				return err
			}
			if info.IsDir() {
				if err := walk(path, name); err != nil {
					return err
				}
				continue
			}
			if files[name], err = os.ReadFile(path); err != nil {
				return err
			}
		}
		return nil
	}
	return files, walk(dir, "")
}
