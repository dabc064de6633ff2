package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/flareform/flareform/internal/syncbuf"
	"github.com/flareform/flareform/provision"
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

// TestConsumerJSONOutputsMatchTheirSchemas: apply with consumers (consumer_keys, the hand-over
// without --key-out), keys --json before and during a consumer's rotation, and
// rotate-key --consumer --json.
func TestConsumerJSONOutputsMatchTheirSchemas(t *testing.T) {
	schemas := jsonSchemas(t)
	_, env := startStandalone(t)
	env["PARTNER_KEY"] = "partner-key-0123456789abcdef0123456789abcd"
	c := newCLI(t, env)
	f := []string{"-f", consumerProject(t)}
	check := func(schema string, args ...string) map[string]any {
		t.Helper()
		return assertJSONShape(t, schemas, schema, c.mustRun(0, append(args, "--json")...), strings.Join(args, " "))
	}
	applied := check("apply", append(f, "apply", "--auto-approve")...)
	workers, _ := applied["workers"].([]any)
	if len(workers) != 1 {
		t.Fatalf("apply --json workers: %v", applied["workers"])
	}
	w, _ := workers[0].(map[string]any)
	keys, _ := w["consumer_keys"].(map[string]any)
	fps, _ := w["consumer_fingerprints"].(map[string]any)
	if len(keys) != 2 || keys["mobile"] == nil || keys["web"] == nil || len(fps) != 3 {
		t.Errorf("apply --json: consumer_keys for %d consumers, consumer_fingerprints for %d; want mobile and web, and 3", len(keys), len(fps))
	}
	listed := check("keys", append(f, "keys", "con-api")...)
	if rows, _ := listed["keys"].([]any); len(rows) != 4 {
		t.Errorf("keys --json lists %d keys, want the owner and 3 consumers", len(rows))
	}
	rotated := check("rotate-key", append(f, "rotate-key", "con-api", "--consumer", "mobile")...)
	if rotated["consumer"] != "mobile" || rotated["api_key"] == nil {
		t.Errorf("rotate-key --consumer --json: consumer %v, api_key given %v", rotated["consumer"], rotated["api_key"] != nil)
	}
	listed = check("keys", append(f, "keys", "con-api")...)
	rows, _ := listed["keys"].([]any)
	found := false
	for _, r := range rows {
		row, _ := r.(map[string]any)
		state, _ := row["state"].(string)
		found = found || row["consumer"] == "mobile" && strings.HasPrefix(state, "rotating until ")
	}
	if !found {
		t.Errorf("keys --json during mobile's rotation: %v", rows)
	}
}

