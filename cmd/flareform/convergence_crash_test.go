package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// crashSchedule kills the command, run as the real binary, with SIGKILL while its API call
// number Step (0-based) is held by a callGate: before the server saw it, or after the server
// did it and before the answer reached the command (AfterHandled).
type crashSchedule struct {
	Index, Scenario, Step int
	AfterHandled          bool
}

func (c crashSchedule) String() string {
	return fmt.Sprintf("call%d-%s", c.Step, map[bool]string{false: "sent", true: "done"}[c.AfterHandled])
}

// makeCrashSchedule derives crash schedule i. Scenarios are taken in turn; within a scenario
// the kill point walks through every (call, before/after) position, starting where the seed
// says, so enough schedules kill every command at every call.
func makeCrashSchedule(seed int64, i int, calls []int) crashSchedule {
	s := crashSchedule{Index: i, Scenario: i % len(calls)}
	positions := 2 * max(calls[s.Scenario], 1)
	pos := walkPosition(seed, kindCrash, i, len(calls), positions)
	s.Step, s.AfterHandled = pos/2, pos%2 == 1
	return s
}

// walkPosition is the position schedule i of a kind takes among its scenario's positions:
// the scenario's schedules walk through all of them one by one, from a start the seed draws
// for each (kind, scenario), so a short run (CI's) does not hit call 0 of every scenario.
func walkPosition(seed int64, kind string, i, scenarios, positions int) int {
	scenario := i % scenarios
	start := scheduleRand(seed+int64(len(kind)), scenario).IntN(positions)
	return (start + i/scenarios) % positions
}

// Writers a concurrent-writer schedule can run while the command waits.
const (
	// writerUpload uploads other code to the worker through the API, keeping every binding
	// (keep_bindings), as another tool deploying the same worker would: keys keep working, the
	// code is not the spec's.
	writerUpload = "upload"
	// writerSecret sets the worker's API_KEY secret to a new value through the API, as
	// `wrangler secret put` would.
	writerSecret = "secret"
)

var writers = []string{writerUpload, writerSecret}

// writerSchedule runs a writer while the command, run as the real binary, waits in its API
// call number Step (held by a callGate before the server saw it).
type writerSchedule struct {
	Index, Scenario, Step int
	Writer                string
}

func (w writerSchedule) String() string { return fmt.Sprintf("call%d-%s", w.Step, w.Writer) }

// makeWriterSchedule derives concurrent-writer schedule i: scenarios in turn, and within a
// scenario every (call, writer) position in turn, starting where the seed says.
func makeWriterSchedule(seed int64, i int, calls []int) writerSchedule {
	s := writerSchedule{Index: i, Scenario: i % len(calls)}
	positions := len(writers) * max(calls[s.Scenario], 1)
	pos := walkPosition(seed, kindConcurrent, i, len(calls), positions)
	s.Step, s.Writer = pos/len(writers), writers[pos%len(writers)]
	return s
}

// startBinary starts the command under test as the real flareform binary, with the fixture's
// environment but the API base URL given (a callGate's).
func (f *convFixture) startBinary(apiBase string, args []string) *proc {
	f.t.Helper()
	env := maps.Clone(f.c.env)
	env[envAPIBaseURL] = apiBase
	return newBinCLI(f.t, env).start(append([]string{"-f", f.spec}, args...)...)
}

// record adds a binary run's output to the transcript the leak check searches.
func (f *convFixture) record(r result) {
	f.c.transcript = append(f.c.transcript, r.stdout, r.stderr)
}

