package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// Targets from the performance issue.
const (
	targetFirstWallRatio   = 1.0 / 20 // first deploy with smoke test vs each peer's deploy
	targetRepeatWallRatio  = 1.0 / 50 // no-change apply vs each peer's redeploy
	targetStartupRatio     = 1.5      // flareform version vs hello world
	targetFirstRoundTrips  = 3        // sequential API round trips of a first deploy
	targetRepeatRoundTrips = 1        // ... and of a no-change apply
	targetFleetSize        = 300      // workers against the null API stub ...
	targetFleetFloorRatio  = 1.15     // ... within this factor of the latency floor
	targetFleetFloorLabel  = "≤ 1.15× the latency floor"
	targetFirstWallLabel   = "≤ 1/20"
	targetRepeatWallLabel  = "≤ 1/50"
	targetStartupRatioText = "≤ 1.5×"
)

// report is everything the benchmark measured, ready to render.
type report struct {
	Machine machine
	Rounds  int
	Compare *comparisonResults
	// LatencyCompare are the same scenarios with Latency on every API call (nil = not run).
	LatencyCompare *comparisonResults
	Latency        time.Duration
	Fleet          *fleetResults
	FleetLocalMax  int
	// FleetBoundWindow is the stub's window for fleets above the target size.
	FleetBoundWindow time.Duration
	Startup          *startupResults
	Local            series
	// PeakPerToken is the most requests any one token made inside any rate window, over the
	// whole run; Throttled counts the 429s the local Cloudflare's limiter sent.
	PeakPerToken int
	Throttled    int
	Convergence  *convergenceReport
	// ConvergencePath is where the convergence report was looked for ("" = not asked).
	ConvergencePath string
}

// ok are the samples of runs that succeeded.
func (s *series) ok() []sample {
	var out []sample
	for _, x := range s.Samples {
		if !x.Failed {
			out = append(out, x)
		}
	}
	return out
}

func (s *series) summary(value func(sample) float64) summary {
	var xs []float64
	for _, x := range s.ok() {
		xs = append(xs, value(x))
	}
	return summarize(xs)
}

func wallMS(x sample) float64   { return float64(x.Wall.Microseconds()) / 1000 }
func calls(x sample) float64    { return float64(x.Calls.Calls) }
func writes(x sample) float64   { return float64(x.Calls.Writes) }
func rssMiB(x sample) float64   { return float64(x.RSSKiB) / 1024 }
func critical(x sample) float64 { return float64(x.Calls.Critical) }

// table is a markdown table.
type table struct {
	header []string
	rows   [][]string
	// left is how many leading columns are text (left-aligned); the rest are numbers. 0 = 1.
	left int
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) render(w io.Writer) {
	fmt.Fprintf(w, "| %s |\n", strings.Join(t.header, " | "))
	seps := make([]string, len(t.header))
	for i := range seps {
		seps[i] = "---"
		if i >= max(t.left, 1) {
			seps[i] = "---:"
		}
	}
	fmt.Fprintf(w, "|%s|\n", strings.Join(seps, "|"))
	for _, r := range t.rows {
		cells := make([]string, len(t.header))
		copy(cells, r)
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	fmt.Fprintln(w)
}

// fmtMS renders milliseconds with a precision that suits their size.
func fmtMS(ms float64) string {
	switch {
	case ms >= 10000:
		return fmt.Sprintf("%.1f s", ms/1000)
	case ms >= 1000:
		return fmt.Sprintf("%.2f s", ms/1000)
	default:
		return fmt.Sprintf("%.0f ms", ms)
	}
}

// fmtSpread is "min–max" in the unit format gives, or "—" without samples.
func fmtSpread(s summary, format func(float64) string) string {
	if s.N == 0 {
		return "—"
	}
	return format(s.Min) + "–" + format(s.Max)
}

// fmtCount is a median count, with its spread when the rounds differ.
func fmtCount(s summary) string {
	if s.N == 0 {
		return "—"
	}
	if s.Min == s.Max {
		return fmt.Sprintf("%g", s.Median)
	}
	return fmt.Sprintf("%g (%g–%g)", s.Median, s.Min, s.Max)
}

// fmtWindow writes a rate window: "5 min", "30 s".
func fmtWindow(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%g s", d.Seconds())
	}
	return fmt.Sprintf("%g min", d.Minutes())
}

