package localcf

import (
	"net/http"
	"strings"
	"testing"
)

// expectSecretsChanged fails unless r is Cloudflare's 10220 naming exactly names.
func expectSecretsChanged(t *testing.T, r *apiResponse, names string) {
	t.Helper()
	expect(t, r, http.StatusBadRequest, codeSecretsChanged)
	msg := r.Env.Errors[0].Message
	if !strings.HasSuffix(msg, "The following secrets have changed: "+names) {
		t.Fatalf("10220 message %q does not end with the changed secrets %q", msg, names)
	}
}

// TestRollbackAcrossSecretChange: deploying an older version whose secrets differ from the
// newest deployed one needs ?force=true (10220 otherwise, nothing changed); equal secrets, or a
// newer version, need no force.
func TestRollbackAcrossSecretChange(t *testing.T) {
	srv := startTestServer(t, Options{})
	c := newClient(t, srv)
	c.mustUpload("app", defaultMeta(map[string]any{"type": "secret_text", "name": "API_KEY", "text": "key-a"}), testWorker("v1"))
	c.enableWorkersDev("app")
	expect(t, c.putSecret("app", "API_KEY", "key-a"), http.StatusOK, 0) // same value sealed anew: not a change
	expect(t, c.putSecret("app", "API_KEY", "key-b"), http.StatusOK, 0)
	expect(t, c.putSecret("app", "NEW", "n"), http.StatusOK, 0)
	ids := c.versionIDs("app") // newest first: {key-b, NEW}, {key-b}, {key-a}, {key-a}
	withNew, keyB, sameA, v1 := ids[0], ids[1], ids[2], ids[3]

	// Back from {key-b, NEW}: a changed value plus a removed secret; then a removed one only.
	expectSecretsChanged(t, c.deploy("app", v1, false), "API_KEY, NEW")
	expectSecretsChanged(t, c.deploy("app", keyB, false), "NEW")
	// A split holding the older version is a rollback too, even at 0%.
	expectSecretsChanged(t, c.deploySplit("app", withNew, 100, keyB, 0), "NEW")
	if env := c.envOf("app"); env["secret"] != "key-b" || len(c.deploymentsOf("app")) != 4 {
		t.Fatalf("a refused rollback changed something: env %v", env)
	}

	expect(t, c.deploy("app", keyB, true), http.StatusOK, 0)
	expect(t, c.deploy("app", sameA, true), http.StatusOK, 0)
	// sameA and v1 hold the same secret value: no change, no force needed.
	expect(t, c.deploy("app", v1, false), http.StatusOK, 0)
	if env := c.envOf("app"); env["secret"] != "key-a" {
		t.Fatalf("after the rollback the worker sees %v", env["secret"])
	}
	// Newer versions are never a rollback: a canary of the newest, then all of it.
	expect(t, c.deploySplit("app", v1, 90, withNew, 10), http.StatusOK, 0)
	expect(t, c.deploy("app", withNew, false), http.StatusOK, 0)
	// A split that adds an older version to the newest is a rollback for that version.
	expectSecretsChanged(t, c.deploySplit("app", withNew, 50, sameA, 50), "API_KEY, NEW")
}

// deploymentsOf lists the script's deployment ids, newest first.
func (c *client) deploymentsOf(script string) []string {
	c.t.Helper()
	var res struct {
		Deployments []struct {
			ID string `json:"id"`
		} `json:"deployments"`
	}
	r := c.do(http.MethodGet, "/workers/scripts/"+script+"/deployments", "", nil)
	expect(c.t, r, http.StatusOK, 0)
	r.result(c.t, &res)
	ids := make([]string, len(res.Deployments))
	for i, d := range res.Deployments {
		ids[i] = d.ID
	}
	return ids
}

// TestDeploymentShapeRules: one or two distinct versions, each 0 to 100 percent, adding up to
// exactly 100; refused shapes change nothing.
func TestDeploymentShapeRules(t *testing.T) {
	srv := startTestServer(t, Options{})
	c, v1, v2 := twoVersions(t, srv)
	before := len(c.deploymentsOf("app"))
	refused := map[string][]any{
		"same version twice":   {v1, 50, v1, 50},
		"sum below 100":        {v1, 50, v2, 49.99},
		"sum above 100":        {v1, 60, v2, 41},
		"negative share":       {v2, -10, v1, 110},
		"share above 100":      {v1, 100.5},
		"three versions":       {v1, 50, v2, 25, v1, 25},
		"same id in uppercase": {v1, 50, strings.ToUpper(v1), 50},
	}
	for name, shares := range refused {
		if r := c.deploySplit("app", shares...); r.Status != http.StatusBadRequest || r.code() != codeValidation {
			t.Errorf("%s: HTTP %d code %d, want 400 code %d: %s", name, r.Status, r.code(), codeValidation, r.Body)
		}
	}
	r := c.json(http.MethodPost, "/workers/scripts/app/deployments", map[string]any{"strategy": "immediate",
		"versions": []map[string]any{{"version_id": v1, "percentage": 100}}})
	expect(t, r, http.StatusBadRequest, codeValidation)
	if after := len(c.deploymentsOf("app")); after != before {
		t.Fatalf("refused deployments added %d deployments", after-before)
	}
	expect(t, c.deploySplit("app", v1, 100, v2, 0), http.StatusOK, 0)
	expect(t, c.deploySplit("app", v1, 33.3, v2, 66.7), http.StatusOK, 0)
}

// TestOnlyTheNewestHundredVersionsDeploy: a deployment may use the 100 newest versions only,
// the ones GET versions?deployable=true lists.
func TestOnlyTheNewestHundredVersionsDeploy(t *testing.T) {
	sc := &script{}
	for n := 1; n <= 101; n++ {
		sc.Versions = append(sc.Versions, &version{ID: newUUID(), Number: n})
	}
	if _, apiErr := deploymentVersionOf(sc, deploymentVersion{VersionID: sc.Versions[0].ID, Percentage: 100}); apiErr == nil ||
		apiErr.Errors[0].Code != codeValidation {
		t.Fatalf("version 1 of 101 deployable: %v", apiErr)
	}
	if _, apiErr := deploymentVersionOf(sc, deploymentVersion{VersionID: sc.Versions[1].ID, Percentage: 100}); apiErr != nil {
		t.Fatalf("version 2 of 101 (the 100th newest) refused: %v", apiErr)
	}
}
