package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flareform/flareform/localcf"
)

const savedPlanKey = "saved-plan-key-0123456789abcdef0123456789" // the env key's value: never in the plan file

// twoWorkerProject writes a project with workers a (keyed from env:A_KEY) and b, each saying
// greeting, and returns the spec path.
func twoWorkerProject(t *testing.T, greeting string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"a", "b"} {
		code := `export default { fetch() { return new Response("` + greeting + ` from ` + name + `") } }`
		if err := os.WriteFile(filepath.Join(dir, name+".js"), []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	specPath := filepath.Join(dir, "flareform.yaml")
	writeSpec(t, specPath, `project: shop
workers:
  a:
    main: ./a.js
    compatibility_date: "2025-06-01"
    api_key:
      from: env:A_KEY
  b:
    main: ./b.js
    compatibility_date: "2025-06-01"
`)
	return specPath
}

func savedPlanCLI(t *testing.T) (*localcf.Server, *cli) {
	srv, env := startStandalone(t)
	env["A_KEY"] = savedPlanKey
	return srv, newCLI(t, env)
}

// plan --out writes a private file without the key's value, and apply FILE applies it
// without asking (no terminal, no --auto-approve), after which nothing differs.
func TestApplySavedPlan(t *testing.T) {
	_, c := savedPlanCLI(t)
	specPath := twoWorkerProject(t, "hello")
	planFile := filepath.Join(t.TempDir(), "release.plan")
	c.mustRun(exitChanges, "-f", specPath, "plan", "--out", planFile, "--detailed-exitcode")

	assertPrivate(t, planFile, 0o600)
	raw, err := os.ReadFile(planFile)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), savedPlanKey) {
		t.Fatalf("the saved plan holds the key's value:\n%s", raw)
	}
	var doc struct {
		Version int `json:"version"`
		Read    struct {
			Workers []struct {
				Name       string `json:"name"`
				BundleHash string `json:"bundle_hash"`
				Key        *struct{ Source, Fingerprint string }
			} `json:"workers"`
		} `json:"read"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("saved plan is not JSON: %v", err)
	}
	if doc.Version != 1 || len(doc.Read.Workers) != 2 || doc.Read.Workers[0].Key == nil ||
		doc.Read.Workers[0].Key.Source != "env:A_KEY" || doc.Read.Workers[0].Key.Fingerprint == "" || doc.Read.Workers[1].BundleHash == "" {
		t.Fatalf("saved plan does not record what it read: %s", raw)
	}

	r := c.mustRun(exitOK, "-f", specPath, "apply", planFile, "--no-smoke")
	if !strings.Contains(r.stdout, "a") || strings.Contains(r.stdout+r.stderr, savedPlanKey) {
		t.Errorf("apply of the saved plan:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	c.mustRun(exitOK, "-f", specPath, "plan", "--detailed-exitcode")
	// The upload carried the fingerprint the saved plan showed.
	r = c.mustRun(exitOK, "-f", specPath, "plan", "--json")
	if !strings.Contains(string(raw), doc.Read.Workers[0].Key.Fingerprint) || !strings.Contains(r.stdout, `"no-op"`) {
		t.Errorf("plan after apply: %s", r.stdout)
	}
}

// A saved plan whose inputs changed is refused before any write: the spec, the code, the key
// or the live script.
func TestApplyRefusesAStalePlan(t *testing.T) {
	cases := []struct {
		name   string
		change func(t *testing.T, c *cli, specPath string)
		want   string
	}{
		{"spec edited", func(t *testing.T, c *cli, specPath string) {
			editFile(t, specPath, `"2025-06-01"`, `"2025-06-02"`)
		}, "the spec " /* + path + changed */},
		{"code edited", func(t *testing.T, c *cli, specPath string) {
			editFile(t, filepath.Join(filepath.Dir(specPath), "b.js"), "hello", "bye")
		}, "the code of worker b changed"},
		{"key changed", func(t *testing.T, c *cli, specPath string) {
			c.env["A_KEY"] = savedPlanKey + "-new"
		}, "the API key of worker a changed"},
		{"live script changed", func(t *testing.T, c *cli, specPath string) {
			// Someone else deploys other code for b and puts the spec back as it was.
			codePath := filepath.Join(filepath.Dir(specPath), "b.js")
			editFile(t, codePath, "hello", "bye")
			c.mustRun(exitOK, "-f", specPath, "apply", "--auto-approve", "--no-smoke")
			editFile(t, codePath, "bye", "hello")
		}, "script b serves version"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, c := savedPlanCLI(t)
			specPath := twoWorkerProject(t, "hello")
			c.mustRun(exitOK, "-f", specPath, "apply", "--auto-approve", "--no-smoke")
			editFile(t, filepath.Join(filepath.Dir(specPath), "a.js"), "hello", "hi") // something to apply
			planFile := filepath.Join(t.TempDir(), "release.plan")
			c.mustRun(exitOK, "-f", specPath, "plan", "--out", planFile)
			tc.change(t, c, specPath)

			srv.ResetRequests()
			r := c.mustRun(exitError, "apply", planFile, "--no-smoke")
			if !strings.Contains(r.stderr, "the plan is stale: ") || !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stderr, "run plan again") {
				t.Errorf("refusal does not say what changed (want %q):\n%s", tc.want, r.stderr)
			}
			if n := countWrites(srv.Requests()); n != 0 {
				t.Errorf("the refused apply made %d writes: %v", n, callsOf(srv.Requests()))
			}
		})
	}
}

// --target restricts plan and apply to the named worker: the other one is skipped, and no
// request about its script is made.
func TestTargetTouchesOnlyTheNamedWorker(t *testing.T) {
	srv, c := savedPlanCLI(t)
	specPath := twoWorkerProject(t, "hello")
	c.mustRun(exitOK, "-f", specPath, "apply", "--auto-approve", "--no-smoke")
	dir := filepath.Dir(specPath)
	editFile(t, filepath.Join(dir, "a.js"), "hello", "hi")
	editFile(t, filepath.Join(dir, "b.js"), "hello", "hi")

	srv.ResetRequests()
	r := c.mustRun(exitOK, "-f", specPath, "plan", "--target", "a")
	if !strings.Contains(r.stdout, "Skipped (not targeted): b") || !strings.Contains(r.stdout, "1 to update") {
		t.Errorf("targeted plan:\n%s", r.stdout)
	}
	r = c.mustRun(exitOK, "-f", specPath, "apply", "--auto-approve", "--no-smoke", "--target", "a")
	for _, call := range callsOf(srv.Requests()) {
		if strings.Contains(call, "/scripts/b") {
			t.Errorf("a run targeting a made a request about b: %s", call)
		}
	}
	// b still runs its old code and is still planned for update; a is done.
	r = c.mustRun(exitOK, "-f", specPath, "plan", "--json")
	var plan struct {
		Workers []struct{ Name, Action string } `json:"workers"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &plan); err != nil {
		t.Fatal(err)
	}
	if len(plan.Workers) != 2 || plan.Workers[0].Action != "no-op" || plan.Workers[1].Action != "update" {
		t.Errorf("after apply --target a: %+v", plan.Workers)
	}
	c.mustRun(exitError, "-f", specPath, "plan", "--target", "nosuch")

	// destroy --target b deletes b alone, and never asks about a.
	srv.ResetRequests()
	c.mustRun(exitOK, "-f", specPath, "destroy", "--auto-approve", "--target", "b")
	for _, call := range callsOf(srv.Requests()) {
		if strings.Contains(call, "/scripts/a") {
			t.Errorf("destroy --target b made a request about a: %s", call)
		}
	}
	if names := scriptNames(t, srv); len(names) != 1 || names[0] != "a" {
		t.Errorf("after destroy --target b the account holds %v, want [a]", names)
	}
}

