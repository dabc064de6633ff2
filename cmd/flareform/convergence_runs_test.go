package main

// Concurrent-run schedules: another flareform run, from a second checkout of the project, runs
// to its end while the command under test waits in one of its API calls (held by a callGate);
// then the command goes on. Both are the real binary. Afterwards, for every run that exited 0,
// what it promised still holds (its key works, its code and vars serve, a destroyed worker is
// gone) unless the other run's later exit 0 legitimately replaced it, and a run that exited
// non-zero said so clearly. overlap_pairs_test.go checks the same promises for every pair of
// commands.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The flareform commands that make up concurrent runs (as the other run, or as a pair's).
const (
	cmdApply        = "apply"
	cmdFailingApply = "apply-failing-smoke" // an apply of code that fails its smoke test
	cmdRotate       = "rotate-key"          // a rotation with a grace window
	cmdRevoke       = "rotate-key-revoke"
	cmdFinish       = "rotate-key-finish"
	cmdDestroy      = "destroy"
	cmdSmoke        = "smoke"
	// cmdCanary is apply --canary 10 of a changed spec: its new version at 10% beside the
	// version it read at 90%, the new version smoke-tested through the version-override header.
	cmdCanary = "apply-canary"
	// cmdFailingCanary is apply --canary 10 of code that fails its smoke test: it exits 1 and
	// withdraws the canary (what served before serves again).
	cmdFailingCanary = "apply-canary-failing-smoke"
	// cmdPromote is promote: the canary to 100% after its smoke test.
	cmdPromote = "promote"
	// cmdRollback is rollback: the previous version that served 100% serves 100% again, smoke-
	// tested afterwards.
	cmdRollback = "rollback"
	// cmdConsumers is an apply of a spec that adds consumers with generated keys
	// (overlapConsumers), handing their keys over with --key-out.
	cmdConsumers = "apply-consumers"
)

// failingCommand reports whether command runs code that fails its smoke test: its exit 0
// would be a lie.
func failingCommand(command string) bool {
	return command == cmdFailingApply || command == cmdFailingCanary
}

// otherRun is a run a concurrent-run schedule lets run while the command waits, from a second
// checkout whose key store is a copy made before the command started (a second machine: it
// knows the keys handed over so far) or, with sharedStore, when the other run starts (one key
// store for both: it also knows the key the command has made so far).
type otherRun struct {
	command     string
	sharedStore bool
}

func (o otherRun) String() string {
	if o.sharedStore {
		return o.command + "-shared-store"
	}
	return o.command
}

// otherRuns are the runs a concurrent-run schedule draws from. The failing apply gets the
// shared store, so that it finds the key for its smoke test also of a worker the command has
// just created, and really fails that test.
var otherRuns = []otherRun{
	{command: cmdRotate}, {command: cmdDestroy}, {command: cmdFailingApply, sharedStore: true},
	{command: cmdRotate, sharedStore: true},
}

// otherRunSchedule runs the other flareform run Other while the command, run as the real
// binary, waits in its API call number Step (held by a callGate before the server saw it).
type otherRunSchedule struct {
	Index, Scenario, Step int
	Other                 otherRun
}

func (r otherRunSchedule) String() string { return fmt.Sprintf("call%d-%s", r.Step, r.Other) }

// makeOtherRunSchedule derives concurrent-run schedule i as makeWriterSchedule does: scenarios
// in turn, and within a scenario every (call, other run) position in turn, from where the seed
// says. The other run changes fastest, so every scenario with len(otherRuns) schedules or more
// meets all of them, whatever the seed (TestOtherRunSchedulesDrawEveryRun).
func makeOtherRunSchedule(seed int64, i int, calls []int) otherRunSchedule {
	s := otherRunSchedule{Index: i, Scenario: i % len(calls)}
	positions := len(otherRuns) * max(calls[s.Scenario], 1)
	pos := walkPosition(seed, kindRun, i, len(calls), positions)
	s.Step, s.Other = pos/len(otherRuns), otherRuns[pos%len(otherRuns)]
	return s
}

// promiseKind is what a promise is about; a later run's exit 0 may replace some kinds (see
// supersedes).
type promiseKind int

