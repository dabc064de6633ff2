// Command bench measures flareform against wrangler on a local Cloudflare: first and repeat
// deploys, secret changes, a 100-worker fleet under injected latency, `apply --local` from cold,
// and peak memory. It prints markdown tables and writes them to docs/benchmarks.md.
//
//	go run ./bench [-rounds 5] [-wrangler-version 4.164.0] [-out docs/benchmarks.md] [-convergence PATH]
//
// It is a tool run by `make bench`, not a test: it runs the wrangler and Node 22 that
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
	"syscall"

	"github.com/flareform/flareform/internal/modroot"
	"github.com/flareform/flareform/localcf/workerd"
)

// options are the command-line flags.
type options struct {
	rounds          int
	fleetRounds     int
	fleetSize       int
	fleetNoSmoke    bool
	localRounds     int
	wranglerVersion string
	out             string
	convergence     string
}

func main() {
	var o options
	flag.IntVar(&o.rounds, "rounds", 5, "rounds of the side-by-side scenarios (1-3)")
	flag.IntVar(&o.fleetRounds, "fleet-rounds", 3, "rounds of the fleet scenario (0 skips it)")
	flag.IntVar(&o.fleetSize, "fleet-size", 100, "workers in the fleet spec")
	flag.BoolVar(&o.fleetNoSmoke, "fleet-no-smoke", true, "also time the fleet apply with --no-smoke")
	flag.IntVar(&o.localRounds, "local-rounds", 3, "rounds of apply --local from cold (0 skips it)")
	flag.StringVar(&o.wranglerVersion, "wrangler-version", "4.164.0", "wrangler version to compare against (the newest one of make clients, else installed from npm into .bench/)")
	flag.StringVar(&o.out, "out", "docs/benchmarks.md", "write the markdown report here too (\"\" = stdout only)")
	flag.StringVar(&o.convergence, "convergence", "", "fault-convergence suite report (JSON) to include when it exists")
	flag.Parse()
	if o.rounds < 1 || o.fleetSize < 1 || o.fleetRounds < 0 || o.localRounds < 0 {
		fmt.Fprintln(os.Stderr, "bench: -rounds and -fleet-size must be at least 1, -fleet-rounds and -local-rounds at least 0")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runBench(ctx, o, os.Stdout, os.Stderr); err != nil {
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
		Machine: describeMachine(ctx, b.wrangler, b.workerd), Local: series{Label: "flareform apply --local"}}
	for round := range o.rounds {
		fmt.Fprintf(log, "bench: side-by-side round %d/%d\n", round+1, o.rounds)
		if err := b.compareRound(ctx, round, rep.Compare); err != nil {
			return fmt.Errorf("round %d: %w", round+1, err)
		}
	}
	if o.fleetRounds > 0 {
		rep.Fleet = &fleetResults{Size: o.fleetSize,
			Smoke:   series{Label: "flareform apply (smoke-tests every worker)"},
			NoSmoke: series{Label: "flareform apply --no-smoke"}}
		for round := range o.fleetRounds {
			fmt.Fprintf(log, "bench: fleet round %d/%d (%d workers)\n", round+1, o.fleetRounds, o.fleetSize)
			if err := b.fleetRounds(ctx, round, o, rep.Fleet); err != nil {
				return fmt.Errorf("fleet round %d: %w", round+1, err)
			}
		}
	}
	for round := range o.localRounds {
		fmt.Fprintf(log, "bench: apply --local round %d/%d\n", round+1, o.localRounds)
		s, err := b.localRound(ctx, round)
		if err != nil {
			return fmt.Errorf("apply --local round %d: %w", round+1, err)
		}
		rep.Local.add(s)
	}
	history := append(b.cloud.history, b.cloud.take()...)
	for _, peak := range tokenPeaks(history, rateWindow) {
		rep.PeakPerToken = max(rep.PeakPerToken, peak)
	}
	rep.Throttled = statsOf(history).Throttled
	if o.convergence != "" {
		if rep.Convergence, err = loadConvergence(o.convergence); err != nil {
			return err
		}
	}
	return writeReport(rep, root, o.out, stdout)
}

// fleetRounds runs one fleet round with smoke tests and, when asked, one without; the order
// alternates like the side-by-side rounds.
func (b *bench) fleetRounds(ctx context.Context, round int, o options, res *fleetResults) error {
	variants := []bool{true}
	if o.fleetNoSmoke {
		variants = []bool{true, false}
		if round%2 == 1 {
			variants = []bool{false, true}
		}
	}
	for _, smoke := range variants {
		s, err := b.fleetRound(ctx, round, o.fleetSize, smoke)
		if err != nil {
			return err
		}
		if smoke {
			res.Smoke.add(s)
		} else {
			res.NoSmoke.add(s)
		}
	}
	return nil
}

// prepare installs the tools, starts the local Cloudflare and makes the scratch directory.
func prepare(ctx context.Context, root, wranglerVersion string, log io.Writer) (*bench, func(), error) {
	ff := filepath.Join(root, "bin", "flareform")
	if _, err := os.Stat(ff); err != nil {
		return nil, nil, fmt.Errorf("%s is missing: run `make build` first (%w)", ff, err)
	}
	w, err := ensureWrangler(ctx, root, wranglerVersion, log)
	if err != nil {
		return nil, nil, err
	}
	workerdBin, err := workerd.FindBinary()
	if err != nil {
		return nil, nil, fmt.Errorf("find workerd (run make setup): %w", err)
	}
	workerSrc, err := readTree(filepath.Join(root, exampleSubdir, "src"))
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
	b := &bench{root: root, flareform: ff, wrangler: w, workerd: workerdBin, workerSrc: workerSrc, cloud: c, work: work, log: log}
	return b, func() {
		c.Close()
		os.RemoveAll(work)
	}, nil
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
// worker.js and the lib/ modules it imports.
func readTree(dir string) (map[string][]byte, error) {
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		files[rel], err = os.ReadFile(path)
		return err
	})
	return files, err
}
