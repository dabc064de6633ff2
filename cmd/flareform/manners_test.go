package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// plainProject writes a project with one worker whose module is code (no AI binding, no key)
// and returns the spec's path.
func plainProject(t *testing.T, name, code string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "worker.js"), []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	specPath := filepath.Join(dir, specName)
	writeSpec(t, specPath, "project: "+name+"\nworkers:\n  "+name+":\n    main: ./worker.js\n    compatibility_date: \"2025-06-01\"\n    workers_dev: true\n")
	return specPath
}

const helloWorker = `export default { fetch() { return new Response("hello") } }`

// Every command takes --no-color (the README lists it as a common flag) and --json (docs/json.md
// says every command does); cobra's help and completion take --no-color.
func TestEveryCommandTakesNoColorAndJSON(t *testing.T) {
	c := newCLI(t, map[string]string{})
	for _, sub := range subcommands() {
		for _, flag := range []string{"--no-color", "--json"} {
			if r := c.run(sub.name, flag, "--help"); r.code != exitOK {
				t.Errorf("flareform %s %s: exit %d: %s", sub.name, flag, r.code, r.stderr)
			}
		}
	}
	for _, args := range [][]string{{"completion", "bash", "--no-color"}, {"help", "plan", "--no-color"}, {"--no-color", "version"}} {
		if r := c.run(args...); r.code != exitOK {
			t.Errorf("flareform %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
		}
	}
}

// import and schema print JSON with --json: import its result, schema the spec's schema.
func TestImportAndSchemaTakeJSON(t *testing.T) {
	schemas := jsonSchemas(t)
	c := newCLI(t, map[string]string{})
	dir := t.TempDir()
	toml := filepath.Join(dir, "wrangler.toml")
	if err := os.WriteFile(toml, []byte("name = \"hello\"\nmain = \"src/index.js\"\ncompatibility_date = \"2025-06-01\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "flareform.yaml")
	doc := assertJSONShape(t, schemas, "import", c.mustRun(exitOK, "import", toml, "-f", out, "--json"), "import --json")
	if doc["spec"] != out {
		t.Errorf("import --json: spec %v, want %s", doc["spec"], out)
	}
	var schema map[string]any
	r := c.mustRun(exitOK, "schema", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &schema); err != nil || schema["$schema"] == nil {
		t.Errorf("schema --json is not the JSON Schema (%v):\n%.200s", err, r.stdout)
	}
}

// Colours follow --no-color, then NO_COLOR, then FORCE_COLOR (which colours a pipe too), then
// whether the stream is a terminal.
func TestColourFollowsNoColorAndForceColor(t *testing.T) {
	for _, tt := range []struct {
		name    string
		tty     bool
		noColor bool
		env     map[string]string
		want    bool
	}{
		{"pipe", false, false, nil, false},
		{"terminal", true, false, nil, true},
		{"FORCE_COLOR on a pipe", false, false, map[string]string{"FORCE_COLOR": "1"}, true},
		{"FORCE_COLOR=true on a dumb terminal", true, false, map[string]string{"FORCE_COLOR": "true", "TERM": "dumb"}, true},
		{"FORCE_COLOR=0", true, false, map[string]string{"FORCE_COLOR": "0"}, true},
		{"FORCE_COLOR=0 on a pipe", false, false, map[string]string{"FORCE_COLOR": "0"}, false},
		{"NO_COLOR beats FORCE_COLOR", true, false, map[string]string{"NO_COLOR": "1", "FORCE_COLOR": "1"}, false},
		{"--no-color beats FORCE_COLOR", false, true, map[string]string{"FORCE_COLOR": "1"}, false},
	} {
		opts := &rootOptions{NoColor: tt.noColor, Getenv: func(k string) string { return tt.env[k] }}
		if got := opts.colorEnabled(tt.tty); got != tt.want {
			t.Errorf("%s: colour %t, want %t", tt.name, got, tt.want)
		}
	}

	_, env := startStandalone(t)
	c := newCLI(t, env)
	specPath := plainProject(t, "colours", helloWorker)
	c.env["FORCE_COLOR"] = "1"
	if r := c.mustRun(exitOK, "-f", specPath, "plan"); !strings.Contains(r.stdout, "\x1b[") {
		t.Errorf("plan with FORCE_COLOR=1 on a pipe has no colour:\n%q", r.stdout)
	}
	for _, extra := range [][]string{{"--no-color"}, nil} {
		if extra == nil {
			c.env["NO_COLOR"] = "1"
		}
		if r := c.mustRun(exitOK, append([]string{"-f", specPath, "plan"}, extra...)...); strings.Contains(r.stdout, "\x1b[") {
			t.Errorf("plan %v with FORCE_COLOR=1 NO_COLOR=%q has colours:\n%q", extra, c.env["NO_COLOR"], r.stdout)
		}
	}
}

// A mistyped flag gets a suggestion, as a mistyped command does.
func TestMistypedFlagsGetASuggestion(t *testing.T) {
	c := newCLI(t, map[string]string{})
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"plan", "--no-colour"}, "unknown flag: --no-colour; did you mean --no-color?"},
		{[]string{"apply", "--auto-aprove"}, "did you mean --auto-approve?"},
		{[]string{"plan", "--jsn"}, "did you mean --json?"},
		{[]string{"init", "--templat", "chat"}, "did you mean --template?"},
		{[]string{"apply", "--key-ot=x"}, "did you mean --key-out?"},
	} {
		r := c.mustRun(exitError, tt.args...)
		if !strings.Contains(r.stderr, tt.want) {
			t.Errorf("flareform %s: stderr %q, want %q", strings.Join(tt.args, " "), r.stderr, tt.want)
		}
	}
	if r := c.mustRun(exitError, "plan", "--zzzzzzzz"); strings.Contains(r.stderr, "did you mean") {
		t.Errorf("a flag like no other got a suggestion: %q", r.stderr)
	}
}

