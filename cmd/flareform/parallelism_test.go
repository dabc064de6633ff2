package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fleetProject writes a spec with n text-to-image workers sharing the template's worker.
func fleetProject(t *testing.T, c *cli, n int) string {
	t.Helper()
	specPath := initProject(t, c, "fleet")
	var sb strings.Builder
	sb.WriteString("account_id: ${CLOUDFLARE_ACCOUNT_ID}\nworkers:\n")
	for i := range n {
		fmt.Fprintf(&sb, "  fleet-%d:\n    main: ./src/worker.js\n    compatibility_date: \"2025-06-01\"\n"+
			"    ai: { binding: AI, model: \"@cf/stabilityai/stable-diffusion-xl-base-1.0\" }\n"+
			"    api_key: { binding: API_KEY, from: generate }\n    workers_dev: true\n", i)
	}
	if err := os.WriteFile(specPath, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return specPath
}

// With --parallelism 1 no two API requests overlap, even for a fleet the engine would
// otherwise handle many at once.
func TestParallelismOneSendsRequestsOneAtATime(t *testing.T) {
	srv, env := startStandalone(t)
	c := newCLI(t, env)
	specPath := fleetProject(t, c, 4)
	srv.ResetRequests()
	c.mustRun(0, "apply", "-f", specPath, "--auto-approve", "--no-smoke", "--parallelism", "1",
		"--key-out", filepath.Join(filepath.Dir(specPath), "keys"))
	recs := srv.Requests()
	if len(recs) < 4 {
		t.Fatalf("only %d API requests for a 4-worker fleet", len(recs))
	}
	for i := 1; i < len(recs); i++ {
		prevEnd := recs[i-1].Time.Add(time.Duration(recs[i-1].DurationMS * float64(time.Millisecond)))
		if recs[i].Time.Before(prevEnd) {
			t.Errorf("%s %s started %s before %s %s ended", recs[i].Method, recs[i].Path,
				prevEnd.Sub(recs[i].Time), recs[i-1].Method, recs[i-1].Path)
		}
	}
}

func TestParallelismBelowOneIsRefused(t *testing.T) {
	_, env := startStandalone(t)
	c := newCLI(t, env)
	specPath := initProject(t, c, "images")
	r := c.mustRun(1, "plan", "-f", specPath, "--parallelism", "0")
	if !strings.Contains(r.stderr, "--parallelism 0: want at least 1") {
		t.Errorf("stderr %q, want the --parallelism error", r.stderr)
	}
}