const (
	// promiseKeyWorks: a key the run handed over (or ran its smoke test with) opens the worker.
	promiseKeyWorks promiseKind = iota
	// promiseKeyWindow: a key clients held before a rotation keeps working in its window.
	promiseKeyWindow
	// promiseKeyRefused: a key the run revoked or retired does not open the worker (401).
	promiseKeyRefused
	// promiseServes: the run's code serves (a PNG for the smoke request) and, when
	// maxPromptChars is set, its MAX_PROMPT_CHARS var.
	promiseServes
	// promiseGone: the worker is gone.
	promiseGone
	// promiseSplit: the newest deployment is a canary's split, version at percent and stable
	// at the rest, and version (reached through the version-override header) serves its code
	// (a PNG for the smoke request, maxPromptChars).
	promiseSplit
	// promiseDeployed: the newest deployment is version alone at 100%.
	promiseDeployed
	// promiseConsumerKey: a consumer key the run handed over opens the worker. Only a destroy
	// or an apply (whose spec names other consumers) replaces it; a rotation of the owner's
	// key keeps it.
	promiseConsumerKey
)

// promise is one thing a run that exited 0 said holds.
type promise struct {
	kind           promiseKind
	what           string
	key            string
	maxPromptChars int
	// version, stable and percent: promiseSplit's and promiseDeployed's deployment.
	version, stable string
	percent         float64
	// anyVersion: a promiseServes that holds when one version of a split serves the code
	// (smoke's: its request reached one version, whichever the split drew).
	anyVersion bool
}

// runRecord is one run of a concurrent-run story: the command under test or the other run.
type runRecord struct {
	label   string // for messages: "the command (apply-update-var)", "the other run (destroy)"
	command string // one of the cmd* constants
	ran     bool
	res     result
	ended   time.Time
	// firstRead is when the run's first read of the worker's deployments went to the server;
	// zero when it made none or it is unknown. That read is what a run's guarded writes compare
	// with ("the version its plan read", docs/guarantees.md): a run whose first such read came
	// after another run ended decided on what that run left.
	firstRead time.Time
	// calls are the run's API calls, when it ran through a callGate.
	calls    []gateCall
	promises []promise
	// instant: the promises hold for the moment the run ended (smoke's checks), so they are
	// checked then only, not after a later run.
	instant bool
}

// supersedes reports whether later, which ended after earlier, legitimately replaced earlier's
// promise p: only an exit 0, and only what its command is meant to replace.
//   - An apply that exited 0 deployed the worker: a destroy's "gone" no longer holds.
//   - Otherwise only a run that decided on what earlier left (its first read of the
//     deployments came after earlier ended): a destroy replaces everything, a revoke every
//     key, a finish the window of the previous key; an apply, a canary, a promote and a
//     rollback the code and vars that serve and the deployment; a rotation the deployment
//     (its new version keeps the code and vars: their promise stays).
//
// A run that wrote over a version it never read and exited 0 replaced nothing legitimately
// (docs/guarantees.md, "Overlap"): it must have put that version back and failed. A rotation
// never replaces a key clients hold, and an apply never undoes a rotation (docs/rotation.md);
// a canary keeps the keys, and a rollback refuses (without --force) a version that answers to
// another key, so neither replaces a key promise.
func supersedes(later, earlier *runRecord, p promise) bool {
	if !later.ran || later.res.code != exitOK {
		return false
	}
	if later.command == cmdApply && p.kind == promiseGone {
		return true
	}
	if later.firstRead.IsZero() || !later.firstRead.After(earlier.ended) {
		return false
	}
	deployment := p.kind == promiseSplit || p.kind == promiseDeployed
	switch later.command {
	case cmdDestroy:
		return true
	case cmdRevoke:
		return p.kind == promiseKeyWorks || p.kind == promiseKeyWindow || deployment
	case cmdRotate:
		return deployment
	case cmdFinish:
		return p.kind == promiseKeyWindow || deployment
	case cmdApply, cmdConsumers:
		return p.kind == promiseServes || p.kind == promiseConsumerKey || deployment
	case cmdCanary, cmdPromote, cmdRollback:
		return p.kind == promiseServes || deployment
	}
	return false
}

// firstDeploymentsRead is when the first read of a worker's deployments went to the server.
func firstDeploymentsRead(calls []gateCall) time.Time {
	for _, c := range calls {
		if c.method == http.MethodGet && strings.HasSuffix(c.path, "/deployments") {
			return c.forwarded
		}
	}
	return time.Time{}
}

// holds checks a promise against the worker now; detail says what was found.
func (f *convFixture) holds(p promise) (ok bool, detail string) {
	f.t.Helper()
	switch p.kind {
	case promiseKeyWorks, promiseKeyWindow, promiseConsumerKey:
		// Every version that takes traffic: a split's each through the override header, so
		// a key one of them refuses is found whatever share it has.
		for _, v := range f.servingTargets() {
			if status, body := f.postTo(p.key, smokePrompt, v); status != http.StatusOK {
				return false, fmt.Sprintf("status %d%s (%.120s)", status, onVersion(v), body)
			}
		}
		return true, ""
	case promiseKeyRefused:
		// 401, or anything else that does not let the key in (a worker destroyed since
		// answers 404).
		for _, v := range f.servingTargets() {
			if status, body := f.postTo(p.key, smokePrompt, v); status >= 200 && status <= 299 {
				return false, fmt.Sprintf("status %d%s, want 401 (%.120s)", status, onVersion(v), body)
			}
		}
		return true, ""
	case promiseServes:
		return f.serves(p)
	case promiseGone:
		if workerExists(f) {
			return false, "the worker's script exists"
		}
		return true, ""
	case promiseSplit, promiseDeployed:
		return f.deployedAsPromised(p)
	}
	return false, "unknown promise"
}