// TestRolloutJSONOutputsMatchTheirSchemas runs the gradual-rollout commands of issue 23 with
// --json against a local Cloudflare, succeeding and failing: plan --canary (the plan's canary
// object), apply --canary, promote and rollback (rollout.schema.json, forced too: api_key only
// in the forced worker's result, key_file instead with --key-out, never a fingerprint), and
// tail, whose --json is the documented exception to "one JSON object": JSON Lines.
func TestRolloutJSONOutputsMatchTheirSchemas(t *testing.T) {
	schemas := jsonSchemas(t)
	srv, env := startStandalone(t)
	c := newCLI(t, env)
	check := func(want int, schema string, args ...string) (map[string]any, string) {
		t.Helper()
		r := c.mustRun(want, append(args, "--json")...)
		return assertJSONShape(t, schemas, schema, r, strings.Join(args, " ")), r.stdout
	}
	specPath := initProject(t, c, "images")
	f := []string{"-f", specPath}
	keys := t.TempDir()
	first, second, third := filepath.Join(keys, "first.key"), filepath.Join(keys, "second.key"), filepath.Join(keys, "third.key")

	applied, _ := check(0, "apply", append(f, "apply", "--auto-approve", "--key-out", first)...)
	fp1, _ := onlyItem(t, applied["workers"])["key_fingerprint"].(string)
	k1 := readKey(t, first)
	if fp1 == "" {
		t.Fatalf("apply --json names no key_fingerprint: %v", applied)
	}
	c.env[envAPIKey] = k1
	v1 := servingAlone(t, latestDeployment(t, env, "images"))

	// Nothing to promote: the error shape, and nothing written.
	before := countWrites(srv.Requests())
	if doc, _ := check(exitError, "error", append(f, "promote", "--auto-approve")...); !strings.Contains(errorMessage(doc), "no worker of the spec has a canary") {
		t.Errorf("promote without a canary: %v", doc)
	}
	check(exitError, "error", append(f, "promote", "images", "--auto-approve")...)
	check(exitError, "error", append(f, "promote", "nope", "--auto-approve")...)
	if n := countWrites(srv.Requests()) - before; n != 0 {
		t.Errorf("the refused promotes wrote %d times", n)
	}

	editFile(t, filepath.Join(filepath.Dir(specPath), "src", "worker.js"), imageAnswer, releaseTwoAnswer)
	check(exitError, "error", append(f, "plan", "--canary", "150")...)
	plan, _ := check(0, "plan", append(f, "plan", "--canary", "10")...)
	canary, _ := onlyItem(t, plan["workers"])["canary"].(map[string]any)
	if canary["percent"] != 10.0 || canary["stable"] != v1 || canary["version"] != nil {
		t.Errorf("plan --canary 10: canary %v, want a new version at 10%% beside %s", canary, v1)
	}
	applied, _ = check(0, "apply", append(f, "apply", "--canary", "10", "--auto-approve")...)
	if got := onlyItem(t, applied["plan"].(map[string]any)["workers"])["canary"]; got == nil {
		t.Errorf("apply --canary --json: the plan it ran has no canary: %v", applied["plan"])
	}
	split := latestDeployment(t, env, "images")
	v2 := otherVersion(split, v1)
	assertSplit(t, split, v2, 10, v1)

	// A plain plan over the canary promotes it: percent 100, the canary's version, no stable.
	plan, _ = check(0, "plan", append(f, "plan")...)
	if canary, _ := onlyItem(t, plan["workers"])["canary"].(map[string]any); canary["percent"] != 100.0 || canary["version"] != v2 {
		t.Errorf("plan over the canary: canary %v, want %s promoted to 100%%", canary, v2)
	}

	promoted, out := check(0, "rollout", append(f, "promote", "--auto-approve")...)
	res := onlyItem(t, promoted["workers"])
	if promoted["kind"] != "promote" || promoted["changes"] != true || res["version"] != v2 || res["error"] != nil {
		t.Errorf("promote --json: %s", out)
	}
	if smoke, _ := res["smoke"].(map[string]any); smoke["passed"] != true {
		t.Errorf("promote --json: the canary's smoke test did not pass: %v", res["smoke"])
	}
	if got := servingAlone(t, latestDeployment(t, env, "images")); got != v2 {
		t.Fatalf("after promote %s serves, want %s", got, v2)
	}
	check(exitError, "error", append(f, "promote", "--auto-approve")...) // the canary is gone

	rolled, out := check(0, "rollout", append(f, "rollback", "--auto-approve")...)
	res = onlyItem(t, rolled["workers"])
	if rolled["kind"] != "rollback" || res["version"] != v1 || res["api_key"] != nil || onlyItem(t, rolled["plan"].(map[string]any)["workers"])["forced"] != nil {
		t.Errorf("rollback --json: %s", out)
	}
	check(exitError, "error", append(f, "rollback", "--to", v2)...) // --to needs one WORKER
	check(exitError, "error", append(f, "rollback", "images", "--to", v1, "--auto-approve")...)

	// Across a key change: refused without --force (error shape), handed over with it. The
	// spec's code is deployed again first: settings (the key) change only on the newest version.
	check(0, "apply", append(f, "apply", "--auto-approve")...)
	rotated, _ := check(0, "rotate-key", append(f, "rotate-key", "images", "--revoke", "--key-out", second)...)
	fp2, _ := rotated["key_fingerprint"].(string)
	k2 := readKey(t, second)
	delete(c.env, envAPIKey)
	before = countWrites(srv.Requests())
	if doc, _ := check(exitError, "error", append(f, "rollback", "--auto-approve")...); !strings.Contains(errorMessage(doc), "--force") {
		t.Errorf("rollback across a key change without --force: %v", doc)
	}
	if n := countWrites(srv.Requests()) - before; n != 0 {
		t.Errorf("the refused rollback wrote %d times", n)
	}
	forced, out := check(0, "rollout", append(f, "rollback", "--auto-approve", "--force", "--key-file", first)...)
	if step := onlyItem(t, forced["plan"].(map[string]any)["workers"]); step["forced"] != true || step["key_note"] == nil {
		t.Errorf("forced rollback: plan step %v, want forced with a key_note", step)
	}
	if res := onlyItem(t, forced["workers"]); res["api_key"] != k1 || forced["key_file"] != nil {
		t.Errorf("forced rollback without --key-out: want the version's key handed over in api_key, got key_file %v and another or no api_key", forced["key_file"])
	}
	assertNoneIn(t, "forced rollback --json", out, k2, fp1, fp2)

	// Back across the key change again, handing the key to --key-out: key_file, no api_key.
	forced, out = check(0, "rollout", append(f, "rollback", "--auto-approve", "--force", "--key-file", second, "--key-out", third)...)
	if res := onlyItem(t, forced["workers"]); forced["key_file"] != third || res["api_key"] != nil {
		t.Errorf("forced rollback with --key-out: %v", forced)
	}
	if got := readKey(t, third); got != k2 {
		t.Error("--key-out of the forced rollback does not hold the key its version answers to")
	}
	assertNoneIn(t, "forced rollback --key-out --json", out, k1, k2, fp1, fp2)

	// tail: a failure before streaming is the error shape; events are JSON Lines.
	check(exitError, "error", append(f, "tail", "nope")...)
	check(exitError, "error", append(f, "tail", "images", "--status", "bogus")...)
	check(exitError, "error", append(f, "tail")...)
	lines := tailJSONLines(t, c, srv, specPath, "images")
	for i, line := range lines {
		var ev map[string]any
		dec := json.NewDecoder(strings.NewReader(line))
		if err := dec.Decode(&ev); err != nil || ev == nil {
			t.Fatalf("tail --json line %d is not one JSON object (%v): %s", i, err, line)
		}
		if _, err := dec.Token(); err != io.EOF {
			t.Errorf("tail --json line %d holds more than one JSON value: %s", i, line)
		}
		if ev["outcome"] == nil || ev["eventTimestamp"] == nil {
			t.Errorf("tail --json line %d is not a trace event as the API sends it: %s", i, line)
		}
	}
	assertNoneIn(t, "tail --json", strings.Join(lines, "\n"), k1, k2, srv.Token())
}

