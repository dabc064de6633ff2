package fidelity

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flareform/flareform/internal/jsclients"
)

// TestWranglerKVAndR2 runs wrangler 4.86's KV and R2 commands unmodified against the local
// Cloudflare: a namespace and a bucket are created, written, read, listed and deleted with
// the CLI, and a bucket that holds an object is refused until it is emptied.
func TestWranglerKVAndR2(t *testing.T) {
	srv := startServer(t)
	p := newWranglerProject(t, srv, jsclients.Node20, "storage-probe")

	out := p.run(t, "", "kv", "namespace", "create", "wrangler-cache")
	id := regexp.MustCompile(`[0-9a-f]{32}`).FindString(out)
	if id == "" {
		t.Fatalf("kv namespace create printed no id:\n%s", out)
	}
	if out := p.run(t, "", "kv", "namespace", "list"); !strings.Contains(out, id) || !strings.Contains(out, "wrangler-cache") {
		t.Fatalf("kv namespace list:\n%s", out)
	}
	p.run(t, "", "kv", "key", "put", "--remote", "--namespace-id", id, "answers/42", "forty-two", "--metadata", `{"model":"llama"}`)
	if out := p.run(t, "", "kv", "key", "get", "--remote", "--namespace-id", id, "answers/42", "--text"); !strings.HasSuffix(strings.TrimSpace(out), "\nforty-two") {
		t.Fatalf("kv key get: %q", out)
	}
	if out := p.run(t, "", "kv", "key", "list", "--remote", "--namespace-id", id); !strings.Contains(out, `"answers/42"`) || !strings.Contains(out, `"llama"`) {
		t.Fatalf("kv key list:\n%s", out)
	}
	p.run(t, "", "kv", "key", "delete", "--remote", "--namespace-id", id, "answers/42")

	p.run(t, "", "r2", "bucket", "create", "wrangler-images")
	if out := p.run(t, "", "r2", "bucket", "list"); !strings.Contains(out, "wrangler-images") {
		t.Fatalf("r2 bucket list:\n%s", out)
	}
	src := filepath.Join(p.dir, "cat.txt")
	mustWrite(t, src, []byte("a picture of a cat"))
	p.run(t, "", "r2", "object", "put", "--remote", "wrangler-images/cats/1.txt", "--file", src, "--content-type", "text/plain")
	dst := filepath.Join(p.dir, "back.txt")
	p.run(t, "", "r2", "object", "get", "--remote", "wrangler-images/cats/1.txt", "--file", dst)
	if data, err := os.ReadFile(dst); err != nil || string(data) != "a picture of a cat" {
		t.Fatalf("r2 object get: %q, %v", data, err)
	}
	if out := p.runFailing(t, "r2", "bucket", "delete", "wrangler-images"); !strings.Contains(out, "The bucket you tried to delete is not empty") {
		t.Fatalf("r2 bucket delete of a bucket holding an object:\n%s", out)
	}
	p.run(t, "", "r2", "object", "delete", "--remote", "wrangler-images/cats/1.txt")
	p.run(t, "", "r2", "bucket", "delete", "wrangler-images")
	if out := p.run(t, "", "r2", "bucket", "list"); strings.Contains(out, "wrangler-images") {
		t.Fatalf("r2 bucket list after delete:\n%s", out)
	}
	p.run(t, "", "kv", "namespace", "delete", "--namespace-id", id)
}

// runFailing runs wrangler expecting it to fail, and returns its output.
func (p *wranglerProject) runFailing(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin, argv := p.wrangler.Argv(args...)
	cmd := exec.CommandContext(ctx, bin, argv...)
	cmd.Dir = p.dir
	cmd.Env = p.env
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("wrangler %s succeeded, want a failure:\n%s", strings.Join(args, " "), out)
	}
	return string(out)
}
