package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// hostileBundleCanary stands in for a CI secret in the environment flareform runs with: a
// worker that imports /proc/self/environ would have shipped it.
const hostileBundleCanary = "CANARY-ci-secret-5b8e21d9f0c34a67"

// hostileBundleOutside is the content of a file outside the project.
const hostileBundleOutside = "OUTSIDE-project-secret-8c2f7a"

// hostileBundleCase is a worker whose code imports a file flareform must not read.
type hostileBundleCase struct {
	name string
	// setup makes the hostile files for the project in dir and returns the import specifier
	// src/worker.js gets (outside is a folder outside the project, holding secret.txt).
	setup func(t *testing.T, dir, outside string) string
	want  string // the rule, in stderr
}

func hostileBundleCases() []hostileBundleCase {
	mkfifo := func(t *testing.T, path string) {
		if err := syscall.Mkfifo(path, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	symlink := func(t *testing.T, target, path string) {
		if err := os.Symlink(target, path); err != nil {
			t.Fatal(err)
		}
	}
	return []hostileBundleCase{
		{name: "proc self environ", want: "under /proc",
			setup: func(*testing.T, string, string) string { return "/proc/self/environ" }},
		{name: "file outside the project", want: "lies outside the project",
			setup: func(t *testing.T, dir, outside string) string {
				rel, err := filepath.Rel(filepath.Join(dir, "src"), filepath.Join(outside, "secret.txt"))
				if err != nil {
					t.Fatal(err)
				}
				return "./" + filepath.ToSlash(rel)
			}},
		{name: "symlink out of the project", want: "lies outside the project",
			setup: func(t *testing.T, dir, outside string) string {
				symlink(t, filepath.Join(outside, "secret.txt"), filepath.Join(dir, "src", "lib", "data.txt"))
				return "./lib/data.txt"
			}},
		{name: "dev zero", want: "under /dev",
			setup: func(*testing.T, string, string) string { return "/dev/zero" }},
		{name: "symlink to dev zero", want: "under /dev",
			setup: func(t *testing.T, dir, _ string) string {
				symlink(t, "/dev/zero", filepath.Join(dir, "src", "zero.txt"))
				return "./zero.txt"
			}},
		{name: "FIFO", want: "named pipe",
			setup: func(t *testing.T, dir, _ string) string {
				mkfifo(t, filepath.Join(dir, "src", "pipe.txt"))
				return "./pipe.txt"
			}},
		{name: "FIFO package.json", want: "named pipe",
			setup: func(t *testing.T, dir, _ string) string {
				pkg := filepath.Join(dir, "node_modules", "evil")
				if err := os.MkdirAll(pkg, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(pkg, "index.js"), []byte("export default 1;\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				mkfifo(t, filepath.Join(pkg, "package.json"))
				return "evil"
			}},
	}
}

// TestHostileBundleInputsAreRefused runs validate and apply on projects whose worker imports a
// file flareform must not read (its own environment, a file outside the project, a device, a
// FIFO). Each must exit 1 within seconds with the rule at the spec's main line, before any API
// write, and show no secret and no file content.
func TestHostileBundleInputsAreRefused(t *testing.T) {
	var (
		mu     sync.Mutex
		writes []string
		bodies []string
	)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(body))
		if isWrite(r.Method) {
			writes = append(writes, r.Method+" "+r.URL.Path)
		}
		mu.Unlock()
		http.Error(w, `{"success":false,"errors":[{"code":10000,"message":"test server"}]}`, http.StatusForbidden)
	}))
	defer api.Close()

	for _, tc := range hostileBundleCases() {
		for _, args := range [][]string{{"validate"}, {"apply", "--auto-approve", "--no-smoke"}} {
			t.Run(tc.name+"/"+args[0], func(t *testing.T) {
				dir, outside := t.TempDir(), t.TempDir()
				writeHostileProject(t, dir)
				if err := os.WriteFile(filepath.Join(outside, "secret.txt"), []byte(hostileBundleOutside+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				spec := tc.setup(t, dir, outside)
				worker := filepath.Join(dir, "src", "worker.js")
				editFile(t, worker, `import { guard } from "./lib/auth.js";`,
					fmt.Sprintf("import { guard } from \"./lib/auth.js\";\nimport hostile from %q with { type: \"text\" };\nglobalThis.hostile = hostile;", spec))
				env := map[string]string{
					envAPIToken:           hostileToken,
					envAccountID:          "0123456789abcdef0123456789abcdef",
					envAPIBaseURL:         api.URL,
					"FLAREFORM_CI_SECRET": hostileBundleCanary,
				}
				specPath := filepath.Join(dir, "flareform.yaml")
				r := runWithin(t, 10*time.Second, append([]string{"-f", specPath}, args...), env)
				if r.code != 1 {
					t.Fatalf("exit %d, want 1: stdout %q stderr %q", r.code, r.stdout, r.stderr)
				}
				for _, want := range []string{
					fmt.Sprintf("flareform.yaml:%d:", lineOf(t, specPath, "main: ./src/worker.js")),
					"bundle failed",
					"src/worker.js:",
					tc.want,
				} {
					if !strings.Contains(r.stderr, want) {
						t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
					}
				}
				if os.Getenv("SHOW_STDERR") != "" {
					t.Log(r.stderr)
				}
				for _, secret := range []string{hostileToken, hostileBundleCanary, hostileBundleOutside} {
					if strings.Contains(r.stdout+r.stderr, secret) {
						t.Errorf("output shows %q:\n%s%s", secret, r.stdout, r.stderr)
					}
				}
			})
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(writes) > 0 {
		t.Errorf("API writes: %v", writes)
	}
	for _, b := range bodies {
		if strings.Contains(b, hostileBundleCanary) || strings.Contains(b, hostileBundleOutside) {
			t.Errorf("a request carried a secret: %.200s", b)
		}
	}
}
