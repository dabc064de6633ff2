package view

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flareform/flareform/provision"
)

// corpusHistories covers every branch of Versions: a split deployment, each smoke state,
// another tool's version with a hostile message, a version with no creation time, and a worker
// with nothing to show.
func corpusHistories() map[string]*provision.History {
	t0 := time.Date(2026, 3, 1, 9, 30, 0, 0, time.FixedZone("CET", 3600))
	ours := "flareform (bundle ff-bundle-0123456789abcdef, run 00aa11bb22cc33dd)"
	full := &provision.History{
		Worker: "image-api",
		Versions: []provision.HistoryVersion{
			{ID: "33333333-3333-4333-8333-333333333333", Number: 3, Created: t0.Add(2 * time.Hour), Source: "api", Author: "me@example.com",
				Message: ours, Flareform: true, Smoke: provision.SmokePending, Percentage: 12.5},
			{ID: "22222222-2222-4222-8222-222222222222", Number: 2, Created: t0.Add(time.Hour), Source: "wrangler", Author: "you@example.com",
				Message: "hotfix\x1b[31m red\nsecond line\tand a very long tail that goes on and on past the width of the table column"},
			{ID: "11111111-1111-4111-8111-111111111111", Number: 1, Created: t0, Source: "api", Author: "me@example.com",
				Message: ours, Flareform: true, Smoke: provision.SmokePassed, Percentage: 87.5},
			{ID: "00000000-0000-4000-8000-000000000000", Number: 0, Source: "", Message: ours, Flareform: true},
		},
		Deployments: []provision.HistoryDeployment{
			{ID: "d2", Created: t0.Add(3 * time.Hour), Source: "api", TriggeredBy: "deployment", Active: true, Message: "canary",
				Versions: []provision.HistoryTraffic{{VersionID: "11111111-1111-4111-8111-111111111111", Percentage: 87.5},
					{VersionID: "33333333-3333-4333-8333-333333333333", Percentage: 12.5}}},
			{ID: "d1", Created: t0, Source: "api", TriggeredBy: "upload", Message: ours,
				Versions: []provision.HistoryTraffic{{VersionID: "11111111-1111-4111-8111-111111111111", Percentage: 100}}},
		},
	}
	return map[string]*provision.History{
		"full":  full,
		"empty": {Worker: "new-api", Versions: []provision.HistoryVersion{}, Deployments: []provision.HistoryDeployment{}},
	}
}

func versionsCases() map[string]string {
	cases := map[string]string{}
	for name, h := range corpusHistories() {
		for suffix, color := range map[string]bool{"": false, "_color": true} {
			var b bytes.Buffer
			Versions(&b, h, color)
			cases["versions_"+name+suffix] = b.String()
		}
	}
	return cases
}

// TestVersionsGolden pins Versions byte for byte (go test ./cmd/flareform/view -update).
func TestVersionsGolden(t *testing.T) {
	checkGoldenFile(t, filepath.Join("testdata", "versions.golden"), versionsCases())
}

// Whatever a message holds, the plain table carries no control character, every row is one
// line, and the coloured one is the plain one once its colour codes are taken out.
func TestVersionsTableIsSafeAndAligned(t *testing.T) {
	h := corpusHistories()["full"]
	var plain, colored bytes.Buffer
	Versions(&plain, h, false)
	Versions(&colored, h, true)
	if strings.ContainsAny(plain.String(), "\x1b\t\r") {
		t.Errorf("plain output holds a control character:\n%q", plain.String())
	}
	stripped := strings.NewReplacer(ansiGreen, "", ansiYellow, "", ansiReset, "").Replace(colored.String())
	if stripped != plain.String() {
		t.Errorf("coloured output differs from the plain one beyond its colours:\n%s\n%s", stripped, plain.String())
	}
	lines := strings.Split(plain.String(), "\n")
	if len(lines) != 1+1+len(h.Versions)+1+1+1+len(h.Deployments)+1 { // titles, headers, rows, blank line, final newline
		t.Errorf("%d lines, want one per row:\n%s", len(lines), plain.String())
	}
	if col := strings.Index(lines[1], "CREATED"); strings.Index(lines[2], "2026-03-01 10:30:00 UTC") != col {
		t.Errorf("CREATED column not aligned (UTC time expected under the header):\n%s\n%s", lines[1], lines[2])
	}
}

// The JSON of a History is the shape docs/json.md gives for `versions --json`.
func TestHistoryJSONShape(t *testing.T) {
	var b bytes.Buffer
	if err := JSON(&b, corpusHistories()["full"]); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Worker   string           `json:"worker"`
		Versions []map[string]any `json:"versions"`
		Deps     []map[string]any `json:"deployments"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	wantKeys := map[string][]string{
		"version":    {"id", "number", "created", "source", "author", "message", "flareform", "smoke", "percentage"},
		"deployment": {"id", "created", "source", "author", "message", "triggered_by", "active", "versions"},
	}
	check := func(kind string, obj map[string]any) {
		if len(obj) != len(wantKeys[kind]) {
			t.Errorf("%s has keys %v, want exactly %v", kind, obj, wantKeys[kind])
		}
		for _, k := range wantKeys[kind] {
			if _, ok := obj[k]; !ok {
				t.Errorf("%s lacks %q: %v", kind, k, obj)
			}
		}
	}
	check("version", doc.Versions[0])
	check("deployment", doc.Deps[0])
	if doc.Worker != "image-api" || doc.Versions[0]["percentage"] != 12.5 || doc.Versions[0]["smoke"] != "pending" {
		t.Errorf("JSON = %s", b.String())
	}
	traffic := doc.Deps[0]["versions"].([]any)[0].(map[string]any)
	if traffic["version_id"] != "11111111-1111-4111-8111-111111111111" || traffic["percentage"] != 87.5 {
		t.Errorf("deployment versions = %v", doc.Deps[0]["versions"])
	}
}
