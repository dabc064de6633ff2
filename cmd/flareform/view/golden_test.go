package view

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/flareform/flareform/provision"
)

// update rewrites testdata/*.golden from what the renderers write now:
//
//	go test ./cmd/flareform/view -run TestGolden -update
//
// The golden files were first written by the renderers' previous home (provision.Plan.WriteText
// and the helpers of package main), so they pin the output byte for byte across the move.
var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// goldenCases renders every input of corpus_test.go, grouped by golden file and named.
func goldenCases() map[string]map[string]string {
	groups := map[string]map[string]string{}
	add := func(group, name string, write func(w *bytes.Buffer)) {
		var b bytes.Buffer
		write(&b)
		if groups[group] == nil {
			groups[group] = map[string]string{}
		}
		groups[group][name] = b.String()
	}
	for _, np := range corpusPlans() {
		add("plan", np.name, func(w *bytes.Buffer) { Plan(w, np.plan, false) })
		add("plan", np.name+"_color", func(w *bytes.Buffer) { Plan(w, np.plan, true) })
	}
	handovers := map[string]KeyHandover{
		"keyout": {KeyOut: "keys.txt", Store: "/var/store/keys.json"},
		"tty":    {Terminal: true, Store: "/var/store/keys.json"},
		"plain":  {Store: "/var/store/keys.json"},
	}
	for _, nr := range corpusResults() {
		for hname, keys := range handovers {
			for _, stop := range []Stop{NotStopped, StoppedLate, StoppedRun} {
				add("apply", fmt.Sprintf("apply_%s_%s_%d", nr.name, hname, stop), func(w *bytes.Buffer) { Apply(w, nr.res, keys, stop) })
			}
		}
		add("apply", "destroy_"+nr.name, func(w *bytes.Buffer) { Destroy(w, nr.res) })
		add("apply", "latenote_"+nr.name, func(w *bytes.Buffer) { fmt.Fprintln(w, LateStopNote(nr.res)) })
	}
	for i, r := range corpusSmoke() {
		add("smoke", fmt.Sprintf("smoke_%d_0", i), func(w *bytes.Buffer) { Smoke(w, []provision.SmokeReport{r}) })
		add("smoke", fmt.Sprintf("smoke_%d_2", i), func(w *bytes.Buffer) { writeSmokeReport(w, "  ", r) })
	}
	for i, est := range corpusEstimates() {
		add("estimate", fmt.Sprintf("estimate_%d", i), func(w *bytes.Buffer) { Estimate(w, est, "apply") })
	}
	for _, nr := range corpusRotations() {
		add("rotate", "rotate_"+nr.name, func(w *bytes.Buffer) { Rotation(w, nr.res) })
	}
	add("outputs", "outputs", func(w *bytes.Buffer) {
		if err := Outputs(w, corpusOutputs()); err != nil {
			fmt.Fprintf(w, "error: %v", err)
		}
	})
	return groups
}

// goldenText joins a group's cases, in name order, each under a "=== name" line.
func goldenText(cases map[string]string) string {
	names := make([]string, 0, len(cases))
	for n := range cases {
		names = append(names, n)
	}
	sort.Strings(names)
	var sb strings.Builder
	for _, n := range names {
		fmt.Fprintf(&sb, "=== %s\n%s", n, cases[n])
	}
	return sb.String()
}

// parseGolden splits a golden file back into its cases.
func parseGolden(text string) map[string]string {
	out := map[string]string{}
	name := ""
	for _, line := range strings.SplitAfter(text, "\n") {
		if n, ok := strings.CutPrefix(line, "=== "); ok {
			name = strings.TrimSuffix(n, "\n")
			out[name] = ""
			continue
		}
		out[name] += line
	}
	return out
}

func TestGolden(t *testing.T) {
	for group, cases := range goldenCases() {
		checkGoldenFile(t, filepath.Join("testdata", group+".golden"), cases)
	}
}

// checkGoldenFile compares the rendered cases with the golden file at path, case by case, or
// writes the file with -update.
func checkGoldenFile(t *testing.T, path string, cases map[string]string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(goldenText(cases)), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	want := parseGolden(string(data))
	for name, got := range cases {
		w, ok := want[name]
		switch {
		case !ok:
			t.Errorf("%s: case %s is not in the golden file (run with -update)", path, name)
		case got != w:
			t.Errorf("%s: case %s differs (run with -update if intended)\n--- got\n%s--- want\n%s", path, name, got, w)
		}
	}
	for name := range want {
		if _, ok := cases[name]; !ok {
			t.Errorf("%s: case %s is no longer rendered (run with -update)", path, name)
		}
	}
}
