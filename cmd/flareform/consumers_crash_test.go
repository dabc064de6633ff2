package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// crashConsumers are the consumers the crash scenario adds to the deployed worker: both with
// generated keys, one with a limiter of its own (a new ratelimit binding) and one without.
const crashConsumers = `    consumers:
      mobile: { rate_limit: { limit: 30, period: 60 } }
      web: {}
`

// crashConsumerNames are crashConsumers' names.
var crashConsumerNames = []string{"mobile", "web"}

// TestConsumerKeyCrashes kills an apply that adds consumers with generated keys (to a worker
// deployed with its owner key) with SIGKILL at each of its API calls, before the server saw it
// (sent) and after it took effect (done), as TestRolloutCrashes does for the rollouts. Then
// apply runs again with a new --key-out. It must exit 0, and:
//   - every consumer key that any run handed over (either --key-out file) opens the worker as
//     its consumer (GET /.well-known/flareform), and each consumer has one (web's also gets
//     an image);
//   - nothing is lost: every consumer key the key store held after the kill or holds now, or
//     that a run handed over, is either refused by the worker (it was replaced, or never
//     landed) or accepted as its consumer, active in the key store and handed over;
//   - keys lists every consumer as active, the owner's key still works and plan has no
//     changes;
//   - no key appears in any output or project file outside the key store.
func TestConsumerKeyCrashes(t *testing.T) {
	t.Parallel()
	calls := calibrateConsumerCrash(t)
	for step := range calls {
		for _, after := range []bool{false, true} {
			t.Run(fmt.Sprintf("call%02d-%s", step, map[bool]string{false: "sent", true: "done"}[after]), func(t *testing.T) {
				t.Parallel()
				runConsumerCrash(t, step, after)
			})
		}
	}
}

// prepareConsumerCrash deploys the worker with its owner key alone, then adds the consumers to
// the spec.
func prepareConsumerCrash(t *testing.T) *convFixture {
	f := newConvFixture(t)
	f.oldKey = f.deployWithKeyFile()
	editFile(t, f.spec, "    workers_dev: true\n", "    workers_dev: true\n"+crashConsumers)
	return f
}

// consumerApply is the apply under test, handing keys over to keyOut.
func consumerApply(keyOut string) []string {
	return []string{"apply", "--auto-approve", "--key-out", keyOut}
}

