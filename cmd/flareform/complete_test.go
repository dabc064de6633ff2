package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// completionOpts are the options a completion of a command with -f specPath sees.
func completionOpts(c *cli, specPath string) *rootOptions {
	ios, _, _ := TestIOStreams("")
	return &rootOptions{IO: ios, Getenv: c.getenv, File: specPath}
}

// Worker names come from the spec, with no account and no network: the environment has no
// CLOUDFLARE_ACCOUNT_ID, which the spec expands.
func TestCompleteWorkerNames(t *testing.T) {
	c := newCLI(t, map[string]string{})
	specPath := initProject(t, c, "images")
	complete := completeWorkerNames(completionOpts(c, specPath))
	cmd := &cobra.Command{}
	for _, tc := range []struct {
		args       []string
		toComplete string
		want       string
	}{
		{nil, "", "images"},
		{nil, "im", "images"},
		{nil, "x", ""},
		{[]string{"images"}, "", ""}, // WORKER is the only argument
	} {
		got, dir := complete(cmd, tc.args, tc.toComplete)
		if strings.Join(got, ",") != tc.want || dir != cobra.ShellCompDirectiveNoFileComp {
			t.Errorf("complete(%q, %q) = %q, %v; want %q without files", tc.args, tc.toComplete, got, dir, tc.want)
		}
	}
	missing := completeWorkerNames(completionOpts(c, filepath.Join(t.TempDir(), "flareform.yaml")))
	if got, _ := missing(cmd, nil, ""); len(got) != 0 {
		t.Errorf("no spec: completed %q", got)
	}
}

// Version ids come from the account, newest first with a description; a prefix narrows them,
// and a worker that does not exist, no worker, an API that is not there or --local without a
// running `flareform local` complete nothing, quietly and within the completion timeout.
func TestCompleteVersionIDs(t *testing.T) {
	_, env := startStandalone(t)
	c := newCLI(t, env)
	specPath := initProject(t, c, "images")
	c.mustRun(0, "-f", specPath, "apply", "--auto-approve")
	editFile(t, specPath, `MAX_PROMPT_CHARS: "1000"`, `MAX_PROMPT_CHARS: "500"`)
	c.mustRun(0, "-f", specPath, "apply", "--auto-approve")
	var doc versionsDoc
	if err := json.Unmarshal([]byte(c.mustRun(0, "-f", specPath, "versions", "images", "--json").stdout), &doc); err != nil || len(doc.Versions) != 2 {
		t.Fatalf("versions --json: %v, %d versions", err, len(doc.Versions))
	}

	opts := completionOpts(c, specPath)
	complete := completeVersionIDs(opts)
	cmd := &cobra.Command{}
	got, dir := complete(cmd, []string{"images"}, "")
	if len(got) != 2 || !strings.HasPrefix(got[0], doc.Versions[0].ID+"\t#") || !strings.Contains(got[0], "serving 100%") ||
		!strings.HasPrefix(got[1], doc.Versions[1].ID+"\t") || dir&cobra.ShellCompDirectiveKeepOrder == 0 {
		t.Errorf("completed %q (%v); want both versions newest first, described, in that order", got, dir)
	}
	prefix := doc.Versions[1].ID[:8]
	if got, _ := complete(cmd, []string{"images"}, prefix); len(got) != 1 || !strings.HasPrefix(got[0], doc.Versions[1].ID) {
		t.Errorf("prefix %s completed %q", prefix, got)
	}
	for name, args := range map[string][]string{"unknown worker": {"nope"}, "no worker": nil} {
		if got, _ := complete(cmd, args, ""); len(got) != 0 {
			t.Errorf("%s: completed %q", name, got)
		}
	}

	apiBase := c.env[envAPIBaseURL]
	c.env[envAPIBaseURL] = "http://127.0.0.1:1/client/v4" // nothing listens there
	start := time.Now()
	if got, _ := complete(cmd, []string{"images"}, ""); len(got) != 0 || time.Since(start) > completionTimeout+time.Second {
		t.Errorf("unreachable API: completed %q after %s", got, time.Since(start))
	}
	c.env[envAPIBaseURL] = apiBase
	local := completionOpts(c, specPath)
	local.Local = true
	if got, _ := completeVersionIDs(local)(cmd, []string{"images"}, ""); len(got) != 0 {
		t.Errorf("--local with no flareform local running: completed %q", got)
	}
}