func fmtMiB(v float64) string { return fmt.Sprintf("%.0f MiB", v) }

// fmtRatio is a/b, also as "1/N" when below one; "—" when b is not positive.
func fmtRatio(a, b float64) string {
	if b <= 0 || math.IsNaN(a) {
		return "—"
	}
	r := a / b
	if r > 0 && r < 1 {
		return fmt.Sprintf("%.3f× (1/%.1f)", r, 1/r)
	}
	return fmt.Sprintf("%.2f×", r)
}

func runsOK(s *series) string { return fmt.Sprintf("%d/%d", len(s.ok()), len(s.Samples)) }

// comparisonTable puts each flareform series beside the peers', with a ratio row for each
// flareform series and peer.
func comparisonTable(w io.Writer, peers []*series, flareform ...*series) {
	t := table{header: []string{"run", "wall median", "wall min–max", "API calls", "writes", "peak RSS", "runs ok"}}
	for _, s := range append(slices.Clone(flareform), peers...) {
		wall := s.summary(wallMS)
		t.add(s.Label, fmtMedian(wall, fmtMS), fmtSpread(wall, fmtMS),
			fmtCount(s.summary(calls)), fmtCount(s.summary(writes)), fmtMedian(s.summary(rssMiB), fmtMiB), runsOK(s))
	}
	for _, s := range flareform {
		for _, peer := range peers {
			ratio := func(value func(sample) float64) string { return medianRatio(s, peer, value) }
			t.add("ratio: "+s.Label+" / "+peer.Label, ratio(wallMS), "", ratio(calls), ratio(writes), ratio(rssMiB), "")
		}
	}
	t.render(w)
}

// medianRatio is a's median over b's, formatted; "—" without runs.
func medianRatio(a, b *series, value func(sample) float64) string {
	sa, sb := a.summary(value), b.summary(value)
	if sa.N == 0 || sb.N == 0 {
		return "—"
	}
	return fmtRatio(sa.Median, sb.Median)
}

func fmtMedian(s summary, format func(float64) string) string {
	if s.N == 0 {
		return "—"
	}
	return format(s.Median)
}

// target is one goal from the issue and whether this run met it.
type target struct {
	Name, Want, Got string
	Met             bool
}

// ratioTarget compares the medians of ff and peer against limit; every run must have worked.
func ratioTarget(name, want string, ff, peer *series, limit float64) target {
	a, b := ff.summary(wallMS), peer.summary(wallMS)
	t := target{Name: name, Want: want, Got: "no successful run"}
	if a.N > 0 && b.N > 0 && b.Median > 0 {
		t.Got = fmtRatio(a.Median, b.Median)
		t.Met = a.Median/b.Median <= limit && allOK(ff) && allOK(peer)
	}
	return t
}

// roundTripTarget is the most sequential API round trips of s's runs against want.
func roundTripTarget(name string, s *series, want int) target {
	t := target{Name: name, Want: fmt.Sprintf("%d", want), Got: "no successful run"}
	if sum := s.summary(critical); sum.N > 0 {
		t.Got = fmt.Sprintf("%g", sum.Max)
		t.Met = sum.Max <= float64(want) && allOK(s)
	}
	return t
}

func allOK(s *series) bool { return len(s.Samples) > 0 && len(s.ok()) == len(s.Samples) }

