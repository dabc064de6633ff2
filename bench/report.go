package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// Targets from the benchmark issue.
const (
	targetFirstWallRatio  = 1.0 / 15
	targetFirstCallsRatio = 0.5
	targetFleetWall       = 3 * time.Second
)

// report is everything the benchmark measured, ready to render.
type report struct {
	Machine machine
	Rounds  int
	Compare *comparisonResults
	Fleet   *fleetResults
	Local   series
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

func wallMS(x sample) float64       { return float64(x.Wall.Microseconds()) / 1000 }
func calls(x sample) float64        { return float64(x.Calls.Calls) }
func writes(x sample) float64       { return float64(x.Calls.Writes) }
func rssMiB(x sample) float64       { return float64(x.RSSKiB) / 1024 }
func sequentialMS(x sample) float64 { return x.Calls.SequentialMS }

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

// fmtWindow renders a rate window in minutes ("5 min").
func fmtWindow(d time.Duration) string { return fmt.Sprintf("%g min", d.Minutes()) }

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

// comparisonTable puts each flareform series beside wrangler's, with a ratio row for each.
func comparisonTable(w io.Writer, wrangler *series, flareform ...*series) {
	t := table{header: []string{"run", "wall median", "wall min–max", "API calls", "writes", "peak RSS", "runs ok"}}
	for _, s := range append(append([]*series(nil), flareform...), wrangler) {
		wall := s.summary(wallMS)
		t.add(s.Label, fmtMedian(wall, fmtMS), fmtSpread(wall, fmtMS),
			fmtCount(s.summary(calls)), fmtCount(s.summary(writes)), fmtMedian(s.summary(rssMiB), fmtMiB), runsOK(s))
	}
	for _, s := range flareform {
		ratio := func(value func(sample) float64) string {
			return fmtRatio(s.summary(value).Median, wrangler.summary(value).Median)
		}
		t.add("ratio: "+s.Label+" / "+wrangler.Label, ratio(wallMS), "", ratio(calls), ratio(writes), ratio(rssMiB), "")
	}
	t.render(w)
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

func (r *report) targets() []target {
	c := r.Compare
	ratioTarget := func(name string, value func(sample) float64, limit float64, want string) target {
		ff, wr := c.FirstFF.summary(value), c.FirstWR.summary(value)
		t := target{Name: name, Want: want, Got: "no successful run"}
		if ff.N > 0 && wr.N > 0 && wr.Median > 0 {
			t.Got = fmtRatio(ff.Median, wr.Median)
			t.Met = ff.Median/wr.Median <= limit
		}
		return t
	}
	targets := []target{
		ratioTarget("first deploy: wall time, flareform / wrangler", wallMS, targetFirstWallRatio, "≤ 1/15"),
		ratioTarget("first deploy: API calls, flareform / wrangler", calls, targetFirstCallsRatio, "≤ 1/2"),
	}
	repeat := c.RepeatFF.summary(writes)
	rt := target{Name: "repeat deploy without change: flareform writes", Want: "0 in every round", Got: "no successful run"}
	if repeat.N > 0 {
		rt.Got = fmt.Sprintf("%g at most", repeat.Max)
		rt.Met = repeat.Max == 0 && len(c.RepeatFF.ok()) == len(c.RepeatFF.Samples)
	}
	targets = append(targets, rt)
	if r.Fleet != nil {
		fleet := r.Fleet.Smoke.summary(wallMS)
		ft := target{Name: fmt.Sprintf("fleet of %d workers, %v latency per call: apply wall time", r.Fleet.Size, fleetLatency),
			Want: "< " + targetFleetWall.String(), Got: "no successful run"}
		if fleet.N > 0 {
			ft.Got = fmtMS(fleet.Median) + " median"
			ft.Met = fleet.Median < float64(targetFleetWall.Milliseconds()) && len(r.Fleet.Smoke.ok()) == len(r.Fleet.Smoke.Samples)
		}
		targets = append(targets, ft)
	}
	targets = append(targets, target{
		Name: "rate budget over the whole run",
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
			Got: runsOK(&r.Local), Met: len(r.Local.ok()) == len(r.Local.Samples),
		})
	}
	return targets
}

func (r *report) render(w io.Writer) {
	fmt.Fprintf(w, "# Benchmarks\n\n")
	fmt.Fprintf(w, "Generated by `make bench` (`go run ./bench`); do not edit by hand. Both tools run as child\n"+
		"processes against one in-process local Cloudflare (`localcf`, memory state, default rate limit\n"+
		"of %d requests per %s per token), fully offline. Rounds: %d, alternating which tool goes first;\n"+
		"each tool gets fresh workers every round. API calls and writes (non-GET requests) come from\n"+
		"the local Cloudflare's request log; peak RSS is the largest process of the tool's tree.\n\n",
		rateLimit, fmtWindow(rateWindow), r.Rounds)
	r.renderMachine(w)

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

	c := r.Compare
	fmt.Fprintf(w, "## 1. First deploy of the text-to-image worker\n\n")
	fmt.Fprintf(w, "`flareform apply --auto-approve --key-out FILE` (bundles, creates the worker with a generated\n"+
		"key, enables workers.dev and **smoke-tests it by default**: POST with the key for a PNG, 401\n"+
		"without, 405 for GET) vs `wrangler deploy` (no secret, no check).\n\n")
	comparisonTable(w, &c.FirstWR, &c.FirstFF)
	fmt.Fprintf(w, "## 2. Repeat deploy, nothing changed\n\n")
	comparisonTable(w, &c.RepeatWR, &c.RepeatFF)
	fmt.Fprintf(w, "## 3. Set a secret\n\n")
	fmt.Fprintf(w, "`flareform rotate-key WORKER --grace 1h --key-out FILE` (new key, old one valid for an hour,\n"+
		"both verified over workers.dev); `flareform apply` after the env-sourced key (`from: env:…`)\n"+
		"changed (smoke-tested); `wrangler secret put API_KEY` with the value on stdin.\n\n")
	comparisonTable(w, &c.SecretWR, &c.RotateFF, &c.SecretFF)
	if r.Fleet != nil {
		r.renderFleet(w)
	}
	if len(r.Local.Samples) > 0 {
		fmt.Fprintf(w, "## 5. `apply --local` from cold to the first PNG\n\n")
		fmt.Fprintf(w, "`flareform apply --local --auto-approve` in a fresh copy of `%s` with its own state:\n"+
			"starts an embedded local Cloudflare and workerd, deploys, and exits once the smoke test got the\n"+
			"PNG (checked to decode). API calls from the embedded server's request log.\n\n", exampleSubdir)
		lt := table{header: []string{"run", "wall median", "wall min–max", "API calls", "writes", "peak RSS", "runs ok"}}
		wall := r.Local.summary(wallMS)
		lt.add(r.Local.Label, fmtMedian(wall, fmtMS), fmtSpread(wall, fmtMS), fmtCount(r.Local.summary(calls)),
			fmtCount(r.Local.summary(writes)), fmtMedian(r.Local.summary(rssMiB), fmtMiB), runsOK(&r.Local))
		lt.render(w)
	}
	r.renderMemory(w)
	if r.ConvergencePath != "" {
		r.renderConvergence(w)
	}
	fmt.Fprintf(w, "## Notes\n\n"+
		"- Medians over successful runs; \"runs ok\" counts failures, which are left out.\n"+
		"- Ratios are of medians. Wall time is measured around each child process, start to exit.\n"+
		"- wrangler runs offline: fresh HOME and TMPDIR, its update-check cache seeded, proxies to a\n"+
		"  closed port, `CI=1`, `WRANGLER_SEND_METRICS=false`, `WRANGLER_HIDE_BANNER=true`.\n"+
		"- The local Cloudflare answers in well under a millisecond, so these numbers are mostly the\n"+
		"  tools' own start-up, bundling and checking; against the real API every round trip adds\n"+
		"  network latency, which favours the tool making fewer calls.\n"+
		"- The fleet stays far inside the 1200-requests-per-5-minutes budget here. That flareform\n"+
		"  paces itself when the budget runs out (it reads the Ratelimit headers and waits for the\n"+
		"  window instead of crossing it) is tested in CI by TestApplyPacesUnderTheRateLimit: two\n"+
		"  applies of 12 workers against a server allowing 30 requests per 2 s, retries off, no 429.\n"+
		"- The local Workers AI stand-in renders a 1024x1024 PNG in about 12 ms and keeps its last 8\n"+
		"  pictures. Every first deploy smoke-tests with a prompt of its own, so it pays for a real\n"+
		"  rendering; a fleet's workers share their spec's prompt, so it is rendered once per round.\n")
}

func (r *report) renderMachine(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "## Machine\n\n")
	for _, kv := range [][2]string{
		{"CPU", fmt.Sprintf("%s, %d cores", m.CPU, m.Cores)},
		{"RAM", m.RAM},
		{"kernel", m.Kernel},
		{"Go", m.Go},
		{"node (for wrangler)", m.Node},
		{"wrangler", m.Wrangler},
		{"workerd", m.Workerd},
		{"date", m.Date},
	} {
		fmt.Fprintf(w, "- %s: %s\n", kv[0], kv[1])
	}
	fmt.Fprintln(w)
}

