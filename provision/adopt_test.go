package provision

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/flareform/flareform/bundler"
	"github.com/flareform/flareform/localcf"
	"github.com/flareform/flareform/provision/spec"
)

// A script flareform did not deploy is taken over only when the run adopts it: plan refuses it
// at the worker's line with the fix, and writes nothing; with Adopt it plans an update, and
// after apply it is flareform's like any other.
func TestExistingScriptIsAdoptedOnlyExplicitly(t *testing.T) {
	h := newHarness(t)
	w := imageWorker(t, "image-api", "")
	w.Pos["name"] = spec.Position{Line: 2, Col: 3}
	bundled, err := bundler.Bundle(t.Context(), bundler.Options{Entry: w.Main})
	if err != nil {
		t.Fatal(err)
	}
	h.rawUpload(t, "image-api", bundled.Code, map[string]string{"MAX_PROMPT_CHARS": "7", "AI_MODEL": sdxl})

	h.srv.ResetRequests()
	_, err = h.eng.Plan(context.Background(), specOf(w))
	var se *spec.Error
	if !errors.As(err, &se) || se.Line != 2 || !strings.Contains(se.Msg, "flareform did not deploy it") || !strings.Contains(se.Fix, "apply --adopt image-api") {
		t.Fatalf("plan of a script made elsewhere: %v; want a refusal at line 2 with --adopt image-api", err)
	}
	if _, writes := h.apiCalls(); writes != 0 {
		t.Errorf("the refused plan made %d writes", writes)
	}

	adopting := newHarnessOn(t, h, func(c *Config) { c.Adopt = []string{"image-api"} })
	p, res := adopting.deploy(t, specOf(w), ApplyOptions{SkipSmoke: true})
	if p.Workers[0].Action != ActionUpdate || res.Workers[0].Error != "" {
		t.Fatalf("adopting apply: action %s, error %q", p.Workers[0].Action, res.Workers[0].Error)
	}
	if p := h.plan(t, specOf(w)); p.HasChanges() {
		t.Errorf("after adopting, a plain plan still changes: %+v", p.Workers[0].Changes)
	}
}

// newHarnessOn is a second engine on h's local Cloudflare, configured by tune.
func newHarnessOn(t *testing.T, h *harness, tune func(*Config)) *harness {
	t.Helper()
	cfg := Config{
		APIBaseURL: h.srv.APIBaseURL(), APIToken: h.srv.Token(), AccountID: h.srv.AccountID(),
		Log: h.log, Getenv: func(k string) string { return h.env[k] }, SmokeWait: h.eng.cfg.SmokeWait,
		VersionCacheDir: h.eng.cfg.VersionCacheDir, // the same machine
	}
	tune(&cfg)
	eng, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{srv: h.srv, eng: eng, log: h.log, env: h.env}
}

// A script another party creates after this run's plan found none, and before its upload (the
// fresh plan is not read again), gets its own version back when apply stops. It must not keep
// the tags this run's upload wrote either: with them, the next plain apply would take the
// script over as flareform's, without --adopt.
func TestScriptCreatedByAnotherDuringApplyIsNotTakenOver(t *testing.T) {
	for name, quirks := range map[string]localcf.Quirks{
		"strict": {}, "script_tags_replace": {ScriptTagsReplace: true}, "deployment_id": {DeploymentID: true},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			h.srv.SetQuirks(quirks)
			w := imageWorker(t, "image-api", "")
			bundled, err := bundler.Bundle(t.Context(), bundler.Options{Entry: w.Main})
			if err != nil {
				t.Fatal(err)
			}
			p := h.plan(t, specOf(w))
			if p.Workers[0].Action != ActionCreate {
				t.Fatalf("plan: %s, want create", p.Workers[0].Action)
			}
			h.rawUpload(t, "image-api", bundled.Code, map[string]string{"MAX_PROMPT_CHARS": "7", "AI_MODEL": sdxl})
			keys := &pendingKeys{}
			res, err := h.eng.Apply(context.Background(), p, ApplyOptions{SkipSmoke: true, KeyStore: keys})
			if !errors.Is(err, ErrChanged) {
				t.Fatalf("apply over a script created meanwhile: %v, want ErrChanged", err)
			}
			keys.assertNoneLeaked(t, h.log.String(), p, res, err)
			_, err = h.eng.Plan(context.Background(), specOf(w))
			var se *spec.Error
			if !errors.As(err, &se) || !strings.Contains(se.Msg, "flareform did not deploy it") {
				t.Fatalf("plan after the other party's version was put back: %v; want the refusal to take it over without --adopt", err)
			}
		})
	}
}
