package main

import (
	"bytes"
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
	c.RepeatFF = samples("flareform apply", []float64{17, 18, 19}, []int{4, 4, 4}, repeatWrites)
	c.RepeatWR = samples("wrangler deploy", []float64{1500, 1500, 1500}, []int{10, 10, 10}, []int{4, 4, 4})
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
	fast := sampleReport([]float64{90, 100, 110}, []int{0, 0, 0}).targets()
	if tg := findTarget(t, fast, "first deploy: wall"); !tg.Met || tg.Got != "0.062× (1/16.0)" {
		t.Errorf("100 ms vs 1600 ms: %+v, want met at 1/16", tg)
	}
	if tg := findTarget(t, fast, "first deploy: API calls"); !tg.Met {
		t.Errorf("4 calls vs 9: %+v, want met", tg)
	}
	if tg := findTarget(t, fast, "repeat deploy"); !tg.Met {
		t.Errorf("no writes: %+v, want met", tg)
	}

	slow := sampleReport([]float64{200, 300, 400}, []int{0, 1, 0}).targets()
	if tg := findTarget(t, slow, "first deploy: wall"); tg.Met {
		t.Errorf("300 ms vs 1600 ms: %+v, want NOT met", tg)
	}
	if tg := findTarget(t, slow, "repeat deploy"); tg.Met || tg.Got != "1 at most" {
		t.Errorf("one write in one round: %+v, want NOT met with 1 at most", tg)
	}

	// A failed round is left out of the medians but still fails the repeat target.
	failed := sampleReport([]float64{90, 100, 110}, []int{0, 0, 0})
	failed.Compare.RepeatFF.Samples[1] = sample{Failed: true}
	if tg := findTarget(t, failed.targets(), "repeat deploy"); tg.Met {
		t.Errorf("a failed repeat run: %+v, want NOT met", tg)
	}

	throttled := sampleReport([]float64{90, 100, 110}, []int{0, 0, 0})
	throttled.Throttled = 1
	if tg := findTarget(t, throttled.targets(), "rate budget"); tg.Met {
		t.Errorf("one 429: %+v, want NOT met", tg)
	}
}

func TestComparisonTableHasRatioRows(t *testing.T) {
	r := sampleReport([]float64{90, 100, 110}, []int{0, 0, 0})
	var buf bytes.Buffer
	comparisonTable(&buf, &r.Compare.FirstWR, &r.Compare.FirstFF)
	out := buf.String()
	for _, want := range []string{
		"| flareform apply | 100 ms | 90 ms–110 ms | 4 | 2 | 10 MiB | 3/3 |",
		"| wrangler deploy | 1.60 s | 1.50 s–1.90 s | 9 | 2 | 10 MiB | 3/3 |",
		"| ratio: flareform apply / wrangler deploy | 0.062× (1/16.0) |  | 0.444× (1/2.2) | 1.00× | 1.00× |  |",
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
		"| first deploy: wall time, flareform / wrangler | ≤ 1/15 | 0.188× (1/5.3) | **NOT met** |",
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