// TestRolloutSchemaRefusesKeysOutOfPlace checks that rollout.schema.json is strict where the
// docs promise: a result built from the command's own types passes, and the same result with a
// key or a fingerprint anywhere else, or a key after a promote, or both api_key and key_file, fails.
func TestRolloutSchemaRefusesKeysOutOfPlace(t *testing.T) {
	s := jsonSchemas(t)["rollout"]
	step := provision.RolloutStep{Key: "images", Name: "images", Version: "v1", KeyNote: "another API_KEY", Forced: true,
		Serving: []provision.DeploymentShare{{VersionID: "v3", Percentage: 100}}}
	forced := rolloutJSON{Kind: provision.RolloutRollback, Changes: true,
		Plan:    &provision.RolloutPlan{Kind: provision.RolloutRollback, AccountID: "acc", Workers: []provision.RolloutStep{step}},
		Workers: []rolloutWorkerJSON{{RolloutWorkerResult: provision.RolloutWorkerResult{Key: "images", Name: "images", Version: "v1", KeyNote: "another API_KEY"}, APIKey: "the-key"}}}
	b, err := json.Marshal(forced)
	if err != nil {
		t.Fatal(err)
	}
	validate := func(doc string) error {
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
		if err != nil {
			t.Fatal(err)
		}
		return s.Validate(inst)
	}
	if err := validate(string(b)); err != nil {
		t.Fatalf("a forced rollback's result does not match rollout.schema.json: %v\n%s", err, b)
	}
	for _, tt := range []struct{ what, old, new string }{
		{"api_key at the top", `"changes":true`, `"changes":true,"api_key":"k"`},
		{"api_key in the plan", `"account_id":"acc"`, `"account_id":"acc","api_key":"k"`},
		{"api_key in a plan step", `"forced":true`, `"forced":true,"api_key":"k"`},
		{"a fingerprint in a result", `"api_key":"the-key"`, `"api_key":"the-key","key_fingerprint":"g0123"`},
		{"a fingerprint in a plan step", `"forced":true`, `"forced":true,"key_fingerprint":"g0123"`},
		{"api_key with key_file", `"changes":true`, `"changes":true,"key_file":"/k"`},
		{"api_key after a promote", `"kind":"rollback"`, `"kind":"promote"`},
		{"api_key on a step not forced", `,"forced":true`, ``},
		{"an empty api_key", `"api_key":"the-key"`, `"api_key":""`},
	} {
		doc := strings.Replace(string(b), tt.old, tt.new, 1)
		if doc == string(b) {
			t.Fatalf("%s: %q is not in %s", tt.what, tt.old, b)
		}
		if validate(doc) == nil {
			t.Errorf("rollout.schema.json accepts %s:\n%s", tt.what, doc)
		}
	}
}