func (r *report) targets() []target {
	c := r.Compare
	targets := []target{
		ratioTarget("first deploy with smoke test: wall time, flareform / wrangler", targetFirstWallLabel, &c.FirstFF, &c.FirstWR, targetFirstWallRatio),
		ratioTarget("first deploy with smoke test: wall time, flareform / Alchemy", targetFirstWallLabel, &c.FirstFF, &c.FirstAL, targetFirstWallRatio),
		ratioTarget("no-change apply: wall time, flareform / wrangler", targetRepeatWallLabel, &c.RepeatFF, &c.RepeatWR, targetRepeatWallRatio),
		ratioTarget("no-change apply: wall time, flareform / Alchemy", targetRepeatWallLabel, &c.RepeatFF, &c.RepeatAL, targetRepeatWallRatio),
	}
	if l := r.LatencyCompare; l != nil {
		targets = append(targets,
			roundTripTarget("sequential API round trips: first deploy (strict upload answer)", &l.FirstFF, targetFirstRoundTrips),
			roundTripTarget("sequential API round trips: first deploy (upload answer names the version)", &l.FirstFFID, targetFirstRoundTrips),
			roundTripTarget("sequential API round trips: no-change apply", &l.RepeatFF, targetRepeatRoundTrips),
		)
	}
	repeat := c.RepeatFF.summary(writes)
	rt := target{Name: "no-change apply: flareform writes", Want: "0 in every round", Got: "no successful run"}
	if repeat.N > 0 {
		rt.Got = fmt.Sprintf("%g at most", repeat.Max)
		rt.Met = repeat.Max == 0 && allOK(&c.RepeatFF)
	}
	targets = append(targets, rt)
	if st := r.Startup; st != nil {
		targets = append(targets, ratioTarget("`flareform version` / hello world (both static), wall time", targetStartupRatioText,
			&st.Flareform, &st.Hello, targetStartupRatio))
	}
	targets = append(targets, r.fleetTargets()...)
	targets = append(targets, target{
		Name: "rate budget over the whole run (local Cloudflare and stub)",
		Want: fmt.Sprintf("≤ %d requests per token in any %s, no 429", rateLimit, fmtWindow(rateWindow)),
		Got:  fmt.Sprintf("peak %d, %d × 429", r.PeakPerToken, r.Throttled),
		Met:  r.PeakPerToken <= rateLimit && r.Throttled == 0,
	})
	if c := r.Convergence; c != nil {
		targets = append(targets, target{
			Name: "fault convergence: failed schedules", Want: "0",
			Got: fmt.Sprintf("%d of %d", c.Failed, c.Schedules), Met: c.Failed == 0 && c.Schedules > 0,
		})
		if len(c.ByKind) > 0 {
			targets = append(targets, target{
				Name: "fault convergence: silent losses (exit 0, a promised key gets 401)", Want: "0",
				Got: fmt.Sprintf("%d in %d schedules", c.SilentLosses, c.Schedules), Met: c.SilentLosses == 0 && c.Schedules > 0,
			})
		}
	}
	if len(r.Local.Samples) > 0 {
		targets = append(targets, target{
			Name: "apply --local from cold: PNG served", Want: "every round",
			Got: runsOK(&r.Local), Met: allOK(&r.Local),
		})
	}
	return targets
}

// fleetTargets are the 300-worker fleet against the stub, wall time over its latency floor:
// under the strict reading always (not run, it is not met), under wrangler's when that ran.
func (r *report) fleetTargets() []target {
	out := []target{r.fleetTarget(readingStrict)}
	if r.fleetRunRead(fleetOnStub, targetFleetSize, readingDeploymentID) != nil {
		out = append(out, r.fleetTarget(readingDeploymentID))
	}
	return out
}

