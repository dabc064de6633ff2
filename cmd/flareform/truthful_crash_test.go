package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flareform/flareform/localcf"
)

// crashLatency slows every API call of a run that is to be killed, so "after the n-th call"
// is a point in the run the test can hit: the run then waits in call n+1.
const crashLatency = 120

// crash is one kill -9 of a run: after how many API calls (and how long after the last one),
// and which calls had happened.
type crash struct {
	after  int
	delay  time.Duration
	calls  []string
	killed bool // false when the run ended by itself before the kill point
}

func (c crash) String() string {
	return fmt.Sprintf("kill -9 %s after %d calls (killed %t): %v", c.delay, c.after, c.killed, c.calls)
}

// killAfterCalls runs the binary with args, every API call slowed, and kills it with SIGKILL
// once n API calls of this run have been answered.
func killAfterCalls(t *testing.T, srv *localcf.Server, b *binCLI, n int, args ...string) crash {
	t.Helper()
	return killAt(t, srv, b, n, 0, args...)
}

// killAt is killAfterCalls waiting delay more after the n-th call before the kill (a point in
// the smoke test, which makes no API call).
func killAt(t *testing.T, srv *localcf.Server, b *binCLI, n int, delay time.Duration, args ...string) crash {
	t.Helper()
	srv.SetFaults([]localcf.FaultRule{{Kind: "latency", LatencyMS: crashLatency}}, 1)
	defer srv.SetFaults(nil, 1)
	before := len(srv.Requests())
	p := b.start(args...)
	for len(srv.Requests())-before < n && !p.ended() {
		time.Sleep(2 * time.Millisecond)
	}
	time.Sleep(delay)
	r := p.kill9(t)
	return crash{after: n, delay: delay, calls: callsOf(srv.Requests()[before:]), killed: r.code == -1}
}

// ended reports whether the process has exited.
func (p *proc) ended() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// checkRerun runs the re-run after a crash: it either exits 0 and every key it hands over (or,
// when it hands over none, the key the project holds) opens the worker, or it fails naming the
// worker. It never exits 0 leaving a key that gets 401.
func checkRerun(t *testing.T, srv *localcf.Server, c crash, r result, worker string, keys ...string) {
	t.Helper()
	if r.code != exitOK {
		if !strings.Contains(r.stderr, worker) {
			t.Errorf("%s\nthe re-run failed (exit %d) without naming %s:\n%s", c, r.code, worker, r.stderr)
		}
		return
	}
	if len(keys) == 0 {
		t.Fatalf("%s\nthe re-run exited 0 and no key is known to check", c)
	}
	for _, key := range keys {
		if got := postWith(t, srv, worker, key); got != http.StatusOK {
			t.Errorf("%s\nthe re-run exited 0 but a key it leaves gets %d\nstdout:\n%s\nstderr:\n%s", c, got, r.stdout, r.stderr)
		}
	}
}

// handedOrStored is the key a run wrote to keyOut or, when it wrote none, the project's key.
func handedOrStored(t *testing.T, keyOut, specPath, worker string) string {
	t.Helper()
	if _, err := os.Stat(keyOut); err == nil {
		return readKey(t, keyOut)
	}
	return keyInStore(t, specPath, worker)
}

// TestTruthfulCrashFirstApply: kill -9 of a first apply after each of its API calls and during
// its smoke test; the re-run with a new --key-out never exits 0 with a key that does not work.
func TestTruthfulCrashFirstApply(t *testing.T) {
	t.Parallel()
	srv, env := startStandalone(t)
	b := newBinCLI(t, env)
	specPath := initBinProject(t, b, "crash")
	// After each API call of a first apply (plan's reads, the check, the upload, workers.dev,
	// the final check), and at points in the smoke test after the workers.dev call.
	type point struct {
		calls int
		delay time.Duration
	}
	var points []point
	for n := 0; n <= 6; n++ {
		points = append(points, point{n, 0})
	}
	points = append(points, point{3, crashLatency / 2 * time.Millisecond}) // the upload in flight
	for _, d := range []time.Duration{10 * time.Millisecond, 40 * time.Millisecond, 100 * time.Millisecond} {
		points = append(points, point{5, d}) // workers.dev is on: the smoke test runs
	}
	killed := 0
	for i, pt := range points {
		worker := fmt.Sprintf("crash%d", i)
		writeSpec(t, specPath, fmt.Sprintf("project: crash-%d\nworkers:\n%s", i, imageWorkerYAML(worker, true)))
		c := killAt(t, srv, b, pt.calls, pt.delay, "-f", specPath, "apply", "--auto-approve")
		if c.killed {
			killed++
		}
		keyOut := filepath.Join(t.TempDir(), "rerun.key")
		r := b.run("-f", specPath, "apply", "--auto-approve", "--key-out", keyOut)
		if r.code == exitOK {
			checkRerun(t, srv, c, r, worker, handedOrStored(t, keyOut, specPath, worker))
		} else {
			checkRerun(t, srv, c, r, worker)
		}
		t.Logf("%s -> re-run exit %d", c, r.code)
	}
	if killed < 10 {
		t.Errorf("only %d of the runs were killed before they ended; want at least 10 kill points", killed)
	}
}

