package main

import (
	"bufio"
	"context"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flareform/flareform/localcf"
	"github.com/flareform/flareform/provision/keystore"
)

// result is what one in-process flareform invocation did.
type result struct {
	code           int
	stdout, stderr string
}

// cli runs flareform in process with a fixed environment and records every output, so the
// secret-grep tests can search all of it afterwards.
type cli struct {
	t   *testing.T
	env map[string]string
	// transcript holds the stdout and stderr of every run.
	transcript []string
	// stdoutTTY makes stdout look like a terminal.
	stdoutTTY bool
	// printed is what runs printed, for the key-store leak check when the test ends.
	printed *outputLog
	// cache is the test's own user cache directory: XDG_CACHE_HOME when env sets neither it
	// nor HOME, so runs keep bundles and versions in it, never in the real user's cache.
	cache string
}

func newCLI(t *testing.T, env map[string]string) *cli {
	c := &cli{t: t, env: env, printed: &outputLog{}, cache: t.TempDir()}
	tempRoot := filepath.Dir(t.TempDir()) // the parent of every t.TempDir() of this test
	t.Cleanup(func() {
		if !c.stdoutTTY { // on a terminal a generated key is shown once, by design
			c.printed.checkNoStoredKeyPrinted(t, tempRoot)
		}
	})
	return c
}

// getenv is the environment of a run: env (which the test may change between runs), with the
// test's own cache directory as XDG_CACHE_HOME unless env names a cache directory or a HOME.
func (c *cli) getenv(name string) string {
	if v, ok := c.env[name]; ok {
		return v
	}
	if name == "XDG_CACHE_HOME" {
		if _, home := c.env["HOME"]; !home {
			return c.cache
		}
	}
	return ""
}

// run invokes flareform with args; stdin is empty and not a terminal.
func (c *cli) run(args ...string) result {
	c.t.Helper()
	ios, stdout, stderr := TestIOStreams("")
	ios.StdoutTTY = c.stdoutTTY
	code := run(c.t.Context(), ios, args, c.getenv)
	r := result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	c.transcript = append(c.transcript, r.stdout, r.stderr)
	c.printed.add(args, r)
	return r
}

// mustRun runs args and fails the test unless the exit code is want.
func (c *cli) mustRun(want int, args ...string) result {
	c.t.Helper()
	r := c.run(args...)
	if r.code != want {
		c.t.Fatalf("flareform %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
	}
	return r
}

// initProject writes the text-to-image template into a new temp dir and returns the spec path.
func initProject(t *testing.T, c *cli, name string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	c.mustRun(0, "init", dir)
	return filepath.Join(dir, "flareform.yaml")
}

// editFile replaces old with new in path, failing when old is not there.
func editFile(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not contain %q", path, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// lineOf is the 1-based line of the first occurrence of s in path.
func lineOf(t *testing.T, path, s string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, s) {
			return i + 1
		}
	}
	t.Fatalf("%s does not contain %q", path, s)
	return 0
}

// isWrite reports whether an API call changes state.
func isWrite(method string) bool { return method != "GET" && method != "HEAD" }

// countWrites counts state-changing calls in records.
func countWrites(records []localcf.RequestRecord) int {
	n := 0
	for _, r := range records {
		if isWrite(r.Method) {
			n++
		}
	}
	return n
}

// localWrites counts the state-changing calls in the request log that --local keeps next to
// the spec (<dir>/.flareform/local/requests.jsonl), across every command so far.
func localWrites(t *testing.T, specPath string) int {
	t.Helper()
	f, err := os.Open(filepath.Join(filepath.Dir(specPath), ".flareform", "local", "requests.jsonl"))
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var records []localcf.RequestRecord
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec localcf.RequestRecord
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("request log line %q: %v", sc.Text(), err)
		}
		records = append(records, rec)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return countWrites(records)
}

// startStandalone starts a memory-only local Cloudflare for the test and returns it with the
// environment that points flareform at it.
func startStandalone(t *testing.T) (*localcf.Server, map[string]string) {
	t.Helper()
	srv, err := localcf.Start(context.Background(), localcf.Options{})
	if err != nil {
		t.Fatalf("start local Cloudflare (workerd is required; run npm ci in the repository): %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, map[string]string{
		envAPIBaseURL: srv.APIBaseURL(),
		envAPIToken:   srv.Token(),
		envAccountID:  srv.AccountID(),
	}
}

// assertPNGIn checks that dir holds at least one file that image/png decodes.
func assertPNGIn(t *testing.T, dir string) {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(dir, "*.png"))
	if err != nil || len(matches) == 0 {
		entries, _ := os.ReadDir(dir)
		t.Fatalf("no PNG in %s (entries %v, err %v)", dir, entries, err)
	}
	f, err := os.Open(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", matches[0], err)
	}
	if b := img.Bounds(); b.Dx() == 0 || b.Dy() == 0 {
		t.Fatalf("%s is an empty image", matches[0])
	}
}

// planJSON decodes `plan --json` output.
func planJSON(t *testing.T, out string) planDoc {
	t.Helper()
	var p planDoc
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("plan --json output is not JSON: %v\n%s", err, out)
	}
	return p
}

type planDoc struct {
	AccountID string `json:"account_id"`
	Workers   []struct {
		Name    string `json:"name"`
		Action  string `json:"action"`
		Changes []struct {
			Path, Op, Old, New string
		} `json:"changes"`
	} `json:"workers"`
}

// assertSecretsOnlyIn walks roots and fails when any file other than allowed contains one of
// the secrets, and when any transcript contains one.
func assertSecretsOnlyIn(t *testing.T, secrets map[string]string, transcripts []string, allowed string, roots ...string) {
	t.Helper()
	for name, secret := range secrets {
		if secret == "" {
			t.Fatalf("secret %s is empty; the test cannot check for it", name)
		}
		for i, tr := range transcripts {
			if strings.Contains(tr, secret) {
				t.Errorf("the %s appears in command output #%d", name, i)
			}
		}
	}
	for _, root := range roots {
		err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || path == allowed {
				return err
			}
			if isProjectKeyStore(path) {
				// Where keys belong: the project's key store, private to its owner.
				assertPrivate(t, path, 0o600)
				assertPrivate(t, filepath.Dir(path), 0o700)
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for name, secret := range secrets {
				if strings.Contains(string(b), secret) {
					t.Errorf("the %s appears in %s", name, path)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// isProjectKeyStore reports whether path is a project's .flareform/keys.json.
func isProjectKeyStore(path string) bool {
	return filepath.Base(path) == keystore.FileName && filepath.Base(filepath.Dir(path)) == ".flareform"
}

// assertPrivate fails unless path has exactly mode perm.
func assertPrivate(t *testing.T, path string, perm os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != perm {
		t.Errorf("%s has mode %v, want %v", path, got, perm)
	}
}
