package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/flareform/flareform/localcf"
)

// TestTruthfulRotateEnvKeyRefused: a worker whose key comes from env:NAME cannot be rotated by
// rotate-key (the next apply would put the env key back); it refuses, says what to do, and
// writes nothing.
func TestTruthfulRotateEnvKeyRefused(t *testing.T) {
	t.Parallel()
	srv, env := startStandalone(t)
	envKey := strings.Repeat("k", 40)
	b := newBinCLI(t, env).with(map[string]string{"IMAGES_KEY": envKey})
	specPath := initBinProject(t, b, "images")
	editFile(t, specPath, "from: generate", "from: env:IMAGES_KEY")
	b.mustRun(0, "-f", specPath, "apply", "--auto-approve", "--no-smoke")

	before := len(srv.Requests())
	r := b.run("-f", specPath, "rotate-key", "images", "--key-out", filepath.Join(t.TempDir(), "new.key"))
	if r.code != exitError {
		t.Fatalf("rotate-key of an env: key: exit %d, want 1\n%s", r.code, r.stderr)
	}
	if missing := lacks(r.stderr, "env:IMAGES_KEY", "flareform apply"); missing != "" {
		t.Errorf("the refusal lacks the hint %q:\n%s", missing, r.stderr)
	}
	if n := writesSince(srv, before); n != 0 {
		t.Errorf("the refused rotation made %d writes", n)
	}
	if got := postWith(t, srv, "images", envKey); got != http.StatusOK {
		t.Errorf("the env key gets %d after the refused rotation, want 200", got)
	}
}

// TestTruthfulKeyOutForceMerges: --force lets --key-out replace this worker's key, never the
// other workers' keys already in the file.
func TestTruthfulKeyOutForceMerges(t *testing.T) {
	t.Parallel()
	srv, env := startStandalone(t)
	b := newBinCLI(t, env)
	specPath := initBinProject(t, b, "images")
	keyOut := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(keyOut, []byte("a=KEY_A\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b.mustRun(0, "-f", specPath, "apply", "--auto-approve", "--key-out", keyOut, "--force")
	keys := keyFileEntries(t, keyOut, "")
	if keys["a"] != "KEY_A" {
		t.Errorf("--key-out --force lost worker a's key: file now holds workers %v", mapKeys(keys))
	}
	if got := postWith(t, srv, "images", keys["images"]); got != http.StatusOK {
		t.Errorf("the key written for images gets %d, want 200", got)
	}
}

// TestTruthfulRotateRerunAlreadyRotated: repeating a rotate-key that completed does not start
// another rotation (which would cut the old key's window); it says already-rotated, and both
// keys keep working.
func TestTruthfulRotateRerunAlreadyRotated(t *testing.T) {
	t.Parallel()
	srv, env := startStandalone(t)
	b := newBinCLI(t, env)
	specPath := initBinProject(t, b, "images")
	dir := t.TempDir()
	oldKeyFile, newKeyFile := filepath.Join(dir, "old.key"), filepath.Join(dir, "new.key")
	b.mustRun(0, "-f", specPath, "apply", "--auto-approve", "--key-out", oldKeyFile)
	oldKey := readKey(t, oldKeyFile)

	rotate := []string{"-f", specPath, "rotate-key", "images", "--key-out", newKeyFile}
	b.mustRun(0, rotate...)
	newKey := readKey(t, newKeyFile)
	r := b.mustRun(0, rotate...)
	if !strings.Contains(r.stdout+r.stderr, "already-rotated") {
		t.Errorf("the re-run does not report already-rotated:\n%s", r.stderr)
	}
	if got := readKey(t, newKeyFile); got != newKey {
		t.Error("the re-run replaced the handed-over key")
	}
	for name, key := range map[string]string{"old": oldKey, "new": newKey} {
		if got := postWith(t, srv, "images", key); got != http.StatusOK {
			t.Errorf("the %s key gets %d after the re-run, want 200", name, got)
		}
	}
}

// TestTruthfulRotateZeroGraceRefused: --grace 0s would end the old key at once without saying
// so; it is refused before anything is written (--revoke is the way to do that).
func TestTruthfulRotateZeroGraceRefused(t *testing.T) {
	t.Parallel()
	srv, env := startStandalone(t)
	b := newBinCLI(t, env)
	specPath := initBinProject(t, b, "images")
	keyFile := filepath.Join(t.TempDir(), "images.key")
	b.mustRun(0, "-f", specPath, "apply", "--auto-approve", "--no-smoke", "--key-out", keyFile)
	before := len(srv.Requests())
	r := b.run("-f", specPath, "rotate-key", "images", "--grace", "0s")
	if r.code != exitError || !strings.Contains(r.stderr, "--grace") || !strings.Contains(r.stderr, "--revoke") {
		t.Errorf("rotate-key --grace 0s: exit %d, stderr %q; want 1 naming --grace and --revoke", r.code, r.stderr)
	}
	if n := writesSince(srv, before); n != 0 {
		t.Errorf("the refused rotation made %d writes", n)
	}
	if got := postWith(t, srv, "images", readKey(t, keyFile)); got != http.StatusOK {
		t.Errorf("the key gets %d after the refused rotation, want 200", got)
	}
}

// TestTruthfulCtrlC: SIGINT while the upload is in flight lets the upload finish, starts no
// further write, prints what was done and exits 130, never "Apply complete!".
func TestTruthfulCtrlC(t *testing.T) {
	t.Parallel()
	srv, env := startStandalone(t)
	b := newBinCLI(t, env)
	specPath := initBinProject(t, b, "images")
	srv.SetFaults([]localcf.FaultRule{{Path: "*/workers/scripts/images", Method: "PUT", Kind: "latency", LatencyMS: 1500}}, 1)
	p := b.start("-f", specPath, "apply", "--auto-approve")
	if !p.waitStderr("images: uploading") {
		t.Fatalf("apply never started the upload:\n%s", p.wait(t).stderr)
	}
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	r := p.wait(t)
	srv.SetFaults(nil, 1)
	if r.code != exitInterrupted {
		t.Fatalf("apply after Ctrl-C: exit %d, want 130\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout, "Apply complete!") || !strings.Contains(r.stdout, "interrupted") {
		t.Errorf("stdout after Ctrl-C must say interrupted and not complete:\n%s", r.stdout)
	}
	for _, rec := range srv.Requests() {
		if strings.HasSuffix(rec.Path, "/subdomain") && isWrite(rec.Method) {
			t.Errorf("a write started after Ctrl-C: %s %s", rec.Method, rec.Path)
		}
	}
	// The next run finishes the job, and the key the first run deployed (kept in the key store)
	// works.
	b.mustRun(0, "-f", specPath, "apply", "--auto-approve")
	if got := postWith(t, srv, "images", keyInStore(t, specPath, "images")); got != http.StatusOK {
		t.Errorf("the key handed over after the interrupted run gets %d, want 200", got)
	}
}

func mapKeys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
