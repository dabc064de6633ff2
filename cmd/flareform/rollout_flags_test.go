package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// Bad --canary values and --to with other than one worker are refused before anything is read:
// no API call, and not even the spec (a missing one is not what the error is about).
func TestRolloutFlagsAreRefusedBeforeAnythingIsRead(t *testing.T) {
	srv, env := startStandalone(t)
	c := newCLI(t, env)
	specPath := initProject(t, c, "images")
	missing := filepath.Join(t.TempDir(), "flareform.yaml")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"apply", "--canary", "0", "--auto-approve"}, "--canary 0: want a share of the traffic from 1 to 99"},
		{[]string{"apply", "--canary", "100", "--auto-approve"}, "--canary 100: want a share of the traffic from 1 to 99"},
		{[]string{"apply", "--canary", "-5", "--auto-approve"}, "--canary -5: want"},
		{[]string{"apply", "--canary", "NaN", "--auto-approve"}, "--canary NaN: want"},
		{[]string{"apply", "--canary", "abc", "--auto-approve"}, `invalid argument "abc" for "--canary" flag`},
		{[]string{"plan", "--canary", "0"}, "--canary 0: want"},
		{[]string{"plan", "--canary", "99.5"}, "--canary 99.5: want"},
		{[]string{"plan", "--canary", "abc"}, `invalid argument "abc" for "--canary" flag`},
		{[]string{"rollback", "images", "other", "--to", "0123abcd", "--auto-approve"}, "--to names a version of one worker: give exactly one WORKER (got 2: images, other)"},
		{[]string{"rollback", "--to", "0123abcd", "--auto-approve"}, "give exactly one WORKER (got 0)"},
	}
	for _, spec := range []string{specPath, missing} {
		for _, tc := range cases {
			args := append([]string{"-f", spec}, tc.args...)
			r := c.mustRun(exitError, args...)
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("flareform %s: stderr lacks %q:\n%s", strings.Join(args, " "), tc.want, r.stderr)
			}
			if strings.Contains(r.stderr, "flareform.yaml") {
				t.Errorf("flareform %s: the error is about the spec, not the flag:\n%s", strings.Join(args, " "), r.stderr)
			}
		}
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("refused flags made %d API calls, want none", n)
	}
	if n := localWrites(t, specPath); n != 0 {
		t.Errorf("refused flags wrote %d times", n)
	}
}

// The three commands are in the tree with the flags their help promises.
func TestRolloutCommandsAndFlags(t *testing.T) {
	_, env := startStandalone(t)
	c := newCLI(t, env)
	for cmd, flags := range map[string][]string{
		"apply":    {"--canary PERCENT", "Cloudflare-Workers-Version-Overrides", "withdrawn", "promote"},
		"plan":     {"--canary PERCENT", "apply FILE"},
		"promote":  {"--auto-approve", "--key-file FILE", "--smoke-out DIR", "--json", "--local", "[WORKER...]"},
		"rollback": {"--to VERSION", "--message TEXT", "--force", "--key-out FILE", "--auto-approve", "--smoke-out DIR", "[WORKER...]", "api_key"},
	} {
		r := c.mustRun(0, cmd, "--help")
		for _, want := range flags {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("%s --help lacks %q", cmd, want)
			}
		}
	}
}
