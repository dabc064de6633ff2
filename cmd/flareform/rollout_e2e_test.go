package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// The gradual rollouts of issue 23 (apply --canary, promote, rollback) against a local
// Cloudflare, checked through the API's deployments.

// Worker answers the canary tests deploy in place of the template's image answer (imageAnswer).
const (
	// releaseTwoAnswer is new code that still passes the smoke test.
	releaseTwoAnswer = `return new Response(bytes, { headers: { "content-type": type, "x-release": "2", ...CORS_HEADERS } });`
	// brokenAnswer fails the authorised request only: the key checks still answer 401 and 405.
	brokenAnswer = `return new Response("broken", { status: 500 });`
)

// deploymentShare is one version of a deployment as the API lists it.
type deploymentShare struct {
	VersionID  string  `json:"version_id"`
	Percentage float64 `json:"percentage"`
}

// latestDeployment reads GET …/workers/scripts/{script}/deployments through the API and
// returns the newest deployment's versions and shares.
func latestDeployment(t *testing.T, env map[string]string, script string) []deploymentShare {
	t.Helper()
	url := env[envAPIBaseURL] + "/accounts/" + env[envAccountID] + "/workers/scripts/" + script + "/deployments"
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+env[envAPIToken])
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var doc struct {
		Success bool `json:"success"`
		Result  struct {
			Deployments []struct {
				Versions []deploymentShare `json:"versions"`
			} `json:"deployments"`
		} `json:"result"`
	}
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil || !doc.Success || len(doc.Result.Deployments) == 0 {
		t.Fatalf("GET %s: status %d, success %t, %d deployments, err %v", url, res.StatusCode, doc.Success, len(doc.Result.Deployments), err)
	}
	return doc.Result.Deployments[0].Versions // newest first
}

// servingAlone is the version a deployment serves at 100%, failing when it is split.
func servingAlone(t *testing.T, shares []deploymentShare) string {
	t.Helper()
	if len(shares) != 1 || shares[0].Percentage != 100 {
		t.Fatalf("deployment %+v, want one version at 100%%", shares)
	}
	return shares[0].VersionID
}

// assertSplit fails unless shares are exactly newID at pct and oldID at the rest.
func assertSplit(t *testing.T, shares []deploymentShare, newID string, pct float64, oldID string) {
	t.Helper()
	got := map[string]float64{}
	for _, s := range shares {
		got[s.VersionID] = s.Percentage
	}
	if len(shares) != 2 || got[oldID] != 100-pct || got[newID] != pct || newID == "" || newID == oldID {
		t.Fatalf("deployment %+v, want the new version %s at %v%% and %s at %v%%", shares, newID, pct, oldID, 100-pct)
	}
}

// otherVersion is the version of a split deployment that is not old.
func otherVersion(shares []deploymentShare, old string) string {
	for _, s := range shares {
		if s.VersionID != old {
			return s.VersionID
		}
	}
	return ""
}

// deployImages deploys a new "images" project (the text-to-image template) with c: its spec,
// the -f flag naming it and the version that serves. Every rollout test starts from it.
func deployImages(t *testing.T, c *cli, env map[string]string) (specPath string, f []string, v1 string) {
	t.Helper()
	specPath = initProject(t, c, "images")
	f = []string{"-f", specPath}
	c.mustRun(0, append(f, "apply", "--auto-approve")...)
	return specPath, f, servingAlone(t, latestDeployment(t, env, "images"))
}

// replaceAnswer makes the project's worker answer with answer instead of the picture.
func replaceAnswer(t *testing.T, specPath, answer string) {
	t.Helper()
	editFile(t, filepath.Join(filepath.Dir(specPath), "src", "worker.js"), imageAnswer, answer)
}

