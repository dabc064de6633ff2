package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flareform/flareform/provision/keystore"
)

// pairCommands are the commands TestOverlapPairs overlaps, each with the API calls the first
// run of a pair waits in while the second runs: one before or at its decisive write (the check
// before it, or the write itself: the gap no API closes) and one after it (its checks after).
var pairCommands = []struct {
	command string
	pauses  []pausePoint
}{
	{cmdApply, []pausePoint{
		{"upload", holdNth(http.MethodPut, "/workers/scripts/"+convWorker, 1)},
		{"check-after-smoke", holdAfter(http.MethodPut, "/workers/scripts/"+convWorker, http.MethodGet, "/deployments")},
	}},
	{cmdFailingApply, []pausePoint{
		{"upload", holdNth(http.MethodPut, "/workers/scripts/"+convWorker, 1)},
		{"rollback", holdNth(http.MethodPost, "/deployments", 1)},
	}},
	{cmdRotate, []pausePoint{
		{"deploy", holdNth(http.MethodPatch, "/settings", 1)},
		{"record-handover", holdNth(http.MethodPatch, "/script-settings", 1)},
	}},
	{cmdRevoke, []pausePoint{
		{"deploy", holdNth(http.MethodPatch, "/settings", 1)},
		{"record-handover", holdNth(http.MethodPatch, "/script-settings", 1)},
	}},
	{cmdDestroy, []pausePoint{
		{"check-before-delete", holdNth(http.MethodGet, "/deployments", 2)},
		{"delete", holdNth(http.MethodDelete, "/workers/scripts/"+convWorker, 1)},
	}},
	{cmdSmoke, []pausePoint{
		{"read-subdomain", holdNth(http.MethodGet, "/workers/subdomain", 1)},
	}},
	// apply --canary: its version upload (which deploys nothing), its split deployment, and
	// its check after the smoke test (after the tested mark).
	{cmdCanary, []pausePoint{
		{"upload", holdNth(http.MethodPost, "/workers/scripts/"+convWorker+"/versions", 1)},
		{"deploy", holdNth(http.MethodPost, "/deployments", 1)},
		{"check-after-smoke", holdAfter(http.MethodPatch, "/script-settings", http.MethodGet, "/deployments")},
	}},
	// A failed canary's withdrawal: the deployment of what served before.
	{cmdFailingCanary, []pausePoint{
		{"withdraw", holdNth(http.MethodPost, "/deployments", 2)},
	}},
	{cmdPromote, []pausePoint{
		{"deploy", holdNth(http.MethodPost, "/deployments", 1)},
		{"check-after-deploy", holdAfter(http.MethodPost, "/deployments", http.MethodGet, "/deployments")},
	}},
	{cmdRollback, []pausePoint{
		{"deploy", holdNth(http.MethodPost, "/deployments", 1)},
		{"check-after-deploy", holdAfter(http.MethodPost, "/deployments", http.MethodGet, "/deployments")},
	}},
}

// pairSetup is the state a pair starts from: a canary when one of the runs promotes (there
// must be one to promote), two deploys when one rolls back (there must be an earlier version),
// else the first deploy alone (as before the rollouts).
func pairSetup(first, second string) string {
	switch {
	case first == cmdPromote || second == cmdPromote:
		return setupCanary
	case first == cmdRollback || second == cmdRollback:
		return setupTwoDeploys
	}
	return setupDeploy
}

// pausePoint names an API call of the first run; match makes a new matcher for a callGate's
// holdWhen (matchers count calls, so each run needs its own).
type pausePoint struct {
	name  string
	match func() func(*http.Request) bool
}

// holdNth matches the nth call (1-based) with method whose path ends in suffix.
func holdNth(method, suffix string, nth int) func() func(*http.Request) bool {
	return func() func(*http.Request) bool {
		seen := 0
		return func(r *http.Request) bool {
			if r.Method == method && strings.HasSuffix(r.URL.Path, suffix) {
				seen++
				return seen == nth
			}
			return false
		}
	}
}

