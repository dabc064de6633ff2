package main

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flareform/flareform/localcf"
)

// startWithBudget starts a local Cloudflare whose tokens may make limit requests per 5 minutes.
func startWithBudget(t *testing.T, limit int) (*localcf.Server, map[string]string) {
	t.Helper()
	srv, err := localcf.Start(context.Background(), localcf.Options{RateLimit: limit})
	if err != nil {
		t.Fatalf("start local Cloudflare (workerd is required; run npm ci in the repository): %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, map[string]string{envAPIBaseURL: srv.APIBaseURL(), envAPIToken: srv.Token(), envAccountID: srv.AccountID()}
}

var estimateLine = regexp.MustCompile(`This apply makes about (\d+) API calls; at the API's rate budget of 30 requests per 5 minutes \(\d+ left now\) it will take about (\d+ (minutes|seconds))`)

// When the fleet's calls exceed the rate budget, plan says so with the time the apply will
// take, and apply says it before asking for approval (and, without a terminal, refuses).
func TestPlanEstimatesTheWaitWhenTheBudgetBinds(t *testing.T) {
	srv, env := startWithBudget(t, 30)
	c := newCLI(t, env)
	specPath := fleetProject(t, c, 6)
	srv.ResetRequests()
	r := c.mustRun(2, "plan", "-f", specPath, "--detailed-exitcode")
	m := estimateLine.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("plan output has no estimate:\n%s", r.stdout)
	}
	if m[1] != "30" || m[2] != "5 minutes" {
		t.Errorf("estimate %q: want 30 calls (5 per created worker) taking 5 minutes", m[0])
	}
	a := c.mustRun(1, "apply", "-f", specPath)
	at, asked := strings.Index(a.stdout, "This apply makes about"), strings.Index(a.stderr, "needs approval")
	if at < 0 || asked < 0 {
		t.Fatalf("apply: estimate at %d of stdout, approval refusal at %d of stderr; want both\nstdout:\n%s\nstderr:\n%s", at, asked, a.stdout, a.stderr)
	}
}

// Within the budget plan shows no estimate: the API's answers, not the budget, set the time.
func TestPlanShowsNoEstimateWithinTheBudget(t *testing.T) {
	_, env := startStandalone(t)
	c := newCLI(t, env)
	specPath := fleetProject(t, c, 6)
	r := c.mustRun(0, "plan", "-f", specPath)
	if strings.Contains(r.stdout, "This apply makes about") {
		t.Errorf("plan within the budget shows an estimate:\n%s", r.stdout)
	}
}

// Without a terminal apply prints a plain line at every tenth of the workers done.
func TestApplyProgressPlainLines(t *testing.T) {
	_, env := startStandalone(t)
	c := newCLI(t, env)
	specPath := fleetProject(t, c, 10)
	r := c.mustRun(0, "apply", "-f", specPath, "--auto-approve", "--no-smoke", "--key-out", filepath.Join(filepath.Dir(specPath), "keys"))
	for _, want := range []string{"applied 1/10 workers, ~", "applied 5/10 workers, ~", "applied 10/10 workers\n"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "\r") || strings.Contains(r.stderr, "[#") {
		t.Errorf("a plain log got a redrawn bar:\n%q", r.stderr)
	}
}

// destroy, like apply, says before asking when its calls will wait for the rate budget. The
// workers are made on a local Cloudflare with the default budget; the same state is then served
// with a budget of 5 requests, which the destroy's 6 deletes exceed.
func TestDestroyEstimatesTheWaitWhenTheBudgetBinds(t *testing.T) {
	state := t.TempDir()
	roomy, err := localcf.Start(context.Background(), localcf.Options{StateDir: state})
	if err != nil {
		t.Fatalf("start local Cloudflare: %v", err)
	}
	c := newCLI(t, map[string]string{envAPIBaseURL: roomy.APIBaseURL(), envAPIToken: roomy.Token(), envAccountID: roomy.AccountID()})
	specPath := fleetProject(t, c, 6)
	c.mustRun(0, "apply", "-f", specPath, "--auto-approve", "--no-smoke", "--key-out", filepath.Join(filepath.Dir(specPath), "keys"))
	if err := roomy.Close(); err != nil {
		t.Fatal(err)
	}
	// The plan reads the list and each worker's deployments (7 calls, the deletes'
	// precondition); the deletes then take 3 calls each, 18 in all, over what is left of 10.
	tight, err := localcf.Start(context.Background(), localcf.Options{StateDir: state, RateLimit: 10})
	if err != nil {
		t.Fatalf("start local Cloudflare on the same state: %v", err)
	}
	t.Cleanup(func() { tight.Close() })
	c.env[envAPIBaseURL] = tight.APIBaseURL()
	r := c.mustRun(1, "destroy", "-f", specPath)
	if !strings.Contains(r.stdout, "This destroy makes about 18 API calls; at the API's rate budget of 10 requests per 5 minutes") {
		t.Errorf("destroy of 6 workers within a budget of 10 shows no estimate:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "needs approval") {
		t.Errorf("destroy without a terminal did not stop for approval:\n%s", r.stderr)
	}
}

// destroy counts its workers the way apply does, in plain lines without a terminal.
func TestDestroyProgressPlainLines(t *testing.T) {
	_, env := startStandalone(t)
	c := newCLI(t, env)
	specPath := fleetProject(t, c, 10)
	c.mustRun(0, "apply", "-f", specPath, "--auto-approve", "--no-smoke", "--key-out", filepath.Join(filepath.Dir(specPath), "keys"))
	r := c.mustRun(0, "destroy", "-f", specPath, "--auto-approve")
	for _, want := range []string{"destroyed 1/10 workers, ~", "destroyed 5/10 workers, ~", "destroyed 10/10 workers\n", "Destroying: done in"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}

// On a terminal apply redraws one status line with a bar of the workers done.
func TestApplyProgressBarOnATerminal(t *testing.T) {
	_, env := startStandalone(t)
	c := newCLI(t, env)
	specPath := fleetProject(t, c, 4)
	ios, _, stderr := TestIOStreams("")
	ios.StderrTTY = true
	args := []string{"apply", "-f", specPath, "--auto-approve", "--no-smoke", "--key-out", filepath.Join(filepath.Dir(specPath), "keys")}
	if code := run(t.Context(), ios, args, c.getenv); code != 0 {
		t.Fatalf("apply: exit %d\n%s", code, stderr)
	}
	out := stderr.String()
	half := "[" + strings.Repeat("#", barWidth/2) + strings.Repeat("-", barWidth/2) + "] applied 2/4 workers"
	full := "[" + strings.Repeat("#", barWidth) + "] applied 4/4 workers"
	for _, want := range []string{"\r\x1b[K", half, full} {
		if !strings.Contains(out, want) {
			t.Errorf("stderr lacks %q:\n%q", want, out)
		}
	}
	if strings.Contains(out, "applied 4/4 workers\n") {
		t.Errorf("a terminal got plain progress lines:\n%q", out)
	}
}

// A plain log that heard of no finished worker for a while still gets a line, so a run that
// waits for the rate budget shows it is alive and how long is left.
func TestPlainProgressLineAfterAQuietSpell(t *testing.T) {
	var sb strings.Builder
	p := &progress{w: &sb, label: "Applying", verb: "applied", total: 300, done: 120, failed: 2,
		start: time.Now().Add(-time.Minute), plainEvery: 5 * time.Second, lastLine: time.Now(),
		budgetEnd: time.Now().Add(4 * time.Minute)}
	p.plainTick()
	if sb.Len() != 0 {
		t.Fatalf("a line before plainEvery passed: %q", sb.String())
	}
	p.lastLine = time.Now().Add(-6 * time.Second)
	p.plainTick()
	if got, want := sb.String(), "applied 120/300 workers, 2 failed, ~4m0s left\n"; got != want {
		t.Errorf("line %q, want %q", got, want)
	}
}
