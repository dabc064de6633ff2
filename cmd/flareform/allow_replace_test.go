package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A Vectorize index whose dimensions change is replaced (its vectors are lost): the plan says
// so, apply refuses it before writing anything, even with --auto-approve, and only
// --allow-replace lets it through.
func TestApplyRefusesAnIndexReplacementWithoutAllowReplace(t *testing.T) {
	srv, env := startStandalone(t)
	c := newCLI(t, env)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "worker.js"), []byte(`export default { fetch() { return new Response("ok") } }`), 0o644); err != nil {
		t.Fatal(err)
	}
	specPath := filepath.Join(dir, "flareform.yaml")
	writeSpec := func(dims string) {
		t.Helper()
		spec := "project: search\nworkers:\n  search:\n    main: ./worker.js\n    compatibility_date: \"2025-06-01\"\n" +
			"    vectorize: { index: docs, dimensions: " + dims + ", metric: cosine }\n"
		if err := os.WriteFile(specPath, []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeSpec("768")
	c.mustRun(exitOK, "-f", specPath, "apply", "--auto-approve")

	writeSpec("384")
	r := c.mustRun(exitChanges, "-f", specPath, "plan", "--detailed-exitcode")
	if !strings.Contains(r.stdout, `-/+ vectorize_index "docs" (replace) DESTRUCTIVE`) || !strings.Contains(r.stdout, "--allow-replace") {
		t.Errorf("plan does not show the destructive replacement:\n%s", r.stdout)
	}
	var plan struct {
		Workers   []struct{ Name, Action string } `json:"workers"`
		Resources []struct {
			Kind, Name, Action string
			Destructive        bool
		} `json:"resources"`
	}
	r = c.mustRun(exitOK, "-f", specPath, "plan", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &plan); err != nil {
		t.Fatalf("plan --json: %v\n%s", err, r.stdout)
	}
	// Workers are listed once, under workers; resources are the account objects only.
	if len(plan.Workers) != 1 || len(plan.Resources) != 1 || plan.Resources[0].Kind != "vectorize_index" ||
		plan.Resources[0].Action != "replace" || !plan.Resources[0].Destructive {
		t.Errorf("plan --json: %+v", plan)
	}
	srv.ResetRequests()
	r = c.mustRun(exitError, "-f", specPath, "apply", "--auto-approve")
	if !strings.Contains(r.stderr, "--allow-replace") {
		t.Errorf("refusal does not name --allow-replace:\n%s", r.stderr)
	}
	if n := countWrites(srv.Requests()); n != 0 {
		t.Errorf("the refused apply made %d writes", n)
	}
	c.mustRun(exitOK, "-f", specPath, "apply", "--auto-approve", "--allow-replace")
	c.mustRun(exitOK, "-f", specPath, "plan", "--detailed-exitcode")
	c.mustRun(exitOK, "-f", specPath, "destroy", "--auto-approve")
}