// TestTruthfulCrashUpdate: kill -9 of an apply that changes an env:-sourced key (and a var);
// the re-run exits 0 only when the new key works.
func TestTruthfulCrashUpdate(t *testing.T) {
	t.Parallel()
	srv, env := startStandalone(t)
	b := newBinCLI(t, env)
	specPath := initBinProject(t, b, "upd")
	editFile(t, specPath, "from: generate", "from: env:UPD_KEY")
	key := func(i int) string { return fmt.Sprintf("update-key-%02d-%s", i, strings.Repeat("x", 32)) }
	b.with(map[string]string{"UPD_KEY": key(0)}).mustRun(0, "-f", specPath, "apply", "--auto-approve")
	killed := 0
	for n := 3; n <= 8; n++ { // from the plan's last read to after the final check
		next := b.with(map[string]string{"UPD_KEY": key(n)})
		editFile(t, specPath, fmt.Sprintf(`MAX_PROMPT_CHARS: "%d"`, 1003-n), fmt.Sprintf(`MAX_PROMPT_CHARS: "%d"`, 1002-n))
		c := killAfterCalls(t, srv, next, n, "-f", specPath, "apply", "--auto-approve")
		r := next.run("-f", specPath, "apply", "--auto-approve")
		checkRerun(t, srv, c, r, "upd", key(n))
		if c.killed {
			killed++
		}
		t.Logf("%s -> re-run exit %d", c, r.code)
	}
	if killed < 3 {
		t.Errorf("only %d updates were killed before they ended; want at least 3 kill points", killed)
	}
}

// TestTruthfulCrashRotate: kill -9 of rotate-key (rotate, --finish, --revoke) at several points;
// the re-run with a new --key-out exits 0 only when the key it hands over works (and, for a
// rotation, the old key still works), or fails naming the worker.
func TestTruthfulCrashRotate(t *testing.T) {
	t.Parallel()
	srv, env := startStandalone(t)
	b := newBinCLI(t, env)
	specPath := initBinProject(t, b, "rot")
	dir := t.TempDir()
	current := filepath.Join(dir, "k0")
	b.mustRun(0, "-f", specPath, "apply", "--auto-approve", "--no-smoke", "--key-out", current)
	step := 0
	newKeyOut := func() string { step++; return filepath.Join(dir, fmt.Sprintf("k%d", step)) }

	killed := map[string]int{}
	count := func(mode string, c crash) {
		if c.killed {
			killed[mode]++
		}
	}
	// From the last read to after the new version is deployed and while it is verified.
	for _, n := range []int{4, 5, 6, 7, 8} {
		// rotate
		oldKey := readKey(t, current)
		c := killAfterCalls(t, srv, b, n, "-f", specPath, "rotate-key", "rot", "--key-out", newKeyOut())
		out := newKeyOut()
		r := b.run("-f", specPath, "rotate-key", "rot", "--key-out", out)
		if r.code == exitOK && c.killed {
			checkRerun(t, srv, c, r, "rot", readKey(t, out), oldKey)
			current = out
		} else if r.code == exitOK {
			// The first run completed before the kill: the re-run was a new rotation, which
			// replaces the previous key by design (docs/rotation.md); the first run's key is
			// now the previous one.
			checkRerun(t, srv, c, r, "rot", readKey(t, out))
			current = out
		} else {
			checkRerun(t, srv, c, r, "rot")
			current = settleRotation(t, b, specPath, newKeyOut())
		}
		count("rotate", c)
		t.Logf("rotate %s -> re-run exit %d", c, r.code)

		// finish
		c = killAfterCalls(t, srv, b, n, "-f", specPath, "rotate-key", "rot", "--finish", "--key-file", current)
		r = b.run("-f", specPath, "rotate-key", "rot", "--finish", "--key-file", current)
		checkRerun(t, srv, c, r, "rot", readKey(t, current))
		if r.code == exitOK && postWith(t, srv, "rot", oldKey) != http.StatusUnauthorized {
			t.Errorf("finish %s: the re-run exited 0 but the old key still works", c)
		}
		count("finish", c)
		t.Logf("finish %s -> re-run exit %d", c, r.code)

		// revoke
		c = killAfterCalls(t, srv, b, n, "-f", specPath, "rotate-key", "rot", "--revoke", "--key-out", newKeyOut())
		out = newKeyOut()
		r = b.run("-f", specPath, "rotate-key", "rot", "--revoke", "--key-out", out)
		if r.code == exitOK {
			checkRerun(t, srv, c, r, "rot", readKey(t, out))
			current = out
		} else {
			checkRerun(t, srv, c, r, "rot")
			current = settleRotation(t, b, specPath, newKeyOut())
		}
		count("revoke", c)
		t.Logf("revoke %s -> re-run exit %d", c, r.code)
	}
	for _, mode := range []string{"rotate", "finish", "revoke"} {
		if killed[mode] < 3 {
			t.Errorf("only %d %s runs were killed before they ended; want at least 3 kill points", killed[mode], mode)
		}
	}
}

