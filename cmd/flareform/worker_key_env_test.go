package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flareform/flareform/provision/spec"
)

// twoWorkerSpec is a project of two text-to-image workers with generated keys, image-api and
// image-api-hd, whose vars say maxChars (change it to make apply upload both again).
func twoWorkerSpec(maxChars string) string {
	worker := func(name, prompt string) string {
		return `  ` + name + `:
    main: ./src/worker.js
    compatibility_date: "2025-06-01"
    ai:
      binding: AI
      model: "@cf/stabilityai/stable-diffusion-xl-base-1.0"
    api_key:
      binding: API_KEY
      from: generate
    vars:
      MAX_PROMPT_CHARS: "` + maxChars + `"
    workers_dev: true
    smoke:
      body: { prompt: "` + prompt + `", width: 256, height: 256, num_steps: 4 }
      expect: image/
`
	}
	return "project: ci-deploys\naccount_id: ${CLOUDFLARE_ACCOUNT_ID}\nworkers:\n" +
		worker("image-api", "a cute robot cooking breakfast") + worker("image-api-hd", "a lighthouse at dusk")
}

// writeTwoWorkerProject writes twoWorkerSpec and the example's worker code into dir (created),
// and returns the spec's path.
func writeTwoWorkerProject(t *testing.T, dir, maxChars string) string {
	t.Helper()
	copyFollowingLinks(t, "../../examples/text-to-image/src", filepath.Join(dir, "src"))
	path := filepath.Join(dir, "flareform.yaml")
	if err := os.WriteFile(path, []byte(twoWorkerSpec(maxChars)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// copyFollowingLinks copies the tree at src to dst, copying what symbolic links point to (the
// example's src/lib is a link to the templates' shared code).
func copyFollowingLinks(t *testing.T, src, dst string) {
	t.Helper()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		from, to := filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())
		info, err := os.Stat(from)
		if err != nil {
			t.Fatal(err)
		}
		if info.IsDir() {
			copyFollowingLinks(t, from, to)
			continue
		}
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestKeysFromWorkerEnvVars: a fresh copy of a two-worker project (no key store) gets each
// worker's key from FLAREFORM_API_KEY_<WORKER> in apply, smoke, invoke and rotate-key, before
// FLAREFORM_API_KEY; a bad value is refused by the key rule before anything is written, naming
// the variable and never the value; no key is ever printed. Before, only FLAREFORM_API_KEY
// was read: one key for every worker, so the second worker's smoke test had no key and apply
// refused ("no key for image-api-hd").
func TestKeysFromWorkerEnvVars(t *testing.T) {
	t.Parallel()
	srv, env := startStandalone(t)
	c := newCLI(t, env)
	first := writeTwoWorkerProject(t, filepath.Join(t.TempDir(), "first"), "1000")
	c.mustRun(0, "-f", first, "apply", "--auto-approve")
	keys := map[string]string{
		"image-api":    keyInStore(t, first, "image-api"),
		"image-api-hd": keyInStore(t, first, "image-api-hd"),
	}
	if keys["image-api"] == keys["image-api-hd"] {
		t.Fatal("both workers got the same key")
	}

	// The same project, checked out anew with a change: no key store, keys in the environment.
	fresh := writeTwoWorkerProject(t, filepath.Join(t.TempDir(), "fresh"), "800")
	f := []string{"-f", fresh}
	r := c.run(append(f, "apply", "--auto-approve")...)
	if r.code != exitError || lacks(r.stderr, "no key for image-api", "nothing was changed",
		"FLAREFORM_API_KEY_IMAGE_API", "FLAREFORM_API_KEY_IMAGE_API_HD") != "" {
		t.Fatalf("apply without the keys: exit %d, want 1 naming both key variables\n%s", r.code, r.stderr)
	}

	// The per-worker variables come before FLAREFORM_API_KEY: with it set to the first
	// worker's key, the second worker still gets its own.
	c.env[spec.WorkerKeyEnv("image-api")] = keys["image-api"]
	c.env[spec.WorkerKeyEnv("image-api-hd")] = keys["image-api-hd"]
	c.env[envAPIKey] = keys["image-api"]
	r = c.mustRun(0, append(f, "apply", "--auto-approve")...)
	for _, name := range []string{"image-api", "image-api-hd"} {
		if !strings.Contains(r.stdout, "smoke "+name+": passed") {
			t.Errorf("apply did not smoke-test %s:\n%s", name, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "skipped") {
		t.Errorf("apply skipped a smoke check:\n%s", r.stdout)
	}
	for name, key := range keys { // the keys the variables hold still serve: none was replaced
		if got := postWith(t, srv, name, key); got != http.StatusOK {
			t.Errorf("%s's key gets %d after the apply from the fresh copy, want 200", name, got)
		}
	}

	r = c.mustRun(0, append(f, "smoke")...)
	if strings.Count(r.stdout, ": passed") != 2 || strings.Contains(r.stdout, "skipped") {
		t.Errorf("smoke with the keys in the environment:\n%s", r.stdout)
	}
	out := filepath.Join(t.TempDir(), "hd.png")
	c.mustRun(0, append(f, "invoke", "image-api-hd", "--prompt", "a boat", "-o", out)...)
	assertPNGIn(t, filepath.Dir(out))

	// rotate-key finds the key it replaces (kept valid for the grace window) in the variable.
	newKey := filepath.Join(t.TempDir(), "new.key")
	c.mustRun(0, append(f, "rotate-key", "image-api-hd", "--key-out", newKey)...)
	for key, want := range map[string]int{keys["image-api-hd"]: http.StatusOK, readKey(t, newKey): http.StatusOK} {
		if got := postWith(t, srv, "image-api-hd", key); got != want {
			t.Errorf("after the rotation a key gets %d, want %d", got, want)
		}
	}

	// The key rule holds for the variables: refused before any write, the value never shown.
	const short = "short-key-value"
	c.env[spec.WorkerKeyEnv("image-api")] = short
	before := len(srv.Requests())
	editFile(t, fresh, `MAX_PROMPT_CHARS: "800"`, `MAX_PROMPT_CHARS: "700"`)
	for _, args := range [][]string{{"apply", "--auto-approve"}, {"smoke"}, {"invoke", "image-api", "--prompt", "x"}} {
		r = c.run(append(f, args...)...)
		if r.code != exitError || lacks(r.stderr, "FLAREFORM_API_KEY_IMAGE_API", "15 characters") != "" || strings.Contains(r.stdout+r.stderr, short) {
			t.Errorf("%s with a short key in FLAREFORM_API_KEY_IMAGE_API: exit %d, want 1 naming the variable and not the value\n%s%s",
				args[0], r.code, r.stdout, r.stderr)
		}
	}
	shortFile := filepath.Join(t.TempDir(), "short.key")
	if err := os.WriteFile(shortFile, []byte("image-api="+short+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = c.run(append(f, "apply", "--auto-approve", "--key-file", shortFile)...)
	if r.code != exitError || lacks(r.stderr, "--key-file", "the key for image-api", "15 characters") != "" || strings.Contains(r.stderr, short) {
		t.Errorf("apply with a short key in --key-file: exit %d, want 1 naming the file and the worker, not the key\n%s", r.code, r.stderr)
	}
	if n := countWrites(srv.Requests()[before:]); n != 0 {
		t.Errorf("commands refused for a bad key made %d writes", n)
	}

	for _, out := range c.transcript {
		for name, key := range keys {
			if strings.Contains(out, key) {
				t.Fatalf("the key of %s appears in the output", name)
			}
		}
	}
}

// TestKeyLookupHelpIsTheSameEverywhere: apply, smoke, invoke and rotate-key document one order
// for finding a worker's key (invoke's and apply's help used to differ), and it names
// FLAREFORM_API_KEY_<WORKER>.
func TestKeyLookupHelpIsTheSameEverywhere(t *testing.T) {
	c := newCLI(t, map[string]string{})
	want := strings.Join(strings.Fields(keyLookupHelp), " ")
	if !strings.Contains(want, "FLAREFORM_API_KEY_<WORKER>") {
		t.Fatalf("the documented order does not name FLAREFORM_API_KEY_<WORKER>:\n%s", keyLookupHelp)
	}
	for _, cmd := range []string{"apply", "smoke", "invoke", "rotate-key"} {
		r := c.mustRun(0, cmd, "--help")
		if got := strings.Join(strings.Fields(r.stdout), " "); !strings.Contains(got, want) {
			t.Errorf("%s --help lacks the documented key order:\n%s", cmd, r.stdout)
		}
	}
}
