package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flareform/flareform/internal/confined"
)

// hostileFileCase is one file the CLI is pointed at, or one spec that does not load, that it
// must refuse: within the time limit, with exit 1, the path, the rule and the fix, no file
// content, no secret, and without creating anything in the project (or in watched folders).
type hostileFileCase struct {
	name string
	// setup makes the hostile files in dir (a text-to-image project, worker "images") and
	// returns the arguments and any other folders whose listing must not change either.
	setup func(t *testing.T, dir string) (args, watch []string)
	// want are substrings of stderr; DIR stands for the project folder.
	want []string
	// hidden are strings of the hostile files that must not appear in the output.
	hidden []string
	limit  time.Duration
}

// TestHostileFilesAreRefusedBeforeAnyWrite runs every hostile saved plan, wrangler config,
// request body and spec through the CLI against an API that fails the test on any write.
func TestHostileFilesAreRefusedBeforeAnyWrite(t *testing.T) {
	runHostileFileCases(t, hostileFileCases())
}

// TestHostileSavedPlanSpecFiles: a hand-edited saved plan's spec_file must be the spec the plan
// was made from before apply writes anything, not even the project lock next to it.
func TestHostileSavedPlanSpecFiles(t *testing.T) {
	runHostileFileCases(t, savedPlanSpecCases())
}

// TestHostileSpecsWriteNothing: a command whose spec does not load creates no .flareform
// folder, lock or local Cloudflare state, with --local or without.
func TestHostileSpecsWriteNothing(t *testing.T) {
	runHostileFileCases(t, unloadableSpecCases())
}

func runHostileFileCases(t *testing.T, cases []hostileFileCase) {
	watchMemory()
	env := map[string]string{
		envAPIToken:   hostileToken,
		envAccountID:  "0123456789abcdef0123456789abcdef",
		envAPIBaseURL: failOnWriteAPI(t),
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeHostileProject(t, dir)
			args, watch := tc.setup(t, dir)
			roots := append([]string{dir}, watch...)
			before := listTree(t, roots...)
			limit := tc.limit
			if limit == 0 {
				limit = 5 * time.Second
			}
			r := runWithin(t, limit, args, env)
			if r.code != exitError {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, exitError, r.stdout, r.stderr)
			}
			for _, want := range tc.want {
				want = strings.ReplaceAll(want, "DIR", dir)
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
				}
			}
			assertCleanRefusal(t, r, tc.hidden)
			assertSameTree(t, before, listTree(t, roots...))
			if os.Getenv("SHOW_STDERR") != "" {
				t.Log(r.stderr)
			}
		})
	}
}

// assertCleanRefusal: no Go stack or formatting slip, and no token or file content.
func assertCleanRefusal(t *testing.T, r result, hidden []string) {
	t.Helper()
	out := r.stdout + r.stderr
	for _, bad := range []string{"goroutine ", "panic:", "%!"} {
		if strings.Contains(out, bad) {
			t.Errorf("output holds %q:\n%s", bad, out)
		}
	}
	for _, secret := range append([]string{hostileToken}, hidden...) {
		if strings.Contains(out, secret) {
			t.Errorf("output shows %q:\n%s", secret, out)
		}
	}
}

