package view

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/flareform/flareform/provision"
)

func planText(p *provision.Plan, color bool) string {
	var buf bytes.Buffer
	Plan(&buf, p, color)
	return buf.String()
}

func TestPlanText(t *testing.T) {
	p := &provision.Plan{Workers: []provision.WorkerPlan{
		{Key: "img", Name: "image-api", Action: provision.ActionUpdate, URL: "https://image-api.acme.workers.dev", Changes: []provision.Change{
			{Path: "vars.MAX_PROMPT_CHARS", Op: provision.OpChange, Old: "50", New: "1000"},
			{Path: "secrets.API_KEY", Op: provision.OpAdd, New: "(sensitive, new)"},
		}},
		{Key: "txt", Name: "text-api", Action: provision.ActionNoOp},
	}}
	want := `~ worker "image-api" (update) [key img] https://image-api.acme.workers.dev
    ~ vars.MAX_PROMPT_CHARS: "50" -> "1000"
    + secrets.API_KEY: (sensitive, new)
worker "text-api" (no-op) [key txt]

Plan: 0 to create, 1 to update, 0 to delete, 1 unchanged.
`
	if got := planText(p, false); got != want {
		t.Errorf("plan text:\n%s\nwant:\n%s", got, want)
	}
}

// Workers and account objects, created, updated, replaced, deleted and kept, come out in apply
// order (provision.Plan.Steps) after the warnings and the subdomain, then the skipped workers
// and the counts.
func TestPlanShowsEveryChangeInApplyOrder(t *testing.T) {
	out := planText(corpusPlans()[0].plan, false)
	order := []string{
		"Warning: flareform.yaml:7:14: workers.chat: @cf/x will be retired on 2027-03-01; use @cf/y\n",
		"Warning: : a warning without a position\n\n",
		`+ account workers.dev subdomain "my-team" (registered first; worker URLs live under it)` + "\n\n",
		`+ ai_gateway "gw" (create)` + "\n" + `    + cache_ttl: "60"` + "\n",
		`-/+ vectorize_index "docs" (replace) DESTRUCTIVE` + "\n" + `    ~ dimensions: "768" -> "384"` + "\n    # dimensions and metric cannot change in place",
		`ai_gateway "shared-gw" (no-op)` + "\n    # exists and was not created by flareform",
		`~ ai_gateway "gw2" (update)`,
		`+ worker "image-api" (create) [key img] https://image-api.acme.workers.dev` + "\n",
		`    + secrets.API_KEY: (sensitive, new, generated on apply)` + "\n",
		`~ worker "txt" (update) https://txt.acme.workers.dev` + "\n",
		`    ~ vars.QUOTED: "say \"hi\"" -> "line\nbreak\tand ü"` + "\n",
		`    - vars.GONE: "1"` + "\n",
		`    ~ secrets.API_KEY: (sensitive) -> (sensitive, changed; rotating: the old key keeps working for 24h after apply)` + "\n",
		`worker "same" (no-op) https://same.acme.workers.dev` + "\n",
		`- worker "old" (delete)` + "\n",
		// An object deleted outside destroy goes after the workers that stopped using it.
		`- vectorize_index "old-docs" (delete) DESTRUCTIVE` + "\n" + `    - dimensions: "768"` + "\n",
		"Skipped (not targeted): chat, embed\n",
		"\nPlan: 2 to create, 2 to update, 1 to replace (destructive: needs apply --allow-replace), 2 to delete, 2 unchanged.\n",
	}
	rest := out
	for _, want := range order {
		i := strings.Index(rest, want)
		if i < 0 {
			t.Fatalf("plan text lacks %q after what came before:\n%s", want, out)
		}
		rest = rest[i+len(want):]
	}
	if rest != "" {
		t.Errorf("plan text ends with %q", rest)
	}
}

func TestPlanWithoutChanges(t *testing.T) {
	out := planText(corpusPlans()[1].plan, false)
	want := "Warning: flareform.yaml:3:1: m; f\n\n" +
		`ai_gateway "shared-gw" (no-op)` + "\n" +
		"    # exists and was not created by flareform: used as it is, never changed or deleted\n" +
		`worker "a" (no-op) https://a.acme.workers.dev` + "\n" +
		"Skipped (not targeted): b\n" +
		"No changes. The live workers match the spec.\n"
	if out != want {
		t.Errorf("plan text:\n%s\nwant:\n%s", out, want)
	}
	if got := planText(&provision.Plan{}, false); got != "No changes. The live workers match the spec.\n" {
		t.Errorf("empty plan: %q", got)
	}
}