// serves checks that the spec's code answers the smoke request with a PNG and, when the
// promise names one, that MAX_PROMPT_CHARS is the spec's: a prompt one character longer is
// refused naming that limit.
func (f *convFixture) serves(p promise) (bool, string) {
	key := f.workingKey(p.key)
	if key == "" {
		return false, "no key the test knows opens the worker"
	}
	// A split's every version serves the code (each reached through the override header):
	// a canary of other code, even at 10%, is other code serving. smoke's promise is about
	// the answer it got: one version of the split serving the code keeps it.
	var failed []string
	for _, v := range f.servingTargets() {
		ok, detail := f.versionServes(key, v, p.maxPromptChars)
		switch {
		case ok && p.anyVersion:
			return true, ""
		case !ok && !p.anyVersion:
			return false, detail + onVersion(v)
		case !ok:
			failed = append(failed, detail+onVersion(v))
		}
	}
	if len(failed) > 0 {
		return false, strings.Join(failed, "; ")
	}
	return true, ""
}

// versionServes checks that the smoke request, sent with key to version (through the
// override header; "" for none), gets a PNG and, when maxPromptChars is set, that a longer
// prompt is refused as that MAX_PROMPT_CHARS var says.
func (f *convFixture) versionServes(key, version string, maxPromptChars int) (bool, string) {
	status, body := f.postTo(key, smokePrompt, version)
	if status != http.StatusOK {
		return false, fmt.Sprintf("the smoke request got %d (%.120s)", status, body)
	}
	if _, err := png.Decode(bytes.NewReader(body)); err != nil {
		return false, fmt.Sprintf("200 but not a PNG, other code serves (%.120s)", body)
	}
	if maxPromptChars == 0 {
		return true, ""
	}
	prompt, _ := json.Marshal(map[string]string{"prompt": strings.Repeat("a", maxPromptChars+1)})
	status, body = f.postTo(key, string(prompt), version)
	if want := fmt.Sprintf("longer than %d characters", maxPromptChars); status != http.StatusBadRequest || !strings.Contains(string(body), want) {
		return false, fmt.Sprintf("a prompt of %d characters got %d (%.120s), want 400 %q: other vars serve",
			maxPromptChars+1, status, body, want)
	}
	return true, ""
}

// workingKey returns first when it opens the worker, else the first key the story knows (by
// name) that does, else "".
func (f *convFixture) workingKey(first string) string {
	candidates := []string{first}
	for _, name := range slices.Sorted(maps.Keys(f.keys)) {
		candidates = append(candidates, f.keys[name])
	}
	for _, k := range candidates {
		if k == "" {
			continue
		}
		if status, _ := f.post(k); status == http.StatusOK {
			return k
		}
	}
	return ""
}

// workingKeys returns the keys of f.keys that open the worker now: when a run starts, the
// keys clients hold from the runs that completed before (not a key a run still under way has
// written to its --key-out: until it exits 0 that run promised nothing, and a rotation that
// finds that key deployed but not recorded as handed over replaces it, docs/rotation.md).
func (f *convFixture) workingKeys() []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(f.keys)) {
		k := f.keys[name]
		if k == "" || slices.Contains(out, k) {
			continue
		}
		if status, _ := f.post(k); status == http.StatusOK {
			out = append(out, k)
		}
	}
	return out
}

