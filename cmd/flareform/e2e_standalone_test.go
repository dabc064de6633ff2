package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/flareform/flareform/provision/keystore"
)

// TestStandaloneServer runs the flow against a local Cloudflare started apart from the CLI,
// reached only through CLOUDFLARE_API_BASE_URL/_API_TOKEN/_ACCOUNT_ID, as a real account is.
func TestStandaloneServer(t *testing.T) {
	srv, env := startStandalone(t)
	c := newCLI(t, env)
	specPath := initProject(t, c, "images")
	f := []string{"-f", specPath}

	srv.ResetRequests()
	r := c.mustRun(exitError, append(f, "apply")...)
	if !strings.Contains(r.stderr, "--auto-approve") || countWrites(srv.Requests()) != 0 {
		t.Fatalf("non-interactive apply: stderr %q, %d writes; want a refusal and 0 writes", r.stderr, countWrites(srv.Requests()))
	}
	c.mustRun(exitChanges, append(f, "plan", "--detailed-exitcode")...)

	smokeOut := t.TempDir()
	r = c.mustRun(0, append(f, "apply", "--auto-approve", "--json", "--smoke-out", smokeOut)...)
	var res struct {
		Changes bool `json:"changes"`
		Workers []struct {
			Name   string `json:"name"`
			URL    string `json:"url"`
			APIKey string `json:"api_key"`
			Smoke  struct {
				Passed bool `json:"passed"`
			} `json:"smoke"`
		} `json:"workers"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("apply --json stdout is not one JSON document: %v\n%s", err, r.stdout)
	}
	if !res.Changes || len(res.Workers) != 1 || res.Workers[0].APIKey == "" || !res.Workers[0].Smoke.Passed || res.Workers[0].URL == "" {
		t.Fatalf("apply --json = %+v, want one worker with a URL, an api_key and a passed smoke test", res)
	}
	assertPNGIn(t, smokeOut)
	key := res.Workers[0].APIKey
	if strings.Count(r.stdout, key) != 1 || strings.Contains(r.stderr, key) {
		t.Errorf("the key must appear once, in api_key; stdout has it %d times, stderr %d", strings.Count(r.stdout, key), strings.Count(r.stderr, key))
	}

	srv.ResetRequests()
	r = c.mustRun(0, append(f, "apply", "--auto-approve")...)
	if !strings.Contains(r.stdout, "No changes.") || countWrites(srv.Requests()) != 0 {
		t.Errorf("second apply: %q with %d writes; want No changes. and 0 writes", r.stdout, countWrites(srv.Requests()))
	}
	c.mustRun(exitOK, append(f, "plan", "--detailed-exitcode")...)

	c.env[envAPIKey] = key
	c.mustRun(0, append(f, "smoke")...)

	c.mustRun(0, append(f, "destroy", "--auto-approve")...)
	if n := len(listScripts(t, srv.APIBaseURL(), srv.Token(), srv.AccountID())); n != 0 {
		t.Errorf("%d scripts left after destroy", n)
	}
}

// TestApplyShowsGeneratedKeyOnce checks the human hand-over: on a terminal the key is printed
// exactly once; without one (a CI log) it is never printed, and the output says where it is.
// Either way the project's key store (0600) holds it.
func TestApplyShowsGeneratedKeyOnce(t *testing.T) {
	_, env := startStandalone(t)
	c := newCLI(t, env)
	specPath := initProject(t, c, "images")
	r := c.mustRun(0, "-f", specPath, "apply", "--auto-approve", "--no-smoke")
	stored := storedKey(t, specPath, "images")
	if strings.Contains(r.stdout+r.stderr, stored) || !strings.Contains(r.stdout, "keys.json") || !strings.Contains(r.stdout, "not printed") {
		t.Errorf("without a terminal: the key must not be printed and the output must say where it is:\n%s", r.stdout)
	}

	c.mustRun(0, "-f", specPath, "destroy", "--auto-approve")
	c.stdoutTTY = true
	r = c.mustRun(0, "-f", specPath, "apply", "--auto-approve", "--no-smoke")
	const marker = "API key (shown once here; also kept in "
	i := strings.Index(r.stdout, marker)
	if i < 0 {
		t.Fatalf("no key in the human output on a terminal:\n%s", r.stdout)
	}
	_, rest, _ := strings.Cut(r.stdout[i:], "): ")
	key := strings.Fields(rest)[0]
	if strings.Count(r.stdout, key) != 1 || strings.Contains(r.stderr, key) {
		t.Errorf("key printed %d times on stdout, stderr has it: %v", strings.Count(r.stdout, key), strings.Contains(r.stderr, key))
	}
	if got := storedKey(t, specPath, "images"); got != key {
		t.Error("the key store does not hold the printed key")
	}
	assertSecretsOnlyIn(t, map[string]string{"generated key": key}, nil, "", filepath.Dir(specPath))
}

// storedKey is the active API_KEY of script in the project's key store.
func storedKey(t *testing.T, specPath, script string) string {
	t.Helper()
	store, err := keystore.Open(filepath.Join(filepath.Dir(specPath), ".flareform"))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := store.Keys(script, "API_KEY")
	if err != nil || len(entries) == 0 || entries[0].State != keystore.Active {
		t.Fatalf("key store entries for %s: %+v, %v; want an active key", script, entries, err)
	}
	return entries[0].Key
}

// TestBadInput: every bad input fails with a message that says where and how to fix it, and
// nothing is written to the API.
func TestBadInput(t *testing.T) {
	srv, env := startStandalone(t)
	tests := []struct {
		name string
		// mutate breaks the project and returns the line the error must point at (0: none).
		mutate func(t *testing.T, specPath string, env map[string]string) int
		want   []string
	}{
		{"malformed YAML", func(t *testing.T, p string, _ map[string]string) int {
			editFile(t, p, "workers:\n", "workers: [\n")
			return 0
		}, []string{"flareform.yaml:", "YAML"}},
		{"unknown key", func(t *testing.T, p string, _ map[string]string) int {
			editFile(t, p, "    workers_dev: true\n", "    workers_dev: true\n    bogus: 1\n")
			return lineOf(t, p, "bogus")
		}, []string{`unknown key "bogus"`, "known keys"}},
		{"wrong type", func(t *testing.T, p string, _ map[string]string) int {
			editFile(t, p, "workers_dev: true", `workers_dev: "maybe"`)
			return lineOf(t, p, "workers_dev")
		}, []string{"workers_dev", "true or false"}},
		{"bad worker name", func(t *testing.T, p string, _ map[string]string) int {
			editFile(t, p, "  images:\n", "  Bad_Name:\n")
			return lineOf(t, p, "Bad_Name")
		}, []string{"Bad_Name", "lowercase"}},
		{"missing main file", func(t *testing.T, p string, _ map[string]string) int {
			editFile(t, p, "./src/worker.js", "./src/missing.js")
			return lineOf(t, p, "missing.js")
		}, []string{"missing.js", "does not exist"}},
		{"JS syntax error", func(t *testing.T, p string, _ map[string]string) int {
			worker := filepath.Join(filepath.Dir(p), "src", "worker.js")
			if err := os.WriteFile(worker, []byte("export default {\n  fetch( {\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			return lineOf(t, p, "main:")
		}, []string{"worker.js:", "fix the JavaScript"}},
		{"unknown model", func(t *testing.T, p string, _ map[string]string) int {
			editFile(t, p, "@cf/stabilityai/stable-diffusion-xl-base-1.0", "@cf/nobody/no-such-model")
			return lineOf(t, p, "no-such-model")
		}, []string{"no-such-model", "catalog"}},
		{"missing token", func(t *testing.T, _ string, env map[string]string) int {
			delete(env, envAPIToken)
			return 0
		}, []string{envAPIToken, "--local"}},
		{"wrong account", func(t *testing.T, _ string, env map[string]string) int {
			env[envAccountID] = "0123456789abcdef0123456789abcdef"
			return 0
		}, []string{"0123456789abcdef0123456789abcdef", envAPIToken}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			caseEnv := map[string]string{}
			for k, v := range env {
				caseEnv[k] = v
			}
			c := newCLI(t, caseEnv)
			specPath := initProject(t, c, "images")
			line := tt.mutate(t, specPath, caseEnv)
			srv.ResetRequests()
			r := c.run("-f", specPath, "apply", "--auto-approve")
			if r.code != exitError {
				t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			want := tt.want
			if line > 0 {
				want = append(want, specPath+":"+strconv.Itoa(line)+":")
			}
			for _, w := range want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			if n := countWrites(srv.Requests()); n != 0 {
				t.Errorf("%d API writes, want 0", n)
			}
		})
	}
}