// fleetTarget is the 300-worker fleet against the stub under a reading: wall time over its
// latency floor.
func (r *report) fleetTarget(reading string) target {
	name := fmt.Sprintf("fleet of %d workers, %v per call, null API stub: wall time", targetFleetSize, fleetLatency)
	if reading == readingDeploymentID {
		name += " (upload answer names the version)"
	} else {
		name += " (strict upload answer)"
	}
	t := target{Name: name, Want: targetFleetFloorLabel, Got: "not run"}
	run := r.fleetRunRead(fleetOnStub, targetFleetSize, reading)
	if run == nil {
		return t
	}
	// The latency floor, not the budget floor: a target fleet that waits for the rate budget
	// misses the target, however closely it paces.
	wall, floor := run.summary(wallMS), run.summary(floorMS)
	if wall.N == 0 || floor.Median <= 0 {
		t.Got = "no successful run"
		return t
	}
	t.Got = fmt.Sprintf("%s = %s × floor %s", fmtMS(wall.Median), fmtRatio(wall.Median, floor.Median), fmtMS(floor.Median))
	t.Met = wall.Median/floor.Median <= targetFleetFloorRatio && allOK(&run.series)
	return t
}

// floorMS is the latency floor of a fleet run: its critical path times the injected latency.
func floorMS(x sample) float64 { return critical(x) * float64(fleetLatency/time.Millisecond) }

// budgetFloorMS is the earliest a run of x's calls can end under budget b, whatever its
// latency: a fixed window opens at the token's first call, so call k·Limit+1 waits k windows.
func budgetFloorMS(x sample, b budget) float64 {
	if b.Limit <= 0 || x.Calls.Calls == 0 {
		return 0
	}
	windows := (x.Calls.Calls - 1) / b.Limit
	return float64(windows) * float64(b.Window/time.Millisecond)
}

// floorMS is the floor of one of the run's samples: the latency floor, or the budget floor
// when the budget makes the run wait longer.
func (run *fleetRun) floorMS(x sample) float64 {
	return max(floorMS(x), budgetFloorMS(x, run.Budget))
}

func (b budget) String() string {
	if b.Limit <= 0 {
		return "no budget"
	}
	return fmt.Sprintf("%d per %s", b.Limit, fmtWindow(b.Window))
}

// fleetRunRead is the fleet run of size against api under a reading of the upload's answer.
func (r *report) fleetRunRead(api string, size int, reading string) *fleetRun {
	if r.Fleet == nil {
		return nil
	}
	for _, run := range r.Fleet.Runs {
		if run.API == api && run.Size == size && run.Reading == reading {
			return run
		}
	}
	return nil
}

func (r *report) render(w io.Writer) {
	fmt.Fprintf(w, "# Benchmarks\n\n")
	fmt.Fprintf(w, "Generated by `make bench` (`go run ./bench`); do not edit by hand. flareform, wrangler and Alchemy\n"+
		"run as child processes against one in-process local Cloudflare (`localcf`, memory state, default\n"+
		"rate limit of %d requests per %s per token), fully offline; the fleets also run against a null\n"+
		"API stub (`bench/stub.go`). Side-by-side rounds: %d, interleaved, each round starting with\n"+
		"another tool; every tool gets fresh workers every round. API calls and writes (non-GET requests)\n"+
		"come from the server's request log; peak RSS is the largest process of the tool's tree.\n\n",
		rateLimit, fmtWindow(rateWindow), r.Rounds)
	r.renderRatios(w)
	fmt.Fprintf(w, "## Targets\n\n")
	t := table{header: []string{"target", "want", "measured", "status"}, left: 4}
	for _, tg := range r.targets() {
		status := "met"
		if !tg.Met {
			status = "**NOT met**"
		}
		t.add(tg.Name, tg.Want, tg.Got, status)
	}
	t.render(w)

	fmt.Fprintf(w, "## This machine, this run\n\n")
	fmt.Fprintf(w, "Absolute figures: they hold for this machine and this run only; the ratios above are what\n"+
		"carries over.\n\n")
	r.renderMachine(w)
	r.renderComparison(w)
	if r.LatencyCompare != nil {
		r.renderLatency(w)
	}
	if r.Fleet != nil {
		r.renderFleet(w)
	}
	if r.Startup != nil {
		r.renderStartup(w)
	}
	if len(r.Local.Samples) > 0 {
		fmt.Fprintf(w, "### `apply --local` from cold to the first PNG\n\n")
		fmt.Fprintf(w, "`flareform apply --local --auto-approve` in a fresh copy of `%s` with its own state:\n"+
			"starts an embedded local Cloudflare and workerd, deploys, and exits once the smoke test got the\n"+
			"PNG (checked to decode). API calls from the embedded server's request log.\n\n", exampleSubdir)
		comparisonTable(w, nil, &r.Local)
	}
	r.renderMemory(w)
	if r.ConvergencePath != "" {
		r.renderConvergence(w)
	}
	r.renderNotes(w)
}

