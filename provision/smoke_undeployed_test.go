package provision

import (
	"context"
	"strings"
	"testing"
	"time"
)

// A worker that was never deployed fails its smoke test at once, saying so and what to run:
// it used to wait out SmokeWait for a deploy that was not coming (19 s), then blame a key.
// A deployed worker of the same spec is still tested.
func TestSmokeOfAWorkerNeverDeployedFailsAtOnce(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.SmokeWait = 20 * time.Second })
	h.env["IMG_KEY"] = "smoke-env-key-0123456789abcdefghijklm"
	deployed := imageWorker(t, "image-api", "IMG_KEY")
	h.deploy(t, specOf(deployed), ApplyOptions{SkipSmoke: true})
	never := imageWorker(t, "never-api", "") // a generated key nobody holds yet

	start := time.Now()
	reports, err := h.eng.Smoke(context.Background(), specOf(deployed, never), nil, "")
	elapsed := time.Since(start)
	if elapsed > 8*time.Second {
		t.Errorf("smoke took %s with a worker never deployed, want it to fail at once", elapsed)
	}
	if len(reports) != 2 || !reports[0].Passed {
		t.Fatalf("reports %+v: want the deployed worker tested and passing", reports)
	}
	r := reports[1]
	if r.Passed || !strings.Contains(r.Error, "not deployed") || !strings.Contains(r.Error, "flareform apply") ||
		strings.Contains(r.Error, "key") || len(r.Checks) != 0 {
		t.Errorf("never-deployed report %+v: want not deployed, run apply, no check and no word of a key", r)
	}
	if err == nil || !strings.Contains(err.Error(), "never-api: not deployed") || strings.Contains(err.Error(), "image-api") {
		t.Errorf("smoke error %v: want never-api named as not deployed, and only it", err)
	}
}