// TestCanaryPromoteAndRollback: apply; new code deployed with apply --canary 10 serves 10%
// beside the old version's 90%; promote gives it 100%; rollback gives the old version 100%
// again, and plan then shows the spec's code as a change.
func TestCanaryPromoteAndRollback(t *testing.T) {
	_, env := startStandalone(t)
	c := newCLI(t, env)
	specPath, f, v1 := deployImages(t, c, env)

	replaceAnswer(t, specPath, releaseTwoAnswer)
	if r := c.mustRun(exitChanges, append(f, "plan", "--canary", "10", "--detailed-exitcode")...); !strings.Contains(r.stdout, "new version at 10% (canary)") {
		t.Errorf("plan --canary 10 does not show the canary:\n%s", r.stdout)
	}
	r := c.mustRun(0, append(f, "apply", "--canary", "10", "--auto-approve", "--json")...)
	var applied canaryApplyDoc
	if err := json.Unmarshal([]byte(r.stdout), &applied); err != nil || !applied.Changes {
		t.Fatalf("apply --canary --json: %v, changes %t\n%s", err, applied.Changes, r.stdout)
	}
	split := latestDeployment(t, env, "images")
	v2 := otherVersion(split, v1)
	assertSplit(t, split, v2, 10, v1)

	// A plain plan now shows what a plain apply would do with the canary: promote it.
	if r := c.mustRun(exitChanges, append(f, "plan", "--detailed-exitcode")...); !strings.Contains(r.stdout, "promoted after its smoke test") {
		t.Errorf("plan after the canary does not offer to promote it:\n%s", r.stdout)
	}

	r = c.mustRun(0, append(f, "promote", "--auto-approve")...)
	for _, want := range []string{"→ 100%", "Promote complete!"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("promote output lacks %q:\n%s", want, r.stdout)
		}
	}
	if got := servingAlone(t, latestDeployment(t, env, "images")); got != v2 {
		t.Fatalf("after promote %s serves, want the canary %s", got, v2)
	}
	c.mustRun(0, append(f, "plan", "--detailed-exitcode")...)

	r = c.mustRun(0, append(f, "rollback", "--auto-approve", "--json")...)
	var rolled rolloutDoc
	if err := json.Unmarshal([]byte(r.stdout), &rolled); err != nil {
		t.Fatalf("rollback --json: %v\n%s", err, r.stdout)
	}
	if rolled.Kind != "rollback" || len(rolled.Workers) != 1 || rolled.Workers[0].Version != v1 || rolled.Workers[0].Error != "" {
		t.Errorf("rollback --json result %+v, want images back at %s", rolled, v1)
	}
	if got := servingAlone(t, latestDeployment(t, env, "images")); got != v1 {
		t.Fatalf("after rollback %s serves, want the previous version %s", got, v1)
	}
	c.mustRun(exitChanges, append(f, "plan", "--detailed-exitcode")...)

	// Completion: WORKER from the spec, --to from the worker's versions on the account.
	if r := c.mustRun(0, "__complete", "-f", specPath, "promote", ""); !strings.Contains(r.stdout, "images\n") {
		t.Errorf("promote completes %q, want the worker images", r.stdout)
	}
	r = c.mustRun(0, "__complete", "-f", specPath, "rollback", "images", "--to", "")
	for _, v := range []string{v1, v2} {
		if !strings.Contains(r.stdout, v+"\t") {
			t.Errorf("rollback --to completes %q, want version %s", r.stdout, v)
		}
	}
}

// TestFailedCanaryLeavesThePreviousVersionServing: a canary whose authorised answer is broken
// fails its smoke test; apply exits 1 and the previous version serves all traffic again.
func TestFailedCanaryLeavesThePreviousVersionServing(t *testing.T) {
	srv, env := startStandalone(t)
	c := newCLI(t, env)
	specPath, f, v1 := deployImages(t, c, env)

	replaceAnswer(t, specPath, brokenAnswer)
	r := c.mustRun(exitError, append(f, "apply", "--canary", "10", "--auto-approve")...)
	if strings.Contains(r.stdout, "Apply complete!") {
		t.Errorf("a failed canary says the apply completed:\n%s", r.stdout)
	}
	if got := servingAlone(t, latestDeployment(t, env, "images")); got != v1 {
		t.Fatalf("after the failed canary %s serves, want the previous version %s", got, v1)
	}
	key := keyInStore(t, specPath, "images")
	for i := 0; i < 5; i++ { // 100% of the traffic: every request gets the previous version
		if got := postWith(t, srv, "images", key); got != http.StatusOK {
			t.Fatalf("request %d after the failed canary: status %d, want 200 from the previous version", i, got)
		}
	}
}

// TestRolloutsNeedApprovalWithoutATerminal: promote and rollback print their plan and refuse
// without a terminal unless --auto-approve is given, and write nothing.
func TestRolloutsNeedApprovalWithoutATerminal(t *testing.T) {
	srv, env := startStandalone(t)
	c := newCLI(t, env)
	specPath, f, v1 := deployImages(t, c, env)
	replaceAnswer(t, specPath, releaseTwoAnswer)
	c.mustRun(0, append(f, "apply", "--canary", "25", "--auto-approve")...)
	split := latestDeployment(t, env, "images")
	assertSplit(t, split, otherVersion(split, v1), 25, v1)

	for _, cmd := range []string{"promote", "rollback"} {
		before := countWrites(srv.Requests())
		r := c.mustRun(exitError, append(f, cmd)...)
		if !strings.Contains(r.stderr, "--auto-approve") || !strings.Contains(r.stderr, "nothing was changed") {
			t.Errorf("%s without a terminal: stderr lacks the refusal:\n%s", cmd, r.stderr)
		}
		if !strings.Contains(r.stdout, "→ 100%") {
			t.Errorf("%s printed no plan before refusing:\n%s", cmd, r.stdout)
		}
		if n := countWrites(srv.Requests()) - before; n != 0 {
			t.Errorf("%s refused but wrote %d times", cmd, n)
		}
		assertSplit(t, latestDeployment(t, env, "images"), otherVersion(split, v1), 25, v1)
	}
}