// A targeted destroy leaves alone an index an untargeted worker still uses.
func TestTargetedDestroyKeepsSharedIndex(t *testing.T) {
	srv, env := startStandalone(t)
	c := newCLI(t, env)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "worker.js"), []byte(`export default { fetch() { return new Response("ok") } }`), 0o644); err != nil {
		t.Fatal(err)
	}
	specPath := filepath.Join(dir, "flareform.yaml")
	worker := "    main: ./worker.js\n    compatibility_date: \"2025-06-01\"\n    vectorize: { index: docs, dimensions: 768, metric: cosine }\n"
	writeSpec(t, specPath, "project: search\nworkers:\n  a:\n"+worker+"  b:\n"+worker)
	c.mustRun(exitOK, "-f", specPath, "apply", "--auto-approve")

	srv.ResetRequests()
	r := c.mustRun(exitOK, "-f", specPath, "destroy", "--auto-approve", "--target", "a")
	for _, call := range callsOf(srv.Requests()) {
		if strings.HasPrefix(call, "DELETE") && strings.Contains(call, "vectorize") {
			t.Errorf("destroy --target a deleted the index b uses: %s\n%s", call, r.stdout)
		}
	}
	if names := scriptNames(t, srv); len(names) != 1 || names[0] != "b" {
		t.Errorf("after destroy --target a the account holds %v, want [b]", names)
	}
}