// holdAfter matches the first call with method and suffix after one with afterMethod and
// afterSuffix.
func holdAfter(afterMethod, afterSuffix, method, suffix string) func() func(*http.Request) bool {
	return func() func(*http.Request) bool {
		after := false
		return func(r *http.Request) bool {
			if after && r.Method == method && strings.HasSuffix(r.URL.Path, suffix) {
				return true
			}
			if r.Method == afterMethod && strings.HasSuffix(r.URL.Path, afterSuffix) {
				after = true
			}
			return false
		}
	}
}

// pairOutcome is how one pair ended, for the matrix TestOverlapPairs logs.
type pairOutcome struct {
	first, pause, second string
	codes                [2]int // exit codes of the first and the second run
	failed, silent       bool
	// unreachable: the first run refused the starting state clearly, changing nothing,
	// before its pause (no pair ran).
	unreachable bool
}

// TestOverlapPairs overlaps every ordered pair of apply, an apply whose smoke test fails,
// rotate-key (grace), rotate-key --revoke, destroy, smoke, apply --canary, an apply --canary
// whose smoke test fails, promote and rollback (from the state pairSetup makes), each run from its own checkout of
// one project (as two machines would; one checkout would only meet the project lock): the
// first run waits in a chosen API call (a callGate holds it before the server sees it) while
// the second runs to its end, then goes on. The second run's promises are checked as it ends;
// after the first ended, every promise of a run that exited 0 must hold unless the first
// run's later exit 0 legitimately replaced it (supersedes), and a run that failed must have
// failed clearly. The apply of each checkout sets its own MAX_PROMPT_CHARS, so whose code and
// vars serve can be told apart.
func TestOverlapPairs(t *testing.T) {
	t.Parallel()
	var (
		mu       sync.Mutex
		outcomes []pairOutcome
	)
	t.Run("pairs", func(t *testing.T) {
		for _, first := range pairCommands {
			for _, pause := range first.pauses {
				for _, second := range pairCommands {
					t.Run(fmt.Sprintf("%s@%s/%s", first.command, pause.name, second.command), func(t *testing.T) {
						t.Parallel()
						o := runPair(t, first.command, pause, second.command)
						mu.Lock()
						outcomes = append(outcomes, o)
						mu.Unlock()
					})
				}
			}
		}
	})
	logPairMatrix(t, outcomes)
}

// overlapConsumers are the consumers cmdConsumers adds: generated keys, one with a limiter of
// its own (high enough for the checks' requests).
const overlapConsumers = `    consumers:
      mobile: { rate_limit: { limit: 100, period: 60 } }
      web: {}
`

var overlapConsumerNames = []string{"mobile", "web"}

// TestOverlapConsumerPairs overlaps an apply that adds consumers (issue 24) with apply,
// destroy and rotate-key, both ways round, as TestOverlapPairs does: the first run waits in
// one of its pauses while the second runs to its end. Besides the promises TestOverlapPairs
// checks, an apply with consumers that exits 0 promises that every consumer key it handed
// over opens the worker; only a destroy or a plain apply (of a spec without them) that read
// the worker after it ended may replace that, never a rotation of the owner's key.
func TestOverlapConsumerPairs(t *testing.T) {
	t.Parallel()
	pauses := map[string][]pausePoint{}
	for _, pc := range pairCommands {
		pauses[pc.command] = pc.pauses
	}
	pauses[cmdConsumers] = pauses[cmdApply]
	var (
		mu       sync.Mutex
		outcomes []pairOutcome
	)
	t.Run("pairs", func(t *testing.T) {
		for _, other := range []string{cmdApply, cmdDestroy, cmdRotate} {
			for _, pair := range [][2]string{{cmdConsumers, other}, {other, cmdConsumers}} {
				for _, pause := range pauses[pair[0]] {
					t.Run(fmt.Sprintf("%s@%s/%s", pair[0], pause.name, pair[1]), func(t *testing.T) {
						t.Parallel()
						o := runPair(t, pair[0], pause, pair[1])
						mu.Lock()
						outcomes = append(outcomes, o)
						mu.Unlock()
					})
				}
			}
		}
	})
	logPairMatrix(t, outcomes)
}

