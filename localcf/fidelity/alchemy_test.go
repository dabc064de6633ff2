package fidelity

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flareform/flareform/internal/jsclients"
	"github.com/flareform/flareform/localcf"
)

// alchemyProject is a throwaway Alchemy project: run.mjs from testdata, the canonical worker,
// and a node_modules link to the pinned clients.
type alchemyProject struct {
	dir  string
	node *jsclients.Node
	env  []string
	name string
}

func newAlchemyProject(t *testing.T, srv *localcf.Server, name string) *alchemyProject {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root := repoRoot(t)
	if _, err := jsclients.FindPackage(root, jsclients.Node22, "alchemy"); err != nil {
		t.Fatal(err)
	}
	// Alchemy 0.94 declares no engines.node but needs Node 22 (cloudflare-resources.md).
	node, err := jsclients.FindNode(ctx, root, ">=22")
	if err != nil {
		t.Fatalf("Alchemy needs Node 22: %v", err)
	}
	dir := t.TempDir()
	script, err := os.ReadFile(filepath.Join("testdata", "alchemy", "run.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(dir, "run.mjs"), script)
	mustWrite(t, filepath.Join(dir, "package.json"), []byte(`{"private":true,"type":"module"}`))
	mustWrite(t, filepath.Join(dir, "src", "worker.js"), canonicalWorker(t))
	if err := os.Symlink(filepath.Join(jsclients.SetDir(root, jsclients.Node22), "node_modules"), filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(dir, ".home")
	env := []string{
		"PATH=" + jsclients.PathWith(node.Path),
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"TMPDIR=" + t.TempDir(),
		"CI=1",
		// The state is a throwaway local file on purpose: the test destroys what it made.
		"ALCHEMY_CI_STATE_STORE_CHECK=false",
		"CLOUDFLARE_BASE_URL=" + srv.APIBaseURL(),
		"CLOUDFLARE_API_TOKEN=" + srv.Token(),
		"CLOUDFLARE_ACCOUNT_ID=" + srv.AccountID(),
		"ALCHEMY_TELEMETRY_DISABLED=1",
		"DO_NOT_TRACK=1",
		"ALCHEMY_PASSWORD=fidelity-state-password",
		"WORKER_NAME=" + name,
		"WORKER_ENTRY=./src/worker.js",
		// Anything not on loopback fails at once instead of waiting on the network.
		"HTTPS_PROXY=http://127.0.0.1:9",
		"HTTP_PROXY=http://127.0.0.1:9",
		"NO_PROXY=localhost,127.0.0.1,::1",
	}
	return &alchemyProject{dir: dir, node: node, env: env, name: name}
}

// run runs one Alchemy phase ("up" or "destroy") with the extra environment and returns the
// worker URL Alchemy reports for "up".
func (p *alchemyProject) run(t *testing.T, phase string, extraEnv ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.node.Path, "run.mjs")
	cmd.Dir = p.dir
	cmd.Env = append(append(append([]string(nil), p.env...), "PHASE="+phase), extraEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("alchemy %s (node %s): %v\n%s\n%s", phase, p.node.Version, err, stdout.String(), stderr.String())
	}
	if phase == "destroy" {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var res struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("alchemy %s: no result line (%v):\n%s\n%s", phase, err, stdout.String(), stderr.String())
	}
	return res.URL
}

// TestAlchemyLifecycle runs Alchemy 0.94 (the npm package, unmodified, on Node 22): deploy with
// an AI binding, re-deploy changed code, re-deploy with a secret, destroy; between them the
// worker answers on workers.dev through workerd.
func TestAlchemyLifecycle(t *testing.T) {
	srv := startServer(t)
	p := newAlchemyProject(t, srv, "alchemy-worker")
	const key = "alchemy-fidelity-key-0123456789abcdef"
	prompt := map[string]any{"prompt": "a lighthouse at dawn", "width": 256, "height": 320}

	url := p.run(t, "up")
	if want := "https://alchemy-worker." + srv.Subdomain() + ".workers.dev"; url != want {
		t.Fatalf("Alchemy reports the worker at %q, want %q", url, want)
	}
	// No API_KEY yet: the canonical worker refuses to serve rather than accept any key.
	expectStatus(t, workersDev(t, srv, p.name, http.MethodPost, key, prompt), http.StatusInternalServerError)

	mustWrite(t, filepath.Join(p.dir, "src", "worker.js"), append(canonicalWorker(t), []byte("\n// second deploy\n")...))
	p.run(t, "up")
	expectStatus(t, workersDev(t, srv, p.name, http.MethodGet, "", nil), http.StatusMethodNotAllowed)

	p.run(t, "up", "WORKER_API_KEY="+key)
	expectPNG(t, workersDev(t, srv, p.name, http.MethodPost, key, prompt), 256, 320)
	expectStatus(t, workersDev(t, srv, p.name, http.MethodPost, "wrong-key", prompt), http.StatusUnauthorized)

	p.run(t, "destroy", "WORKER_API_KEY="+key)
	expectStatus(t, workersDev(t, srv, p.name, http.MethodPost, key, prompt), http.StatusNotFound)

	// Alchemy uploads with Node's FormData (metadata part filename="blob") and reads the
	// script's queue consumers before it deletes: both must have gone through.
	var uploads, deletes int
	for _, r := range srv.Requests() {
		switch {
		case r.Method == http.MethodPut && strings.HasSuffix(r.Path, "/workers/scripts/alchemy-worker") && r.Status == http.StatusOK:
			uploads++
		case r.Method == http.MethodDelete && strings.HasSuffix(r.Path, "/workers/scripts/alchemy-worker") && r.Status == http.StatusOK:
			deletes++
		}
	}
	if uploads != 3 || deletes != 1 {
		t.Fatalf("request log: %d successful uploads and %d deletes, want 3 and 1", uploads, deletes)
	}
}
