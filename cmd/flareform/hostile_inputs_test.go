package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flareform/flareform/internal/keysource"
	"github.com/flareform/flareform/provision/spec"
)

// hostileToken stands in for the user's Cloudflare API token: it must appear in no output.
const hostileToken = "Hx7_kQ2-canaryTOKEN-9f8e7d6c5b4a3921aBcD"

// hostileCase is one hostile input: files it needs, the spec edit, the command and what the
// refusal must say.
type hostileCase struct {
	name  string
	setup func(t *testing.T, dir string) (args []string, env map[string]string)
	want  []string // substrings of stderr; "LINE:<text>" is the spec's file:line of <text>
	// maxDuration bounds the run; a hang fails the case instead of blocking the suite.
	maxDuration time.Duration
}

// TestHostileInputsAreRefused runs every hostile key source, key, spec and output path
// through the CLI against an API that fails the test on any write. Each must be refused
// within the time limit with the rule (and the spec's file:line when the input is in the
// spec), and no key, file content or token may appear in the output.
func TestHostileInputsAreRefused(t *testing.T) {
	apiURL := failOnWriteAPI(t) // any write fails the test

	for _, tc := range hostileCases() {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeHostileProject(t, dir)
			args, extraEnv := tc.setup(t, dir)
			env := hostileEnv(apiURL, extraEnv)
			limit := tc.maxDuration
			if limit == 0 {
				limit = 2 * time.Second
			}
			r := runWithin(t, limit, append([]string{"-f", filepath.Join(dir, "flareform.yaml")}, args...), env)
			if r.code == 0 {
				t.Fatalf("accepted: stdout %q stderr %q", r.stdout, r.stderr)
			}
			for _, want := range tc.want {
				if text, ok := strings.CutPrefix(want, "LINE:"); ok {
					want = fmt.Sprintf("flareform.yaml:%d:", lineOf(t, filepath.Join(dir, "flareform.yaml"), text))
				}
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
				}
			}
			if os.Getenv("SHOW_STDERR") != "" {
				t.Log(r.stderr)
			}
			for _, secret := range append([]string{hostileToken, hostileShortKey}, envValues(extraEnv)...) {
				if strings.Contains(r.stdout+r.stderr, secret) {
					t.Errorf("output shows a secret %q:\n%s%s", secret, r.stdout, r.stderr)
				}
			}
		})
	}
}

// hostileShortKey is a 5-character key: it used to deploy, and its fingerprint gave it away.
const hostileShortKey = "Zq9xW"