// ratioRow is one line of the ratios table: a flareform run against each peer's.
type ratioRow struct {
	name       string
	ff, wr, al *series
	value      func(sample) float64
}

func (r *report) renderRatios(w io.Writer) {
	fmt.Fprintf(w, "## Ratios: flareform / peer, same run\n\n")
	fmt.Fprintf(w, "Medians of %d interleaved rounds (wall time, calls, memory); round trips from the latency\n"+
		"round%s (%v injected on every API call, counted on the request log). Below 1 is in flareform's favour.\n\n",
		r.Rounds, plural(r.latencyRounds()), r.Latency)
	c, l := r.Compare, r.LatencyCompare
	rows := []ratioRow{
		{"first deploy (flareform smoke-tests): wall time", &c.FirstFF, &c.FirstWR, &c.FirstAL, wallMS},
		{"first deploy: API calls", &c.FirstFF, &c.FirstWR, &c.FirstAL, calls},
		{"first deploy: peak RSS", &c.FirstFF, &c.FirstWR, &c.FirstAL, rssMiB},
		{"no-change redeploy: wall time", &c.RepeatFF, &c.RepeatWR, &c.RepeatAL, wallMS},
		{"no-change redeploy: API calls", &c.RepeatFF, &c.RepeatWR, &c.RepeatAL, calls},
		{"no-change redeploy: writes", &c.RepeatFF, &c.RepeatWR, &c.RepeatAL, writes},
		{"secret change (flareform apply, smoke-tested): wall time", &c.SecretFF, &c.SecretWR, &c.SecretAL, wallMS},
		{"secret change (flareform rotate-key, both keys checked): wall time", &c.RotateFF, &c.SecretWR, &c.SecretAL, wallMS},
	}
	if l != nil {
		rows = append(rows,
			ratioRow{"first deploy: sequential round trips", &l.FirstFF, &l.FirstWR, &l.FirstAL, critical},
			ratioRow{"no-change redeploy: sequential round trips", &l.RepeatFF, &l.RepeatWR, &l.RepeatAL, critical},
			ratioRow{"secret change (apply): sequential round trips", &l.SecretFF, &l.SecretWR, &l.SecretAL, critical},
			ratioRow{fmt.Sprintf("first deploy at %v per call: wall time", r.Latency), &l.FirstFF, &l.FirstWR, &l.FirstAL, wallMS},
			ratioRow{fmt.Sprintf("no-change redeploy at %v per call: wall time", r.Latency), &l.RepeatFF, &l.RepeatWR, &l.RepeatAL, wallMS},
		)
	}
	t := table{header: []string{"measure", "flareform / wrangler " + r.Machine.Wrangler, "flareform / Alchemy " + r.Machine.Alchemy}}
	for _, row := range rows {
		t.add(row.name, medianRatio(row.ff, row.wr, row.value), medianRatio(row.ff, row.al, row.value))
	}
	t.render(w)
	if st := r.Startup; st != nil {
		fmt.Fprintf(w, "`flareform version` / hello world (both `CGO_ENABLED=0`, %d interleaved runs each): %s.\n\n",
			len(st.Flareform.Samples), medianRatio(&st.Flareform, &st.Hello, wallMS))
	}
	if r.Fleet != nil {
		ft := table{header: []string{"fleet, " + fleetLatency.String() + " per call", "wall / floor", "calls per worker", "peak per token per window"}}
		for _, run := range r.Fleet.Runs {
			wall, floor := run.summary(wallMS), run.summary(run.floorMS)
			perWorker := "—"
			if cs := run.summary(calls); cs.N > 0 {
				perWorker = fmt.Sprintf("%.2f", cs.Median/float64(run.Size))
			}
			ft.add(run.Label, fmtRatio(wall.Median, floor.Median), perWorker, fmtCount(run.summary(peakPerToken))+" of "+run.Budget.String())
		}
		ft.render(w)
	}
}

