package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flareform/flareform/localcf"
	"github.com/flareform/flareform/localcf/workerd"
)

// runAsCLI makes the test binary behave as the flareform binary when re-executed by a test, so
// `flareform local` can run as a real separate process without a separate build step.
const runAsCLI = "FLAREFORM_TEST_RUN_AS_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(runAsCLI) == "1" {
		main()
	}
	code := m.Run()
	removeBuiltBinary() // the flareform binary the truthful_* tests built, if any
	os.Exit(code)
}

// startLocalProcess runs `flareform local --json --memory [args]` as a child process and
// returns what it printed once ready.
func startLocalProcess(t *testing.T, args ...string) (localInfo, *exec.Cmd) {
	t.Helper()
	// The child runs from a temporary directory, outside the repository whose node_modules
	// holds workerd: it is told where that binary is, as newBinCLI tells the built binary, or
	// on a machine without workerd in the user cache it would install one from npm first.
	wd, err := workerd.FindBinary()
	if err != nil {
		t.Fatalf("workerd is required (run npm ci in the repository): %v", err)
	}
	cmd := exec.Command(os.Args[0], append([]string{"local", "--json", "--memory"}, args...)...)
	cmd.Env = append(os.Environ(), runAsCLI+"=1", workerd.BinaryEnv+"="+wd)
	cmd.Dir = t.TempDir()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	select {
	case line, ok := <-lines:
		if !ok {
			t.Fatalf("flareform local exited before printing its JSON line; stderr:\n%s", stderr.String())
		}
		var info localInfo
		if err := json.Unmarshal([]byte(line), &info); err != nil {
			t.Fatalf("flareform local --json printed %q: %v", line, err)
		}
		return info, cmd
	case <-time.After(60 * time.Second):
		t.Fatalf("flareform local did not become ready; stderr:\n%s", stderr.String())
	}
	return localInfo{}, nil
}

// adminWrites counts state-changing API calls through the local Cloudflare's admin request log.
func adminWrites(t *testing.T, info localInfo) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, strings.TrimSuffix(info.APIBaseURL, "/client/v4")+"/__localcf/requests", nil)
	req.Header.Set("Authorization", "Bearer "+info.APIToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var records []localcf.RequestRecord
	if err := json.NewDecoder(resp.Body).Decode(&records); err != nil {
		t.Fatalf("decode request log: %v", err)
	}
	return countWrites(records)
}

// scriptCount lists the account's scripts through the API, as any client would.
func scriptCount(t *testing.T, info localInfo) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/accounts/%s/workers/scripts", info.APIBaseURL, info.AccountID), nil)
	req.Header.Set("Authorization", "Bearer "+info.APIToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		Success bool              `json:"success"`
		Result  []json.RawMessage `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil || !env.Success {
		t.Fatalf("list scripts: success=%v err=%v", env.Success, err)
	}
	return len(env.Result)
}

// TestStandaloneLocalProcess: the whole flow against `flareform local` running as its own
// process, reached only through CLOUDFLARE_API_BASE_URL and the printed credentials.
func TestStandaloneLocalProcess(t *testing.T) {
	info, proc := startLocalProcess(t)
	if len(info.AccountID) != 32 || info.APIToken == "" || info.Subdomain == "" || info.WorkersDevAddr == "" {
		t.Fatalf("local --json printed %+v; want every field set", info)
	}
	c := newCLI(t, map[string]string{
		envAPIBaseURL:     info.APIBaseURL,
		envAPIToken:       info.APIToken,
		envAccountID:      info.AccountID,
		envWorkersDevAddr: info.WorkersDevAddr,
	})
	specPath := initProject(t, c, "standalone")
	f := []string{"-f", specPath}

	smokeOut := t.TempDir()
	c.mustRun(0, append(f, "apply", "--auto-approve", "--smoke-out", smokeOut)...)
	assertPNGIn(t, smokeOut)
	r := c.mustRun(0, append(f, "output", "--json")...)
	if !strings.Contains(r.stdout, "https://standalone."+info.Subdomain+".workers.dev") {
		t.Fatalf("output --json has no workers.dev URL:\n%s", r.stdout)
	}

	before := adminWrites(t, info)
	r = c.mustRun(0, append(f, "apply", "--auto-approve")...)
	if got := adminWrites(t, info) - before; got != 0 || !strings.Contains(r.stdout, "No changes.") {
		t.Fatalf("second apply made %d writes (%q); want 0 and No changes.", got, r.stdout)
	}

	editFile(t, specPath, `MAX_PROMPT_CHARS: "1000"`, `MAX_PROMPT_CHARS: "750"`)
	p := planJSON(t, c.mustRun(0, append(f, "plan", "--json")...).stdout)
	if len(p.Workers) != 1 || len(p.Workers[0].Changes) != 1 || p.Workers[0].Changes[0].Path != "vars.MAX_PROMPT_CHARS" {
		t.Fatalf("plan after a var change = %+v; want exactly vars.MAX_PROMPT_CHARS", p)
	}

	c.mustRun(0, append(f, "destroy", "--auto-approve")...)
	if n := scriptCount(t, info); n != 0 {
		t.Fatalf("after destroy the account has %d scripts; want 0", n)
	}

	// SIGTERM stops the server cleanly.
	if err := proc.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- proc.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("flareform local exited with %v after SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("flareform local did not stop after SIGTERM")
	}
}
