package main

// Helpers for the truthful_*_test.go acceptance tests: they run the real flareform binary as a
// separate process (so kill -9, SIGINT, flock and two runs at once are what a user gets) against
// a local Cloudflare started in the test, and check every promise of docs/guarantees.md from the
// outside: exit codes, output, the account's state and whether handed-over keys open the worker.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flareform/flareform/localcf"
	"github.com/flareform/flareform/localcf/workerd"
)

// builtBinary is the flareform binary built once per test-binary run (see flareformBinary).
var builtBinary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// flareformBinary builds ./cmd/flareform with `go build` the first time a test asks for it.
func flareformBinary(t *testing.T) string {
	t.Helper()
	builtBinary.once.Do(func() {
		dir, err := os.MkdirTemp("", "flareform-truthful-bin-")
		if err != nil {
			builtBinary.err = err
			return
		}
		builtBinary.dir = dir
		path := filepath.Join(dir, "flareform")
		out, err := exec.Command("go", "build", "-o", path, ".").CombinedOutput()
		if err != nil {
			builtBinary.err = fmt.Errorf("go build ./cmd/flareform: %v\n%s", err, out)
			return
		}
		builtBinary.path = path
	})
	if builtBinary.err != nil {
		t.Fatal(builtBinary.err)
	}
	return builtBinary.path
}

// removeBuiltBinary deletes the binary flareformBinary built; TestMain calls it at the end.
func removeBuiltBinary() {
	if builtBinary.dir != "" {
		os.RemoveAll(builtBinary.dir)
	}
}

// binCLI runs the flareform binary with a fixed, minimal environment: nothing of the test's own
// environment reaches it except PATH, HOME and TMPDIR.
type binCLI struct {
	t   *testing.T
	bin string
	env map[string]string
	// outputs records what every run printed, for the leak check at the end of the test.
	outputs *outputLog
}

// outputLog is the stdout and stderr of a test's runs (those without --json, which hand a key
// over on stdout by design).
type outputLog struct {
	mu   sync.Mutex
	text []string
}

func (l *outputLog) add(args []string, r result) {
	if slices.Contains(args, "--json") {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.text = append(l.text, r.stdout, r.stderr)
}

// checkNoStoredKeyPrinted fails when a key from any project key store the test made (under
// its temporary directories) appears in what a run printed.
func (l *outputLog) checkNoStoredKeyPrinted(t *testing.T, tempRoot string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	filepath.WalkDir(tempRoot, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !isProjectKeyStore(path) {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		var doc struct {
			Keys []struct {
				Key string `json:"key"`
			} `json:"keys"`
		}
		if json.Unmarshal(b, &doc) != nil {
			return nil
		}
		for _, k := range doc.Keys {
			for i, out := range l.text {
				if k.Key != "" && strings.Contains(out, k.Key) {
					t.Errorf("a key from %s appears in the output of a run (#%d)", path, i/2)
				}
			}
		}
		return nil
	})
}

// newBinCLI points the binary at srv (the map from startStandalone) and at workerd, for --local.
func newBinCLI(t *testing.T, env map[string]string) *binCLI {
	t.Helper()
	b := &binCLI{t: t, bin: flareformBinary(t), env: map[string]string{}, outputs: &outputLog{}}
	tempRoot := filepath.Dir(t.TempDir()) // the parent of every t.TempDir() of this test
	t.Cleanup(func() { b.outputs.checkNoStoredKeyPrinted(t, tempRoot) })
	for _, name := range []string{"PATH", "TMPDIR"} {
		if v, ok := os.LookupEnv(name); ok {
			b.env[name] = v
		}
	}
	// A home and user cache of the test's own: the binary's bundles and versions never go to
	// the real user's cache.
	b.env["HOME"] = t.TempDir()
	b.env["XDG_CACHE_HOME"] = t.TempDir()
	wd, err := workerd.FindBinary()
	if err != nil {
		t.Fatalf("workerd is required (run npm ci in the repository): %v", err)
	}
	b.env[workerd.BinaryEnv] = wd
	for k, v := range env {
		b.env[k] = v
	}
	return b
}

// with returns a copy of b whose environment also has extra (an empty value unsets a name).
func (b *binCLI) with(extra map[string]string) *binCLI {
	c := &binCLI{t: b.t, bin: b.bin, env: map[string]string{}, outputs: b.outputs}
	for k, v := range b.env {
		c.env[k] = v
	}
	for k, v := range extra {
		if v == "" {
			delete(c.env, k)
		} else {
			c.env[k] = v
		}
	}
	return c
}

// proc is one running flareform process.
type proc struct {
	cmd            *exec.Cmd
	args           []string
	stdout, stderr lockedBuffer
	done           chan struct{}
	res            result
}

// lockedBuffer is a bytes.Buffer that a test may read while the process still writes to it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitStderr waits until the process has written want to stderr; false when it ended first or
// a minute passed.
func (p *proc) waitStderr(want string) bool {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if strings.Contains(p.stderr.String(), want) {
			return true
		}
		select {
		case <-p.done:
			return strings.Contains(p.stderr.String(), want)
		case <-time.After(10 * time.Millisecond):
		}
	}
	return false
}