// TestSavedPlanKeepsTheCanary: plan --canary --out saves the percent; apply FILE deploys that
// canary, and refuses another --canary before writing.
func TestSavedPlanKeepsTheCanary(t *testing.T) {
	srv, env := startStandalone(t)
	c := newCLI(t, env)
	specPath, f, v1 := deployImages(t, c, env)
	replaceAnswer(t, specPath, releaseTwoAnswer)
	planFile := filepath.Join(t.TempDir(), "release.plan")
	c.mustRun(0, append(f, "plan", "--canary", "10", "--out", planFile)...)

	before := countWrites(srv.Requests())
	r := c.mustRun(exitError, "apply", planFile, "--canary", "20")
	if !strings.Contains(r.stderr, "--canary differs from the saved plan") {
		t.Errorf("apply FILE --canary 20: stderr lacks the refusal:\n%s", r.stderr)
	}
	if n := countWrites(srv.Requests()) - before; n != 0 {
		t.Errorf("the refused apply wrote %d times", n)
	}
	c.mustRun(0, "apply", planFile)
	split := latestDeployment(t, env, "images")
	assertSplit(t, split, otherVersion(split, v1), 10, v1)
}

// canaryApplyDoc is the part of apply --json these tests read.
type canaryApplyDoc struct {
	Changes bool `json:"changes"`
}

// rolloutDoc is the part of promote/rollback --json these tests read.
type rolloutDoc struct {
	Kind    string `json:"kind"`
	Changes bool   `json:"changes"`
	Workers []struct {
		Name    string `json:"name"`
		Version string `json:"version"`
		Error   string `json:"error"`
		APIKey  string `json:"api_key"`
	} `json:"workers"`
}

// TestForcedRollbackHandsOverTheKey: a rollback to a version that answers to another API key
// is refused without --force (nothing written); with --force the key that version answers to
// is handed over in the JSON result's api_key, and it is the key that works.
func TestForcedRollbackHandsOverTheKey(t *testing.T) {
	srv, env := startStandalone(t)
	c := newCLI(t, env)
	specPath := initProject(t, c, "images")
	f := []string{"-f", specPath}
	keys := t.TempDir()
	first := filepath.Join(keys, "first.key")
	c.mustRun(0, append(f, "apply", "--auto-approve", "--key-out", first)...)
	k1 := readKey(t, first)
	c.env[envAPIKey] = k1
	second := filepath.Join(keys, "second.key")
	c.mustRun(0, append(f, "rotate-key", "images", "--revoke", "--key-out", second)...)
	delete(c.env, envAPIKey)
	k2 := readKey(t, second)
	revoked := servingAlone(t, latestDeployment(t, env, "images"))

	before := countWrites(srv.Requests())
	r := c.mustRun(exitError, append(f, "rollback", "--auto-approve")...)
	if !strings.Contains(r.stderr, "--force") || !strings.Contains(r.stderr, "nothing was changed") {
		t.Errorf("rollback across a key change without --force: stderr lacks the refusal:\n%s", r.stderr)
	}
	if n := countWrites(srv.Requests()) - before; n != 0 {
		t.Errorf("the refused rollback wrote %d times", n)
	}
	if got := servingAlone(t, latestDeployment(t, env, "images")); got != revoked {
		t.Fatalf("after the refused rollback %s serves, want %s", got, revoked)
	}

	r = c.mustRun(0, append(f, "rollback", "--auto-approve", "--force", "--key-file", first, "--json")...)
	var rolled rolloutDoc
	if err := json.Unmarshal([]byte(r.stdout), &rolled); err != nil || len(rolled.Workers) != 1 {
		t.Fatalf("rollback --force --json: %v\n%s", err, r.stdout)
	}
	if rolled.Workers[0].APIKey != k1 {
		t.Errorf("the forced rollback handed over a key that is not the one its version answers to")
	}
	if strings.Contains(r.stderr, k1) || strings.Contains(r.stderr, k2) {
		t.Error("a key appears on stderr")
	}
	if postWith(t, srv, "images", k1) != http.StatusOK || postWith(t, srv, "images", k2) != http.StatusUnauthorized {
		t.Error("after the forced rollback the handed-over key must work and the revoke's key get 401")
	}
}
