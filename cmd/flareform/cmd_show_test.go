package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestShowRendersTheSavedPlan: `show PLANFILE` prints the plan `plan --out` saved, as the text
// plan printed and, with --json, as the object `plan --json` printed (valid against the plan
// schema), reading only the file: no credentials, no spec, no API call. So CI plans once and
// shows that plan to people and tools; apply PLANFILE applies exactly it.
func TestShowRendersTheSavedPlan(t *testing.T) {
	t.Parallel()
	srv, env := startStandalone(t)
	c := newCLI(t, env)
	spec := writeTwoWorkerProject(t, filepath.Join(t.TempDir(), "project"), "1000")
	dir := t.TempDir()
	textPlan, jsonPlan := filepath.Join(dir, "text.plan"), filepath.Join(dir, "json.plan")
	planned := c.mustRun(2, "-f", spec, "plan", "--no-color", "--detailed-exitcode", "--out", textPlan)
	plannedJSON := c.mustRun(2, "-f", spec, "plan", "--json", "--detailed-exitcode", "--out", jsonPlan)

	// Nothing from the environment: no token, no account, no API.
	offline := newCLI(t, map[string]string{})
	before := len(srv.Requests())
	shown := offline.mustRun(0, "show", textPlan)
	if shown.stdout != planned.stdout {
		t.Errorf("show prints another text than plan did\nplan:\n%s\nshow:\n%s", planned.stdout, shown.stdout)
	}
	if lacks(shown.stdout, `+ worker "image-api" (create)`, `+ worker "image-api-hd" (create)`, "Plan: 2 to create") != "" {
		t.Errorf("show does not show the plan's two creates:\n%s", shown.stdout)
	}
	shownJSON := offline.mustRun(0, "show", jsonPlan, "--json")
	if shownJSON.stdout != plannedJSON.stdout {
		t.Errorf("show --json prints another object than plan --json did\nplan:\n%s\nshow:\n%s", plannedJSON.stdout, shownJSON.stdout)
	}
	obj := assertJSONShape(t, jsonSchemas(t), "plan", shownJSON, "show --json")
	if obj["changes"] != true {
		t.Errorf("show --json: changes = %v, want true", obj["changes"])
	}
	if n := len(srv.Requests()) - before; n != 0 {
		t.Errorf("show made %d API calls, want none", n)
	}

	// The plan shown is the plan applied.
	r := c.mustRun(0, "apply", textPlan)
	if !strings.Contains(r.stdout, "Apply complete!") {
		t.Errorf("apply of the shown plan:\n%s", r.stdout)
	}

	// What is not a saved plan is refused, by --json in the one error shape.
	notPlan := filepath.Join(dir, "flareform.yaml")
	if err := os.WriteFile(notPlan, []byte("workers: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := offline.run("show", notPlan, "--json")
	if bad.code != exitError {
		t.Fatalf("show of a spec: exit %d, want 1\n%s%s", bad.code, bad.stdout, bad.stderr)
	}
	errObj := assertJSONShape(t, jsonSchemas(t), "error", bad, "show --json of a spec")
	if msg, _ := errObj["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "is not a saved plan") {
		t.Errorf("show of a spec: error %q, want it to say the file is not a saved plan", msg)
	}
	if r := offline.run("show"); r.code != exitError || !strings.Contains(r.stderr, "PLANFILE") {
		t.Errorf("show without a file: exit %d, want 1 naming PLANFILE\n%s", r.code, r.stderr)
	}
}