// consumerPromises are what an apply with consumers (cmdConsumers) from this checkout promised
// by exiting 0: the owner's key works and the spec's code and vars serve, as for an apply, and
// every consumer key it handed over (its --key-out) opens the worker.
func (c *checkout) consumerPromises() []promise {
	f := c.f
	owner := keystore.ActiveKey(filepath.Join(filepath.Dir(c.spec), ".flareform"), convWorker, "API_KEY")
	n := specMaxPromptChars(f.t, c.spec)
	ps := []promise{
		{kind: promiseKeyWorks, what: "the owner's key its smoke test ran with opens the worker", key: owner},
		{kind: promiseServes, what: fmt.Sprintf("its code and MAX_PROMPT_CHARS=%d serve", n), key: owner, maxPromptChars: n},
	}
	handed := readConsumerKeyFile(f.t, c.keyOut)
	for _, name := range overlapConsumerNames {
		key := handed[name]
		if key == "" {
			f.t.Errorf("%s's apply with consumers exited 0 without handing a key of %s over", c.name, name)
			continue
		}
		f.remember(c.name+"'s consumer "+name, key)
		ps = append(ps, promise{kind: promiseConsumerKey, what: fmt.Sprintf("the key of consumer %s it handed over opens the worker", name), key: key})
	}
	return ps
}

// runPair deploys the worker, makes the two checkouts and runs the pair.
func runPair(t *testing.T, first string, pause pausePoint, second string) (o pairOutcome) {
	o = pairOutcome{first: first, pause: pause.name, second: second, codes: [2]int{-1, -1}}
	var runs []*runRecord
	defer func() {
		o.failed = t.Failed()
		if t.Failed() {
			t.Logf("reproduce: go test ./cmd/flareform -run '^TestOverlapPairs$/^pairs$/^%s@%s$/^%s$' -count=1", first, pause.name, second)
			logStory(t, runs)
		}
	}()

	f := newConvFixture(t)
	f.dropRateLimit()
	f.oldKey = f.deployWithKeyFile()
	f.prepareRollout(pairSetup(first, second))
	// The second checkout is copied before the first is edited: each holds the deployed spec
	// plus its own change.
	b := f.newCheckout("second", failingCommand(second))
	a := &checkout{f: f, name: "first", spec: f.spec, keyOut: filepath.Join(f.keyDir, "first.key"), env: f.c.env}
	if failingCommand(first) {
		editFile(t, filepath.Join(filepath.Dir(a.spec), "src", "worker.js"), imageAnswer, hollowAnswer)
	}
	for _, c := range []struct {
		co      *checkout
		command string
		chars   int
	}{{a, first, 900}, {b, second, 800}} {
		if c.command == cmdApply || c.command == cmdCanary || c.command == cmdConsumers {
			setChars(f, c.co.spec, c.chars)
		}
		if c.command == cmdConsumers {
			editFile(t, c.co.spec, "    workers_dev: true\n", "    workers_dev: true\n"+overlapConsumers)
		}
	}

	heldFirst := f.workingKeys()
	setupShares, _, _ := f.deploymentNow()
	gate := newCallGate(t, f.srv.APIBaseURL(), -1, false)
	gate.holdWhen = pause.match()
	p := a.start(gate.url, first)
	if !gate.waitHeld(t, p) {
		r := p.wait(t)
		f.record(r)
		o.codes[0] = r.code
		now, _, _ := f.deploymentNow()
		if r.code == exitError && sameShares(setupShares, now) && !t.Failed() {
			// The first run refuses the pair's starting state (rotate-key the canary promote
			// needs): a clear refusal that changed nothing leaves no pair to run.
			checkFailedClearly(t, fmt.Sprintf("the first run (%s)", first), r)
			o.unreachable = true
			t.Logf("%s refused the starting state (%s) before reaching %s, and changed nothing: %s", first, pairSetup(first, second), pause.name, lastLine(r.stderr))
			return o
		}
		t.Fatalf("%s ended (exit %d) without reaching %s:\n%s", first, r.code, pause.name, r.stderr)
	}
	before, _, _ := f.deploymentNow()
	sec := b.run(fmt.Sprintf("the second run (%s)", second), second, f.workingKeys())
	runs = append(runs, sec)
	o.codes[1] = sec.res.code
	t.Logf("%s ran while %s waited at %s: exit %d %s", second, first, pause.name, sec.res.code, lastLine(sec.res.stderr))
	o.silent = checkAtEnd(t, f, sec)
	if second == cmdFailingCanary && sec.res.code != exitOK {
		// Nothing else ran meanwhile: the failed canary was withdrawn, what served before serves
		// (the stable version alone when what served was the untested canary it re-tested).
		want := withdrawnTo(before, sec.res)
		if after, _, detail := f.deploymentNow(); !sameShares(want, after) {
			t.Errorf("%s failed, but afterwards the newest deployment is %s%s, not %s (%s served before it): the failed canary was not withdrawn",
				sec.label, sharesText(after), detail, sharesText(want), sharesText(before))
		}
	}
	gate.end(true)

	fst := &runRecord{label: fmt.Sprintf("the first run (%s)", first), command: first, ran: true}
	fst.res = p.wait(t)
	fst.ended = time.Now()
	f.record(fst.res)
	fst.calls = gate.forwarded()
	fst.firstRead = firstDeploymentsRead(fst.calls)
	runs = append(runs, fst)
	o.codes[0] = fst.res.code
	t.Logf("%s went on: exit %d %s", first, fst.res.code, lastLine(fst.res.stderr))
	fst.promises, fst.instant = a.promises(first, fst.res, heldFirst)
	if checkStory(t, f, runs) {
		o.silent = true
	}
	checkNoLeaks(t, f)
	return o
}

