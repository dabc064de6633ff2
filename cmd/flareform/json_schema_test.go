package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemaBase is the $id prefix of the committed schemas in docs/json.
const schemaBase = "https://flareform.dev/schemas/"

// jsonSchemas compiles every schema in docs/json, so their $refs to each other resolve.
func jsonSchemas(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	files, err := filepath.Glob("../../docs/json/*.schema.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no schemas in docs/json: %v", err)
	}
	c := jsonschema.NewCompiler()
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if err := c.AddResource(schemaBase+filepath.Base(path), doc); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	out := map[string]*jsonschema.Schema{}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".schema.json")
		s, err := c.Compile(schemaBase + filepath.Base(path))
		if err != nil {
			t.Fatalf("compile %s: %v", path, err)
		}
		out[name] = s
	}
	return out
}

// assertJSONShape checks that stdout is exactly one JSON object valid against schema.
func assertJSONShape(t *testing.T, schemas map[string]*jsonschema.Schema, schema string, r result, what string) map[string]any {
	t.Helper()
	s, ok := schemas[schema]
	if !ok {
		t.Fatalf("%s: no schema %s.schema.json", what, schema)
	}
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		t.Fatalf("%s: stdout is not a JSON object: %v\nstdout:\n%s\nstderr:\n%s", what, err, r.stdout, r.stderr)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("%s: stdout holds more than one JSON value:\n%s", what, r.stdout)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(r.stdout)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(inst); err != nil {
		t.Errorf("%s: stdout does not match %s.schema.json: %v\n%s", what, schema, err, r.stdout)
	}
	return obj
}

// TestEveryJSONOutputMatchesItsSchema runs every command with --json, on success and on
// failure, and validates stdout against the schema docs/json.md names for it.
func TestEveryJSONOutputMatchesItsSchema(t *testing.T) {
	schemas := jsonSchemas(t)
	_, env := startStandalone(t)
	c := newCLI(t, env)
	check := func(want int, schema string, args ...string) map[string]any {
		t.Helper()
		return assertJSONShape(t, schemas, schema, c.mustRun(want, append(args, "--json")...), strings.Join(args, " "))
	}

	check(0, "version", "version")
	dir := filepath.Join(t.TempDir(), "images")
	check(0, "init", "init", dir)
	check(exitError, "error", "init", dir) // refuses to overwrite
	spec := filepath.Join(dir, "flareform.yaml")
	f := []string{"-f", spec}

	check(0, "validate", append(f, "validate")...)
	check(exitError, "error", append(f, "plan", "--parallelism", "0")...)
	plan := check(0, "plan", append(f, "plan")...)
	if plan["changes"] != true {
		t.Errorf("plan of a new project: changes = %v, want true", plan["changes"])
	}
	check(exitError, "error", append(f, "apply")...) // no terminal, no --auto-approve
	check(0, "apply", append(f, "apply", "--auto-approve")...)
	check(0, "apply", append(f, "apply", "--auto-approve")...) // no changes
	if plan := check(0, "plan", append(f, "plan")...); plan["changes"] != false {
		t.Errorf("plan after apply: changes = %v, want false", plan["changes"])
	}
	check(0, "output", append(f, "output")...)
	if smoke := check(0, "smoke", append(f, "smoke")...); smoke["passed"] != true {
		t.Errorf("smoke passed = %v", smoke["passed"])
	}
	out := filepath.Join(t.TempDir(), "answer.png")
	check(0, "invoke", append(f, "invoke", "images", "--prompt", "a robot", "-o", out)...)
	assertPNGIn(t, filepath.Dir(out))
	check(exitError, "error", append(f, "invoke", "nope", "--prompt", "x")...)
	check(exitError, "error", append(f, "invoke")...)
	check(0, "rotate-key", append(f, "rotate-key", "images")...)
	check(exitError, "error", append(f, "rotate-key")...)

	c.env[envAPIKey] = "wrong-key-wrong-key-wrong-key-wrong-key-00"
	if smoke := check(exitError, "smoke", append(f, "smoke")...); smoke["passed"] != false {
		t.Errorf("smoke with a wrong key: passed = %v, want false", smoke["passed"])
	}
	delete(c.env, envAPIKey)

	check(0, "apply", append(f, "destroy", "--auto-approve")...)
	check(0, "apply", append(f, "destroy", "--auto-approve")...) // nothing left

	missing := filepath.Join(t.TempDir(), "flareform.yaml")
	if v := check(exitError, "validate", "-f", missing, "validate"); v["valid"] != false || v["error"] == nil {
		t.Errorf("validate of a missing spec: %v", v)
	}
	for _, cmd := range [][]string{{"plan"}, {"apply", "--auto-approve"}, {"smoke"}, {"output"}, {"destroy", "--auto-approve"}} {
		check(exitError, "error", append([]string{"-f", missing}, cmd...)...)
	}
	check(exitError, "error", "deploy")
	check(exitError, "error", "plan", "--no-such-flag")

	code, stdout, stderr := runLocalThenStop(t)
	assertJSONShape(t, schemas, "local", result{code: code, stdout: stdout, stderr: stderr}, "local")
	code, stdout, stderr = runLocalThenStop(t, "--faults", "nonsense@")
	if code != exitError {
		t.Fatalf("local --faults nonsense: exit %d", code)
	}
	assertJSONShape(t, schemas, "error", result{code: code, stdout: stdout, stderr: stderr}, "local --faults nonsense")
}

// TestJSONErrorsCarrySpecPositions checks that spec problems keep their file, line, column and
// fix in the JSON failure, every one of them when there are several, and that validate puts
// them in its own result.
func TestJSONErrorsCarrySpecPositions(t *testing.T) {
	schemas := jsonSchemas(t)
	c := newCLI(t, map[string]string{})
	spec := initProject(t, c, "broken")
	editFile(t, spec, "main: ./src/worker.js", "main: ./src/worker.js\n    no_such_key: 1\n    also_unknown: 2")
	r := c.mustRun(exitError, "validate", "-f", spec, "--json")
	doc := assertJSONShape(t, schemas, "validate", r, "validate of a broken spec")
	assertJSONShape(t, schemas, "error", result{stdout: jsonWithout(t, r.stdout, "valid", "workers")}, "validate's error part")
	errs, _ := doc["errors"].([]any)
	if doc["valid"] != false || len(errs) != 2 {
		t.Fatalf("want valid=false and two errors, got %s", r.stdout)
	}
	first := doc["error"].(map[string]any)
	if first["file"] != spec || first["line"] != float64(lineOf(t, spec, "no_such_key")) || first["col"] == nil || first["fix"] == nil {
		t.Errorf("first error lacks its position or fix: %v", first)
	}

	r = c.mustRun(exitError, "plan", "-f", spec, "--local", "--json")
	doc = assertJSONShape(t, schemas, "error", r, "plan of a broken spec")
	if len(doc["errors"].([]any)) != 2 {
		t.Errorf("plan --json: want both spec errors: %s", r.stdout)
	}
}

// jsonWithout re-encodes the object in doc without the given fields.
func jsonWithout(t *testing.T, doc string, fields ...string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatal(err)
	}
	for _, f := range fields {
		delete(m, f)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
