package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTableRendersMarkdownWithPaddedRows(t *testing.T) {
	tb := table{header: []string{"run", "wall", "calls"}}
	tb.add("flareform apply", "143 ms", "4")
	tb.add("ratio", "0.075×") // short row: the missing cell stays empty
	var buf bytes.Buffer
	tb.render(&buf)
	want := "| run | wall | calls |\n" +
		"|---|---:|---:|\n" +
		"| flareform apply | 143 ms | 4 |\n" +
		"| ratio | 0.075× |  |\n\n"
	if buf.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestFormatting(t *testing.T) {
	cases := []struct{ got, want string }{
		{fmtMS(143.4), "143 ms"},
		{fmtMS(1910), "1.91 s"},
		{fmtMS(12345), "12.3 s"},
		{fmtRatio(143, 1910), "0.075× (1/13.4)"},
		{fmtRatio(6, 1), "6.00×"},
		{fmtRatio(0, 4), "0.00×"},
		{fmtRatio(3, 0), "—"},
		{fmtCount(summary{N: 3, Median: 4, Min: 4, Max: 4}), "4"},
		{fmtCount(summary{N: 3, Median: 4, Min: 3, Max: 6}), "4 (3–6)"},
		{fmtCount(summary{}), "—"},
		{fmtSpread(summary{N: 2, Min: 10, Max: 20}, fmtMS), "10 ms–20 ms"},
	}
	for i, c := range cases {
		if c.got != c.want {
			t.Errorf("case %d: got %q, want %q", i, c.got, c.want)
		}
	}
}

// samples builds a series from wall times in ms and call counts; failed runs have wall < 0.
func samples(label string, wallMS []float64, callCounts, writeCounts []int) series {
	s := series{Label: label}
	for i, w := range wallMS {
		x := sample{Wall: time.Duration(w * float64(time.Millisecond)), RSSKiB: 10 << 10,
			Calls: callStats{Calls: callCounts[i], Writes: writeCounts[i]}}
		if w < 0 {
			x = sample{Failed: true}
		}
		s.add(x)
	}
	return s
}

func sampleReport(firstFFWall []float64, repeatWrites []int) *report {
	c := newComparisonResults()
	c.FirstFF = samples("flareform apply", firstFFWall, []int{4, 4, 4}, []int{2, 2, 2})
	c.FirstWR = samples("wrangler deploy", []float64{1500, 1600, 1900}, []int{9, 9, 9}, []int{2, 2, 2})
	c.FirstAL = samples("alchemy up", []float64{2500, 2600, 2900}, []int{12, 12, 12}, []int{3, 3, 3})
	c.RepeatFF = samples("flareform apply", []float64{17, 18, 19}, []int{4, 4, 4}, repeatWrites)
	c.RepeatWR = samples("wrangler deploy", []float64{1500, 1500, 1500}, []int{10, 10, 10}, []int{4, 4, 4})
	c.RepeatAL = samples("alchemy up", []float64{800, 800, 800}, []int{3, 3, 3}, []int{0, 0, 0})
	return &report{Rounds: 3, Compare: c, PeakPerToken: 40}
}

func findTarget(t *testing.T, targets []target, prefix string) target {
	t.Helper()
	for _, tg := range targets {
		if strings.HasPrefix(tg.Name, prefix) {
			return tg
		}
	}
	t.Fatalf("no target %q in %+v", prefix, targets)
	return target{}
}

func TestTargetsFollowTheMeasurements(t *testing.T) {
	fast := sampleReport([]float64{60, 70, 80}, []int{0, 0, 0}).targets()
	if tg := findTarget(t, fast, "first deploy with smoke test: wall time, flareform / wrangler"); !tg.Met || tg.Got != "0.044× (1/22.9)" {
		t.Errorf("70 ms vs 1600 ms: %+v, want met at 1/22.9", tg)
	}
	if tg := findTarget(t, fast, "first deploy with smoke test: wall time, flareform / Alchemy"); !tg.Met {
		t.Errorf("70 ms vs 2600 ms: %+v, want met", tg)
	}
	if tg := findTarget(t, fast, "no-change apply: wall time, flareform / wrangler"); !tg.Met {
		t.Errorf("18 ms vs 1500 ms: %+v, want met", tg)
	}
	// 18 ms vs 800 ms is 1/44: not within 1/50.
	if tg := findTarget(t, fast, "no-change apply: wall time, flareform / Alchemy"); tg.Met {
		t.Errorf("18 ms vs 800 ms: %+v, want NOT met", tg)
	}
	if tg := findTarget(t, fast, "no-change apply: flareform writes"); !tg.Met {
		t.Errorf("no writes: %+v, want met", tg)
	}
	if tg := findTarget(t, fast, "fleet of 300"); tg.Met || tg.Got != "not run" {
		t.Errorf("no fleet: %+v, want NOT met, not run", tg)
	}

	slow := sampleReport([]float64{200, 300, 400}, []int{0, 1, 0}).targets()
	if tg := findTarget(t, slow, "first deploy with smoke test: wall time, flareform / wrangler"); tg.Met {
		t.Errorf("300 ms vs 1600 ms: %+v, want NOT met", tg)
	}
	if tg := findTarget(t, slow, "no-change apply: flareform writes"); tg.Met || tg.Got != "1 at most" {
		t.Errorf("one write in one round: %+v, want NOT met with 1 at most", tg)
	}

	// A failed round is left out of the medians but still fails the targets it feeds.
	failed := sampleReport([]float64{60, 70, 80}, []int{0, 0, 0})
	failed.Compare.RepeatFF.Samples[1] = sample{Failed: true}
	if tg := findTarget(t, failed.targets(), "no-change apply: flareform writes"); tg.Met {
		t.Errorf("a failed repeat run: %+v, want NOT met", tg)
	}
	if tg := findTarget(t, failed.targets(), "no-change apply: wall time, flareform / wrangler"); tg.Met {
		t.Errorf("a failed repeat run: %+v, want NOT met", tg)
	}

	throttled := sampleReport([]float64{60, 70, 80}, []int{0, 0, 0})
	throttled.Throttled = 1
	if tg := findTarget(t, throttled.targets(), "rate budget"); tg.Met {
		t.Errorf("one 429: %+v, want NOT met", tg)
	}
}

func TestFleetTargetIsWallOverTheLatencyFloor(t *testing.T) {
	fleet := func(wallMS float64, roundTrips int) *report {
		r := sampleReport([]float64{60, 70, 80}, []int{0, 0, 0})
		run := &fleetRun{API: fleetOnStub, Size: targetFleetSize, series: series{Label: "300 workers"}}
		run.add(sample{Wall: time.Duration(wallMS * float64(time.Millisecond)), Calls: callStats{Calls: 1500, Critical: roundTrips}})
		r.Fleet = &fleetResults{Runs: []*fleetRun{run}}
		return r
	}
	// 80 round trips at 50 ms: a 4 s floor.
	if tg := findTarget(t, fleet(4400, 80).targets(), "fleet of 300"); !tg.Met || tg.Got != "4.40 s = 1.10× × floor 4.00 s" {
		t.Errorf("4.4 s over a 4 s floor: %+v, want met", tg)
	}
	if tg := findTarget(t, fleet(4800, 80).targets(), "fleet of 300"); tg.Met {
		t.Errorf("4.8 s over a 4 s floor: %+v, want NOT met", tg)
	}
}

func TestStartupTargetAndInitTrace(t *testing.T) {
	r := sampleReport([]float64{60, 70, 80}, []int{0, 0, 0})
	r.Startup = &startupResults{Flareform: samples("flareform version", []float64{3, 4, 5}, []int{0, 0, 0}, []int{0, 0, 0}),
		Hello: samples("hello world", []float64{2, 2, 2}, []int{0, 0, 0}, []int{0, 0, 0})}
	if tg := findTarget(t, r.targets(), "`flareform version`"); tg.Met || tg.Got != "2.00×" {
		t.Errorf("4 ms vs 2 ms: %+v, want NOT met at 2.00×", tg)
	}
	trace := "init runtime @0.03 ms, 0.10 ms clock, 0 bytes, 0 allocs\n" +
		"init github.com/flareform/flareform/provision/spec @2.9 ms, 0.44 ms clock, 158064 bytes, 1652 allocs\n" +
		"flareform (devel)\n" +
		"init github.com/flareform/flareform/bundler @4.6 ms, 0.048 ms clock, 14376 bytes, 106 allocs\n"
	all, own, top := initTimes(trace, "github.com/flareform/flareform/")
	if math.Abs(all-0.588) > 1e-9 || math.Abs(own-0.488) > 1e-9 || strings.Join(top, ",") != "provision/spec 0.44 ms,bundler 0.05 ms" {
		t.Errorf("initTimes = %v, %v, %v", all, own, top)
	}
}

func TestComparisonTableHasRatioRows(t *testing.T) {
	r := sampleReport([]float64{90, 100, 110}, []int{0, 0, 0})
	var buf bytes.Buffer
	comparisonTable(&buf, []*series{&r.Compare.FirstWR, &r.Compare.FirstAL}, &r.Compare.FirstFF)
	out := buf.String()
	for _, want := range []string{
		"| flareform apply | 100 ms | 90 ms–110 ms | 4 | 2 | 10 MiB | 3/3 |",
		"| wrangler deploy | 1.60 s | 1.50 s–1.90 s | 9 | 2 | 10 MiB | 3/3 |",
		"| ratio: flareform apply / wrangler deploy | 0.062× (1/16.0) |  | 0.444× (1/2.2) | 1.00× | 1.00× |  |",
		"| ratio: flareform apply / alchemy up | 0.038× (1/26.0) |  | 0.333× (1/3.0) | 0.667× (1/1.5) | 1.00× |  |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestRenderMarksTargetsAndConvergence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "convergence.json")
	doc := `{"seed":7,"schedules":200,"converged_first_run":150,"converged_on_rerun":48,"failed":2,
	  "faults_injected":913,"duration_seconds":611.5,
	  "by_command":{"rotate-key":{"schedules":50,"converged_first_run":40,"converged_on_rerun":10,"failed":0},
	                "apply":{"schedules":100,"converged_first_run":70,"converged_on_rerun":28,"failed":2},
	                "destroy":{"schedules":50,"converged_first_run":40,"converged_on_rerun":10,"failed":0}},
	  "silent_losses":1,"stopped_clearly":3,
	  "by_kind":{"crash":{"schedules":40,"converged_first_run":38,"converged_on_rerun":2,"failed":0},
	             "faults":{"schedules":120,"converged_first_run":80,"converged_on_rerun":39,"failed":1},
	             "concurrent_writer":{"schedules":40,"converged_first_run":32,"converged_on_rerun":7,"stopped_clearly":3,"failed":1,"silent_losses":1}}}`
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	conv, err := loadConvergence(path)
	if err != nil {
		t.Fatal(err)
	}
	r := sampleReport([]float64{200, 300, 400}, []int{0, 0, 0})
	r.Convergence, r.ConvergencePath = conv, path
	var buf bytes.Buffer
	r.render(&buf)
	out := buf.String()
	for _, want := range []string{
		"| first deploy with smoke test: wall time, flareform / wrangler | ≤ 1/20 | 0.188× (1/5.3) | **NOT met** |",
		"## Ratios: flareform / peer, same run",
		"| first deploy (flareform smoke-tests): wall time | 0.188× (1/5.3) | 0.115× (1/8.7) |",
		"| apply | 100 | 70 | 28 | 0 | 2 | 0 |",
		"seed 7",
		"| fault convergence: failed schedules | 0 | 2 of 200 | **NOT met** |",
		"| fault convergence: silent losses (exit 0, a promised key gets 401) | 0 | 1 in 200 schedules | **NOT met** |",
		"| crash (SIGKILL at an API call) | 40 | 38 | 2 | 0 | 0 | 0 |",
		"| concurrent writer | 40 | 32 | 7 | 3 | 1 | 1 |",
		"| **all** | 200 | 150 | 48 | 3 | 2 | 1 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	// Kinds are listed in a fixed order.
	if f, c, w := strings.Index(out, "| API faults"), strings.Index(out, "| crash ("), strings.Index(out, "| concurrent writer |"); !(f < c && c < w) {
		t.Errorf("kinds not in order: faults %d, crash %d, concurrent writer %d", f, c, w)
	}
	// Commands are listed in a stable order.
	if a, d, rk := strings.Index(out, "| apply |"), strings.Index(out, "| destroy |"), strings.Index(out, "| rotate-key |"); !(a < d && d < rk) {
		t.Errorf("commands not sorted: apply %d, destroy %d, rotate-key %d", a, d, rk)
	}
}

func TestLoadConvergence(t *testing.T) {
	dir := t.TempDir()
	if c, err := loadConvergence(filepath.Join(dir, "missing.json")); c != nil || err != nil {
		t.Errorf("missing report: got %v, %v; want nil, nil", c, err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadConvergence(bad); err == nil {
		t.Error("a malformed report was accepted")
	}
}

// The bench deploys the example's whole src/: its worker.js and the lib/ modules behind the
// src/lib link to templates/shared/src/lib.
func TestReadTreeFollowsTheLibLink(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := readTree(filepath.Join(root, exampleSubdir, "src"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"worker.js", filepath.Join("lib", "auth.js"), filepath.Join("lib", "http.js")} {
		if len(files[want]) == 0 {
			t.Errorf("readTree lacks %s (has %d files)", want, len(files))
		}
	}
}
