package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The SDK's root package imports every one of its ~100 service packages; linked into
// flareform they made the binary ~97 MB and their package initialisation tripled the start-up
// of every command (`flareform version` included). The engine uses the service packages it
// needs directly, so the root package must stay out of the binary; tests may import it.
func TestBinaryDoesNotLinkSDKRootPackage(t *testing.T) {
	const root = "github.com/cloudflare/cloudflare-go/v6"
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed %d packages, expected the binary's dependencies", len(deps))
	}
	for _, dep := range deps {
		if dep == root {
			t.Fatalf("the flareform binary depends on %s; import the SDK's service packages (workers, ai, option) instead: `go mod why -m`/`go list -deps -f '{{.ImportPath}}: {{.Imports}}'` shows who imports it", root)
		}
	}
}

// Commands that only print skip signal handling (its threads cost a fifth of their start-up);
// every other command, also with a flag before it, gets the clean stop on the first Ctrl-C.
func TestOnlyPrintingCommandsSkipSignalHandling(t *testing.T) {
	for _, args := range [][]string{nil, {"version"}, {"version", "--json"}, {"--version"}, {"help", "apply"}, {"-h"}, {"schema"}, {"completion", "bash"}} {
		if !onlyPrints(args) {
			t.Errorf("onlyPrints(%q) = false, want true", args)
		}
	}
	for _, args := range [][]string{{"apply"}, {"plan", "--json"}, {"--json", "version"}, {"-f", "x.yaml", "apply"}, {"local"}, {"__complete", "apply", ""}, {"init"}} {
		if onlyPrints(args) {
			t.Errorf("onlyPrints(%q) = true, want false", args)
		}
	}
}

// newRootCmdFor finds a command by the name in subcommands(): each must be its command's name.
func TestSubcommandNames(t *testing.T) {
	opts := &rootOptions{}
	for _, sub := range subcommands() {
		if got := sub.build(opts).Name(); got != sub.name {
			t.Errorf("subcommand %q builds the command %q", sub.name, got)
		}
	}
}

// A named command runs from a tree with only that command; the others still get the whole
// tree, so help lists every command and a misspelt one gets its suggestion.
func TestRootCmdForBuildsWhatArgsNeed(t *testing.T) {
	ios := &IOStreams{}
	getenv := func(string) string { return "" }
	all := len(subcommands())
	for _, tc := range []struct {
		args []string
		want []string // commands built (cobra adds completion and help itself)
	}{
		{[]string{"version"}, []string{"version"}},
		{[]string{"apply", "--auto-approve"}, []string{"apply"}},
		{nil, nil},
		{[]string{"--json", "version"}, nil},
		{[]string{"aply"}, nil},
		{[]string{"help", "apply"}, nil},
	} {
		var got []string
		for _, c := range newRootCmdFor(ios, getenv, tc.args).Commands() {
			got = append(got, c.Name())
		}
		if tc.want == nil && len(got) != all {
			t.Errorf("args %q: built %q, want all %d commands", tc.args, got, all)
		}
		if tc.want != nil && strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("args %q: built %q, want %q", tc.args, got, tc.want)
		}
	}
}