// checkFailedClearly checks how a run that met another run failed: exit 1 and one error line,
// the last of stderr, that names the worker, without a Go stack or a bare transport error.
// (checkClearFailure also wants "step: cause"; a refusal before any write, such as "no key for
// images ...; nothing was changed", says what and why in a sentence instead.)
func checkFailedClearly(t *testing.T, label string, r result) {
	t.Helper()
	if r.code != exitError {
		t.Errorf("%s failed with exit %d, want 1", label, r.code)
	}
	for _, bad := range []string{"goroutine ", "panic:", "runtime error", "[recovered]"} {
		if strings.Contains(r.stdout+r.stderr, bad) {
			t.Errorf("%s printed %q:\n%s", label, bad, r.stderr)
		}
	}
	lines := errorLine.FindAllStringSubmatch(r.stderr, -1)
	if len(lines) != 1 {
		t.Errorf("%s: %d error lines, want exactly 1:\n%s", label, len(lines), r.stderr)
		return
	}
	msg := lines[0][1]
	if !strings.HasSuffix(strings.TrimRight(r.stderr, "\n"), "Error: "+msg) {
		t.Errorf("%s: the error is not the last, single line of stderr:\n%s", label, r.stderr)
	}
	// promote without WORKER refuses for the whole spec when no worker serves a canary
	// (its --help): the refusal names none, and is clear without.
	if !strings.Contains(msg, convWorker) && !strings.HasPrefix(msg, "promote: no worker of the spec has a canary") {
		t.Errorf("%s: the error does not name the worker %q: %s", label, convWorker, msg)
	}
	for _, bare := range []string{"EOF", "connection reset by peer", "connection refused", "context deadline exceeded"} {
		if strings.HasSuffix(msg, bare) && !strings.Contains(msg, "changed while this run was applying") {
			t.Errorf("%s: the error ends in a bare transport error: %s", label, msg)
		}
	}
}

// checkAtEnd checks every promise of r right after it ended (before any other run went on):
// whether its own exit 0 was true then. It reports whether one did not hold.
func checkAtEnd(t *testing.T, f *convFixture, r *runRecord) (silent bool) {
	t.Helper()
	if r.res.code != exitOK {
		checkFailedClearly(t, r.label, r.res)
		return false
	}
	if failingCommand(r.command) {
		t.Errorf("%s exited 0 although its code fails the smoke test", r.label)
		return true
	}
	for _, p := range r.promises {
		if ok, detail := f.holds(p); !ok {
			t.Errorf("%s exited 0, but right after it %s does not hold: %s", r.label, p.what, detail)
			silent = true
		}
	}
	return silent
}

// checkStory checks, after the last run, every promise of the runs (in the order they ended)
// that exited 0, unless a later run legitimately replaced it, and that every failed run failed
// clearly. It reports whether an exit 0 was found false: a silent loss.
func checkStory(t *testing.T, f *convFixture, runs []*runRecord) (silent bool) {
	t.Helper()
	for i, r := range runs {
		if !r.ran {
			continue
		}
		last := i == len(runs)-1
		if r.res.code != exitOK {
			if last { // the others were checked when they ended
				checkFailedClearly(t, r.label, r.res)
			}
			continue
		}
		if failingCommand(r.command) {
			if last {
				t.Errorf("%s exited 0 although its code fails the smoke test", r.label)
				silent = true
			}
			continue
		}
		if r.instant && !last {
			continue
		}
	promises:
		for _, p := range r.promises {
			for _, later := range runs[i+1:] {
				if supersedes(later, r, p) {
					t.Logf("%s: %s no longer needs to hold: %s exited 0 after it and replaced it", r.label, p.what, later.label)
					continue promises
				}
			}
			ok, detail := f.holds(p)
			if ok {
				continue
			}
			note, gap := "", false
			for _, later := range runs[i+1:] {
				if later.ran && later.command == cmdDestroy && later.res.code == exitOK {
					note, gap = deleteGapNote(later, r)
				}
			}
			if gap {
				// The one case docs/guarantees.md states no conditional delete can promise: the
				// run completed entirely between destroy's check and its delete.
				t.Logf("known limitation: %s exited 0, but afterwards %s does not hold: %s%s", r.label, p.what, detail, note)
				continue
			}
			silent = true
			t.Errorf("%s exited 0, but afterwards %s does not hold: %s%s", r.label, p.what, detail, note)
		}
	}
	return silent
}

// deleteGapNote explains how destroy, which exited 0 after earlier ended, came to delete what
// earlier left: in the one round trip between its check before the delete and the delete (gap:
// what docs/guarantees.md, "What no conditional delete can promise", describes; earlier began
// after destroy's plan read and ended before its delete), or after a check that already saw
// earlier's version (which its guard must refuse).
func deleteGapNote(destroy, earlier *runRecord) (note string, gap bool) {
	var check time.Time
	for _, c := range destroy.calls {
		switch {
		case c.method == http.MethodGet && strings.HasSuffix(c.path, "/deployments"):
			check = c.forwarded
		case c.method == http.MethodDelete && strings.HasSuffix(c.path, "/workers/scripts/"+convWorker):
			if check.Before(earlier.ended) && c.forwarded.After(earlier.ended) {
				return fmt.Sprintf(" (%s deleted it in the round trip between its check before the delete and the delete: the gap docs/guarantees.md, \"What no conditional delete can promise\", describes)", destroy.label), true
			}
			return fmt.Sprintf(" (%s read the deployments after %s ended and still deleted what it had not planned to)", destroy.label, earlier.label), false
		}
	}
	return fmt.Sprintf(" (%s exited 0 after it)", destroy.label), false
}