// runCrashSchedule prepares the scenario, kills its command at the schedule's call and runs it
// again (with a new --key-out where it has one). The re-run must converge, or fail clearly
// and the run after it converge.
func runCrashSchedule(t *testing.T, sc convScenario, cs crashSchedule, tally *convTally) {
	outcome := outcomeFailed
	var f *convFixture
	var runs []result
	defer func() {
		if t.Failed() {
			outcome = outcomeFailed
			t.Logf("crash schedule %d (%s, kill at %s) failed", cs.Index, sc.name, cs)
			logRuns(t, runs)
		}
		tally.add(scheduleResult{kind: kindCrash, command: sc.command, label: fmt.Sprintf("crash-%03d", cs.Index),
			outcome: outcome, silentLoss: silentLoss(f, runs)})
	}()

	f = newConvFixture(t)
	sc.prepare(f)
	gate := newCallGate(t, f.srv.APIBaseURL(), cs.Step, cs.AfterHandled)
	p := f.startBinary(gate.url, sc.args(f))
	var killed result
	if gate.waitHeld(t, p) {
		f.crashed = true
		killed = p.kill9(t)
		gate.end(false)
		f.record(killed)
		t.Logf("killed at %s; it had printed:\n%s%s", cs, killed.stdout, killed.stderr)
	} else {
		// The run made fewer calls than calibrated and ended by itself: it counts as a run.
		killed = p.wait(t)
		f.record(killed)
		t.Logf("the run ended (exit %d) before call %d", killed.code, cs.Step)
		runs = append(runs, killed)
	}

	if sc.keyOut && f.crashed {
		// The run after a crash hands its key to a file of its own; a run that ended by itself
		// handed its key to the first file, which the re-run (no changes) leaves as it is.
		f.keyFile = filepath.Join(f.keyDir, "after-crash.key")
	}
	args := sc.args(f)
	rerun := f.cmd(args...)
	runs = append(runs, rerun)
	outcome = outcomeFirstRun
	if rerun.code != exitOK {
		t.Logf("the run after the crash failed: %s", lastLine(rerun.stderr))
		checkClearFailure(t, rerun)
		third := f.cmd(args...)
		runs = append(runs, third)
		if third.code != exitOK {
			t.Fatalf("the second run after the crash failed too: exit %d\nstdout:\n%s\nstderr:\n%s", third.code, third.stdout, third.stderr)
		}
		outcome = outcomeRerun
	}
	f.lost = nil
	sc.converged(f, runs)
	checkNoLeaks(t, f)
}

// runWriterSchedule prepares the scenario, runs its command and, while the command waits in
// the schedule's call, lets the other writer change the worker. The command must exit 0 with
// its guarantees holding, or fail clearly; then a plain re-run must converge or, only after
// the secret writer (whose key flareform cannot know), fail clearly too: stopped clearly.
func runWriterSchedule(t *testing.T, sc convScenario, ws writerSchedule, tally *convTally) {
	outcome := outcomeFailed
	var f *convFixture
	var runs []result
	defer func() {
		if t.Failed() {
			outcome = outcomeFailed
			t.Logf("concurrent-writer schedule %d (%s, %s) failed", ws.Index, sc.name, ws)
			logRuns(t, runs)
		}
		tally.add(scheduleResult{kind: kindConcurrent, command: sc.command, label: fmt.Sprintf("writer-%03d", ws.Index),
			outcome: outcome, silentLoss: silentLoss(f, runs)})
	}()

	f = newConvFixture(t)
	sc.prepare(f)
	args := sc.args(f)
	gate := newCallGate(t, f.srv.APIBaseURL(), ws.Step, false)
	p := f.startBinary(gate.url, args)
	wrote := false
	if gate.waitHeld(t, p) {
		wrote = runWriter(f, ws.Writer)
		gate.end(true)
	}
	first := p.wait(t)
	f.record(first)
	runs = []result{first}
	t.Logf("writer %s at call %d wrote %t; the command exited %d: %s", ws.Writer, ws.Step, wrote, first.code, lastLine(first.stderr))

	// rotate-key keeps the code (and the version's record of it) it finds; when the other
	// writer's version landed before it read the worker, that serving afterwards is no lie of
	// rotate-key's, which promises keys only.
	f.keysOnly = sc.command == "rotate-key" && wrote
	outcome = outcomeFirstRun
	if first.code != exitOK {
		checkClearFailure(t, first)
		// A run that handed its key over in its JSON and then failed: the re-run hands the
		// key it settles over again (docs/rotation.md), as in the fault schedules.
		f.handedOverThenFailed = strings.Contains(first.stdout, `"handed_over": true`)
		// The same command again, same --key-out: a failed apply may have handed its
		// (deployed) key over there already.
		rerun := f.cmd(args...)
		runs = append(runs, rerun)
		outcome = outcomeRerun
		if rerun.code != exitOK {
			// Another party replaced the key clients use: flareform does not override it
			// without being given it, and says so. That is a clear stop, not a lie.
			checkClearFailure(t, rerun)
			if ws.Writer != writerSecret {
				t.Errorf("the re-run failed after a writer that kept the keys: exit %d\n%s", rerun.code, rerun.stderr)
			}
			if !t.Failed() {
				outcome = outcomeStopped
			}
			checkNoLeaks(t, f)
			return
		}
	}
	f.lost = nil
	sc.converged(f, runs)
	checkNoLeaks(t, f)
}

