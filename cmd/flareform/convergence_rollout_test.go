package main

// What the concurrent-run stories (overlap_pairs_test.go) and the crash schedules
// (rollout_crash_test.go) need for the gradual rollouts of issue 23: apply --canary, promote
// and rollback. Their promises are about the deployment itself (a canary's split, a version at
// 100%) besides the code that serves, and a split's versions are each reached through the
// Cloudflare-Workers-Version-Overrides header, so a check never depends on which version a
// request happened to draw.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// smokePrompt is the body of the smoke request the checks send.
const smokePrompt = `{"prompt":"a lighthouse at dawn"}`

// onVersion names the version a check reached through the override header ("" for none).
func onVersion(v string) string {
	if v == "" {
		return ""
	}
	return " on version " + v
}

// postTo sends body to the worker with key; a version other than "" is named in the
// Cloudflare-Workers-Version-Overrides header, so that version of the current deployment
// answers whatever its share.
func (f *convFixture) postTo(key, body, version string) (int, []byte) {
	f.t.Helper()
	req, err := http.NewRequestWithContext(f.t.Context(), http.MethodPost, "http://"+f.srv.WorkersDevAddr()+"/", strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Host = convWorker + "." + f.srv.Subdomain() + ".workers.dev"
	req.Header.Set("Authorization", "Bearer "+key)
	if version != "" {
		req.Header.Set("Cloudflare-Workers-Version-Overrides", fmt.Sprintf("%s=%q", convWorker, version))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatalf("request to the worker: %v", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// deploymentNow reads the worker's newest deployment through the API; ok is false when there
// is none (no script), detail says why.
func (f *convFixture) deploymentNow() (shares []deploymentShare, ok bool, detail string) {
	f.t.Helper()
	u := fmt.Sprintf("%s/accounts/%s/workers/scripts/%s/deployments", f.srv.APIBaseURL(), f.srv.AccountID(), convWorker)
	var doc struct {
		Success bool `json:"success"`
		Result  struct {
			Deployments []struct {
				Versions []deploymentShare `json:"versions"`
			} `json:"deployments"`
		} `json:"result"`
	}
	status := f.apiGet(u, &doc)
	if status != http.StatusOK || !doc.Success || len(doc.Result.Deployments) == 0 {
		return nil, false, fmt.Sprintf("no deployment to read (status %d)", status)
	}
	return doc.Result.Deployments[0].Versions, true, ""
}

// apiGet GETs u with the account's token into doc and returns the status.
func (f *convFixture) apiGet(u string, doc any) int {
	f.t.Helper()
	req, err := http.NewRequestWithContext(f.t.Context(), http.MethodGet, u, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+f.srv.Token())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatalf("GET %s: %v", u, err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(doc); err != nil && res.StatusCode == http.StatusOK {
		f.t.Fatalf("GET %s: %v", u, err)
	}
	return res.StatusCode
}

// servingTargets are the versions the checks send a request to: [""] (no override) when one
// version (or none) serves, else every version of the split that takes traffic.
func (f *convFixture) servingTargets() []string {
	shares, ok, _ := f.deploymentNow()
	var split []string
	for _, s := range shares {
		if s.Percentage > 0 {
			split = append(split, s.VersionID)
		}
	}
	if !ok || len(split) < 2 {
		return []string{""}
	}
	return split
}

// sharesText writes a deployment as the checks report it.
func sharesText(shares []deploymentShare) string {
	parts := make([]string, len(shares))
	for i, s := range shares {
		parts[i] = fmt.Sprintf("%s at %v%%", s.VersionID, s.Percentage)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// sameShares reports whether a and b are the same deployment (versions and shares, in any
// order).
func sameShares(a, b []deploymentShare) bool {
	key := func(s []deploymentShare) []string {
		out := make([]string, len(s))
		for i, x := range s {
			out[i] = fmt.Sprintf("%s=%v", x.VersionID, x.Percentage)
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(key(a), key(b))
}

// deployedAsPromised checks a promiseSplit or promiseDeployed against the newest deployment.
func (f *convFixture) deployedAsPromised(p promise) (bool, string) {
	shares, ok, detail := f.deploymentNow()
	if !ok {
		return false, detail
	}
	want := []deploymentShare{{VersionID: p.version, Percentage: 100}}
	if p.kind == promiseSplit {
		want = []deploymentShare{{VersionID: p.stable, Percentage: 100 - p.percent}, {VersionID: p.version, Percentage: p.percent}}
	}
	if p.version == "" || !sameShares(shares, want) {
		return false, fmt.Sprintf("the newest deployment is %s, want %s", sharesText(shares), sharesText(want))
	}
	if p.kind != promiseSplit {
		return true, ""
	}
	// The canary passed its smoke test: its code (and vars) answer through the override.
	key := f.workingKey(p.key)
	if key == "" {
		return false, "no key the test knows opens the worker"
	}
	if ok, detail := f.versionServes(key, p.version, p.maxPromptChars); !ok {
		return false, detail + onVersion(p.version)
	}
	return true, ""
}

// versionChars is the MAX_PROMPT_CHARS var of version, read from the API; 0 when unknown.
func (f *convFixture) versionChars(version string) int {
	f.t.Helper()
	u := fmt.Sprintf("%s/accounts/%s/workers/scripts/%s/versions/%s", f.srv.APIBaseURL(), f.srv.AccountID(), convWorker, version)
	var doc struct {
		Result struct {
			Resources struct {
				Bindings []struct {
					Name string `json:"name"`
					Text string `json:"text"`
				} `json:"bindings"`
			} `json:"resources"`
		} `json:"result"`
	}
	if f.apiGet(u, &doc) != http.StatusOK {
		return 0
	}
	for _, b := range doc.Result.Resources.Bindings {
		if b.Name == "MAX_PROMPT_CHARS" {
			n, _ := strconv.Atoi(b.Text)
			return n
		}
	}
	return 0
}

// rolloutResultDoc is the part of apply --canary --json, promote --json and rollback --json
// the promises read.
type rolloutResultDoc struct {
	Changes bool `json:"changes"`
	Plan    struct {
		Workers []struct {
			Canary *struct {
				Percent float64 `json:"percent"`
				Stable  string  `json:"stable"`
			} `json:"canary"`
		} `json:"workers"`
	} `json:"plan"`
	Workers []struct {
		Name      string `json:"name"`
		Version   string `json:"version"`    // promote, rollback
		VersionID string `json:"version_id"` // apply
		Smoke     *struct {
			Passed bool `json:"passed"`
		} `json:"smoke"`
	} `json:"workers"`
}

// rolloutPromises are what apply --canary, promote or rollback, run from this checkout,
// promised by exiting 0 with res. Each says in its JSON result which version it deployed and
// that its smoke test passed:
//   - apply --canary: the newest deployment holds its new version at 10% and the version its
//     plan read at 90%, and the new version serves its code and vars (its smoke test passed);
//   - promote: the canary serves 100%, its code and vars serve;
//   - rollback: the previous 100% version serves 100%, its code and vars serve (its smoke
//     test passed);
//
// and each: the key its smoke test ran with opens the worker.
func (c *checkout) rolloutPromises(command string, res result) []promise {
	t := c.f.t
	var doc rolloutResultDoc
	err := json.Unmarshal([]byte(res.stdout), &doc)
	if err == nil && command == cmdCanary && !doc.Changes && len(doc.Workers) == 0 {
		return c.canaryInPlace()
	}
	if err != nil || len(doc.Workers) != 1 {
		t.Errorf("%s exited 0, but its stdout is not a JSON result for one worker (%v):\n%.600s", command, err, res.stdout)
		return nil
	}
	w := doc.Workers[0]
	if w.Smoke == nil || !w.Smoke.Passed {
		t.Errorf("%s exited 0, but its JSON result has no passed smoke test for %s:\n%.600s", command, w.Name, res.stdout)
	}
	key := c.storedKey()
	ps := []promise{{kind: promiseKeyWorks, what: "the key its smoke test ran with opens the worker", key: key}}
	if command == cmdCanary {
		if len(doc.Plan.Workers) != 1 || doc.Plan.Workers[0].Canary == nil {
			t.Errorf("%s exited 0, but its JSON plan has no canary:\n%.600s", command, res.stdout)
			return ps
		}
		cp := doc.Plan.Workers[0].Canary
		n := specMaxPromptChars(t, c.spec)
		return append(ps, promise{kind: promiseSplit, key: key, maxPromptChars: n,
			version: w.VersionID, stable: cp.Stable, percent: cp.Percent,
			what: fmt.Sprintf("its canary %s (MAX_PROMPT_CHARS=%d) serves %v%% beside %s, which it read, at %v%%",
				w.VersionID, n, cp.Percent, cp.Stable, 100-cp.Percent)})
	}
	n := c.f.versionChars(w.Version)
	return append(ps,
		promise{kind: promiseDeployed, version: w.Version, what: fmt.Sprintf("version %s serves 100%%", w.Version)},
		promise{kind: promiseServes, key: key, maxPromptChars: n,
			what: fmt.Sprintf("the code and MAX_PROMPT_CHARS=%d of version %s serve", n, w.Version)})
}

// canaryInPlace is what apply --canary 10 promised by exiting 0 with nothing to do: the
// spec's code already serves as a canary at 10% (its code and vars answer through the
// override header), and the key works.
func (c *checkout) canaryInPlace() []promise {
	key := c.storedKey()
	ps := []promise{{kind: promiseKeyWorks, what: "the key its smoke test ran with opens the worker", key: key}}
	shares, _, _ := c.f.deploymentNow()
	p := promise{kind: promiseSplit, key: key, maxPromptChars: specMaxPromptChars(c.f.t, c.spec), percent: 10}
	for _, s := range shares {
		if s.Percentage == 10 {
			p.version = s.VersionID
		} else {
			p.stable = s.VersionID
		}
	}
	p.what = fmt.Sprintf("with nothing to do, a canary of its code and MAX_PROMPT_CHARS=%d serves 10%% (found %s)", p.maxPromptChars, sharesText(shares))
	return append(ps, p)
}

var anyMaxPromptCharsRE = regexp.MustCompile(`MAX_PROMPT_CHARS: "\d+"`)

// setChars sets the MAX_PROMPT_CHARS var of the spec at path to n, whatever it was.
func setChars(f *convFixture, path string, n int) {
	f.t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		f.t.Fatal(err)
	}
	if !anyMaxPromptCharsRE.Match(b) {
		f.t.Fatalf("%s has no MAX_PROMPT_CHARS", path)
	}
	b = anyMaxPromptCharsRE.ReplaceAll(b, []byte(fmt.Sprintf(`MAX_PROMPT_CHARS: "%d"`, n)))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// Starting states for stories with promote and rollback, after the first deploy (v0,
// MAX_PROMPT_CHARS=1000).
const (
	// setupDeploy: the first deploy only (what every other story starts from).
	setupDeploy = "deploy"
	// setupCanary: then apply --canary 10 of MAX_PROMPT_CHARS=950 (v1 at 10%, v0 at 90%):
	// there is a canary to promote, and rollback withdraws it.
	setupCanary = "canary"
	// setupTwoDeploys: then a plain apply of MAX_PROMPT_CHARS=950 (v1 at 100%): rollback
	// goes back to v0.
	setupTwoDeploys = "two-deploys"
)

// setupChars is the MAX_PROMPT_CHARS of the version setupCanary and setupTwoDeploys deploy.
const setupChars = 950

// prepareRollout brings the fixture, its first deploy made, to setup.
func (f *convFixture) prepareRollout(setup string) {
	f.t.Helper()
	switch setup {
	case setupCanary:
		setChars(f, f.spec, setupChars)
		f.mustCmd(0, "apply", "--canary", "10", "--auto-approve")
	case setupTwoDeploys:
		setChars(f, f.spec, setupChars)
		f.mustCmd(0, "apply", "--auto-approve")
	}
}
