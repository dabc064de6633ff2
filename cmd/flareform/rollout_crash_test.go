package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rolloutCrash is one gradual-rollout command (issue 23) that TestRolloutCrashes kills at each
// of its API calls.
type rolloutCrash struct {
	name    string // the subtest's name
	command string // cmdCanary, cmdPromote or cmdRollback
	setup   string // the state prepareRollout makes after the first deploy
	// chars, when set, is the MAX_PROMPT_CHARS the spec changes to before the command: the
	// change a canary deploys.
	chars int
	// rerunRefusal is the clear refusal a re-run may end with after the killed run's
	// deployment landed (promote: no canary left; rollback: no earlier version to go back
	// to), when the version the killed run deployed then serves 100%.
	rerunRefusal string
}

var rolloutCrashes = []rolloutCrash{
	{name: "canary", command: cmdCanary, setup: setupDeploy, chars: 900},
	{name: "promote", command: cmdPromote, setup: setupCanary, rerunRefusal: "no worker of the spec has a canary"},
	{name: "rollback", command: cmdRollback, setup: setupCanary, rerunRefusal: "no earlier deployment served one version at 100%"},
}

// TestRolloutCrashes kills apply --canary 10 (of a changed spec, over the first deploy),
// promote and rollback (of a canary) with SIGKILL at each of their API calls, before the
// server saw it (sent) and after it took effect (done), as the crash schedules of
// TestFaultConvergence do for apply. Then the same command runs again: it exits 0 with its
// promises holding right after (the canary's split of the spec's code at 10% beside the
// version the killed run read, the canary or the previous version at 100%, the key working),
// or, after the killed run's deployment landed, refuses clearly with nothing left to do
// (promote: no canary; rollback: no earlier version) while that deployment serves. Then a
// plain apply must converge to the spec: exit 0, the key works, the spec's code and vars serve
// (every version of a split checked through the override header) and plan has no changes; and
// no key appears in any output.
func TestRolloutCrashes(t *testing.T) {
	t.Parallel()
	for _, sc := range rolloutCrashes {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			calls := calibrateRolloutCrash(t, sc)
			for step := range calls {
				for _, after := range []bool{false, true} {
					name := fmt.Sprintf("call%02d-%s", step, map[bool]string{false: "sent", true: "done"}[after])
					t.Run(name, func(t *testing.T) {
						t.Parallel()
						runRolloutCrash(t, sc, step, after)
					})
				}
			}
		})
	}
}

// prepareRolloutCrash makes the fixture the scenario starts from and returns it with the
// checkout the command runs from (the fixture's own project) and the deployment that served
// before the command.
func prepareRolloutCrash(t *testing.T, sc rolloutCrash) (*convFixture, *checkout, []deploymentShare) {
	f := newConvFixture(t)
	f.dropRateLimit()
	f.oldKey = f.deployWithKeyFile()
	f.prepareRollout(sc.setup)
	if sc.chars != 0 {
		setChars(f, f.spec, sc.chars)
	}
	before, ok, detail := f.deploymentNow()
	if !ok {
		t.Fatalf("after the setup: %s", detail)
	}
	co := &checkout{f: f, name: "project", spec: f.spec, keyOut: filepath.Join(f.keyDir, "project.key"), env: f.c.env}
	return f, co, before
}

// calibrateRolloutCrash runs the scenario's command once without a kill, checks its promises
// and returns how many API calls it made (the gate numbers them as the crash runs will).
func calibrateRolloutCrash(t *testing.T, sc rolloutCrash) int {
	f, co, _ := prepareRolloutCrash(t, sc)
	gate := newCallGate(t, f.srv.APIBaseURL(), -1, false)
	r := &runRecord{label: "the calibration run (" + sc.command + ")", command: sc.command, ran: true}
	r.res = co.start(gate.url, sc.command).wait(t)
	f.record(r.res)
	if r.res.code != exitOK {
		t.Fatalf("calibration: %s without a kill: exit %d\nstdout:\n%s\nstderr:\n%s", sc.name, r.res.code, r.res.stdout, r.res.stderr)
	}
	r.promises, _ = co.promises(sc.command, r.res, nil)
	if checkAtEnd(t, f, r) {
		t.Fatalf("calibration: %s exited 0 and lied", sc.name)
	}
	n := len(gate.forwarded())
	if n == 0 {
		t.Fatalf("calibration: %s made no API call", sc.name)
	}
	t.Logf("%s makes %d API calls", sc.name, n)
	return n
}