// logRuns logs every run's output, for a schedule that failed.
func logRuns(t *testing.T, runs []result) {
	for n, r := range runs {
		t.Logf("run %d: exit %d\nstdout:\n%s\nstderr:\n%s", n+1, r.code, r.stdout, r.stderr)
	}
}

// runWriter makes the writer's change to the worker through the API and reports whether it
// changed anything (false when the worker does not exist yet: there is nothing to change).
func runWriter(f *convFixture, writer string) bool {
	f.t.Helper()
	switch writer {
	case writerUpload:
		return writerAPICall(f, http.MethodPut, "", otherWriterUpload())
	case writerSecret:
		key := randomKey(f.t)
		f.remember("other writer's key", key)
		body, _ := json.Marshal(map[string]string{"name": "API_KEY", "text": key, "type": "secret_text"})
		if !writerAPICall(f, http.MethodPut, "/secrets", apiBody{contentType: "application/json", body: body}) {
			return false
		}
		// The other writer handed its key to the clients: the key they held before is gone
		// by its hand, not flareform's, and its key is the one they now hold.
		f.oldKey = key
		return true
	}
	f.t.Fatalf("unknown writer %q", writer)
	return false
}

type apiBody struct {
	contentType string
	body        []byte
}

// writerAPICall sends one call of the other writer for the worker; a 404 (no worker yet) is
// false, any other failure fails the test.
func writerAPICall(f *convFixture, method, suffix string, b apiBody) bool {
	f.t.Helper()
	u := fmt.Sprintf("%s/accounts/%s/workers/scripts/%s%s", f.srv.APIBaseURL(), f.srv.AccountID(), convWorker, suffix)
	if method == http.MethodPut && suffix == "" && !workerExists(f) {
		return false // an upload would create the worker; the writer only changes one
	}
	req, err := http.NewRequestWithContext(f.t.Context(), method, u, bytes.NewReader(b.body))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+f.srv.Token())
	req.Header.Set("Content-Type", b.contentType)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatalf("the other writer's %s: %v", method, err)
	}
	defer res.Body.Close()
	var out bytes.Buffer
	out.ReadFrom(res.Body)
	switch {
	case res.StatusCode == http.StatusNotFound:
		return false
	case res.StatusCode != http.StatusOK:
		f.t.Fatalf("the other writer's %s %s: %d %s", method, suffix, res.StatusCode, out.String())
	}
	return true
}

// workerExists asks the API whether the worker's script exists.
func workerExists(f *convFixture) bool {
	for _, raw := range listScripts(f.t, f.srv.APIBaseURL(), f.srv.Token(), f.srv.AccountID()) {
		var s struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(raw, &s) == nil && s.ID == convWorker {
			return true
		}
	}
	return false
}

