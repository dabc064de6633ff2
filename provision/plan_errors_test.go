package provision

import (
	"context"
	"strings"
	"testing"

	"github.com/flareform/flareform/localcf"
)

// TestPlanAccountReadErrorNamesWorkers: a failed account-level read (the workers.dev
// subdomain) used to surface as a bare "read account workers.dev subdomain: ..." that named no
// worker, found by TestFaultConvergence (schedule 9, seed 3).
func TestPlanAccountReadErrorNamesWorkers(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxRetries = -1 })
	h.srv.SetFaults([]localcf.FaultRule{{Path: "*/workers/subdomain", Method: "GET", Kind: "503"}}, 1)
	s := specOf(imageWorker(t, "image-api", ""), imageWorker(t, "image-api-2", ""))
	_, err := h.eng.Plan(context.Background(), s)
	if err == nil {
		t.Fatal("plan succeeded although the account subdomain could not be read")
	}
	for _, want := range []string{"plan image-api, image-api-2:", "read account workers.dev subdomain", "503"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// TestPlanDestroyListErrorNamesWorkers: the same for the script list destroy plans from.
func TestPlanDestroyListErrorNamesWorkers(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxRetries = -1 })
	h.srv.SetFaults([]localcf.FaultRule{{Path: "*/workers/scripts", Method: "GET", Kind: "500"}}, 1)
	_, err := h.eng.PlanDestroy(context.Background(), specOf(imageWorker(t, "image-api", "")))
	if err == nil || !strings.Contains(err.Error(), "plan destroy image-api:") {
		t.Fatalf("error %v, want one naming the worker", err)
	}
}