func hostileFileCases() []hostileFileCase {
	projectSpec := func(dir string) string { return filepath.Join(dir, "flareform.yaml") }
	invoke := func(dir, data string) []string {
		return []string{"-f", projectSpec(dir), "invoke", "images", "--data", data}
	}
	wrangler := func(t *testing.T, dir string) string { // a folder holding a valid wrangler project
		t.Helper()
		w := filepath.Join(dir, "wrangler")
		makeDirs(t, filepath.Join(w, "src"))
		writeTestFile(t, filepath.Join(w, "src", "index.js"), "export default { fetch() { return new Response('ok'); } };\n")
		writeTestFile(t, filepath.Join(w, "wrangler.toml"), "name = \"shop\"\nmain = \"src/index.js\"\ncompatibility_date = \"2025-06-01\"\n")
		return w
	}
	planFix := confined.SavedPlan.Fix
	wranglerFix := confined.WranglerConfig.Fix
	bodyFix := confined.RequestBody.Fix
	return []hostileFileCase{
		// Saved plans: `apply FILE` reads FILE first.
		{name: "apply /dev/zero", want: []string{"/dev/zero", "under /dev", planFix},
			setup: func(t *testing.T, dir string) ([]string, []string) { return []string{"apply", "/dev/zero"}, nil }},
		{name: "apply a link to /dev/zero", want: []string{"DIR/release.plan", "under /dev", planFix},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				makeLink(t, "/dev/zero", filepath.Join(dir, "release.plan"))
				return []string{"apply", filepath.Join(dir, "release.plan")}, nil
			}},
		{name: "apply a FIFO", want: []string{"DIR/release.plan", "named pipe", planFix},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				makeFIFO(t, filepath.Join(dir, "release.plan"))
				return []string{"apply", filepath.Join(dir, "release.plan")}, nil
			}},
		{name: "apply a 17 MiB plan", want: []string{"DIR/release.plan", "larger than 16777216 bytes", planFix},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				makeSparseFile(t, filepath.Join(dir, "release.plan"), 17<<20)
				return []string{"apply", filepath.Join(dir, "release.plan")}, nil
			}},
		{name: "apply a key file as plan", want: []string{"DIR/release.plan", "is not a saved plan", "line 1, column 1", "plan --out"},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				writeTestFile(t, filepath.Join(dir, "release.plan"), hostileToken+"\n")
				return []string{"apply", filepath.Join(dir, "release.plan")}, nil
			}},

		// import reads a wrangler config and writes a spec.
		{name: "import a FIFO wrangler.toml", want: []string{"DIR/wrangler/wrangler.toml", "named pipe", wranglerFix},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				w := wrangler(t, dir)
				os.Remove(filepath.Join(w, "wrangler.toml"))
				makeFIFO(t, filepath.Join(w, "wrangler.toml"))
				return []string{"import", filepath.Join(w, "wrangler.toml")}, nil
			}},
		{name: "import a wrangler.toml linked to /dev/zero", want: []string{"DIR/wrangler/wrangler.toml", "under /dev", wranglerFix},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				w := wrangler(t, dir)
				os.Remove(filepath.Join(w, "wrangler.toml"))
				makeLink(t, "/dev/zero", filepath.Join(w, "wrangler.toml"))
				return []string{"import", filepath.Join(w, "wrangler.toml")}, nil
			}},
		{name: "import a wrangler.toml linked to /proc/self/environ", want: []string{"DIR/wrangler/wrangler.toml", "under /proc", wranglerFix},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				w := wrangler(t, dir)
				os.Remove(filepath.Join(w, "wrangler.toml"))
				makeLink(t, "/proc/self/environ", filepath.Join(w, "wrangler.toml"))
				return []string{"import", filepath.Join(w, "wrangler.toml")}, nil
			}},
		{name: "import an env file named wrangler.toml", want: []string{"DIR/wrangler/wrangler.toml:1:22:", "not valid TOML", "fix the file"},
			hidden: []string{"CLOUDFLARE_API_TOKEN", "/usr/local/bin"},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				w := wrangler(t, dir)
				writeTestFile(t, filepath.Join(w, "wrangler.toml"), "CLOUDFLARE_API_TOKEN="+hostileToken+"\nPATH=/usr/local/bin\n")
				return []string{"import", filepath.Join(w, "wrangler.toml")}, nil
			}},
		{name: "import a TOML whose duplicate key is a token", want: []string{"DIR/wrangler/wrangler.toml:2:", "already been defined"},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				w := wrangler(t, dir)
				writeTestFile(t, filepath.Join(w, "wrangler.toml"), hostileToken+" = 1\n"+hostileToken+" = 2\n")
				return []string{"import", filepath.Join(w, "wrangler.toml")}, nil
			}},
		{name: "import a JSON holding a token", want: []string{"DIR/wrangler/wrangler.json:2:12:", "not valid JSON"},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				w := wrangler(t, dir)
				writeTestFile(t, filepath.Join(w, "wrangler.json"), "{\n  \"token\": "+hostileToken+"\n}\n")
				return []string{"import", filepath.Join(w, "wrangler.json")}, nil
			}},
		{name: "import --force over a linked spec", want: []string{"DIR/wrangler/flareform.yaml", "symbolic link", "-f another path"},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				w := wrangler(t, dir)
				victim := t.TempDir()
				writeTestFile(t, filepath.Join(victim, "precious.yaml"), "keep: me\n")
				makeLink(t, filepath.Join(victim, "precious.yaml"), filepath.Join(w, "flareform.yaml"))
				return []string{"import", filepath.Join(w, "wrangler.toml"), "--force"}, []string{victim}
			}},
		{name: "import over a linked spec", want: []string{"DIR/wrangler/flareform.yaml", "symbolic link", "also with --force"},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				w := wrangler(t, dir)
				victim := t.TempDir()
				makeLink(t, filepath.Join(victim, "new.yaml"), filepath.Join(w, "flareform.yaml")) // dangling
				return []string{"import", filepath.Join(w, "wrangler.toml")}, []string{victim}
			}},
		{name: "import --force over a FIFO spec", want: []string{"DIR/wrangler/flareform.yaml", "named pipe"},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				w := wrangler(t, dir)
				makeFIFO(t, filepath.Join(w, "flareform.yaml"))
				return []string{"import", filepath.Join(w, "wrangler.toml"), "--force"}, nil
			}},
		{name: "import -f /dev/null --force", want: []string{"/dev/null", "a device"},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				w := wrangler(t, dir)
				return []string{"import", filepath.Join(w, "wrangler.toml"), "-f", "/dev/null", "--force"}, nil
			}},

		// invoke --data @FILE: any regular file, nothing else.
		{name: "invoke --data @/dev/zero", want: []string{"--data", "/dev/zero", "under /dev", bodyFix},
			setup: func(t *testing.T, dir string) ([]string, []string) { return invoke(dir, "@/dev/zero"), nil }},
		{name: "invoke --data @FIFO", want: []string{"--data", "DIR/body.json", "named pipe", bodyFix},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				makeFIFO(t, filepath.Join(dir, "body.json"))
				return invoke(dir, "@"+filepath.Join(dir, "body.json")), nil
			}},
		{name: "invoke --data @link to /dev/zero", want: []string{"--data", "DIR/body.json", "under /dev", bodyFix},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				makeLink(t, "/dev/zero", filepath.Join(dir, "body.json"))
				return invoke(dir, "@"+filepath.Join(dir, "body.json")), nil
			}},
		{name: "invoke --data @/proc/self/environ", want: []string{"--data", "/proc/self/environ", "under /proc", bodyFix},
			setup: func(t *testing.T, dir string) ([]string, []string) { return invoke(dir, "@/proc/self/environ"), nil }},
		{name: "invoke --data @33 MiB", want: []string{"--data", "DIR/body.json", "larger than 33554432 bytes", bodyFix},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				makeSparseFile(t, filepath.Join(dir, "body.json"), 33<<20)
				return invoke(dir, "@"+filepath.Join(dir, "body.json")), nil
			}},

		// plan --out: never a link, device or pipe.
		{name: "plan --out a link", want: []string{"--out", "DIR/release.plan", "symbolic link"},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				writeTestFile(t, filepath.Join(dir, "target"), "keep\n")
				makeLink(t, filepath.Join(dir, "target"), filepath.Join(dir, "release.plan"))
				return []string{"-f", projectSpec(dir), "plan", "--out", filepath.Join(dir, "release.plan")}, nil
			}},

		// invoke -o: the answer is never written into a FIFO or device.
		{name: "invoke -o FIFO", want: []string{"-o", "DIR/answer.png", "named pipe"},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				makeFIFO(t, filepath.Join(dir, "answer.png"))
				return []string{"-f", projectSpec(dir), "invoke", "images", "--prompt", "a boat", "-o", filepath.Join(dir, "answer.png")}, nil
			}},

		// flareform local -f: the project's state goes next to a spec that is there.
		{name: "local -f a missing spec", want: []string{"--file", "DIR/empty/flareform.yaml", "does not exist"},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				makeDirs(t, filepath.Join(dir, "empty"))
				return []string{"-f", filepath.Join(dir, "empty", "flareform.yaml"), "local"}, nil
			}},

		// A key source whose links loop used to print "%!w(<nil>)".
		{name: "key file links loop", want: []string{"loop"},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				makeLink(t, "loop2", filepath.Join(dir, "loop"))
				makeLink(t, "loop", filepath.Join(dir, "loop2"))
				editFile(t, projectSpec(dir), "from: generate", "from: file:./loop")
				return []string{"-f", projectSpec(dir), "apply", "--auto-approve", "--no-smoke"}, nil
			}},
	}
}