// runRolloutCrash kills the scenario's command at API call step, re-runs it and then a plain
// apply (see TestRolloutCrashes).
func runRolloutCrash(t *testing.T, sc rolloutCrash, step int, afterHandled bool) {
	f, co, before := prepareRolloutCrash(t, sc)
	var runs []*runRecord
	defer func() {
		if t.Failed() {
			t.Logf("reproduce: go test ./cmd/flareform -run '^TestRolloutCrashes$/^%s$/^call%02d-%s$' -count=1",
				sc.name, step, map[bool]string{false: "sent", true: "done"}[afterHandled])
			logStory(t, runs)
		}
	}()

	gate := newCallGate(t, f.srv.APIBaseURL(), step, afterHandled)
	p := co.start(gate.url, sc.command)
	killed := &runRecord{label: fmt.Sprintf("the killed run (%s)", sc.command), command: sc.command, ran: true}
	if gate.waitHeld(t, p) {
		f.crashed = true
		killed.res = p.kill9(t)
		gate.end(false)
		f.record(killed.res)
		killed.ran = true
		t.Logf("killed at call %d; deployment now %s", step, deploymentText(f))
	} else {
		// Fewer calls than calibrated: the run ended by itself, and counts as a run.
		killed.res = p.wait(t)
		f.record(killed.res)
		killed.promises, _ = co.promises(sc.command, killed.res, nil)
		t.Logf("the run ended (exit %d) before call %d", killed.res.code, step)
		checkAtEnd(t, f, killed)
	}
	runs = append(runs, killed)
	killed.ended = time.Now()

	// The same command again.
	rerun := co.run(fmt.Sprintf("the re-run (%s)", sc.command), sc.command, f.workingKeys())
	runs = append(runs, rerun)
	rerun.firstRead = rerun.ended // it ran alone: everything it read came after the killed run
	t.Logf("the re-run exited %d: %s", rerun.res.code, lastLine(rerun.res.stderr))
	checkAtEnd(t, f, rerun)
	if rerun.res.code != exitOK {
		checkRolloutRefusal(t, f, sc, before, rerun)
	}

	// A plain apply converges to the spec.
	apply := co.run("the plain apply after it", cmdApply, f.workingKeys())
	apply.firstRead = apply.ended
	runs = append(runs, apply)
	if apply.res.code != exitOK {
		t.Fatalf("the plain apply after the crash and the re-run failed: exit %d\nstdout:\n%s\nstderr:\n%s", apply.res.code, apply.res.stdout, apply.res.stderr)
	}
	checkAtEnd(t, f, apply)
	f.wantKey("the key deployed before the crash", f.oldKey)
	f.wantInSpec()
	checkStory(t, f, runs)
	checkNoLeaks(t, f)
}

// checkRolloutRefusal checks a re-run that failed: only the scenario's refusal is accepted,
// and only while the version the killed run was deploying serves 100% (its deployment landed,
// so there is nothing left to do).
func checkRolloutRefusal(t *testing.T, f *convFixture, sc rolloutCrash, before []deploymentShare, rerun *runRecord) {
	t.Helper()
	if sc.rerunRefusal == "" || !strings.Contains(rerun.res.stderr, sc.rerunRefusal) {
		t.Errorf("%s failed after the crash: exit %d\n%s", rerun.label, rerun.res.code, rerun.res.stderr)
		return
	}
	// before is the setup's canary: v0 at 90%, v1 at 10%. promote deploys v1, rollback v0.
	var target string
	for _, s := range before {
		if (sc.command == cmdPromote) == (s.Percentage < 50) {
			target = s.VersionID
		}
	}
	now, _, detail := f.deploymentNow()
	if want := []deploymentShare{{VersionID: target, Percentage: 100}}; !sameShares(now, want) {
		t.Errorf("%s refused (%s), but the newest deployment is %s%s, not %s: the killed run's deployment did not land, so there was something to do",
			rerun.label, lastLine(rerun.res.stderr), sharesText(now), detail, sharesText(want))
	}
}

// deploymentText is the newest deployment, for logs.
func deploymentText(f *convFixture) string {
	shares, ok, detail := f.deploymentNow()
	if !ok {
		return detail
	}
	return sharesText(shares)
}
