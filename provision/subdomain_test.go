package provision

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/flareform/flareform/localcf/localcftest"
	"github.com/flareform/flareform/provision/spec"
)

// An account without a workers.dev subdomain: without workers_dev_subdomain the plan fails
// before any write and says how to fix it; with it, apply registers the subdomain first and the
// worker is smoke tested under it.
func TestAccountWithoutSubdomain(t *testing.T) {
	srv := localcftest.New(t)
	account, token, err := srv.AddAccount("")
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(c *Config) {
		c.APIBaseURL, c.APIToken, c.AccountID = srv.APIBaseURL(), token, account
	})
	h.srv = srv
	s := specOf(imageWorker(t, "image-api", ""))
	s.File = "flareform.yaml"

	srv.ResetRequests()
	_, err = h.eng.Plan(context.Background(), s)
	var se *spec.Error
	if !errors.As(err, &se) || !strings.Contains(se.Fix, "workers_dev_subdomain") {
		t.Fatalf("plan on an account without a subdomain: %v, want a spec error whose fix names workers_dev_subdomain", err)
	}
	if _, writes := h.apiCalls(); writes != 0 {
		t.Errorf("the refused plan wrote %d times", writes)
	}

	s.WorkersDevSubdomain = "my-team"
	p := h.plan(t, s)
	if p.RegisterSubdomain != "my-team" || !p.HasChanges() || !strings.Contains(p.Workers[0].URL, ".my-team.workers.dev") {
		t.Fatalf("plan: register %q, url %q", p.RegisterSubdomain, p.Workers[0].URL)
	}
	_, res := h.deploy(t, s, ApplyOptions{})
	if r := res.Workers[0]; r.Smoke == nil || !r.Smoke.Passed {
		t.Fatalf("apply under the new subdomain: %+v", r)
	}
	if again := h.plan(t, s); again.HasChanges() || again.RegisterSubdomain != "" {
		t.Errorf("second plan: register %q, changes %v", again.RegisterSubdomain, again.HasChanges())
	}

	// A spec naming another subdomain than the account's is refused: renaming moves every URL.
	s.WorkersDevSubdomain = "other-team"
	if _, err := h.eng.Plan(context.Background(), s); !errors.As(err, &se) || !strings.Contains(se.Fix, "my-team") {
		t.Errorf("plan with another subdomain: %v, want a spec error naming the account's", err)
	}
}
