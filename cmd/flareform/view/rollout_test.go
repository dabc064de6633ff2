package view

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flareform/flareform/provision"
)

// The rollout renderers' golden file, testdata/rollout.golden (rewrite it with
// `go test ./cmd/flareform/view -run TestRolloutGolden -update`).

const (
	stableID = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
	canaryID = "1a2b3c4d5e6f70819203a4b5c6d7e8f9"
	olderID  = "0badc0de0badc0de0badc0de0badc0de"
	// handedKey stands for the key a forced rollback hands over: only the terminal hand-over
	// may show it.
	handedKey = "HANDED-KEY-0123456789abcdefghijklmnopqrstuvwxyz"
)

func corpusRolloutPlans() map[string]*provision.RolloutPlan {
	return map[string]*provision.RolloutPlan{
		"promote": {Kind: provision.RolloutPromote, Workers: []provision.RolloutStep{
			{Key: "image-api", Name: "image-api", Version: canaryID,
				Serving: []provision.DeploymentShare{{VersionID: stableID, Percentage: 90}, {VersionID: canaryID, Percentage: 10}}},
			{Key: "txt", Name: "txt-prod", Version: canaryID,
				Serving: []provision.DeploymentShare{{VersionID: canaryID, Percentage: 12.5}, {VersionID: stableID, Percentage: 87.5}}},
		}},
		"rollback": {Kind: provision.RolloutRollback, Workers: []provision.RolloutStep{
			{Key: "image-api", Name: "image-api", Version: stableID, Message: "back to yesterday",
				Serving: []provision.DeploymentShare{{VersionID: canaryID, Percentage: 100}}},
		}},
		"rollback_forced": {Kind: provision.RolloutRollback, Workers: []provision.RolloutStep{
			{Key: "image-api", Name: "image-api", Version: olderID, Forced: true,
				KeyNote: "version 0badc0de answers to the API key it was deployed with, not the serving one's",
				Serving: []provision.DeploymentShare{{VersionID: stableID, Percentage: 100}}},
		}},
		"empty_promote":  {Kind: provision.RolloutPromote},
		"empty_rollback": {Kind: provision.RolloutRollback},
	}
}

func corpusRolloutResults() map[string]*provision.RolloutResult {
	passed := &provision.SmokeReport{Key: "image-api", Name: "image-api", URL: "https://image-api.acme.workers.dev", Passed: true,
		Checks: []provision.SmokeCheck{{Name: "authorized", Passed: true, Status: 200, ContentType: "image/png"}}}
	failed := &provision.SmokeReport{Key: "image-api", Name: "image-api", URL: "https://image-api.acme.workers.dev",
		Checks: []provision.SmokeCheck{{Name: "authorized", Status: 500, Detail: "want 200"}}, Error: "authorized: status 500"}
	return map[string]*provision.RolloutResult{
		"promoted": {Kind: provision.RolloutPromote, Workers: []provision.RolloutWorkerResult{
			{Key: "image-api", Name: "image-api", Version: canaryID, Smoke: passed},
		}},
		"promote_failed": {Kind: provision.RolloutPromote, Workers: []provision.RolloutWorkerResult{
			{Key: "image-api", Name: "image-api", Smoke: failed, PutBack: true, Error: "smoke: authorized: status 500"},
			{Key: "txt", Name: "txt", Error: "not started: " + provision.ErrInterrupted.Error()},
		}},
		"rollback_forced": {Kind: provision.RolloutRollback, Workers: []provision.RolloutWorkerResult{
			{Key: "image-api", Name: "image-api", Version: olderID, Smoke: passed, HandedKey: handedKey,
				KeyNote: "answers to the key it was deployed with"},
		}},
		"rollback_error_after_deploy": {Kind: provision.RolloutRollback, Workers: []provision.RolloutWorkerResult{
			{Key: "image-api", Name: "image-api", Version: stableID, Error: "worker image-api changed while this run was applying; run plan again"},
		}},
	}
}

func rolloutGoldenCases() map[string]string {
	cases := map[string]string{}
	add := func(name string, write func(w *bytes.Buffer)) {
		var b bytes.Buffer
		write(&b)
		cases[name] = b.String()
	}
	for name, rp := range corpusRolloutPlans() {
		add("plan_"+name, func(w *bytes.Buffer) { RolloutPlan(w, rp) })
	}
	handovers := map[string]KeyHandover{"keyout": {KeyOut: "keys.txt"}, "tty": {Terminal: true}, "plain": {}}
	for name, res := range corpusRolloutResults() {
		for hname, keys := range handovers {
			for _, stop := range []Stop{NotStopped, StoppedLate, StoppedRun} {
				add(fmt.Sprintf("result_%s_%s_%d", name, hname, stop), func(w *bytes.Buffer) { RolloutResult(w, res, keys, stop) })
			}
		}
	}
	add("canary_hint", func(w *bytes.Buffer) { CanaryHint(w, 10) })
	return cases
}

func TestRolloutGolden(t *testing.T) {
	checkGoldenFile(t, filepath.Join("testdata", "rollout.golden"), rolloutGoldenCases())
}

// The key a forced rollback hands over is shown only on a terminal without --key-out; no
// rendering ever shows a full version's key note as a fingerprint or the key elsewhere.
func TestRolloutHandsOverTheKeyOnlyOnATerminal(t *testing.T) {
	for name, text := range rolloutGoldenCases() {
		shown := strings.Contains(text, handedKey)
		want := strings.HasPrefix(name, "result_rollback_forced_tty_")
		if shown != want {
			t.Errorf("%s: key shown %t, want %t:\n%s", name, shown, want, text)
		}
		if strings.Contains(text, "fp ") {
			t.Errorf("%s renders a fingerprint:\n%s", name, text)
		}
	}
}