func (r *report) renderFleet(w io.Writer) {
	f := r.Fleet
	fmt.Fprintf(w, "## 4. Fleet: %d workers, %v injected on every API call\n\n", f.Size, fleetLatency)
	fmt.Fprintf(w, "One spec with %d workers sharing one main file, applied into a fresh account per round (its\n"+
		"own token budget). The sequential time is the sum of the server-side durations of the run's\n"+
		"calls (injected latency included): what they would take one after another. The server works\n"+
		"on many calls at once here, which stretches each one, so the latency floor is given too: the\n"+
		"calls times %v, which no client sending one call at a time can beat.\n\n", f.Size, fleetLatency)
	t := table{header: []string{"run", "wall median", "wall min–max", "sequential median", "sequential / wall",
		"latency floor", "floor / wall", "API calls", "writes", "429s", "peak RSS", "runs ok"}}
	for _, s := range []*series{&f.Smoke, &f.NoSmoke} {
		if len(s.Samples) == 0 {
			continue
		}
		wall, seq := s.summary(wallMS), s.summary(sequentialMS)
		throttled := 0
		for _, x := range s.Samples {
			throttled += x.Calls.Throttled
		}
		floor := s.summary(calls).Median * float64(fleetLatency/time.Millisecond)
		t.add(s.Label, fmtMedian(wall, fmtMS), fmtSpread(wall, fmtMS), fmtMedian(seq, fmtMS), fmtRatio(seq.Median, wall.Median),
			fmtMS(floor), fmtRatio(floor, wall.Median), fmtCount(s.summary(calls)), fmtCount(s.summary(writes)), fmt.Sprint(throttled), fmtMedian(s.summary(rssMiB), fmtMiB), runsOK(s))
	}
	t.render(w)
}

// scenarioSeries is a series with the scenario it belongs to.
type scenarioSeries struct {
	scenario string
	s        *series
}

func (r *report) renderMemory(w io.Writer) {
	fmt.Fprintf(w, "## 6. Memory: peak RSS per run\n\n")
	c := r.Compare
	all := []scenarioSeries{
		{"first deploy", &c.FirstFF}, {"first deploy", &c.FirstWR},
		{"repeat deploy", &c.RepeatFF}, {"repeat deploy", &c.RepeatWR},
		{"secret", &c.RotateFF}, {"secret", &c.SecretFF}, {"secret", &c.SecretWR},
	}
	if r.Fleet != nil {
		all = append(all, scenarioSeries{"fleet", &r.Fleet.Smoke}, scenarioSeries{"fleet", &r.Fleet.NoSmoke})
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