// savedPlanJSON is a saved plan as `plan --out` writes it, naming specFile and digest.
func savedPlanJSON(specFile, digest string) string {
	return fmt.Sprintf(`{"version": 1, "spec_file": %q, "spec_digest": %q,
  "read": {"account_id": "0123456789abcdef0123456789abcdef", "workers_dev_subdomain": "", "workers": [], "resources": []},
  "plan": {"account_id": "0123456789abcdef0123456789abcdef", "destroy": false, "workers": []}}
`, specFile, digest)
}

func sha256Of(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func savedPlanSpecCases() []hostileFileCase {
	const again = "run flareform plan --out again"
	// plan writes the saved plan into the project and returns apply's arguments; no -f, so
	// the plan alone says which spec apply uses.
	plan := func(t *testing.T, dir, specFile, digest string) []string {
		path := filepath.Join(dir, "release.plan")
		writeTestFile(t, path, savedPlanJSON(specFile, digest))
		return []string{"apply", path}
	}
	return []hostileFileCase{
		{name: "relative spec_file", want: []string{"DIR/release.plan", "not an absolute path", again},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				return plan(t, dir, "flareform.yaml", sha256Of(t, filepath.Join(dir, "flareform.yaml"))), nil
			}},
		{name: "spec_file in a folder without a spec", want: []string{"/flareform.yaml", "does not exist", again},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				victim := t.TempDir()
				return plan(t, dir, filepath.Join(victim, "flareform.yaml"), sha256Of(t, filepath.Join(dir, "flareform.yaml"))), []string{victim}
			}},
		{name: "spec_file of another project", want: []string{"the plan is stale", "spec_digest", again},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				victim := t.TempDir()
				writeHostileProject(t, victim)
				editFile(t, filepath.Join(victim, "flareform.yaml"), "workers:", "# another project\nworkers:")
				return plan(t, dir, filepath.Join(victim, "flareform.yaml"), sha256Of(t, filepath.Join(dir, "flareform.yaml"))), []string{victim}
			}},
		{name: "spec_file /dev/zero", want: []string{"/dev/zero", "under /dev", again},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				return plan(t, dir, "/dev/zero", sha256Of(t, filepath.Join(dir, "flareform.yaml"))), nil
			}},
		{name: "spec_file a FIFO", want: []string{"/flareform.yaml", "named pipe", again},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				victim := t.TempDir()
				makeFIFO(t, filepath.Join(victim, "flareform.yaml"))
				return plan(t, dir, filepath.Join(victim, "flareform.yaml"), sha256Of(t, filepath.Join(dir, "flareform.yaml"))), []string{victim}
			}},
		{name: "spec_file that does not load", want: []string{"does not load", again, "/flareform.yaml:"},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				victim := t.TempDir()
				writeTestFile(t, filepath.Join(victim, "flareform.yaml"), "workers:\n  images:\n    main: [\n")
				return plan(t, dir, filepath.Join(victim, "flareform.yaml"), sha256Of(t, filepath.Join(victim, "flareform.yaml"))), []string{victim}
			}},
		{name: "spec_digest not a digest", want: []string{"DIR/release.plan", "spec_digest is not a SHA-256", again},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				return plan(t, dir, filepath.Join(dir, "flareform.yaml"), "abc"), nil
			}},
	}
}