// calibrateConsumerCrash runs the apply once without a kill, checks it and returns how many
// API calls it made (the gate numbers them as the crash runs will).
func calibrateConsumerCrash(t *testing.T) int {
	f := prepareConsumerCrash(t)
	gate := newCallGate(t, f.srv.APIBaseURL(), -1, false)
	keyOut := filepath.Join(f.keyDir, "calibration.key")
	r := f.startBinary(gate.url, consumerApply(keyOut)).wait(t)
	f.record(r)
	if r.code != exitOK {
		t.Fatalf("calibration: apply without a kill: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	handed := readConsumerKeyFile(t, keyOut)
	for _, name := range crashConsumerNames {
		if got := wellKnownConsumer(t, f.srv, convWorker, handed[name]); got != name {
			t.Fatalf("calibration: %s's handed-over key: %s", name, got)
		}
		f.remember(name, handed[name])
	}
	checkNoLeaks(t, f)
	n := len(gate.forwarded())
	if n == 0 {
		t.Fatal("calibration: apply made no API call")
	}
	t.Logf("the apply adding consumers makes %d API calls", n)
	return n
}

// runConsumerCrash kills the apply at API call step, runs it again and checks (see
// TestConsumerKeyCrashes).
func runConsumerCrash(t *testing.T, step int, afterHandled bool) {
	f := prepareConsumerCrash(t)
	var runs []result
	defer func() {
		if t.Failed() {
			t.Logf("reproduce: go test ./cmd/flareform -run '^TestConsumerKeyCrashes$/^call%02d-%s$' -count=1",
				step, map[bool]string{false: "sent", true: "done"}[afterHandled])
			logRuns(t, runs)
		}
	}()

	firstOut := filepath.Join(f.keyDir, "killed-run.key")
	gate := newCallGate(t, f.srv.APIBaseURL(), -1, afterHandled)
	// The gate numbers the calls in the order they arrive; this names the one it holds.
	n, held := 0, ""
	gate.holdWhen = func(r *http.Request) bool {
		n++
		if n-1 != step {
			return false
		}
		held = r.Method + " " + r.URL.Path
		return true
	}
	p := f.startBinary(gate.url, consumerApply(firstOut))
	var killed result
	if gate.waitHeld(t, p) {
		f.crashed = true
		killed = p.kill9(t)
		gate.end(false)
		t.Logf("killed at call %d, %s (%s)", step, held, map[bool]string{false: "before the server saw it", true: "after it took effect"}[afterHandled])
	} else {
		killed = p.wait(t)
		t.Logf("the run ended (exit %d) before call %d", killed.code, step)
	}
	f.record(killed)
	runs = append(runs, killed)
	// What the killed run left in the key store: the keys it may have deployed.
	candidates := storedConsumerKeys(t, f)

	rerunOut := filepath.Join(f.keyDir, "rerun.key")
	rerun := f.cmd(consumerApply(rerunOut)...)
	runs = append(runs, rerun)
	if rerun.code != exitOK {
		t.Fatalf("the apply after the crash: exit %d, want 0 (%s)", rerun.code, lastLine(rerun.stderr))
	}

	// Every key a run handed over opens the worker as its consumer.
	handed := map[string][]string{} // consumer -> keys handed over, killed run's first
	for _, path := range []string{firstOut, rerunOut} {
		for name, key := range readConsumerKeyFile(t, path) {
			f.remember(filepath.Base(path)+" "+name, key)
			if !slices.Contains(handed[name], key) {
				handed[name] = append(handed[name], key)
			}
		}
	}
	for _, name := range crashConsumerNames {
		if len(handed[name]) == 0 {
			t.Errorf("no run handed a key of consumer %s over", name)
		}
		for _, key := range handed[name] {
			if got := wellKnownConsumer(t, f.srv, convWorker, key); got != name {
				t.Errorf("a key of %s handed over (%s) is lost: GET /.well-known/flareform answers %s", name, keyFilesHolding(t, key, firstOut, rerunOut), got)
			}
		}
	}
	if keys := handed["web"]; len(keys) > 0 {
		wantImage(t, f.srv, "web's handed-over key", keys[len(keys)-1])
	}

	// Nothing lost: a key the worker accepts is its consumer's, active in the key store and
	// handed over.
	final := storedConsumerKeys(t, f)
	for name, keys := range handed {
		for _, key := range keys {
			candidates[storedKeyRef{name, key}] = "handed over"
		}
	}
	for ref, state := range final {
		candidates[ref] = state
	}
	for ref := range candidates {
		f.remember("stored "+ref.consumer, ref.key)
		got := wellKnownConsumer(t, f.srv, convWorker, ref.key)
		if got == "status 401" {
			continue // replaced, or never deployed
		}
		if got != ref.consumer {
			t.Errorf("a key the store holds for %s opens the worker as %s", ref.consumer, got)
			continue
		}
		if final[ref] != "active" {
			t.Errorf("the worker accepts a key of %s that the key store holds as %q (after the kill: %q), want active", ref.consumer, final[ref], candidates[ref])
		}
		if !slices.Contains(handed[ref.consumer], ref.key) {
			t.Errorf("the worker accepts a key of %s that no run handed over (it is %q in the key store)", ref.consumer, final[ref])
		}
	}

	r := f.mustCmd(exitOK, "keys", convWorker, "--json")
	var listed struct {
		Keys []struct{ Consumer, State string } `json:"keys"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil {
		t.Fatalf("keys --json: %v\n%s", err, r.stdout)
	}
	var names []string
	for _, k := range listed.Keys {
		names = append(names, k.Consumer+"="+k.State)
	}
	if got, want := strings.Join(names, ","), "owner=active,mobile=active,web=active"; got != want {
		t.Errorf("keys --json after the re-run: %s, want %s", got, want)
	}
	f.wantKey("the owner's key deployed before the crash", f.oldKey)
	f.wantInSpec()
	checkNoLeaks(t, f)
}

// storedKeyRef is one consumer key in the key store.
type storedKeyRef struct{ consumer, key string }

// storedConsumerKeys is every consumer key in the project's key store, with its state.
func storedConsumerKeys(t *testing.T, f *convFixture) map[storedKeyRef]string {
	t.Helper()
	out := map[storedKeyRef]string{}
	b, err := os.ReadFile(filepath.Join(filepath.Dir(f.spec), ".flareform", "keys.json"))
	if os.IsNotExist(err) {
		return out
	}
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Keys []struct{ Script, Binding, Key, State string } `json:"keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("the key store: %v", err)
	}
	for _, e := range doc.Keys {
		if name, ok := strings.CutPrefix(e.Binding, "consumer:"); ok && e.Script == convWorker {
			out[storedKeyRef{name, e.Key}] = e.State
		}
	}
	return out
}

// readConsumerKeyFile is the consumer keys of the worker in a --key-out file (none when the
// file does not exist).
func readConsumerKeyFile(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return keyFileConsumers(string(b))[convWorker]
}

// keyFilesHolding names the key files among paths that hold key.
func keyFilesHolding(t *testing.T, key string, paths ...string) string {
	var in []string
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), key) {
			in = append(in, filepath.Base(p))
		}
	}
	return "in " + strings.Join(in, " and ")
}
