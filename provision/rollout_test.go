package provision

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/flareform/flareform/provision/spec"
)

// Promote gives a canary 100% after its smoke test; rollback goes back to the previous version
// at 100%, smoke-tests it, and plan then shows the spec's code is not what serves.
func TestPromoteAndRollback(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.env["IMG_KEY"] = "rollout-key-0123456789abcdef0123456789abc"
	w := imageWorker(t, "image-api", "IMG_KEY")
	_, first := h.deploy(t, specOf(w), ApplyOptions{})
	v1 := first.Workers[0].VersionID
	w.Vars = map[string]string{"MAX_PROMPT_CHARS": "900"}
	h.eng.cfg.Canary = 25
	_, res := h.deploy(t, specOf(w), ApplyOptions{})
	v2 := res.Workers[0].VersionID
	h.eng.cfg.Canary = 0

	rp, err := h.eng.PlanPromote(ctx, specOf(w), nil)
	if err != nil {
		t.Fatalf("plan promote: %v", err)
	}
	if len(rp.Workers) != 1 || rp.Workers[0].Version != v2 {
		t.Fatalf("promote plan: %+v, want %s", rp.Workers, v2)
	}
	out, err := h.eng.ApplyRollout(ctx, rp, RolloutOptions{})
	if err != nil || out.Workers[0].Smoke == nil || !out.Workers[0].Smoke.Passed {
		t.Fatalf("promote: %v %+v\nlog:\n%s", err, out, h.log)
	}
	if got := h.shares(t, "image-api"); !slices.Equal(got, []DeploymentShare{{VersionID: v2, Percentage: 100}}) {
		t.Fatalf("after promote: %+v, want %s at 100%%", got, v2)
	}
	if _, err := h.eng.PlanPromote(ctx, specOf(w), []string{"image-api"}); err == nil || !strings.Contains(err.Error(), "no canary") {
		t.Fatalf("promote without a canary: %v, want refused", err)
	}

	rp, err = h.eng.PlanRollback(ctx, specOf(w), RollbackOptions{})
	if err != nil {
		t.Fatalf("plan rollback: %v", err)
	}
	if rp.Workers[0].Version != v1 {
		t.Fatalf("rollback target %s, want the previous 100%% version %s", rp.Workers[0].Version, v1)
	}
	out, err = h.eng.ApplyRollout(ctx, rp, RolloutOptions{})
	if err != nil || out.Workers[0].Version != v1 || out.Workers[0].Smoke == nil || !out.Workers[0].Smoke.Passed {
		t.Fatalf("rollback: %v %+v\nlog:\n%s", err, out, h.log)
	}
	if got := h.shares(t, "image-api"); !slices.Equal(got, []DeploymentShare{{VersionID: v1, Percentage: 100}}) {
		t.Fatalf("after rollback: %+v, want %s at 100%%", got, v1)
	}
	if p := h.plan(t, specOf(w)); !p.HasChanges() {
		t.Fatalf("plan after a rollback says no changes; the spec's code does not serve")
	}
}

// A rollback to a version whose API key differs from the serving one's would cut off every
// client holding the current key: refused, unless --force, which hands over the key that
// works when flareform holds it. The API's refusal across the secret change (10220) is
// answered with force only after that check.
func TestRollbackAcrossAKeyChange(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	oldKey := "rollout-old-key-0123456789abcdef012345678"
	h.env["IMG_KEY"] = oldKey
	w := imageWorker(t, "image-api", "IMG_KEY")
	_, first := h.deploy(t, specOf(w), ApplyOptions{})
	v1 := first.Workers[0].VersionID
	h.env["IMG_KEY"] = "rollout-new-key-0123456789abcdef012345678"
	h.deploy(t, specOf(w), ApplyOptions{Keys: map[string]string{"image-api": oldKey}, KeyCandidates: func(spec.Worker) []string { return []string{oldKey} }})

	_, err := h.eng.PlanRollback(ctx, specOf(w), RollbackOptions{To: v1})
	if err == nil || !strings.Contains(err.Error(), "another API_KEY") || strings.Contains(err.Error(), oldKey) {
		t.Fatalf("rollback across a key change: %v, want refused naming the key change (never the key)", err)
	}
	holds := func(spec.Worker) []string { return []string{oldKey} }
	rp, err := h.eng.PlanRollback(ctx, specOf(w), RollbackOptions{To: v1, Force: true, KeyCandidates: holds})
	if err != nil {
		t.Fatalf("forced rollback plan: %v", err)
	}
	if !rp.Workers[0].Forced || !strings.Contains(rp.Workers[0].KeyNote, "flareform holds") {
		t.Fatalf("forced rollback step: %+v, want forced with a note that flareform holds the key", rp.Workers[0])
	}
	out, err := h.eng.ApplyRollout(ctx, rp, RolloutOptions{KeyCandidates: holds})
	if err != nil {
		t.Fatalf("forced rollback: %v\nlog:\n%s", err, h.log)
	}
	if got := out.Workers[0]; got.Version != v1 || got.HandedKey != oldKey || got.Smoke == nil || !got.Smoke.Passed {
		t.Fatalf("forced rollback result: version %s smoke %+v handed key set=%v", got.Version, got.Smoke, got.HandedKey == oldKey)
	}
	if !strings.Contains(h.log.String(), "secrets changed since version") {
		t.Errorf("the API's refusal across the secret change (10220) was not met; log:\n%s", h.log)
	}
	if code := h.post(t, "image-api", oldKey); code != 200 {
		t.Fatalf("the handed-over key on the rolled-back version: status %d, want 200", code)
	}
}

// A key rotation while a canary split serves would change the key of one version only: it is
// refused before any write, saying to promote or roll back first.
func TestRotateKeyRefusedDuringACanary(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.env["IMG_KEY"] = "rollout-key-0123456789abcdef0123456789abc"
	w := imageWorker(t, "image-api", "IMG_KEY")
	h.deploy(t, specOf(w), ApplyOptions{})
	w.Vars = map[string]string{"MAX_PROMPT_CHARS": "500"}
	h.eng.cfg.Canary = 10
	h.deploy(t, specOf(w), ApplyOptions{})
	_, before := h.apiCalls()
	_, err := h.eng.RotateKey(ctx, RotateOptions{Name: "image-api", Mode: RotateStart, OldKey: h.env["IMG_KEY"]})
	if err == nil || !strings.Contains(err.Error(), "promote") {
		t.Fatalf("rotate-key during a canary: %v, want refused naming promote", err)
	}
	if _, after := h.apiCalls(); after != before {
		t.Errorf("rotate-key during a canary made %d writes, want none", after-before)
	}
}
