package fidelity

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flareform/flareform/internal/jsclients"
	"github.com/flareform/flareform/internal/wranglerenv"
	"github.com/flareform/flareform/localcf"
)

// wranglerProject is a throwaway wrangler project around the canonical worker.
type wranglerProject struct {
	dir      string
	wrangler *jsclients.Wrangler
	env      []string
	name     string
}

// newWranglerProject sets up the wrangler of set (installed by `make clients`) with a node that
// satisfies its engines.node: wrangler 4.86 on the system Node 20, the newest wrangler on Node 22.
func newWranglerProject(t *testing.T, srv *localcf.Server, set jsclients.Set, name string) *wranglerProject {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w, err := jsclients.FindWrangler(ctx, repoRoot(t), set)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("wrangler %s on node %s", w.Version, w.NodeVersion)
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "src", "index.js"), canonicalWorker(t))
	mustWrite(t, filepath.Join(dir, "wrangler.toml"), []byte(fmt.Sprintf(
		"name = %q\nmain = \"src/index.js\"\ncompatibility_date = \"2025-06-01\"\nworkers_dev = true\n\n[ai]\nbinding = \"AI\"\n", name)))

	env, err := wranglerenv.Offline(dir, w.Version,
		wranglerenv.API{BaseURL: srv.APIBaseURL(), Token: srv.Token(), AccountID: srv.AccountID()})
	if err != nil {
		t.Fatal(err)
	}
	// Whatever wrangler spawns as `node` runs on the same Node as wrangler itself.
	env = append(slices.DeleteFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "PATH=") }),
		"PATH="+jsclients.PathWith(w.Node))
	return &wranglerProject{dir: dir, wrangler: w, env: env, name: name}
}

func (p *wranglerProject) run(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin, argv := p.wrangler.Argv(args...)
	cmd := exec.CommandContext(ctx, bin, argv...)
	cmd.Dir = p.dir
	cmd.Env = p.env
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("wrangler %s %s: %v\n%s", p.wrangler.Version, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

func mustWrite(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestWranglerLifecycle runs the official CLI unmodified, wrangler 4.86 on Node 20: deploy,
// secret put, deploy again, delete; between them the worker answers on workers.dev through
// workerd with local-AI PNGs.
func TestWranglerLifecycle(t *testing.T) {
	wranglerLifecycle(t, jsclients.Node20)
}

// TestWranglerLatestLifecycle is the same lifecycle with the newest wrangler 4.x on Node 22.
func TestWranglerLatestLifecycle(t *testing.T) {
	wranglerLifecycle(t, jsclients.Node22)
}

func wranglerLifecycle(t *testing.T, set jsclients.Set) {
	srv := startServer(t)
	// wrangler deploy sends no keep_bindings for secrets: it relies on implicit retention.
	srv.SetQuirks(localcf.Quirks{ImplicitSecretRetention: true})
	p := newWranglerProject(t, srv, set, "probe-worker")
	const key = "wrangler-fidelity-key-0123456789abcdef"
	prompt := map[string]any{"prompt": "a lighthouse at dawn", "width": 256, "height": 320}

	out := p.run(t, "", "deploy")
	if !strings.Contains(out, "probe-worker."+srv.Subdomain()+".workers.dev") {
		t.Fatalf("deploy output does not show the workers.dev URL:\n%s", out)
	}
	// Deployed and answering through workerd, but no API_KEY secret yet: the worker refuses to
	// serve rather than accept any key.
	expectStatus(t, workersDev(t, srv, p.name, http.MethodPost, key, prompt), http.StatusInternalServerError)
	expectStatus(t, workersDev(t, srv, p.name, http.MethodGet, "", nil), http.StatusMethodNotAllowed)

	p.run(t, key+"\n", "secret", "put", "API_KEY")
	expectPNG(t, workersDev(t, srv, p.name, http.MethodPost, key, prompt), 256, 320)
	expectStatus(t, workersDev(t, srv, p.name, http.MethodPost, "wrong-key", prompt), http.StatusUnauthorized)

	// A repeat deploy goes through versions + deployments and keeps the secret.
	mustWrite(t, filepath.Join(p.dir, "src", "index.js"), append(canonicalWorker(t), []byte("\n// second deploy\n")...))
	p.run(t, "", "deploy")
	expectPNG(t, workersDev(t, srv, p.name, http.MethodPost, key, prompt), 256, 320)

	p.run(t, "", "delete")
	expectStatus(t, workersDev(t, srv, p.name, http.MethodPost, key, prompt), http.StatusNotFound)

	// The request log shows the official client's own calls, including both deploy styles.
	var sawPut, sawVersions, sawDeployments, sawSecret, sawDelete bool
	for _, r := range srv.Requests() {
		switch {
		case r.Method == http.MethodPut && strings.HasSuffix(r.Path, "/workers/scripts/probe-worker"):
			sawPut = true
		case r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/scripts/probe-worker/versions"):
			sawVersions = true
		case r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/scripts/probe-worker/deployments"):
			sawDeployments = true
		case r.Method == http.MethodPut && strings.HasSuffix(r.Path, "/scripts/probe-worker/secrets"):
			sawSecret = true
		case r.Method == http.MethodDelete && strings.HasSuffix(r.Path, "/workers/services/probe-worker"):
			sawDelete = true
		}
	}
	if !sawPut || !sawVersions || !sawDeployments || !sawSecret || !sawDelete {
		t.Fatalf("request log misses wrangler calls: put=%v versions=%v deployments=%v secret=%v delete=%v",
			sawPut, sawVersions, sawDeployments, sawSecret, sawDelete)
	}
}

// TestWranglerSecretPutCreatesDraftWorker covers wrangler's draft-worker path: a secret put on a
// missing worker gets 10007, creates a placeholder worker, and retries.
func TestWranglerSecretPutCreatesDraftWorker(t *testing.T) {
	srv := startServer(t)
	// wrangler deploy sends no keep_bindings for secrets: it relies on implicit retention.
	srv.SetQuirks(localcf.Quirks{ImplicitSecretRetention: true})
	p := newWranglerProject(t, srv, jsclients.Node20, "draft-worker")
	p.run(t, "draft-secret-value\n", "secret", "put", "API_KEY")
	found := false
	for _, r := range srv.Requests() {
		if r.Method == http.MethodPut && strings.HasSuffix(r.Path, "/workers/scripts/draft-worker") {
			found = true
		}
	}
	if !found {
		t.Fatal("wrangler did not create the draft worker through PUT /workers/scripts/draft-worker")
	}
	// The draft exists with the secret; deploying the real worker then serves with that key.
	p.run(t, "", "deploy")
	expectPNG(t, workersDev(t, srv, p.name, http.MethodPost, "draft-secret-value",
		map[string]any{"prompt": "draft", "width": 256, "height": 256}), 256, 256)
}