// settleRotation revokes into a new file after a re-run failed, so the next step starts from
// one known key; the revoke must work.
func settleRotation(t *testing.T, b *binCLI, specPath, out string) string {
	t.Helper()
	b.mustRun(0, "-f", specPath, "rotate-key", "rot", "--revoke", "--key-out", out)
	return out
}

// TestTruthfulRotateCrashBeforeRecording: a rotate-key killed after it handed the key over and
// cleared the worker's pending tag, but before it recorded the key as active in the key store
// (the store still says pending). The re-run, with a new --key-out, must see that rotation as
// complete: already-rotated, the same key handed over again, the old key still in its window.
// It used to start a new rotation, which cut the old key's window.
func TestTruthfulRotateCrashBeforeRecording(t *testing.T) {
	t.Parallel()
	srv, env := startStandalone(t)
	b := newBinCLI(t, env)
	specPath := initBinProject(t, b, "rec")
	dir := t.TempDir()
	oldFile, firstOut, rerunOut := filepath.Join(dir, "old"), filepath.Join(dir, "first"), filepath.Join(dir, "rerun")
	b.mustRun(0, "-f", specPath, "apply", "--auto-approve", "--no-smoke", "--key-out", oldFile)
	b.mustRun(0, "-f", specPath, "rotate-key", "rec", "--key-out", firstOut)
	newKey := readKey(t, firstOut)
	markPending(t, specPath, newKey)

	r := b.mustRun(0, "-f", specPath, "rotate-key", "rec", "--key-out", rerunOut)
	if !strings.Contains(r.stderr, "already-rotated") {
		t.Errorf("the re-run did not report already-rotated:\n%s", r.stderr)
	}
	if got := readKey(t, rerunOut); got != newKey {
		t.Error("the re-run handed over another key than the completed rotation's")
	}
	for what, key := range map[string]string{"old": readKey(t, oldFile), "new": newKey} {
		if got := postWith(t, srv, "rec", key); got != http.StatusOK {
			t.Errorf("after the re-run the %s key gets %d, want 200", what, got)
		}
	}
}

// markPending rewrites the project's key store so key is pending again, as a run that died
// before recording it would leave it.
func markPending(t *testing.T, specPath, key string) {
	t.Helper()
	path := filepath.Join(filepath.Dir(specPath), ".flareform", "keys.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range doc["keys"].([]any) {
		entry := e.(map[string]any)
		if entry["key"] == key {
			entry["state"], found = "pending", true
		}
	}
	if !found {
		t.Fatal("the key store does not hold the rotation's key")
	}
	out, _ := json.Marshal(doc)
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}
