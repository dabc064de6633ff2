package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/flareform/flareform/templates"
)

func TestInitListShowsEveryTemplateOnOneLine(t *testing.T) {
	c := newCLI(t, map[string]string{})
	r := c.mustRun(0, "init", "--list")
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if len(lines) != len(templates.Names()) {
		t.Fatalf("init --list printed %d lines for %d templates:\n%s", len(lines), len(templates.Names()), r.stdout)
	}
	for i, name := range templates.Names() {
		if fields := strings.Fields(lines[i]); len(fields) < 2 || fields[0] != name {
			t.Errorf("line %d %q does not start with template %s and a summary", i, lines[i], name)
		}
	}

	r = c.mustRun(0, "init", "--list", "--json")
	var list []templateInfo
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != len(templates.Names()) || list[0].Summary == "" {
		t.Errorf("init --list --json = %q (%v)", r.stdout, err)
	}
	c.mustRun(exitError, "init", "--list", t.TempDir())
}

func TestInitTextGenerationWritesTheChatTemplate(t *testing.T) {
	c := newCLI(t, map[string]string{})
	dir := t.TempDir()
	r := c.mustRun(0, "init", dir, "--template", "text-generation", "--name", "chat", "--json")
	var res initResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.Template != "chat" {
		t.Fatalf("init --json = %q (%v); want template chat", r.stdout, err)
	}
	if worker := readFile(t, dir+"/src/worker.js"); !strings.Contains(worker, "text/event-stream") {
		t.Errorf("text-generation did not write the chat worker")
	}
}
