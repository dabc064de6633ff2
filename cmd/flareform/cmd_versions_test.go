package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// versionsDoc is `versions --json` as a reader parses it.
type versionsDoc struct {
	Worker   string `json:"worker"`
	Versions []struct {
		ID         string    `json:"id"`
		Number     int       `json:"number"`
		Created    time.Time `json:"created"`
		Flareform  bool      `json:"flareform"`
		Smoke      string    `json:"smoke"`
		Percentage float64   `json:"percentage"`
		Message    string    `json:"message"`
	} `json:"versions"`
	Deployments []struct {
		ID       string `json:"id"`
		Active   bool   `json:"active"`
		Versions []struct {
			VersionID  string  `json:"version_id"`
			Percentage float64 `json:"percentage"`
		} `json:"versions"`
	} `json:"deployments"`
}

// After two applies with --local, `versions --json` lists both versions newest first, the
// second serving all traffic with its smoke test passed, and the table shows the same; a name
// that is nowhere fails naming the workers that exist.
func TestVersionsListsBothApplies(t *testing.T) {
	c := newCLI(t, map[string]string{})
	specPath := initProject(t, c, "images")
	f := []string{"-f", specPath, "--local"}
	c.mustRun(0, append(f, "apply", "--auto-approve")...)
	editFile(t, specPath, `MAX_PROMPT_CHARS: "1000"`, `MAX_PROMPT_CHARS: "500"`)
	c.mustRun(0, append(f, "apply", "--auto-approve")...)

	before := localWrites(t, specPath)
	r := c.mustRun(0, append(f, "versions", "images", "--json")...)
	assertJSONShape(t, jsonSchemas(t), "versions", r, "versions --json")
	var doc versionsDoc
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Worker != "images" || len(doc.Versions) != 2 || len(doc.Deployments) != 2 {
		t.Fatalf("versions --json = %s; want 2 versions and 2 deployments of images", r.stdout)
	}
	newer, older := doc.Versions[0], doc.Versions[1]
	if newer.Number <= older.Number || newer.Created.Before(older.Created) {
		t.Errorf("versions not newest first: %+v", doc.Versions)
	}
	if newer.Percentage != 100 || older.Percentage != 0 || !newer.Flareform || !older.Flareform || newer.Smoke != "passed" || older.Smoke != "" {
		t.Errorf("versions %+v; want the newer serving 100%% with its smoke test passed (the older one's unknown: the tag moved on), both flareform's", doc.Versions)
	}
	if d := doc.Deployments[0]; !d.Active || len(d.Versions) != 1 || d.Versions[0].VersionID != newer.ID {
		t.Errorf("active deployment %+v, want the first, serving %s", d, newer.ID)
	}
	if n := localWrites(t, specPath) - before; n != 0 {
		t.Errorf("versions made %d writes, want none", n)
	}

	text := c.mustRun(0, append(f, "versions", "images", "--limit", "1")...).stdout
	if !strings.Contains(text, newer.ID) || strings.Contains(text, older.ID) || !strings.Contains(text, "yes, smoke passed") ||
		!strings.Contains(text, "* ") || strings.Contains(text, "\x1b[") {
		t.Errorf("versions --limit 1 printed:\n%s\nwant only %s, its smoke state, the active mark, no colours off a terminal", text, newer.ID)
	}

	r = c.mustRun(exitError, append(f, "versions", "imagez")...)
	if !strings.Contains(r.stderr, `no worker "imagez"`) || !strings.Contains(r.stderr, "known workers: images") {
		t.Errorf("unknown worker: stderr %q; want it named with the known workers", r.stderr)
	}
	r = c.mustRun(exitError, append(f, "versions", "images", "--limit", "0")...)
	if !strings.Contains(r.stderr, "--limit 0") {
		t.Errorf("--limit 0: stderr %q", r.stderr)
	}
}