func unloadableSpecCases() []hostileFileCase {
	commands := map[string][]string{
		"apply":          {"apply", "--auto-approve", "--no-smoke"},
		"destroy":        {"destroy", "--auto-approve"},
		"rotate-key":     {"rotate-key", "images"},
		"plan":           {"plan"},
		"plan --out":     {"plan", "--out", "OUT"},
		"smoke":          {"smoke"},
		"output":         {"output"},
		"invoke":         {"invoke", "images", "--prompt", "a boat"},
		"apply --target": {"apply", "--auto-approve", "--target", "images"},
	}
	// Without --local only the commands that lock the project could write before the spec
	// loads; with --local every command starts the local Cloudflare, which writes its state.
	locking := []string{"apply", "destroy", "rotate-key"}
	specs := []struct {
		name, folder, content string
		want                  []string
	}{
		{"missing spec", "empty", "", []string{"DIR/empty/flareform.yaml", "does not exist", "--file"}},
		{"broken spec", "broken", "workers:\n  images:\n    main: [\n", []string{"DIR/broken/flareform.yaml:"}},
	}
	var cases []hostileFileCase
	for _, sp := range specs {
		for _, name := range slices.Sorted(maps.Keys(commands)) {
			for _, local := range []bool{false, true} {
				if !local && !slices.Contains(locking, name) {
					continue
				}
				label := sp.name + ": " + name
				if local {
					label += " --local"
				}
				cases = append(cases, hostileFileCase{name: label, want: sp.want,
					setup: func(t *testing.T, dir string) ([]string, []string) {
						folder := filepath.Join(dir, sp.folder)
						makeDirs(t, folder)
						if sp.content != "" {
							writeTestFile(t, filepath.Join(folder, "flareform.yaml"), sp.content)
						}
						args := []string{"-f", filepath.Join(folder, "flareform.yaml")}
						if local {
							args = append(args, "--local")
						}
						for _, a := range commands[name] {
							args = append(args, strings.ReplaceAll(a, "OUT", filepath.Join(folder, "release.plan")))
						}
						return args, nil
					}})
			}
		}
	}
	return cases
}