// Registering the workers.dev subdomain is a change even when every worker is unchanged.
func TestPlanRegisteringTheSubdomainIsAChange(t *testing.T) {
	out := planText(&provision.Plan{RegisterSubdomain: "team", Workers: []provision.WorkerPlan{{Key: "a", Name: "a", Action: provision.ActionNoOp}}}, false)
	if !strings.HasPrefix(out, `+ account workers.dev subdomain "team"`) || !strings.HasSuffix(out, "\nPlan: 0 to create, 0 to update, 0 to delete, 1 unchanged.\n") {
		t.Errorf("plan text:\n%s", out)
	}
}

// A destroy deletes the objects that follow their worker first, the others after the workers.
func TestPlanOfADestroy(t *testing.T) {
	want := `- worker "a" (delete)
- worker "b-script" (delete) [key b]
- ai_gateway "gw" (delete)
- vectorize_index "docs" (delete) DESTRUCTIVE
    # its vectors are lost

Plan: 0 to create, 0 to update, 4 to delete, 0 unchanged.
`
	if got := planText(corpusPlans()[3].plan, false); got != want {
		t.Errorf("destroy plan:\n%s\nwant:\n%s", got, want)
	}
}

func TestPlanColoursTheLeadingSymbols(t *testing.T) {
	plan := &provision.Plan{
		Workers: []provision.WorkerPlan{
			{Key: "a", Name: "a", Action: provision.ActionCreate, Changes: []provision.Change{{Path: "main", Op: provision.OpAdd, New: "x"}}},
			{Key: "b", Name: "b", Action: provision.ActionUpdate, Changes: []provision.Change{{Path: "vars.X", Op: provision.OpRemove, Old: "1"}}},
			{Key: "c", Name: "c", Action: provision.ActionDelete},
			{Key: "d", Name: "d", Action: provision.ActionNoOp},
		},
		Resources: []provision.ResourcePlan{{Kind: "vectorize_index", Name: "docs", Action: provision.ActionReplace, Destructive: true, Note: "- not a symbol"}},
	}
	out := planText(plan, true)
	for _, want := range []string{
		"\x1b[32m+\x1b[0m worker \"a\"", "    \x1b[32m+\x1b[0m main:",
		"\x1b[33m~\x1b[0m worker \"b\"", "    \x1b[31m-\x1b[0m vars.X",
		"\x1b[31m-\x1b[0m worker \"c\"",
		"\nworker \"d\" (no-op)\n",                             // no symbol, no colour
		"-/+ vectorize_index \"docs\" (replace) DESTRUCTIVE\n", // replace stays plain
		"\n    # - not a symbol\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("coloured plan lacks %q:\n%q", want, out)
		}
	}
	// Without colours nothing but the colour codes differs.
	if plain := planText(plan, false); strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(out,
		ansiGreen, ""), ansiYellow, ""), ansiRed, ""), ansiReset, "") != plain || strings.Contains(plain, "\x1b") {
		t.Errorf("plain plan:\n%q\ncoloured:\n%q", plain, out)
	}
}

func TestRotationNote(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		expires   string
		keyChange bool
		want      string
	}{
		{"2026-05-02T12:00:00Z", false, "key rotation pending until 2026-05-02T12:00:00Z: the previous key is still accepted (not a change; apply keeps it)"},
		{"2026-05-02T12:00:00Z", true, "key rotation in progress until 2026-05-02T12:00:00Z: apply refuses to change the key before then, " +
			"as that would cut the previous key's window; run `flareform rotate-key image-api --finish` first"},
		// An ended window is housekeeping whether or not the key changes.
		{"2026-04-30T12:00:00Z", false, "key rotation window ended 2026-04-30T12:00:00Z: the previous key is refused; apply removes it"},
		{"2026-04-30T12:00:00Z", true, "key rotation window ended 2026-04-30T12:00:00Z: the previous key is refused; apply removes it"},
	} {
		if got := rotationNote("image-api", tt.expires, tt.keyChange, now); got != tt.want {
			t.Errorf("rotationNote(%s, %t) = %q, want %q", tt.expires, tt.keyChange, got, tt.want)
		}
	}
}