func peakPerToken(x sample) float64 { return float64(x.Calls.PeakPerToken) }

func (r *report) latencyRounds() int {
	if r.LatencyCompare == nil {
		return 0
	}
	return len(r.LatencyCompare.FirstFF.Samples)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func (r *report) renderComparison(w io.Writer) {
	c := r.Compare
	fmt.Fprintf(w, "### First deploy of the text-to-image worker\n\n")
	fmt.Fprintf(w, "`flareform apply --auto-approve --key-out FILE` (bundles, creates the worker with a generated\n"+
		"key, enables workers.dev and **smoke-tests it by default**: POST with the key for a PNG, 401\n"+
		"without, 405 for GET) vs `wrangler deploy` and Alchemy's `Worker` resource (`alchemy up`: the\n"+
		"fidelity tests' `%s`, an AI binding, workers.dev on), neither with a secret or a check.\n\n", alchemyScript)
	comparisonTable(w, []*series{&c.FirstWR, &c.FirstAL}, &c.FirstFF)
	fmt.Fprintf(w, "### No-change redeploy\n\n")
	comparisonTable(w, []*series{&c.RepeatWR, &c.RepeatAL}, &c.RepeatFF)
	fmt.Fprintf(w, "### Secret change\n\n")
	fmt.Fprintf(w, "`flareform rotate-key WORKER --grace 1h --key-out FILE` (new key, old one valid for an hour,\n"+
		"both verified over workers.dev); `flareform apply` after the env-sourced key (`from: env:…`)\n"+
		"changed (smoke-tested); `wrangler secret put API_KEY` with the value on stdin; `alchemy up` with\n"+
		"the secret binding added (Alchemy uploads the whole script again).\n\n")
	comparisonTable(w, []*series{&c.SecretWR, &c.SecretAL}, &c.RotateFF, &c.SecretFF)
}

func (r *report) renderLatency(w io.Writer) {
	l := r.LatencyCompare
	fmt.Fprintf(w, "### Critical path: %v injected on every API call\n\n", r.Latency)
	fmt.Fprintf(w, "The same scenarios in %d more round%s, with the local Cloudflare waiting %v before answering\n"+
		"any API call. Round trips: the longest chain of calls in the request log in which each starts\n"+
		"after the one before it ended; wall / latency is the same count as the wall clock sees it\n"+
		"(start-up, bundling and smoke tests add to it).\n\n", r.latencyRounds(), plural(r.latencyRounds()), r.Latency)
	t := table{header: []string{"run", "wall median", "round trips", "wall / latency", "API calls", "runs ok"}}
	for _, e := range []scenarioSeries{
		{"first deploy", &l.FirstFF}, {"first deploy", &l.FirstFFID}, {"first deploy", &l.FirstWR}, {"first deploy", &l.FirstAL},
		{"no-change redeploy", &l.RepeatFF}, {"no-change redeploy", &l.RepeatFFID}, {"no-change redeploy", &l.RepeatWR}, {"no-change redeploy", &l.RepeatAL},
		{"secret", &l.RotateFF}, {"secret", &l.SecretFF}, {"secret", &l.SecretWR}, {"secret", &l.SecretAL},
	} {
		s := e.s
		wall := s.summary(wallMS)
		perLatency := "—"
		if wall.N > 0 {
			perLatency = fmt.Sprintf("%.1f", wall.Median/float64(r.Latency.Milliseconds()))
		}
		t.add(e.scenario+": "+s.Label, fmtMedian(wall, fmtMS), fmtCount(s.summary(critical)), perLatency, fmtCount(s.summary(calls)), runsOK(s))
	}
	t.render(w)
}

func (r *report) renderMachine(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "### Machine\n\n")
	for _, kv := range [][2]string{
		{"CPU", fmt.Sprintf("%s, %d cores", m.CPU, m.Cores)},
		{"RAM", m.RAM},
		{"kernel", m.Kernel},
		{"Go", m.Go},
		{"node (for wrangler)", m.Node},
		{"wrangler", m.Wrangler},
		{"node (for Alchemy)", m.AlchemyNode},
		{"Alchemy", m.Alchemy},
		{"workerd", m.Workerd},
		{"date", m.Date},
	} {
		fmt.Fprintf(w, "- %s: %s\n", kv[0], kv[1])
	}
	fmt.Fprintln(w)
}