// TestPlanOutIsNotWrittenWhenThePlanFails: plan --out writes its file only for a plan that
// was made; a failed read of the account leaves nothing behind, not even a temporary file.
func TestPlanOutIsNotWrittenWhenThePlanFails(t *testing.T) {
	env := map[string]string{envAPIToken: hostileToken, envAccountID: "0123456789abcdef0123456789abcdef", envAPIBaseURL: failOnWriteAPI(t)}
	dir := t.TempDir()
	writeHostileProject(t, dir)
	before := listTree(t, dir)
	out := filepath.Join(dir, "release.plan")
	r := runWithin(t, 30*time.Second, []string{"-f", filepath.Join(dir, "flareform.yaml"), "plan", "--out", out}, env)
	if r.code != exitError {
		t.Fatalf("exit %d, want %d\n%s", r.code, exitError, r.stderr)
	}
	assertCleanRefusal(t, r, nil)
	assertSameTree(t, before, listTree(t, dir))
}

// TestCompletionReadsTheSpecConfined: completing --env reads the spec on every <TAB>; a FIFO
// or /dev/zero as -f must not hang the shell or exhaust memory.
func TestCompletionReadsTheSpecConfined(t *testing.T) {
	watchMemory()
	dir := t.TempDir()
	good := filepath.Join(dir, "flareform.yaml")
	writeTestFile(t, good, "workers: {}\nenvironments:\n  staging: {}\n  production: {}\n")
	fifo := filepath.Join(dir, "fifo.yaml")
	makeFIFO(t, fifo)
	zero := filepath.Join(dir, "zero.yaml")
	makeLink(t, "/dev/zero", zero)
	for path, want := range map[string][]string{good: {"production", "staging"}, fifo: nil, zero: nil, "/dev/zero": nil} {
		done := make(chan []string, 1)
		go func() { done <- specEnvironments(&rootOptions{File: path}) }()
		select {
		case got := <-done:
			if !slices.Equal(got, want) {
				t.Errorf("specEnvironments(%s) = %v, want %v", path, got, want)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("specEnvironments(%s) did not return within 2s", path)
		}
	}
}

// TestRunningLocalReadsItsServerFileConfined: a FIFO or a link to /dev/zero in place of
// .flareform/local-server.json must not hang or exhaust a --local command.
func TestRunningLocalReadsItsServerFileConfined(t *testing.T) {
	watchMemory()
	for name, plant := range map[string]func(t *testing.T, path string){
		"FIFO":              makeFIFO,
		"link to /dev/zero": func(t *testing.T, path string) { makeLink(t, "/dev/zero", path) },
		// Another project's server, which answers: a link out of the project is not followed.
		"link out of the project": func(t *testing.T, path string) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte(`{"api_base_url": "http://127.0.0.1:1/client/v4"}`))
			}))
			t.Cleanup(srv.Close)
			outside := filepath.Join(t.TempDir(), "server.json")
			writeTestFile(t, outside, fmt.Sprintf(`{"api_base_url": %q, "api_token": "other-project-token"}`, srv.URL+"/client/v4"))
			makeLink(t, outside, path)
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeTestFile(t, filepath.Join(dir, "flareform.yaml"), "workers: {}\n")
			makeDirs(t, filepath.Join(dir, ".flareform"))
			plant(t, filepath.Join(dir, ".flareform", localServerFile))
			opts := &rootOptions{File: filepath.Join(dir, "flareform.yaml"), Getenv: func(string) string { return "" }}
			done := make(chan bool, 1)
			go func() {
				_, up := opts.runningLocal(t.Context())
				done <- up
			}()
			select {
			case up := <-done:
				if up {
					t.Errorf("runningLocal found a server")
				}
			case <-time.After(2 * time.Second):
				t.Fatal("runningLocal did not return within 2s")
			}
		})
	}
}