func hostileCases() []hostileCase {
	useKeyFrom := func(from string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			editFile(t, filepath.Join(dir, "flareform.yaml"), "from: generate", "from: "+from)
		}
	}
	apply := []string{"apply", "--auto-approve", "--no-smoke"}
	specCase := func(name, from string, prepare func(t *testing.T, dir string), env map[string]string, want ...string) hostileCase {
		return hostileCase{name: name, want: append([]string{"LINE:from: " + from}, want...),
			setup: func(t *testing.T, dir string) ([]string, map[string]string) {
				if prepare != nil {
					prepare(t, dir)
				}
				useKeyFrom(from)(t, dir)
				return apply, env
			}}
	}
	mkfifo := func(t *testing.T, path string) {
		if err := syscall.Mkfifo(path, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write := func(t *testing.T, path, content string) {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const validKey = "valid-key-0123456789abcdef0123456789abcdef"
	return []hostileCase{
		specCase("proc self environ", "file:/proc/self/environ", nil, nil, "under /proc"),
		specCase("symlink into proc", "file:./environ", func(t *testing.T, dir string) {
			if err := os.Symlink("/proc/self/environ", filepath.Join(dir, "environ")); err != nil {
				t.Fatal(err)
			}
		}, nil, "under /proc"),
		specCase("traversal to etc shadow", "file:"+strings.Repeat("../", 20)+"etc/shadow", nil, nil, "/etc/shadow"),
		specCase("traversal to dev zero", "file:"+strings.Repeat("../", 20)+"dev/zero", nil, nil, "under /dev"),
		specCase("dev zero", "file:/dev/zero", nil, nil, "under /dev"),
		specCase("FIFO key file", "file:./key.fifo", func(t *testing.T, dir string) { mkfifo(t, filepath.Join(dir, "key.fifo")) }, nil, "named pipe"),
		specCase("embedded newline", "file:./key.txt", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "key.txt"), validKey[:20]+"\n"+validKey[20:]+"\n")
		}, nil, "more than one line", keysource.Rule),
		specCase("oversized key file", "file:./key.txt", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "key.txt"), strings.Repeat("k", 5<<10))
		}, nil, "larger than 4096 bytes"),
		specCase("five character env key", "env:SHORT_KEY", nil, map[string]string{"SHORT_KEY": hostileShortKey}, "5 characters, fewer than 32", keysource.Rule),
		specCase("five character key file", "file:./key.txt", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "key.txt"), hostileShortKey+"\n")
		}, nil, "5 characters, fewer than 32"),
		{name: "token as worker name", want: []string{"LINE:name: ${CLOUDFLARE_API_TOKEN}", "${CLOUDFLARE_API_TOKEN}"},
			setup: func(t *testing.T, dir string) ([]string, map[string]string) {
				editFile(t, filepath.Join(dir, "flareform.yaml"), "    main:", "    name: ${CLOUDFLARE_API_TOKEN}\n    main:")
				return apply, nil
			}},
		{name: "FIFO main", want: []string{"LINE:main: ./src/worker.fifo", "named pipe"},
			setup: func(t *testing.T, dir string) ([]string, map[string]string) {
				mkfifo(t, filepath.Join(dir, "src", "worker.fifo"))
				editFile(t, filepath.Join(dir, "flareform.yaml"), "main: ./src/worker.js", "main: ./src/worker.fifo")
				return apply, nil
			}},
		{name: "20 MiB spec", want: []string{fmt.Sprintf("larger than %d bytes", spec.MaxSpecBytes)},
			setup: func(t *testing.T, dir string) ([]string, map[string]string) {
				f, err := os.OpenFile(filepath.Join(dir, "flareform.yaml"), os.O_APPEND|os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if _, err := f.WriteString("# " + strings.Repeat("x", 20<<20) + "\n"); err != nil {
					t.Fatal(err)
				}
				return apply, nil
			}},
		{name: "bundle over the size limit", want: []string{"LINE:main: ./src/worker.js", "Worker size limit"},
			// esbuild reads and writes 15 MiB here: a slow machine needs more than 2 s.
			maxDuration: 60 * time.Second,
			setup: func(t *testing.T, dir string) ([]string, map[string]string) {
				// Two modules, each under the 10 MiB a module may hold, over the limit together.
				for _, name := range []string{"blob1.js", "blob2.js"} {
					noise := make([]byte, 4<<20)
					rand.Read(noise)
					write(t, filepath.Join(dir, "src", name), fmt.Sprintf("export const blob = %q;\n", base64.StdEncoding.EncodeToString(noise)))
				}
				write(t, filepath.Join(dir, "src", "worker.js"), "import { blob as a } from \"./blob1.js\";\nimport { blob as b } from \"./blob2.js\";\n"+
					"export default { fetch() { return new Response(a + b); } };\n")
				return apply, nil
			}},
		{name: "rotate-key --key-out /dev/zero", want: []string{"/dev/zero", "not a regular file"},
			setup: func(t *testing.T, dir string) ([]string, map[string]string) {
				return []string{"rotate-key", "images", "--key-out", "/dev/zero"}, nil
			}},
		{name: "apply --key-out FIFO", want: []string{"named pipe"},
			setup: func(t *testing.T, dir string) ([]string, map[string]string) {
				mkfifo(t, filepath.Join(dir, "out.fifo"))
				return append(apply, "--key-out", filepath.Join(dir, "out.fifo"), "--force"), nil
			}},
		{name: "rotate-key --from proc environ", want: []string{"under /proc"},
			setup: func(t *testing.T, dir string) ([]string, map[string]string) {
				return []string{"rotate-key", "images", "--from", "file:/proc/self/environ"}, nil
			}},
		{name: "rotate-key --from short env key", want: []string{"5 characters", keysource.Rule},
			setup: func(t *testing.T, dir string) ([]string, map[string]string) {
				return []string{"rotate-key", "images", "--from", "env:SHORT_KEY"}, map[string]string{"SHORT_KEY": hostileShortKey}
			}},
		{name: "rotate-key --old-key-file FIFO", want: []string{"--old-key-file", "named pipe"},
			setup: func(t *testing.T, dir string) ([]string, map[string]string) {
				mkfifo(t, filepath.Join(dir, "old.fifo"))
				return []string{"rotate-key", "images", "--old-key-file", filepath.Join(dir, "old.fifo")}, nil
			}},
		{name: "smoke --key-file FIFO", want: []string{"--key-file", "named pipe"},
			setup: func(t *testing.T, dir string) ([]string, map[string]string) {
				mkfifo(t, filepath.Join(dir, "keys.fifo"))
				return []string{"smoke", "--key-file", filepath.Join(dir, "keys.fifo")}, nil
			}},
		{name: "short FLAREFORM_API_KEY", want: []string{envAPIKey, "5 characters"},
			setup: func(t *testing.T, dir string) ([]string, map[string]string) {
				return []string{"smoke"}, map[string]string{envAPIKey: hostileShortKey}
			}},
	}
}

// writeHostileProject writes the text-to-image project (worker key "images") into dir.
func writeHostileProject(t *testing.T, dir string) {
	t.Helper()
	c := newCLI(t, map[string]string{})
	src := filepath.Join(dir, "src-project")
	c.mustRun(0, "init", src, "--name", "images")
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.Rename(filepath.Join(src, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
}

// runWithin runs the CLI in a goroutine and fails the test if it takes longer than limit.
func runWithin(t *testing.T, limit time.Duration, args []string, env map[string]string) result {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan result, 1)
	go func() {
		ios, stdout, stderr := TestIOStreams("")
		code := run(ctx, ios, args, func(name string) string { return env[name] })
		done <- result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	}()
	select {
	case r := <-done:
		return r
	case <-time.After(limit):
		t.Fatalf("flareform %s did not finish within %s", strings.Join(args, " "), limit)
		return result{}
	}
}

// hostileEnv is the environment of a hostile run: the canary token, an account, the API at
// apiURL, plus the case's own variables.
func hostileEnv(apiURL string, extra map[string]string) map[string]string {
	env := map[string]string{
		envAPIToken:   hostileToken,
		envAccountID:  "0123456789abcdef0123456789abcdef",
		envAPIBaseURL: apiURL,
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

func envValues(env map[string]string) []string {
	var out []string
	for _, v := range env {
		out = append(out, v)
	}
	return out
}

// TestKeyOutRefusesNonRegularTargetsEvenWhenForced: --force replaces an old key file, never a
// device or symlink.
func TestKeyOutRefusesNonRegularTargetsEvenWhenForced(t *testing.T) {
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink("/dev/zero", link); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/dev/zero", "/dev/null", link, t.TempDir()} {
		if _, err := prepareKeyOut(path, true, []string{"w"}, []string{"w"}); err == nil {
			t.Errorf("prepareKeyOut(%s, force) accepted it", path)
		}
	}
}