func (r *report) renderFleet(w io.Writer) {
	fmt.Fprintf(w, "### Fleets: %v injected on every API call\n\n", fleetLatency)
	fmt.Fprintf(w, "One spec with N workers sharing one main file. Against the null API stub (`bench/stub.go`:\n"+
		"answers each call after %v and does nothing else, so only flareform's own cost shows) with\n"+
		"`--no-smoke`, since the stub serves no workers.dev; against the local Cloudflare with every worker\n"+
		"smoke-tested, up to %d workers (each deployed worker is a workerd process on this 2-core machine).\n"+
		"Each run has a token of its own. Round trips: the critical path in the request log; the latency\n"+
		"floor is round trips × %v, what any client waiting on that chain needs. A run above its budget\n"+
		"(%d calls per %s per token, Cloudflare's) must wait for the window to move on: its budget floor is\n"+
		"the start of the window its last call needs (call k × budget + 1 waits k windows, the limiter's\n"+
		"window opening at the token's first call), and wall / floor is over the larger floor. Fleets above\n"+
		"%d workers run against the stub with the same quota per %s windows (`-stub-bound-window`), so\n"+
		"they wait minutes, not a quarter of an hour: their rows measure how closely flareform paces to a\n"+
		"binding budget without a 429, not how long such a fleet takes against Cloudflare (about 5 min per\n"+
		"%d calls beyond the first %d). Peaks per token are counted in the run's own window.\n\n",
		fleetLatency, r.FleetLocalMax, fleetLatency, rateLimit, fmtWindow(rateWindow), targetFleetSize,
		fmtWindow(r.FleetBoundWindow), rateLimit, rateLimit)
	t := table{header: []string{"run", "wall median", "wall min–max", "round trips", "latency floor", "budget floor", "wall / floor",
		"API calls", "peak per token per window", "429s", "peak RSS", "runs ok"}}
	for _, run := range r.Fleet.Runs {
		wall, floor := run.summary(wallMS), run.summary(run.floorMS)
		budgetFloor := run.summary(func(x sample) float64 { return budgetFloorMS(x, run.Budget) })
		throttled := 0
		for _, x := range run.Samples {
			throttled += x.Calls.Throttled
		}
		t.add(run.Label, fmtMedian(wall, fmtMS), fmtSpread(wall, fmtMS), fmtCount(run.summary(critical)),
			fmtMedian(run.summary(floorMS), fmtMS), fmtMedian(budgetFloor, fmtMS), fmtRatio(wall.Median, floor.Median),
			fmtCount(run.summary(calls)), fmtCount(run.summary(peakPerToken))+" of "+run.Budget.String(), fmt.Sprint(throttled), fmtMedian(run.summary(rssMiB), fmtMiB), runsOK(&run.series))
	}
	t.render(w)
}