// logPairMatrix logs one line per (first run, pause) with each second run's outcome: the exit
// codes (first/second) and "ok", "FAIL", "LOSS" (an exit 0 found false) or "n/a" (the first
// run clearly refused the starting state, changing nothing, before its pause).
func logPairMatrix(t *testing.T, outcomes []pairOutcome) {
	slices.SortFunc(outcomes, func(x, y pairOutcome) int {
		return strings.Compare(x.first+"@"+x.pause+"/"+x.second, y.first+"@"+y.pause+"/"+y.second)
	})
	var b strings.Builder
	failed, losses, unreachable := 0, 0, 0
	row := ""
	for _, o := range outcomes {
		if r := o.first + "@" + o.pause; r != row {
			row = r
			fmt.Fprintf(&b, "\n%-36s", r)
		}
		verdict := "ok"
		switch {
		case o.unreachable && !o.failed:
			verdict, unreachable = "n/a", unreachable+1
		case o.silent:
			verdict, losses, failed = "LOSS", losses+1, failed+1
		case o.failed:
			verdict, failed = "FAIL", failed+1
		}
		fmt.Fprintf(&b, "  %s %d/%d %-4s", o.second, o.codes[0], o.codes[1], verdict)
	}
	t.Logf("overlapping pairs (first@pause: second first-exit/second-exit verdict):%s\n%d pairs, %d failed, %d of them silent losses; %d not reachable (n/a: the first run refused the starting state)",
		b.String(), len(outcomes), failed, losses, unreachable)
}

// withdrawnTo is the deployment a failed apply --canary (res, its --json result) leaves when
// before served as it started: before itself, or, when before was a split whose canary the run
// re-tested (an apply that stopped before that canary's smoke test passed deployed it), the
// split's stable version alone.
func withdrawnTo(before []deploymentShare, res result) []deploymentShare {
	var doc struct {
		Plan struct {
			Workers []struct {
				Canary *struct {
					Stable  string `json:"stable"`
					Version string `json:"version"`
				} `json:"canary"`
			} `json:"workers"`
		} `json:"plan"`
	}
	if json.Unmarshal([]byte(res.stdout), &doc) != nil || len(doc.Plan.Workers) != 1 {
		return before
	}
	c := doc.Plan.Workers[0].Canary
	if c == nil || c.Version == "" || len(before) != 2 || !slices.ContainsFunc(before, func(s deploymentShare) bool { return s.VersionID == c.Version }) {
		return before
	}
	return []deploymentShare{{VersionID: c.Stable, Percentage: 100}}
}
