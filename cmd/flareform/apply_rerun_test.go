package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flareform/flareform/localcf"
)

// TestApplyRerunAfterFailureWithKeyOut: an apply that deploys a generated key and then fails
// (here: enabling workers.dev keeps failing) still hands the key over in --key-out. Re-running
// the same command must then finish the job; it used to refuse because its own --key-out file
// existed, although the re-run generates no key. Found by TestFaultConvergence.
func TestApplyRerunAfterFailureWithKeyOut(t *testing.T) {
	srv, env := startStandalone(t)
	c := newCLI(t, env)
	specPath := initProject(t, c, "images")
	keyFile := filepath.Join(t.TempDir(), "images.key")
	args := []string{"-f", specPath, "apply", "--auto-approve", "--key-out", keyFile}

	srv.SetFaults([]localcf.FaultRule{{Path: "*/scripts/images/subdomain", Method: "POST", Kind: "500"}}, 1)
	r := c.mustRun(exitError, args...)
	srv.SetFaults(nil, 1)
	if !strings.Contains(r.stderr, "workers.dev") {
		t.Errorf("the failure does not say what failed:\n%s", r.stderr)
	}
	key := readKey(t, keyFile) // deployed, so handed over despite the failure

	r = c.mustRun(exitOK, args...)
	if strings.Contains(r.stdout+r.stderr, key) {
		t.Error("the re-run printed the key")
	}
	if got := readKey(t, keyFile); got != key {
		t.Error("the re-run replaced the key file although it generated no key")
	}
	if status := postWith(t, srv, "images", key); status != http.StatusOK {
		t.Errorf("the handed-over key gets %d, want 200", status)
	}
	c.mustRun(exitOK, "-f", specPath, "plan", "--detailed-exitcode")

	// --key-out still refuses to overwrite a key file when the apply would write a new key.
	c.mustRun(exitOK, "-f", specPath, "destroy", "--auto-approve")
	srv.ResetRequests()
	r = c.mustRun(exitError, args...)
	if !strings.Contains(r.stderr, "--force") {
		t.Errorf("an apply that would generate a key over an existing --key-out file: %s", r.stderr)
	}
	if n := countWrites(srv.Requests()); n != 0 {
		t.Errorf("the refused apply made %d writes", n)
	}
	if got := readKey(t, keyFile); got != key {
		t.Error("the refused apply changed the key file")
	}
}