// logStory logs every run's output, for a story that failed.
func logStory(t *testing.T, runs []*runRecord) {
	for _, r := range runs {
		if r.ran {
			t.Logf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", r.label, r.res.code, r.res.stdout, r.res.stderr)
		}
	}
}

// checkout is a second checkout of the fixture's project, as another machine (a CI job, a
// colleague) has it: the spec, src/ and a copy of the key store as it was when it was made.
type checkout struct {
	f      *convFixture
	name   string
	spec   string
	keyOut string // --key-out of its rotations
	env    map[string]string
}

// newCheckout copies the fixture's project now (key store included). With failing the worker's
// code answers JSON instead of an image, so its apply fails the smoke test.
func (f *convFixture) newCheckout(name string, failing bool) *checkout {
	f.t.Helper()
	dir := filepath.Join(f.t.TempDir(), filepath.Base(filepath.Dir(f.spec)))
	copyProject(f.t, filepath.Dir(f.spec), dir, true)
	c := &checkout{f: f, name: name, spec: filepath.Join(dir, filepath.Base(f.spec)),
		keyOut: filepath.Join(f.keyDir, name+".key"), env: maps.Clone(f.c.env)}
	if failing {
		editFile(f.t, filepath.Join(dir, "src", "worker.js"), imageAnswer, hollowAnswer)
	}
	return c
}

// args is command run from this checkout (without -f).
func (c *checkout) args(command string) []string {
	switch command {
	case cmdApply, cmdFailingApply:
		return []string{"apply", "--auto-approve"}
	case cmdConsumers:
		return []string{"apply", "--auto-approve", "--key-out", c.keyOut}
	case cmdRotate:
		return []string{"rotate-key", convWorker, "--grace", "1h", "--key-out", c.keyOut}
	case cmdRevoke:
		return []string{"rotate-key", convWorker, "--revoke", "--key-out", c.keyOut}
	case cmdDestroy:
		return []string{"destroy", "--auto-approve"}
	case cmdSmoke:
		return []string{"smoke"}
	case cmdCanary, cmdFailingCanary:
		// --json: the result names the new version and the plan the stable one.
		return []string{"--json", "apply", "--canary", "10", "--auto-approve"}
	case cmdPromote:
		return []string{"--json", "promote", "--auto-approve"}
	case cmdRollback:
		return []string{"--json", "rollback", "--auto-approve"}
	}
	c.f.t.Fatalf("no arguments for %q", command)
	return nil
}

// start starts command from this checkout as the real binary, against apiBase.
func (c *checkout) start(apiBase, command string) *proc {
	c.f.t.Helper()
	env := maps.Clone(c.env)
	env[envAPIBaseURL] = apiBase
	return newBinCLI(c.f.t, env).start(append([]string{"-f", c.spec}, c.args(command)...)...)
}

// run runs command from this checkout to its end, straight against the local Cloudflare, and
// records it; heldBefore are the keys that opened the worker when it started.
func (c *checkout) run(label, command string, heldBefore []string) *runRecord {
	c.f.t.Helper()
	r := &runRecord{label: label, command: command, ran: true}
	r.res = c.start(c.f.srv.APIBaseURL(), command).wait(c.f.t)
	r.ended = time.Now()
	c.f.record(r.res)
	r.promises, r.instant = c.promises(command, r.res, heldBefore)
	return r
}

// promises are what command, run from this checkout, promised by exiting with res (none
// unless 0). heldBefore are the keys that opened the worker when it started: a rotation keeps
// them working for its window, a revoke refuses them.
func (c *checkout) promises(command string, res result, heldBefore []string) (ps []promise, instant bool) {
	f := c.f
	if res.code != exitOK {
		return nil, false
	}
	switch command {
	case cmdApply, cmdSmoke:
		key := c.storedKey()
		ps = append(ps, promise{kind: promiseKeyWorks, what: "the key its smoke test ran with opens the worker", key: key})
		sp := promise{kind: promiseServes, what: "its code serves (one version of a split at least: the one its request reached)", key: key, anyVersion: true}
		if command == cmdApply {
			sp.maxPromptChars, sp.anyVersion = specMaxPromptChars(f.t, c.spec), false
			sp.what = fmt.Sprintf("its code and MAX_PROMPT_CHARS=%d serve", sp.maxPromptChars)
		}
		return append(ps, sp), command == cmdSmoke
	case cmdRotate, cmdRevoke:
		key := f.readKey(c.name+"'s rotated key", c.keyOut)
		ps = append(ps, promise{kind: promiseKeyWorks, what: "the key it handed over opens the worker", key: key})
		for n, old := range heldBefore {
			if old == key {
				continue // a resumed rotation hands over the key that was already deployed
			}
			if command == cmdRotate {
				ps = append(ps, promise{kind: promiseKeyWindow, what: fmt.Sprintf("key #%d clients held before it opens the worker (its window)", n+1), key: old})
			} else {
				ps = append(ps, promise{kind: promiseKeyRefused, what: fmt.Sprintf("key #%d clients held before it is refused (revoked)", n+1), key: old})
			}
		}
	case cmdDestroy:
		ps = append(ps, promise{kind: promiseGone, what: "the worker is gone"})
	case cmdCanary, cmdPromote, cmdRollback:
		ps = c.rolloutPromises(command, res)
	case cmdConsumers:
		ps = c.consumerPromises()
	}
	return ps, false
}

