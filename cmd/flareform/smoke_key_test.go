package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSmokeWithoutKeyFails: `flareform smoke` for a worker whose key nobody gives (no
// --key-file, no FLAREFORM_API_KEY, no key store) cannot run the authorised request. It used to
// print "authorized skipped: key unknown", "passed" and exit 0 (`"passed": true` with --json):
// a smoke test that did not run reported as passed. It must exit 1, name the worker and how to
// pass the key, and say "passed": false with the reason; with the key it passes again.
func TestSmokeWithoutKeyFails(t *testing.T) {
	t.Parallel()
	_, env := startStandalone(t)
	c := newCLI(t, env)
	specPath := initProject(t, c, "images")
	f := []string{"-f", specPath}
	c.mustRun(0, append(f, "apply", "--auto-approve", "--no-smoke")...)
	key := keyInStore(t, specPath, "images")
	store := filepath.Join(filepath.Dir(specPath), ".flareform", "keys.json")
	if err := os.Rename(store, filepath.Join(t.TempDir(), "keys.json")); err != nil {
		t.Fatal(err)
	}

	r := c.run(append(f, "smoke")...)
	if r.code != exitError {
		t.Fatalf("smoke without any key: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if missing := lacks(r.stdout+r.stderr, "images", "no key for images", "--key-file", "FLAREFORM_API_KEY", "key store", "FAILED"); missing != "" {
		t.Errorf("smoke without a key does not say %q:\nstdout:\n%s\nstderr:\n%s", missing, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout, "images: passed") {
		t.Errorf("smoke without a key reports the worker as passed:\n%s", r.stdout)
	}

	r = c.run(append(f, "smoke", "--json")...)
	if r.code != exitError {
		t.Fatalf("smoke --json without any key: exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var res struct {
		Passed  bool `json:"passed"`
		Workers []struct {
			Name   string `json:"name"`
			Passed bool   `json:"passed"`
			Error  string `json:"error"`
		} `json:"workers"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("smoke --json: %v\n%s", err, r.stdout)
	}
	if res.Passed || len(res.Workers) != 1 || res.Workers[0].Passed || !strings.Contains(res.Workers[0].Error, "--key-file") {
		t.Errorf("smoke --json without a key: want passed false and the worker's error naming --key-file, got\n%s", r.stdout)
	}

	// With the key (either way) every check runs and passes.
	keyFile := filepath.Join(t.TempDir(), "images.key")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = c.mustRun(0, append(f, "smoke", "--key-file", keyFile)...)
	if strings.Contains(r.stdout, "skipped") {
		t.Errorf("smoke --key-file skipped a check:\n%s", r.stdout)
	}
	c.env[envAPIKey] = key
	c.mustRun(0, append(f, "smoke")...)
	delete(c.env, envAPIKey)
	for _, out := range c.transcript {
		if strings.Contains(out, key) {
			t.Fatal("the key appears in the output")
		}
	}
}
