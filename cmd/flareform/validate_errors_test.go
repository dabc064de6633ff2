package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// addFlags adds a compatibility_flags line after compatibility_date.
func addFlags(t *testing.T, specPath, flags string) {
	t.Helper()
	b, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	date := regexp.MustCompile(`(?m)^(\s+)compatibility_date: .*$`).FindStringSubmatch(string(b))
	if date == nil {
		t.Fatalf("%s has no compatibility_date", specPath)
	}
	editFile(t, specPath, date[0], date[0]+"\n"+date[1]+"compatibility_flags: "+flags)
}

func writeWorker(t *testing.T, specPath, src string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(filepath.Dir(specPath), "src", "worker.js"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

// wantProblem checks that stderr names specPath at the line holding lineText, with msg and fix.
func wantProblem(t *testing.T, stderr, specPath, lineText, msg, fix string) {
	t.Helper()
	at := specPath + ":" + strconv.Itoa(lineOf(t, specPath, lineText)) + ":"
	for _, want := range []string{at, msg, fix} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

func TestValidateSuggestsTheNearestCompatibilityFlag(t *testing.T) {
	c := newCLI(t, map[string]string{})
	specPath := initProject(t, c, "images")
	addFlags(t, specPath, "[nodejs_compt]")
	r := c.mustRun(exitError, "validate", "-f", specPath)
	wantProblem(t, r.stderr, specPath, "compatibility_flags:", `unknown compatibility flag "nodejs_compt"`, "did you mean nodejs_compat?")
}

func TestValidateAcceptsKnownCompatibilityFlags(t *testing.T) {
	c := newCLI(t, map[string]string{})
	specPath := initProject(t, c, "images")
	addFlags(t, specPath, "[nodejs_compat, url_standard]")
	c.mustRun(0, "validate", "-f", specPath)
}

func TestValidateNodeImportWithoutNodejsCompat(t *testing.T) {
	c := newCLI(t, map[string]string{})
	specPath := initProject(t, c, "images")
	writeWorker(t, specPath, `import { Buffer } from "node:buffer";
export default { async fetch() { return new Response(Buffer.from("hi")); } };
`)
	r := c.mustRun(exitError, "validate", "-f", specPath)
	wantProblem(t, r.stderr, specPath, "main:", `Could not resolve "node:buffer"`, "add `compatibility_flags: [nodejs_compat]`")

	addFlags(t, specPath, "[nodejs_compat]")
	c.mustRun(0, "validate", "-f", specPath)
}

func TestValidateWorkerWithoutDefaultExport(t *testing.T) {
	c := newCLI(t, map[string]string{})
	specPath := initProject(t, c, "images")
	writeWorker(t, specPath, "export const handler = { async fetch() { return new Response('hi'); } };\n")
	r := c.mustRun(exitError, "validate", "-f", specPath)
	wantProblem(t, r.stderr, specPath, "main:", "src/worker.js has no default export", "export default { async fetch(request, env)")
}

func TestValidateDefaultExportWithoutFetch(t *testing.T) {
	c := newCLI(t, map[string]string{})
	specPath := initProject(t, c, "images")
	writeWorker(t, specPath, "export default { async scheduled() {} };\n")
	r := c.mustRun(exitError, "validate", "-f", specPath)
	wantProblem(t, r.stderr, specPath, "main:", "the default export of src/worker.js has no fetch handler", "add `async fetch(request, env)")
}

// A Worker that throws while loading fails validate at the spec's main line, and the message
// names the source line (60 of src/lib/boot.js), not the bundle's.
func TestValidateStartupErrorNamesTheSourceLine(t *testing.T) {
	c := newCLI(t, map[string]string{})
	specPath := initProject(t, c, "images")
	dir := filepath.Dir(specPath)
	writeWorker(t, specPath, `import { ready } from "./lib/boot.js";
export default { async fetch() { return new Response(String(ready)); } };
`)
	boot := strings.Repeat("// setup\n", 59) + "export const ready = (() => { throw new Error(\"boot failed\"); })();\n"
	if err := os.WriteFile(filepath.Join(dir, "src", "lib", "boot.js"), []byte(boot), 0o644); err != nil {
		t.Fatal(err)
	}
	r := c.mustRun(exitError, "validate", "-f", specPath)
	wantProblem(t, r.stderr, specPath, "main:", "the Worker fails to start: Uncaught Error: boot failed", "fix the error at that source line")
	if !regexp.MustCompile(`src/lib/boot\.js:60:\d+`).MatchString(r.stderr) || regexp.MustCompile(`worker\.js:\d+`).MatchString(r.stderr) {
		t.Errorf("stderr does not name src/lib/boot.js:60 (or still names the bundle):\n%s", r.stderr)
	}
}