// storedKey is the key this checkout's key store holds for the worker (the active one when
// there are several), "" when it holds none.
func (c *checkout) storedKey() string {
	b, err := os.ReadFile(filepath.Join(filepath.Dir(c.spec), ".flareform", "keys.json"))
	if err != nil {
		return ""
	}
	var doc struct {
		Keys []struct{ Script, Key, State string } `json:"keys"`
	}
	if json.Unmarshal(b, &doc) != nil {
		return ""
	}
	key := ""
	for _, e := range doc.Keys {
		if e.Script == convWorker && (key == "" || e.State == "active") {
			key = e.Key
		}
	}
	return key
}

var maxPromptCharsRE = regexp.MustCompile(`MAX_PROMPT_CHARS: "(\d+)"`)

// specMaxPromptChars reads MAX_PROMPT_CHARS from the spec at path.
func specMaxPromptChars(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := maxPromptCharsRE.FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s has no MAX_PROMPT_CHARS", path)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// dropRateLimit takes the template's per-key rate limit out of the spec: the checks of a
// concurrent-run story send more requests per key than it allows in a minute, and a 429 would
// hide whether the key is accepted.
func (f *convFixture) dropRateLimit() {
	f.t.Helper()
	editFile(f.t, f.spec, "    rate_limit:\n      limit: 20\n      period: 60\n", "")
}

// scenarioCommand is the command kind a convergence scenario runs.
func scenarioCommand(sc convScenario) string {
	switch {
	case sc.command == "apply":
		return cmdApply
	case sc.command == "destroy":
		return cmdDestroy
	case strings.Contains(sc.name, "finish"):
		return cmdFinish
	case strings.Contains(sc.name, "revoke"):
		return cmdRevoke
	}
	return cmdRotate
}

// scenarioPromises are what the scenario's command promised by exiting 0 with res: what its
// converged check checks after it ran alone (convergence_scenarios_test.go).
func scenarioPromises(f *convFixture, sc convScenario, res result) []promise {
	t := f.t
	if res.code != exitOK {
		return nil
	}
	works := func(what, key string) promise { return promise{kind: promiseKeyWorks, what: what, key: key} }
	serves := func(key string) promise {
		n := specMaxPromptChars(t, f.spec)
		return promise{kind: promiseServes, what: fmt.Sprintf("the spec's code and MAX_PROMPT_CHARS=%d serve", n), key: key, maxPromptChars: n}
	}
	jsonKey := func() string {
		key, n := handedInJSON(t, []result{res})
		if n != 1 {
			t.Errorf("%s exited 0 and handed %d keys over in its JSON result, want 1", sc.name, n)
			return ""
		}
		f.remember("handed over in JSON", key)
		return key
	}
	// An update whose plan found no worker (another run destroyed it before the plan read it)
	// creates it: a generated key is then a new one, in the key store, and an env key has no
	// previous key to keep.
	created := strings.Contains(res.stdout, `worker "`+convWorker+`" (create)`)
	switch sc.name {
	case "apply-create-key-out":
		key := f.readKey("generated", f.keyFile)
		return []promise{works("the key from --key-out opens the worker", key), serves(key)}
	case "apply-create-json":
		key := jsonKey()
		return []promise{works("the key from the JSON result opens the worker", key), serves(key)}
	case "apply-update-var":
		key := f.oldKey
		if created {
			key = (&checkout{f: f, spec: f.spec}).storedKey()
			f.remember("generated on re-creation", key)
		}
		return []promise{works("the key its smoke test ran with opens the worker", key), serves(key)}
	case "apply-update-env-key":
		newKey := f.c.env["IMAGES_API_KEY"]
		ps := []promise{works("the new env key opens the worker", newKey), serves(newKey)}
		if !created {
			ps = append(ps, promise{kind: promiseKeyWindow, what: "the replaced env key opens the worker (its window)", key: f.oldKey})
		}
		return ps
	case "destroy":
		return []promise{{kind: promiseGone, what: "the worker is gone"}}
	case "rotate-grace-key-out", "rotate-grace-json":
		var key string
		if sc.name == "rotate-grace-json" {
			key = jsonKey()
		} else {
			key = f.readKey("rotated", f.keyFile)
		}
		if key == f.oldKey {
			t.Errorf("%s exited 0 but handed the old key over", sc.name)
		}
		return []promise{
			works("the rotated key opens the worker", key),
			{kind: promiseKeyWindow, what: "the old key opens the worker (its window)", key: f.oldKey},
		}
	case "rotate-finish":
		return []promise{
			works("the current key opens the worker", f.oldKey),
			{kind: promiseKeyRefused, what: "the retired key is refused", key: f.prevKey},
		}
	case "rotate-revoke-key-out":
		key := f.readKey("revoke", f.keyFile)
		return []promise{
			works("the new key opens the worker", key),
			{kind: promiseKeyRefused, what: "the revoked current key is refused", key: f.oldKey},
			{kind: promiseKeyRefused, what: "the revoked previous key is refused", key: f.prevKey},
		}
	}
	t.Fatalf("no promises known for scenario %s", sc.name)
	return nil
}

// runOtherRunSchedule prepares the scenario, makes the second checkout, runs the command and, while
// it waits in the schedule's call, runs the other flareform run from that checkout to its end.
// The other run's promises are checked as it ends; after the command ended, both runs'.
func runOtherRunSchedule(t *testing.T, sc convScenario, rs otherRunSchedule, tally *convTally) {
	outcome := outcomeFailed
	silent := false
	var runs []*runRecord
	defer func() {
		if t.Failed() {
			outcome = outcomeFailed
			t.Logf("concurrent-run schedule %d (%s, %s) failed; reproduce: go test ./cmd/flareform -run '^TestFaultConvergence$/^schedules$/^run-%03d-' -count=1 -args -convergence.schedules=%d -convergence.runs=%d -convergence.seed=%d",
				rs.Index, sc.name, rs, rs.Index, *convSchedules, *convRuns, *convSeed)
			logStory(t, runs)
		}
		tally.add(scheduleResult{kind: kindRun, command: sc.command, label: fmt.Sprintf("run-%03d", rs.Index),
			outcome: outcome, silentLoss: silent})
	}()

	f := newConvFixture(t)
	f.dropRateLimit()
	sc.prepare(f)
	failing := rs.Other.command == cmdFailingApply
	var other *checkout
	if !rs.Other.sharedStore {
		// The second machine's checkout as of now, key store included: it knows the keys
		// handed over so far, not the one the command is about to make.
		other = f.newCheckout("other", failing)
	}
	cmd := &runRecord{label: fmt.Sprintf("the command (%s)", sc.name), command: scenarioCommand(sc), ran: true}
	gate := newCallGate(t, f.srv.APIBaseURL(), rs.Step, false)
	p := f.startBinary(gate.url, sc.args(f))
	if gate.waitHeld(t, p) {
		if other == nil {
			other = f.newCheckout("other", failing) // the store as the command left it so far
		}
		var held []string
		if rs.Other.command == cmdRotate {
			held = f.workingKeys()
		}
		o := other.run(fmt.Sprintf("the other run (%s)", rs.Other), rs.Other.command, held)
		runs = append(runs, o)
		t.Logf("%s at call %d: exit %d %s", rs.Other, rs.Step, o.res.code, lastLine(o.res.stderr))
		silent = checkAtEnd(t, f, o)
		gate.end(true)
	} else {
		t.Logf("the command ended before call %d: nothing ran meanwhile", rs.Step)
	}
	cmd.res = p.wait(t)
	cmd.ended = time.Now()
	f.record(cmd.res)
	cmd.calls = gate.forwarded()
	cmd.firstRead = firstDeploymentsRead(cmd.calls)
	runs = append(runs, cmd)
	t.Logf("the command exited %d: %s", cmd.res.code, lastLine(cmd.res.stderr))
	cmd.promises = scenarioPromises(f, sc, cmd.res)
	if cmd.res.code != exitOK {
		f.handedOverThenFailed = strings.Contains(cmd.res.stdout, `"handed_over": true`)
	}
	if checkStory(t, f, runs) {
		silent = true
	}
	checkNoLeaks(t, f)
	switch {
	case t.Failed():
	case cmd.res.code == exitOK:
		outcome = outcomeFirstRun
	default:
		outcome = outcomeStopped
	}
}

// TestOtherRunSchedulesDrawEveryRun: with the benchmark's 200 schedules (40 concurrent-run
// ones over the nine scenarios, about as many calls as calibration finds), every seed meets
// every other run, and every scenario with as many schedules as there are other runs meets
// all of them; schedules are repeatable from (seed, index).
func TestOtherRunSchedulesDrawEveryRun(t *testing.T) {
	calls := []int{10, 10, 11, 13, 5, 12, 12, 16, 22}
	_, _, _, runs := scheduleMix(200, -1, -1, -1)
	for seed := int64(1); seed <= 20; seed++ {
		seen := map[otherRun]int{}
		byScenario := map[int]map[otherRun]bool{}
		for i := range runs {
			s := makeOtherRunSchedule(seed, i, calls)
			if again := makeOtherRunSchedule(seed, i, calls); again != s {
				t.Fatalf("seed %d schedule %d differs between two derivations: %v vs %v", seed, i, s, again)
			}
			if s.Step < 0 || s.Step >= calls[s.Scenario] {
				t.Errorf("seed %d schedule %d: call %d of a scenario with %d calls", seed, i, s.Step, calls[s.Scenario])
			}
			seen[s.Other]++
			if byScenario[s.Scenario] == nil {
				byScenario[s.Scenario] = map[otherRun]bool{}
			}
			byScenario[s.Scenario][s.Other] = true
		}
		for _, o := range otherRuns {
			if seen[o] == 0 {
				t.Errorf("seed %d: no schedule runs %s", seed, o)
			}
		}
		for sc, got := range byScenario {
			if n := (runs - sc + len(calls) - 1) / len(calls); n >= len(otherRuns) && len(got) != len(otherRuns) {
				t.Errorf("seed %d: scenario %d has %d schedules but meets only %d other runs", seed, sc, n, len(got))
			}
		}
	}
}

// TestFinishMeetsAnotherRun: rotate-key --finish, its previous key deleted by then (so the
// worker is in no rotation), waits in the settings PATCH that drops API_KEY_PREVIOUS_EXPIRES
// (before the server sees it) or in that PATCH's read-back, while another run from a second
// checkout starts a rotation or destroys the worker. The concurrent-run schedules met these
// (rotate-finish with rotate-key and with destroy); this test holds the same moments by the
// calls' kinds, not their numbers, so it stays put when the engine's calls change.
func TestFinishMeetsAnotherRun(t *testing.T) {
	t.Parallel()
	pauses := []pausePoint{
		{"delete-secret", holdNth(http.MethodDelete, "/secrets/API_KEY_PREVIOUS", 1)},
		{"drop-expiry", holdNth(http.MethodPatch, "/settings", 1)},
		{"read-back", holdAfter(http.MethodPatch, "/settings", http.MethodGet, "/settings")},
	}
	for _, pause := range pauses {
		for _, other := range []string{cmdRotate, cmdDestroy} {
			t.Run(pause.name+"/"+other, func(t *testing.T) {
				t.Parallel()
				finishMeets(t, pause, other)
			})
		}
	}
}

// finishMeets runs one case of TestFinishMeetsAnotherRun.
func finishMeets(t *testing.T, pause pausePoint, other string) {
	f := newConvFixture(t)
	f.dropRateLimit()
	f.prevKey = f.deployWithKeyFile()
	f.oldKey = f.rotateWithKeyFile()
	b := f.newCheckout("other", false)
	var runs []*runRecord
	defer func() {
		if t.Failed() {
			logStory(t, runs)
		}
	}()

	gate := newCallGate(t, f.srv.APIBaseURL(), -1, false)
	gate.holdWhen = pause.match()
	p := f.startBinary(gate.url, []string{"rotate-key", convWorker, "--finish", "--key-file", f.keyFile})
	if !gate.waitHeld(t, p) {
		r := p.wait(t)
		t.Fatalf("--finish ended (exit %d) without reaching %s:\n%s", r.code, pause.name, r.stderr)
	}
	o := b.run(fmt.Sprintf("the other run (%s)", other), other, f.workingKeys())
	runs = append(runs, o)
	checkAtEnd(t, f, o)
	gate.end(true)

	fin := &runRecord{label: "the command (rotate-key --finish)", command: cmdFinish, ran: true}
	fin.res = p.wait(t)
	fin.ended = time.Now()
	f.record(fin.res)
	fin.calls = gate.forwarded()
	fin.firstRead = firstDeploymentsRead(fin.calls)
	runs = append(runs, fin)
	if fin.res.code == exitOK {
		fin.promises = []promise{
			{kind: promiseKeyWorks, what: "the current key opens the worker", key: f.oldKey},
			{kind: promiseKeyRefused, what: "the retired key is refused", key: f.prevKey},
		}
	}
	checkStory(t, f, runs)
	checkNoLeaks(t, f)
}