func (r *report) renderStartup(w io.Writer) {
	st := r.Startup
	fmt.Fprintf(w, "### Start-up: `flareform version` and a hello world\n\n")
	link := "dynamically linked"
	if st.Static {
		link = "statically linked"
	}
	fmt.Fprintf(w, "Both built with `CGO_ENABLED=0` (`make build`; `bench/hello`), run %d times each, interleaved.\n"+
		"bin/flareform: %.0f MiB, %s. Package initialisation (`GODEBUG=inittrace=1`): %.2f ms in all,\n"+
		"%.2f ms in flareform's own packages (%s).\n\n",
		len(st.Flareform.Samples), st.SizeMiB, link, st.InitAllMS, st.InitOwnMS, strings.Join(st.InitOwnTop, ", "))
	t := table{header: []string{"run", "wall median", "wall min–max", "peak RSS", "runs ok"}}
	for _, s := range []*series{&st.Flareform, &st.Hello} {
		wall := s.summary(wallMS)
		t.add(s.Label, fmtMedian(wall, fmtMS2), fmtSpread(wall, fmtMS2), fmtMedian(s.summary(rssMiB), fmtMiB), runsOK(s))
	}
	t.add("ratio: flareform version / hello world", medianRatio(&st.Flareform, &st.Hello, wallMS), "", medianRatio(&st.Flareform, &st.Hello, rssMiB), "")
	t.render(w)
}

// fmtMS2 shows milliseconds with two decimals, for start-up times of a few milliseconds.
func fmtMS2(ms float64) string { return fmt.Sprintf("%.2f ms", ms) }

// scenarioSeries is a series with the scenario it belongs to.
type scenarioSeries struct {
	scenario string
	s        *series
}

func (r *report) renderMemory(w io.Writer) {
	fmt.Fprintf(w, "### Memory: peak RSS per run\n\n")
	c := r.Compare
	all := []scenarioSeries{
		{"first deploy", &c.FirstFF}, {"first deploy", &c.FirstWR}, {"first deploy", &c.FirstAL},
		{"no-change redeploy", &c.RepeatFF}, {"no-change redeploy", &c.RepeatWR}, {"no-change redeploy", &c.RepeatAL},
		{"secret", &c.RotateFF}, {"secret", &c.SecretFF}, {"secret", &c.SecretWR}, {"secret", &c.SecretAL},
	}
	if r.Fleet != nil {
		for _, run := range r.Fleet.Runs {
			all = append(all, scenarioSeries{"fleet", &run.series})
		}
	}
	all = append(all, scenarioSeries{"local", &r.Local})
	t := table{header: []string{"run", "median", "min–max"}}
	for _, e := range all {
		if len(e.s.Samples) == 0 {
			continue
		}
		rss := e.s.summary(rssMiB)
		t.add(e.scenario+": "+e.s.Label, fmtMedian(rss, fmtMiB), fmtSpread(rss, fmtMiB))
	}
	t.render(w)
}

func (r *report) renderNotes(w io.Writer) {
	fmt.Fprintf(w, "## Notes\n\n"+
		"- Medians over successful runs; \"runs ok\" counts failures, which are left out (and fail the\n"+
		"  targets they feed).\n"+
		"- Ratios are of medians. Wall time is measured around each child process, start to exit.\n"+
		"- wrangler and Alchemy run offline: fresh HOME and TMPDIR, proxies to a closed port, `CI=1`,\n"+
		"  telemetry off; wrangler's update-check cache is seeded.\n"+
		"- flareform keeps bundles in the user cache directory (each project here has its own HOME, so\n"+
		"  a first deploy bundles and a no-change redeploy reuses the bundle; see docs/design/design.md).\n"+
		"- The local Cloudflare answers in well under a millisecond, so the rounds without latency are\n"+
		"  mostly the tools' own start-up, bundling and checking; the latency round shows what every\n"+
		"  round trip to the real API adds.\n"+
		"- The local Workers AI stand-in renders a 1024x1024 PNG in about 12 ms and keeps its last 8\n"+
		"  pictures. Every first deploy smoke-tests with a prompt of its own, so it pays for a real\n"+
		"  rendering; a fleet's workers share their spec's prompt, so it is rendered once per round.\n")
}
