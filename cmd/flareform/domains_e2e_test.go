package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// `apply --local` with a custom domain and workers.dev off: the local Cloudflare gets the zone
// the domain needs, the domain is attached after the worker's upload, the smoke test runs on it,
// and the next plan has nothing to do. Dropping the domain detaches it.
func TestApplyLocalAttachesACustomDomainAndSmokeTestsIt(t *testing.T) {
	c := newCLI(t, map[string]string{})
	specPath := initProject(t, c, "domain-api")
	settleFiles(t, filepath.Dir(specPath))
	editFile(t, specPath, "    workers_dev: true\n", "    workers_dev: false\n    domains: [api.example.com]\n")

	r := c.mustRun(exitOK, "-f", specPath, "--local", "apply", "--auto-approve")
	out := r.stdout + r.stderr
	for _, want := range []string{`custom_domain "api.example.com" (create)`, "smoke testing https://api.example.com/"} {
		if !strings.Contains(out, want) {
			t.Errorf("apply output lacks %q:\n%s", want, out)
		}
	}
	c.mustRun(exitOK, "-f", specPath, "--local", "plan", "--detailed-exitcode")

	editFile(t, specPath, "    workers_dev: false\n    domains: [api.example.com]\n", "    workers_dev: true\n")
	r = c.mustRun(exitOK, "-f", specPath, "--local", "apply", "--auto-approve")
	if out := r.stdout + r.stderr; !strings.Contains(out, `custom_domain "api.example.com" (delete)`) {
		t.Errorf("apply after dropping the domain does not detach it:\n%s", out)
	}
	c.mustRun(exitOK, "-f", specPath, "--local", "plan", "--detailed-exitcode")
}