// onlyItem is the single object in a JSON array, failing the test otherwise.
func onlyItem(t *testing.T, v any) map[string]any {
	t.Helper()
	items, _ := v.([]any)
	if len(items) != 1 {
		t.Fatalf("want exactly one item, got %v", v)
	}
	m, ok := items[0].(map[string]any)
	if !ok {
		t.Fatalf("want an object, got %v", items[0])
	}
	return m
}

// errorMessage is error.message of an error-shape document.
func errorMessage(doc map[string]any) string {
	e, _ := doc["error"].(map[string]any)
	msg, _ := e["message"].(string)
	return msg
}

// assertNoneIn fails when out holds any of the secrets (keys, fingerprints, the API token).
func assertNoneIn(t *testing.T, what, out string, secrets ...string) {
	t.Helper()
	for i, s := range secrets {
		if s == "" {
			t.Fatalf("%s: secret #%d to look for is empty", what, i)
		}
		if strings.Contains(out, s) {
			t.Errorf("%s: output holds secret #%d (a key, fingerprint or token it must not show)", what, i)
		}
	}
}

// tailJSONLines runs tail WORKER --json until it has printed the events of two requests, stops
// it with Ctrl-C (a cancelled context) and returns its stdout's lines: one event each.
func tailJSONLines(t *testing.T, c *cli, srv interface {
	Subdomain() string
	WorkersDevAddr() string
}, specPath, worker string) []string {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stdout, stderr := &syncbuf.Buffer{}, &syncbuf.Buffer{}
	done := make(chan int, 1)
	go func() {
		ios := &IOStreams{In: strings.NewReader(""), Out: stdout, ErrOut: stderr}
		done <- run(ctx, ios, []string{"-f", specPath, "tail", worker, "--json"}, c.getenv)
	}()
	host := worker + "." + srv.Subdomain() + ".workers.dev"
	waitFor(t, stdout, "/first", func() { sendTo(t, srv.WorkersDevAddr(), host, "GET", "/first", "") })
	sendTo(t, srv.WorkersDevAddr(), host, "POST", "/second", "Bearer wrong-key")
	waitFor(t, stdout, "/second", nil)
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("tail --json: exit %d, stderr:\n%s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("tail did not return after Ctrl-C")
	}
	c.printed.add([]string{"tail", worker, "--json"}, result{stdout: stdout.String(), stderr: stderr.String()})
	out := strings.TrimSuffix(stdout.String(), "\n")
	if out == "" || strings.HasPrefix(out, "{\n") {
		t.Fatalf("tail --json printed no events or a pretty-printed object:\n%s", out)
	}
	return strings.Split(out, "\n")
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