// start launches the binary with args; stdin is empty and no stream is a terminal.
func (b *binCLI) start(args ...string) *proc {
	b.t.Helper()
	p := &proc{args: args, done: make(chan struct{})}
	p.cmd = exec.Command(b.bin, args...)
	for k, v := range b.env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		b.t.Fatalf("start flareform: %v", err)
	}
	go func() {
		p.cmd.Wait()
		p.res = result{code: p.cmd.ProcessState.ExitCode(), stdout: p.stdout.String(), stderr: p.stderr.String()}
		b.outputs.add(args, p.res)
		close(p.done)
	}()
	b.t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// wait waits for the process to end (at most two minutes: a hung run is a failure).
func (p *proc) wait(t *testing.T) result {
	t.Helper()
	select {
	case <-p.done:
		return p.res
	case <-time.After(2 * time.Minute):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("flareform %s did not end within 2 minutes\nstdout:\n%s\nstderr:\n%s", strings.Join(p.args, " "), p.res.stdout, p.res.stderr)
		return result{}
	}
}

// kill9 ends the process with SIGKILL, as a crash or power loss would.
func (p *proc) kill9(t *testing.T) result {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGKILL)
	return p.wait(t)
}

// run runs the binary to its end.
func (b *binCLI) run(args ...string) result {
	b.t.Helper()
	return b.start(args...).wait(b.t)
}

// mustRun runs args and fails the test unless the exit code is want.
func (b *binCLI) mustRun(want int, args ...string) result {
	b.t.Helper()
	r := b.run(args...)
	if r.code != want {
		b.t.Fatalf("flareform %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
	}
	return r
}

// initBinProject runs `flareform init` for a text-to-image worker called name in a new
// directory and returns the spec's path.
func initBinProject(t *testing.T, b *binCLI, name string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	b.mustRun(0, "init", dir)
	return filepath.Join(dir, "flareform.yaml")
}

// writeSpec replaces the spec at path with content, as a user editing flareform.yaml would.
func writeSpec(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// imageWorkerYAML is the text-to-image template's worker block (with a smoke test when smoke),
// indented for the `workers:` mapping.
func imageWorkerYAML(key string, smoke bool) string {
	s := fmt.Sprintf(`  %s:
    main: ./src/worker.js
    compatibility_date: "2025-01-01"
    ai:
      model: "@cf/stabilityai/stable-diffusion-xl-base-1.0"
    api_key:
      from: generate
    workers_dev: true
`, key)
	if smoke {
		s += `    smoke:
      prompt: "a lighthouse"
      expect: image/png
`
	}
	return s
}

// keyFileEntries reads a --key-out file: one bare key (for single) or `<worker>=<key>` lines.
func keyFileEntries(t *testing.T, path, single string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read key file: %v", err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if name, key, ok := strings.Cut(line, "="); ok {
			out[name] = key
		} else if line != "" {
			out[single] = line
		}
	}
	return out
}

// scriptNames lists the account's scripts through the API, as any client would.
func scriptNames(t *testing.T, srv *localcf.Server) []string {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet,
		fmt.Sprintf("%s/accounts/%s/workers/scripts", srv.APIBaseURL(), srv.AccountID()), nil)
	req.Header.Set("Authorization", "Bearer "+srv.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		Success bool `json:"success"`
		Result  []struct {
			ID string `json:"id"`
		} `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil || !env.Success {
		t.Fatalf("list scripts: success=%v err=%v", env.Success, err)
	}
	var names []string
	for _, s := range env.Result {
		names = append(names, s.ID)
	}
	return names
}

// handMadeScript uploads a one-module script directly with the API, as another tool would.
func handMadeScript(t *testing.T, srv *localcf.Server, name string) {
	t.Helper()
	var body bytes.Buffer
	boundary := "handmadeboundary"
	fmt.Fprintf(&body, "--%s\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n", boundary)
	fmt.Fprintf(&body, `{"main_module":"worker.js","compatibility_date":"2025-01-01"}`)
	fmt.Fprintf(&body, "\r\n--%s\r\nContent-Disposition: form-data; name=\"worker.js\"; filename=\"worker.js\"\r\nContent-Type: application/javascript+module\r\n\r\n", boundary)
	fmt.Fprintf(&body, `export default { fetch() { return new Response("hand made"); } };`)
	fmt.Fprintf(&body, "\r\n--%s--\r\n", boundary)
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPut,
		fmt.Sprintf("%s/accounts/%s/workers/scripts/%s", srv.APIBaseURL(), srv.AccountID(), name), &body)
	req.Header.Set("Authorization", "Bearer "+srv.Token())
	req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		t.Fatalf("upload hand-made script %s: %d %s", name, resp.StatusCode, b.String())
	}
}

// writesSince counts state-changing API calls after the first n records of srv's log.
func writesSince(srv *localcf.Server, n int) int {
	return countWrites(srv.Requests()[n:])
}

// callsOf lists "METHOD path" of the records, without the account prefix, for failure messages.
func callsOf(records []localcf.RequestRecord) []string {
	var out []string
	for _, r := range records {
		path := r.Path
		if i := strings.Index(path, "/workers/"); i >= 0 {
			path = path[i:]
		}
		out = append(out, r.Method+" "+path)
	}
	return out
}

// lacks reports the first of wants that s lacks ("" when it has them all).
func lacks(s string, wants ...string) string {
	for _, w := range wants {
		if !strings.Contains(s, w) {
			return w
		}
	}
	return ""
}