// Without -f the spec is found like git finds its repository: here, else in the nearest folder
// above, but not above a folder that holds .git. -f wins.
func TestSpecIsFoundFromASubfolder(t *testing.T) {
	c := newCLI(t, map[string]string{})
	specPath := initProject(t, c, "lookup")
	dir := filepath.Dir(specPath)

	t.Chdir(filepath.Join(dir, "src"))
	r := c.mustRun(exitOK, "validate")
	if !strings.Contains(r.stdout, filepath.Join("..", specName)+" is valid") {
		t.Errorf("validate from src/: %q", r.stdout)
	}

	repo := filepath.Join(dir, "other-repo")
	for _, d := range []string{filepath.Join(repo, ".git"), filepath.Join(repo, "sub")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(filepath.Join(repo, "sub"))
	if r := c.mustRun(exitError, "validate"); !strings.Contains(r.stderr, "does not exist") {
		t.Errorf("validate below another repository's top found a spec above it: %q", r.stderr)
	}
	c.mustRun(exitOK, "validate", "-f", specPath)
	c.mustRun(exitOK, "-f", specPath, "validate")
}

// A failed apply says its error once: the final Error line carries it, the live log line
// says only which worker failed.
func TestFailedApplyPrintsItsErrorOnce(t *testing.T) {
	_, env := startStandalone(t)
	c := newCLI(t, env)
	specPath := plainProject(t, "broken", `throw new Error("broken at start"); export default { fetch() { return new Response("x") } }`)
	r := c.mustRun(exitError, "-f", specPath, "apply", "--auto-approve")
	m := regexp.MustCompile(`(?m)^Error: (.*)$`).FindAllStringSubmatch(r.stderr, -1)
	if len(m) != 1 {
		t.Fatalf("%d Error lines, want 1:\n%s", len(m), r.stderr)
	}
	if n := strings.Count(r.stderr, m[0][1]); n != 1 {
		t.Errorf("stderr says the error %d times, want once:\n%s", n, r.stderr)
	}
	if strings.Index(r.stderr, "Error: ") < strings.Index(r.stderr, "Applying: done") {
		t.Errorf("the error is not at the end of stderr:\n%s", r.stderr)
	}
}

// Messages speak of what things mean to the user, not of flareform's binding names and tags.
func TestMessagesUseNoInternalNames(t *testing.T) {
	_, env := startStandalone(t)
	c := newCLI(t, env)
	specPath := initProject(t, c, "keyed")
	editFile(t, specPath, "binding: API_KEY", "binding: MY_KEY")
	r := c.mustRun(exitError, "-f", specPath, "rotate-key", "keyed")
	if strings.Contains(r.stderr, "PREVIOUS") || !strings.Contains(r.stderr, "MY_KEY") {
		t.Errorf("rotate-key of a worker with another binding: %q", r.stderr)
	}
	// The engine's log lines and errors: no reserved binding name, no "stale tags".
	internal := regexp.MustCompile(`(logf|Errorf)\(.*(Rotation(Expires|Previous)Binding|API_KEY_PREVIOUS|stale tags|rotation tags)`)
	files, _ := filepath.Glob("../../provision/*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if internal.MatchString(line) {
				t.Errorf("%s:%d: a message with an internal name: %s", f, i+1, strings.TrimSpace(line))
			}
		}
	}
}
