package main

import (
	"slices"
	"testing"

	"github.com/flareform/flareform/localcf"
)

// projectSpec is a spec of project with the given workers (text-to-image, no smoke test: the
// point here is which scripts exist).
func projectSpec(project string, workers ...string) string {
	s := "project: " + project + "\nworkers:\n"
	for _, w := range workers {
		s += imageWorkerYAML(w, false)
	}
	return s
}

// TestTruthfulRemovedWorker: a worker removed from a spec with `project:` is planned as a
// delete and deleted by apply; a hand-made script and another project's worker in the same
// account survive apply and destroy. Before, a removed worker was simply forgotten: plan did
// not show it and it kept serving.
func TestTruthfulRemovedWorker(t *testing.T) {
	t.Parallel()
	srv, env := startStandalone(t)
	b := newBinCLI(t, env)
	first := initBinProject(t, b, "alpha")
	other := initBinProject(t, b, "other")
	writeSpec(t, first, projectSpec("fleet", "alpha", "beta"))
	writeSpec(t, other, projectSpec("neighbours", "gamma"))
	handMadeScript(t, srv, "handmade")

	b.mustRun(0, "-f", first, "apply", "--auto-approve")
	b.mustRun(0, "-f", other, "apply", "--auto-approve")
	assertScripts(t, srv, "alpha", "beta", "gamma", "handmade")

	writeSpec(t, first, projectSpec("fleet", "alpha"))
	p := planJSON(t, b.mustRun(0, "-f", first, "plan", "--json").stdout)
	actions := map[string]string{}
	for _, w := range p.Workers {
		actions[w.Name] = w.Action
	}
	if actions["beta"] != "delete" || actions["gamma"] != "" || actions["handmade"] != "" {
		t.Fatalf("plan after removing beta: actions %v; want beta: delete and nothing for gamma or handmade", actions)
	}
	b.mustRun(exitChanges, "-f", first, "plan", "--detailed-exitcode")
	b.mustRun(0, "-f", first, "apply", "--auto-approve")
	assertScripts(t, srv, "alpha", "gamma", "handmade")
	b.mustRun(exitOK, "-f", first, "plan", "--detailed-exitcode")

	// The other project does not see the first one's workers as its own removed ones.
	b.mustRun(exitOK, "-f", other, "plan", "--detailed-exitcode")

	b.mustRun(0, "-f", first, "destroy", "--auto-approve")
	assertScripts(t, srv, "gamma", "handmade")
}

// assertScripts fails unless the account holds exactly the scripts want.
func assertScripts(t *testing.T, srv *localcf.Server, want ...string) {
	t.Helper()
	got := scriptNames(t, srv)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("account scripts %v, want %v", got, want)
	}
}