// otherWorkerJS is the other writer's code: it checks the key as the template does (current
// key, previous key inside its window) but answers text, so "the spec's code serves" (a PNG)
// tells the two apart.
const otherWorkerJS = `export default {
  async fetch(request, env) {
    const auth = request.headers.get("authorization") || "";
    const ok = auth === "Bearer " + env.API_KEY ||
      (env.API_KEY_PREVIOUS && auth === "Bearer " + env.API_KEY_PREVIOUS &&
        Date.now() < Date.parse(env.API_KEY_PREVIOUS_EXPIRES || ""));
    if (!ok) return new Response("unauthorized", { status: 401 });
    return new Response("deployed by another writer", { headers: { "content-type": "text/plain" } });
  },
};
`

// otherWriterUpload is a script upload of otherWorkerJS that keeps every binding of the
// worker's latest version.
func otherWriterUpload() apiBody {
	const boundary = "otherwriterboundary"
	meta, _ := json.Marshal(map[string]any{
		"main_module":        "worker.js",
		"compatibility_date": "2025-01-01",
		"keep_bindings":      []string{"secret_text", "plain_text", "ai", "json"},
	})
	var body strings.Builder
	fmt.Fprintf(&body, "--%s\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n%s\r\n", boundary, meta)
	fmt.Fprintf(&body, "--%s\r\nContent-Disposition: form-data; name=\"worker.js\"; filename=\"worker.js\"\r\nContent-Type: application/javascript+module\r\n\r\n%s\r\n", boundary, otherWorkerJS)
	fmt.Fprintf(&body, "--%s--\r\n", boundary)
	return apiBody{contentType: "multipart/form-data; boundary=" + boundary, body: []byte(body.String())}
}

// TestCrashedFinishConvergesToThePlan: rotate-key --finish killed right after its deletion of
// API_KEY_PREVIOUS took effect (that secret edit deploys a version without flareform's
// annotation). The re-run must finish and leave a worker plan has nothing to change on; it
// used to leave the code "deployed outside flareform" for good.
func TestCrashedFinishConvergesToThePlan(t *testing.T) {
	t.Parallel()
	f := newConvFixture(t)
	prev := f.deployWithKeyFile()
	current := f.rotateWithKeyFile()
	args := []string{"rotate-key", convWorker, "--finish", "--key-file", f.keyFile}
	gate := newCallGate(t, f.srv.APIBaseURL(), -1, true)
	gate.holdWhen = func(r *http.Request) bool { return r.Method == http.MethodDelete }
	p := f.startBinary(gate.url, args)
	if !gate.waitHeld(t, p) {
		t.Fatalf("--finish ended without deleting a secret:\n%s", p.wait(t).stderr)
	}
	f.record(p.kill9(t))
	gate.end(false)
	f.mustCmd(exitOK, args...)
	f.wantKey("current key after the finish", current)
	f.wantRefused("retired key after the finish", prev)
	f.wantInSpec()
	checkNoLeaks(t, f)
}

// TestApplyNoticesAWriterBetweenItsFinalReads: another writer deploys other code (keeping the
// bindings) just before apply reads the version its final check found deployed. apply must
// not exit 0 with that code serving; it used to, as its check read the deployments first and
// the (unchanging) version after.
func TestApplyNoticesAWriterBetweenItsFinalReads(t *testing.T) {
	t.Parallel()
	f := newConvFixture(t)
	args := []string{"apply", "--auto-approve", "--key-out", f.keyFile}
	gate := newCallGate(t, f.srv.APIBaseURL(), -1, false)
	gate.holdWhen = func(r *http.Request) bool {
		return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/versions/")
	}
	p := f.startBinary(gate.url, args)
	if !gate.waitHeld(t, p) {
		t.Fatalf("apply ended without reading a version:\n%s", p.wait(t).stderr)
	}
	if !runWriter(f, writerUpload) {
		t.Fatal("the other writer found no worker to change")
	}
	gate.end(true)
	r := p.wait(t)
	f.record(r)
	if r.code == exitOK {
		f.wantKey("key apply handed over", f.readKey("generated", f.keyFile))
		f.wantInSpec()
		return
	}
	checkClearFailure(t, r)
	if !strings.Contains(r.stderr, "changed while this run was applying") {
		t.Errorf("apply failed for another reason than the other writer:\n%s", r.stderr)
	}
}