// TestImportReportsSecretLookingVars: vars whose names say they are secrets become secrets read
// from the environment variable of their name, each reported with what to export; their
// values appear neither in the output nor in the spec.
func TestImportReportsSecretLookingVars(t *testing.T) {
	const stripeKey = "sk_live_0123456789abcdefghijklmn"
	dir := t.TempDir()
	makeDirs(t, filepath.Join(dir, "src"))
	writeTestFile(t, filepath.Join(dir, "src", "index.js"), "export default { fetch() { return new Response('ok'); } };\n")
	toml := "name = \"shop\"\nmain = \"src/index.js\"\ncompatibility_date = \"2025-06-01\"\n\n[vars]\nSTYLE = \"plain\"\nSTRIPE_KEY = \"" + stripeKey +
		"\"\nAPI_TOKEN = \"" + hostileToken + "\"\n"
	writeTestFile(t, filepath.Join(dir, "wrangler.toml"), toml)

	r := runWithin(t, 10*time.Second, []string{"import", filepath.Join(dir, "wrangler.toml")}, map[string]string{})
	if r.code != exitOK {
		t.Fatalf("import: exit %d\n%s", r.code, r.stderr)
	}
	for _, name := range []string{"API_TOKEN", "STRIPE_KEY"} {
		if !strings.Contains(r.stdout, "vars."+name+": its name says it is a secret") || !strings.Contains(r.stdout, "export "+name+"=<its value>") {
			t.Errorf("import output does not say %s became a secret to export:\n%s", name, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "vars.STYLE") {
		t.Errorf("STYLE reported as a secret:\n%s", r.stdout)
	}
	assertCleanRefusal(t, r, []string{stripeKey})
	spec, err := os.ReadFile(filepath.Join(dir, "flareform.yaml"))
	if err != nil || strings.Contains(string(spec), stripeKey) || strings.Contains(string(spec), hostileToken) ||
		!strings.Contains(string(spec), `STRIPE_KEY: "env:STRIPE_KEY"`) {
		t.Errorf("the secret is not carried over as env:STRIPE_KEY, or its value is in the spec: %v\n%s", err, spec)
	}
}

// failOnWriteAPI is a Cloudflare API that fails the test on any write and refuses every read.
func failOnWriteAPI(t *testing.T) string {
	t.Helper()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isWrite(r.Method) {
			t.Errorf("API write %s %s", r.Method, r.URL.Path)
		}
		http.Error(w, `{"success":false,"errors":[{"code":10000,"message":"test server"}]}`, http.StatusForbidden)
	}))
	t.Cleanup(api.Close)
	return api.URL
}

// listTree describes every file and folder under roots (not following links): its kind, and
// for a regular file its size and digest, for a link its target. Two listings differ when
// anything was created, removed, replaced or written.
func listTree(t *testing.T, roots ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, root := range roots {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			desc := info.Mode().Type().String()
			switch {
			case info.Mode().IsRegular() && info.Size() <= 1<<20:
				desc += fmt.Sprintf(" %d bytes %s", info.Size(), sha256Of(t, path))
			case info.Mode().IsRegular():
				desc += fmt.Sprintf(" %d bytes", info.Size())
			case info.Mode()&fs.ModeSymlink != 0:
				target, _ := os.Readlink(path)
				desc += " -> " + target
			}
			out[path] = desc
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func assertSameTree(t *testing.T, before, after map[string]string) {
	t.Helper()
	for path, was := range before {
		if is, ok := after[path]; !ok {
			t.Errorf("%s was removed", path)
		} else if is != was {
			t.Errorf("%s changed: %s, was %s", path, is, was)
		}
	}
	for path, is := range after {
		if _, ok := before[path]; !ok {
			t.Errorf("%s was created (%s)", path, is)
		}
	}
}

var memoryWatch sync.Once

// watchMemory ends the test binary, loudly, once its heap passes 2 GiB: a read of /dev/zero
// that is not refused would otherwise take the machine's memory before a time limit ends it
// (and a timed-out run goes on reading in its goroutine).
func watchMemory() {
	memoryWatch.Do(func() {
		go func() {
			sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
			for range time.Tick(10 * time.Millisecond) {
				metrics.Read(sample)
				if n := sample[0].Value.Uint64(); n > 2<<30 {
					panic(fmt.Sprintf("flareform's heap holds %d MiB: a hostile file is being read without limit", n>>20))
				}
			}
		}()
	})
}

func makeFIFO(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
}

func makeLink(t *testing.T, target, path string) {
	t.Helper()
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}

func makeDirs(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(path, 0o755); err != nil {
		t.Fatal(err)
	}
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// sparseFile makes a file of size bytes that takes no room on disk.
func makeSparseFile(t *testing.T, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
}
