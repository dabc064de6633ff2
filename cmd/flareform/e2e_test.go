package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flareform/flareform/localcf"
)

// TestLocalLifecycle drives the whole --local flow from an empty directory and checks, at the
// end, that neither the generated key nor the local token leaked into any output or file.
func TestLocalLifecycle(t *testing.T) {
	c := newCLI(t, map[string]string{})
	specPath := initProject(t, c, "images")
	projectDir := filepath.Dir(specPath)
	keyDir := t.TempDir()
	keyFile := filepath.Join(keyDir, "images.key")
	smokeOut := filepath.Join(t.TempDir(), "smoke")
	f := []string{"-f", specPath, "--local"}

	c.mustRun(0, append(f, "apply", "--auto-approve", "--key-out", keyFile, "--smoke-out", smokeOut)...)
	assertPNGIn(t, smokeOut)
	assertKeyFilePerm(t, keyFile)
	key := strings.TrimSpace(readFile(t, keyFile))

	out := c.mustRun(0, append(f, "output", "--json")...)
	var doc outputResult
	if err := json.Unmarshal([]byte(out.stdout), &doc); err != nil {
		t.Fatalf("output --json: %v\n%s", err, out.stdout)
	}
	outs := doc.Workers
	if len(outs) != 1 || !outs[0].Exists || !strings.HasPrefix(outs[0].URL, "https://images.") || outs[0].VersionID == "" {
		t.Fatalf("output --json = %+v, want one existing worker with a URL and a version", outs)
	}

	t.Run("second apply writes nothing", func(t *testing.T) {
		before := localWrites(t, specPath)
		r := c.mustRun(0, append(f, "apply", "--auto-approve")...)
		if !strings.Contains(r.stdout, "No changes.") {
			t.Errorf("second apply said %q, want No changes.", r.stdout)
		}
		if n := localWrites(t, specPath) - before; n != 0 {
			t.Errorf("second apply made %d writes, want 0", n)
		}
		c.mustRun(exitOK, append(f, "plan", "--detailed-exitcode")...)
	})

	t.Run("a changed var is the only change", func(t *testing.T) {
		editFile(t, specPath, `MAX_PROMPT_CHARS: "1000"`, `MAX_PROMPT_CHARS: "500"`)
		p := planJSON(t, c.mustRun(0, append(f, "plan", "--json")...).stdout)
		if len(p.Workers) != 1 || len(p.Workers[0].Changes) != 1 {
			t.Fatalf("plan = %+v, want exactly one change", p)
		}
		ch := p.Workers[0].Changes[0]
		if ch.Path != "vars.MAX_PROMPT_CHARS" || ch.Old != "1000" || ch.New != "500" || p.Workers[0].Action != "update" {
			t.Errorf("change = %+v (action %s), want vars.MAX_PROMPT_CHARS 1000 -> 500 (update)", ch, p.Workers[0].Action)
		}
		c.mustRun(exitChanges, append(f, "plan", "--detailed-exitcode")...)
	})

	t.Run("non-interactive apply without --auto-approve refuses", func(t *testing.T) {
		before := localWrites(t, specPath)
		r := c.mustRun(exitError, append(f, "apply")...)
		if !strings.Contains(r.stderr, "--auto-approve") {
			t.Errorf("refusal does not mention --auto-approve: %q", r.stderr)
		}
		if n := localWrites(t, specPath) - before; n != 0 {
			t.Errorf("refused apply made %d writes", n)
		}
	})

	t.Run("smoke with the key file", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "smoke2")
		r := c.mustRun(0, append(f, "smoke", "--key-file", keyFile, "--out", out)...)
		if !strings.Contains(r.stdout, "authorized") || strings.Contains(r.stdout, "skipped") {
			t.Errorf("smoke did not run the authorised check: %s", r.stdout)
		}
		assertPNGIn(t, out)
	})

	c.mustRun(0, append(f, "destroy", "--auto-approve")...)
	r := c.mustRun(0, append(f, "output", "--json")...)
	if strings.Contains(r.stdout, `"exists": true`) {
		t.Errorf("after destroy: %s", r.stdout)
	}
	token := assertNoScripts(t, filepath.Join(projectDir, ".flareform", "local"))

	assertSecretsOnlyIn(t, map[string]string{"generated key": key, "local API token": token},
		c.transcript, keyFile, projectDir, keyDir, smokeOut)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func assertKeyFilePerm(t *testing.T, path string) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, perm)
	}
}

// assertNoScripts reopens the --local state and lists the account's scripts over the API.
// It returns the local token for the secret grep.
func assertNoScripts(t *testing.T, stateDir string) string {
	t.Helper()
	srv, err := localcf.Start(context.Background(), localcf.Options{StateDir: stateDir})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if n := len(listScripts(t, srv.APIBaseURL(), srv.Token(), srv.AccountID())); n != 0 {
		t.Errorf("%d scripts left after destroy", n)
	}
	return srv.Token()
}

func listScripts(t *testing.T, base, token, account string) []json.RawMessage {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", base+"/accounts/"+account+"/workers/scripts", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var env struct {
		Success bool              `json:"success"`
		Result  []json.RawMessage `json:"result"`
	}
	if err := json.NewDecoder(res.Body).Decode(&env); err != nil || !env.Success {
		t.Fatalf("list scripts: status %d, err %v", res.StatusCode, err)
	}
	return env.Result
}
