package provision

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flareform/flareform/localcf"
	"github.com/flareform/flareform/provision/spec"
)

// Values of the secrets the tests deploy: long enough for the key rule, and unlike anything
// else a plan or log holds, so finding one means it leaked.
const (
	openAIKey1 = "sk-test-first-0123456789abcdefghijklmnopqrstuv"
	openAIKey2 = "sk-test-second-0123456789abcdefghijklmnopqrstu"
	hookSecret = "whsec-test-0123456789abcdefghijklmnopqrstuvwx"
)

// secretWorker is a worker with one secret, OPENAI_KEY from the environment, and a generated
// API key (which every upload that touches the secrets must leave as it is).
func secretWorker(t testing.TB, name string) spec.Worker {
	return spec.Worker{
		Key: name, Name: name,
		Main:              testdataWorker(t, "secrets.js"),
		CompatibilityDate: "2025-06-01",
		APIKey:            &spec.KeySource{Binding: "API_KEY", From: keyFromGenerate},
		WorkersDev:        true,
		Secrets:           []spec.KeySource{{Binding: "OPENAI_KEY", From: keyFromEnv, Ref: "OPENAI_KEY"}},
		Pos: map[string]spec.Position{
			"key": {Line: 3, Col: 3}, "secrets": {Line: 10, Col: 5},
			"secrets.OPENAI_KEY": {Line: 11, Col: 7}, "secrets.WEBHOOK_SECRET": {Line: 12, Col: 7},
		},
	}
}

// withHookSecret adds WEBHOOK_SECRET, read from a file, to w's secrets (kept sorted).
func withHookSecret(t testing.TB, w spec.Worker) spec.Worker {
	path := filepath.Join(t.TempDir(), "webhook.secret")
	if err := os.WriteFile(path, []byte(hookSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w.Secrets = append(append([]spec.KeySource{}, w.Secrets...), spec.KeySource{Binding: "WEBHOOK_SECRET", From: keyFromFile, Ref: path})
	return w
}

// sees asks the deployed worker whether env[name] equals value (the value crosses only the
// local data plane, as the request's header).
func (h *harness) sees(t testing.TB, script, name, value string) (present, equal bool) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+h.srv.WorkersDevAddr()+"/?name="+name, nil)
	req.Host = script + "." + h.srv.Subdomain() + ".workers.dev"
	req.Header.Set("x-offered", value)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var got struct{ Present, Equal bool }
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("worker answered %d %q: %v", res.StatusCode, b, err)
	}
	return got.Present, got.Equal
}

func (h *harness) wantSees(t testing.TB, script, name, value string) {
	t.Helper()
	if present, equal := h.sees(t, script, name, value); !present || !equal {
		t.Errorf("the worker's %s: present %t, equal to the spec's value %t", name, present, equal)
	}
}

// noSecretIn fails when a secret value appears in any of texts (named by key).
func noSecretIn(t *testing.T, texts map[string]string) {
	t.Helper()
	for what, s := range texts {
		for _, v := range []string{openAIKey1, openAIKey2, hookSecret} {
			if strings.Contains(s, v) {
				t.Errorf("a secret value appears in the %s", what)
			}
		}
	}
}

func planTexts(p *Plan) map[string]string {
	planJSON, _ := json.Marshal(p)
	var changes []string
	for _, w := range p.Workers {
		changes = append(changes, fmtChanges(w.Changes))
	}
	return map[string]string{"plan JSON": string(planJSON), "plan changes": strings.Join(changes, "\n")}
}

func wantChanges(t *testing.T, p *Plan, want string) {
	t.Helper()
	if got := fmtChanges(p.Workers[0].Changes); got != want {
		t.Errorf("plan changes:\n  %s\nwant\n  %s", got, want)
	}
}

// Issue 25's secret round: the first apply uploads the secret and the worker sees it; a plan
// after it is empty; a new value shows as "(sensitive, changed)" and is uploaded; a second
// secret from a file joins; removing the first drops its binding and keeps every other secret
// (the second, the API key, and one set with wrangler that flareform does not manage). No value
// appears in a plan, its JSON, a result or the log.
//
// Both readings of whether an upload keeps secrets it does not name: the removal must work
// under each (secrets.go, removeSecrets).
func TestSecretsApplyChangeAndRemove(t *testing.T) {
	for name, quirks := range map[string]localcf.Quirks{"strict": {}, "implicit_secret_retention": {ImplicitSecretRetention: true}} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			h.srv.SetQuirks(quirks)
			secretsRound(t, h)
		})
	}
}

func secretsRound(t *testing.T, h *harness) {
	h.env["OPENAI_KEY"] = openAIKey1
	w := secretWorker(t, "sec-api")
	p, res := h.deploy(t, specOf(w), ApplyOptions{})
	if got := fmtChanges(p.Workers[0].Changes); !strings.Contains(got, "secrets.OPENAI_KEY add (sensitive, new)") {
		t.Errorf("first plan: %s", got)
	}
	h.wantSees(t, "sec-api", "OPENAI_KEY", openAIKey1)
	if b := h.scriptBindings(t, "sec-api")["OPENAI_KEY"]; b == nil || b["type"] != "secret_text" || b["text"] != nil {
		t.Errorf("OPENAI_KEY binding as the API reports it: %v, want a secret_text without its value", b)
	}
	apiKey := res.Workers[0].GeneratedKey
	noSecretIn(t, planTexts(p))
	if again := h.plan(t, specOf(w)); again.HasChanges() {
		t.Fatalf("plan after apply has changes: %s", fmtChanges(again.Workers[0].Changes))
	}

	// A new value: changed, uploaded, seen; the plan's words are the same for any value.
	h.env["OPENAI_KEY"] = openAIKey2
	p = h.plan(t, specOf(w))
	wantChanges(t, p, "secrets.OPENAI_KEY change (sensitive)(sensitive, changed)")
	noSecretIn(t, planTexts(p))
	p, _ = h.deploy(t, specOf(w), ApplyOptions{})
	h.wantSees(t, "sec-api", "OPENAI_KEY", openAIKey2)
	if again := h.plan(t, specOf(w)); again.HasChanges() {
		t.Fatalf("plan after the change has changes: %s", fmtChanges(again.Workers[0].Changes))
	}

	// A secret set with wrangler, which flareform does not record, is never its to remove.
	h.putSecret(t, "sec-api", "THEIRS", "theirs-0123456789abcdefghijklmnopqrstuvwxyz")
	w2 := withHookSecret(t, w)
	p, _ = h.deploy(t, specOf(w2), ApplyOptions{})
	if got := fmtChanges(p.Workers[0].Changes); !strings.Contains(got, "secrets.WEBHOOK_SECRET add (sensitive, new)") || strings.Contains(got, "THEIRS") {
		t.Errorf("plan adding WEBHOOK_SECRET after another party's secret edit: %s", got)
	}
	h.wantSees(t, "sec-api", "WEBHOOK_SECRET", hookSecret)
	if again := h.plan(t, specOf(w2)); again.HasChanges() {
		t.Fatalf("plan after adding a second secret has changes: %s", fmtChanges(again.Workers[0].Changes))
	}

	// Removed from the spec: removed from the worker, in the one upload; the rest stays.
	w3 := w2
	w3.Secrets = w2.Secrets[1:]
	p = h.plan(t, specOf(w3))
	wantChanges(t, p, "secrets.OPENAI_KEY remove (sensitive)")
	p, res = h.deploy(t, specOf(w3), ApplyOptions{})
	bindings := h.scriptBindings(t, "sec-api")
	if _, ok := bindings["OPENAI_KEY"]; ok {
		t.Error("OPENAI_KEY is still bound after its removal")
	}
	if present, _ := h.sees(t, "sec-api", "OPENAI_KEY", ""); present {
		t.Error("the worker still sees OPENAI_KEY after its removal")
	}
	for _, name := range []string{"API_KEY", "WEBHOOK_SECRET", "THEIRS"} {
		if bindings[name] == nil || bindings[name]["type"] != "secret_text" {
			t.Errorf("%s did not survive the upload removing OPENAI_KEY: %v", name, bindings[name])
		}
	}
	h.wantSees(t, "sec-api", "WEBHOOK_SECRET", hookSecret)
	h.wantSees(t, "sec-api", "THEIRS", "theirs-0123456789abcdefghijklmnopqrstuvwxyz")
	h.wantSees(t, "sec-api", "API_KEY", apiKey)
	if again := h.plan(t, specOf(w3)); again.HasChanges() {
		t.Fatalf("plan after the removal has changes: %s", fmtChanges(again.Workers[0].Changes))
	}
	texts := planTexts(p)
	resJSON, _ := json.Marshal(res)
	texts["result JSON"], texts["log"] = string(resJSON), h.log.String()
	noSecretIn(t, texts)
}

// A secret whose source cannot be read fails the plan at its own spec line, naming the source
// and never a value; every unreadable secret of the worker is reported at once.
func TestSecretUnresolvableFailsAtItsSpecLine(t *testing.T) {
	h := newHarness(t)
	w := withHookSecret(t, secretWorker(t, "sec-unset"))
	w.Secrets[1].Ref = filepath.Join(t.TempDir(), "missing.secret")
	_, err := h.eng.Plan(context.Background(), specOf(w))
	if err == nil {
		t.Fatal("plan with an unset secret source succeeded")
	}
	var list spec.ErrorList
	if !errors.As(err, &list) || len(list) != 2 {
		t.Fatalf("error %q (%T), want two spec errors", err, err)
	}
	for i, want := range []string{
		"flareform.yaml:11:7: workers.sec-unset: secrets.OPENAI_KEY: environment variable OPENAI_KEY is empty or unset; export OPENAI_KEY=",
		"flareform.yaml:12:7: workers.sec-unset: secrets.WEBHOOK_SECRET: secret file ",
	} {
		if !strings.HasPrefix(list[i].Error(), want) {
			t.Errorf("error %d: %q, want it to start with %q", i, list[i].Error(), want)
		}
	}
	if total, writes := h.apiCalls(); writes != 0 {
		t.Errorf("a refused plan wrote: %d calls, %d writes", total, writes)
	}

	// The deploy credentials are no secret to hand a worker.
	h.env["CLOUDFLARE_API_TOKEN"] = openAIKey1
	h.env["OPENAI_KEY"] = openAIKey1
	_, err = h.eng.Plan(context.Background(), specOf(secretWorker(t, "sec-unset")))
	if err == nil || !strings.Contains(err.Error(), "secrets.OPENAI_KEY: the value is that of CLOUDFLARE_API_TOKEN") {
		t.Errorf("a secret holding the account's token: %v", err)
	}
	noSecretIn(t, map[string]string{"error": errorText(err), "log": h.log.String()})
}

// A saved plan names each secret's source and fingerprint, never its value; applying it
// uploads the fingerprints it showed, and a value changed since makes it stale.
func TestSecretsInSavedPlan(t *testing.T) {
	h := newHarness(t)
	h.env["OPENAI_KEY"] = openAIKey1
	dir := t.TempDir()
	code, err := os.ReadFile(testdataWorker(t, "secrets.js"))
	if err != nil {
		t.Fatal(err)
	}
	w := withHookSecret(t, secretWorker(t, "sec-saved"))
	w.Main = filepath.Join(dir, "worker.js") // inside the spec's project, as plan requires
	if err := os.WriteFile(w.Main, code, 0o600); err != nil {
		t.Fatal(err)
	}
	s := specOf(w)
	s.File, s.Dir = filepath.Join(dir, "flareform.yaml"), dir
	if err := os.WriteFile(s.File, []byte("# the spec the plan was made from\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	save := func(p *Plan) (*SavedPlan, string) {
		t.Helper()
		sp, err := NewSavedPlan(p, s, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "plan.json")
		if err := WriteSavedPlan(path, sp); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		noSecretIn(t, map[string]string{"saved plan": string(b)})
		read, err := ReadSavedPlan(path)
		if err != nil {
			t.Fatal(err)
		}
		return read, string(b)
	}
	p := h.plan(t, s)
	sp, text := save(p)
	refs := sp.Read.Workers[0].Secrets
	if len(refs) != 2 || refs[0].Source != "env:OPENAI_KEY" || !FingerprintMatches(refs[0].Fingerprint, "sec-saved", "OPENAI_KEY", openAIKey1) ||
		!strings.HasPrefix(refs[1].Source, "file:") || !FingerprintMatches(refs[1].Fingerprint, "sec-saved", "WEBHOOK_SECRET", hookSecret) {
		t.Fatalf("saved secrets: %+v\n%s", refs, text)
	}

	// apply FILE: a new process plans again and must find the plan it saved.
	h2 := newHarnessOn(t, h, func(*Config) {})
	h2.eng.UseSavedPlan(sp)
	digest, _ := SpecDigest(s.File)
	fresh := h2.plan(t, s)
	if why := sp.StaleReasons(fresh, digest); len(why) != 0 {
		t.Fatalf("an unchanged saved plan is stale: %v", why)
	}
	res, err := h2.eng.Apply(context.Background(), fresh, ApplyOptions{})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	h.wantSees(t, "sec-saved", "OPENAI_KEY", openAIKey1)
	msg, _, err := h.eng.versionMessageOf(context.Background(), h.srv.AccountID(), "sec-saved", res.Workers[0].VersionID)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := parseIdentity(msg)
	if id.Secrets[secretNameTag("OPENAI_KEY")] != refs[0].Fingerprint {
		t.Errorf("the upload recorded %q, the saved plan showed %s", msg, refs[0].Fingerprint)
	}

	// A value changed after the plan was saved: stale, named, nothing applied.
	sp, _ = save(h.plan(t, s))
	h.env["OPENAI_KEY"] = openAIKey2
	h3 := newHarnessOn(t, h, func(*Config) {})
	h3.eng.UseSavedPlan(sp)
	why := sp.StaleReasons(h3.plan(t, s), digest)
	if len(why) == 0 || !strings.Contains(strings.Join(why, "; "), "the secrets OPENAI_KEY of worker sec-saved changed") {
		t.Errorf("stale reasons after a secret changed: %v", why)
	}
	noSecretIn(t, map[string]string{"stale reasons": strings.Join(why, "; "), "log": h.log.String()})
}

// A rollback across a changed secret is not refused (clients do not hold it): its plan says the
// target version's own value comes back, the worker then sees it, and the next plan shows the
// spec's value as changed again.
func TestSecretsRollbackRestoresTheVersionsValue(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.env["OPENAI_KEY"] = openAIKey1
	w := secretWorker(t, "sec-back")
	h.deploy(t, specOf(w), ApplyOptions{})
	h.env["OPENAI_KEY"] = openAIKey2
	h.deploy(t, specOf(w), ApplyOptions{})

	rp, err := h.eng.PlanRollback(ctx, specOf(w), RollbackOptions{})
	if err != nil {
		t.Fatalf("rollback across a secret change refused: %v", err)
	}
	st := rp.Workers[0]
	if !strings.Contains(st.SecretsNote, "other values of OPENAI_KEY than the spec") || st.Forced || st.KeyNote != "" {
		t.Errorf("rollback step: secrets note %q, forced %t, key note %q", st.SecretsNote, st.Forced, st.KeyNote)
	}
	rpJSON, _ := json.Marshal(rp)
	noSecretIn(t, map[string]string{"rollback plan": string(rpJSON)})
	if _, err := h.eng.ApplyRollout(ctx, rp, RolloutOptions{}); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	h.wantSees(t, "sec-back", "OPENAI_KEY", openAIKey1)

	p := h.plan(t, specOf(w))
	if got := fmtChanges(p.Workers[0].Changes); !strings.Contains(got, "secrets.OPENAI_KEY change (sensitive)(sensitive, changed)") {
		t.Errorf("plan after the rollback: %s", got)
	}
	h.deploy(t, specOf(w), ApplyOptions{})
	h.wantSees(t, "sec-back", "OPENAI_KEY", openAIKey2)
	if again := h.plan(t, specOf(w)); again.HasChanges() {
		t.Fatalf("plan after applying over the rollback has changes: %s", fmtChanges(again.Workers[0].Changes))
	}
	noSecretIn(t, map[string]string{"log": h.log.String()})
}

// The annotation record: round trip, the 1000-byte budget at 16 secrets with the longest
// names, and damaged entries read as unknown.
func TestSecretAnnotationEncoding(t *testing.T) {
	f := newFingerprinter()
	values := map[string]string{}
	for i := range spec.MaxSecrets {
		values[strings.Repeat("S", 60)+string(rune('A'+i))] = openAIKey1 + string(rune('a'+i))
	}
	fps := f.forSecretSet("a-script-name-of-a-fair-length", values)
	d := &desiredWorker{bundleTag: bundleTagPrefix + "0123456789abcdef", secrets: &secretsDesired{fps: fps}}
	id := versionIdentity{BundleTag: d.bundleTag, Keys: map[string]string{"API_KEY": NewKeyFingerprint("s", "API_KEY", openAIKey1)},
		Run: newRunID(), SmokePending: true}
	secretIdentity(&id, d)
	msg := id.message()
	if len(msg) > 1000-400 { // the rest of the budget is the consumers'
		t.Errorf("annotation with %d secrets is %d bytes:\n%s", spec.MaxSecrets, len(msg), msg)
	}
	back, ok := parseIdentity(msg)
	if !ok || len(back.Secrets) != spec.MaxSecrets || back.Run != id.Run || !back.SmokePending {
		t.Fatalf("parsed %+v from %q", back, msg)
	}
	for b, v := range values {
		if fp := back.Secrets[secretNameTag(b)]; !FingerprintMatches(fp, "a-script-name-of-a-fair-length", b, v) {
			t.Errorf("%s: recorded %q does not match its value", b, fp)
		}
	}
	if again := back.message(); again != msg {
		t.Errorf("re-rendered annotation differs:\n%s\n%s", again, msg)
	}
	// Garbled: entries of the wrong length, a salt that is not hex, upper-case hex.
	for _, bad := range []string{"sec=zz00000000000000.0123456789abcdef01234567", "sec=0011223344556677.0123", "sec=0011223344556677.0123456789ABCDEF01234567"} {
		got, _ := parseIdentity("flareform " + d.bundleTag + " " + bad)
		if len(got.Secrets) != 0 {
			t.Errorf("%q read as %v", bad, got.Secrets)
		}
	}
}

// The spec as a person writes it: `secrets:` loaded from YAML deploys, and a source that is
// unset by the time plan runs fails at the line the loader recorded for it.
func TestSecretsFromYAML(t *testing.T) {
	h := newHarness(t)
	dir := t.TempDir()
	code, err := os.ReadFile(testdataWorker(t, "secrets.js"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "src"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "src", "worker.js"), code, 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "flareform.yaml")
	yaml := `workers:
  sec-yaml:
    main: ./src/worker.js
    compatibility_date: "2025-06-01"
    workers_dev: true
    secrets:
      OPENAI_KEY: "env:OPENAI_KEY"
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	h.env["OPENAI_KEY"] = openAIKey1
	s, err := spec.Load(path, "", func(k string) string { return h.env[k] })
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	h.deploy(t, s, ApplyOptions{})
	h.wantSees(t, "sec-yaml", "OPENAI_KEY", openAIKey1)
	if again := h.plan(t, s); again.HasChanges() {
		t.Fatalf("plan after apply has changes: %s", fmtChanges(again.Workers[0].Changes))
	}
	delete(h.env, "OPENAI_KEY")
	_, err = h.eng.Plan(context.Background(), s)
	if err == nil || !strings.Contains(err.Error(), path+":7:19: workers.sec-yaml: secrets.OPENAI_KEY: environment variable OPENAI_KEY is empty or unset") {
		t.Errorf("plan with OPENAI_KEY unset: %v", err)
	}
}

// A canary carries a changed secret in its own version (clients do not hold it, so unlike the
// API key it may change under a canary) while the stable version keeps its value; promotion
// makes the new value serve. Removing a secret under --canary is refused before any write: the
// delete would take it from the stable version too.
func TestSecretsUnderACanary(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.env["OPENAI_KEY"] = openAIKey1
	w := withHookSecret(t, secretWorker(t, "sec-canary"))
	_, first := h.deploy(t, specOf(w), ApplyOptions{})
	stable := first.Workers[0].VersionID

	h.env["OPENAI_KEY"] = openAIKey2
	h.eng.cfg.Canary = 50
	p := h.plan(t, specOf(w))
	if got := fmtChanges(p.Workers[0].Changes); !strings.Contains(got, "secrets.OPENAI_KEY change (sensitive)(sensitive, changed)") || p.Workers[0].Canary == nil {
		t.Fatalf("plan --canary 50 with a changed secret: %s, canary %+v", got, p.Workers[0].Canary)
	}
	res, err := h.eng.Apply(ctx, p, ApplyOptions{})
	if err != nil {
		t.Fatalf("apply --canary 50: %v\nlog:\n%s", err, h.log)
	}
	canary := res.Workers[0].VersionID
	for version, want := range map[string]string{stable: openAIKey1, canary: openAIKey2} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+h.srv.WorkersDevAddr()+"/?name=OPENAI_KEY", nil)
		req.Host = "sec-canary." + h.srv.Subdomain() + ".workers.dev"
		req.Header.Set("x-offered", want)
		req.Header.Set("Cloudflare-Workers-Version-Overrides", versionOverride(withVersionOverride(ctx, "sec-canary", version)))
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if !strings.Contains(string(b), `"equal":true`) {
			t.Errorf("version %s does not hold its own OPENAI_KEY: %s", version, b)
		}
	}
	// (The worker has no smoke test, so the canary stays "not smoke-tested"; its secrets match.)
	if got := fmtChanges(h.plan(t, specOf(w)).Workers[0].Changes); strings.Contains(got, "secrets.") {
		t.Fatalf("plan --canary 50 again: %s", got)
	}

	w2 := w
	w2.Secrets = w.Secrets[1:]
	_, err = h.eng.Plan(ctx, specOf(w2))
	if err == nil || !strings.Contains(err.Error(), "--canary cannot remove secrets (OPENAI_KEY of sec-canary)") {
		t.Errorf("plan --canary removing a secret: %v", err)
	}

	h.eng.cfg.Canary = 0
	h.deploy(t, specOf(w), ApplyOptions{}) // promotes the canary
	h.wantSees(t, "sec-canary", "OPENAI_KEY", openAIKey2)
	if got := fmtChanges(h.plan(t, specOf(w)).Workers[0].Changes); strings.Contains(got, "secrets.") {
		t.Fatalf("plan after promotion: %s", got)
	}
}

// rotate-key edits the worker's settings and secrets around the extra secrets: after a
// rotation and its finish they are still bound, and recorded, so plan shows no secret change.
func TestSecretsSurviveKeyRotation(t *testing.T) {
	h := newHarness(t)
	h.env["OPENAI_KEY"] = openAIKey1
	w := imageWorker(t, "image-api", "")
	w.Secrets = []spec.KeySource{{Binding: "OPENAI_KEY", From: keyFromEnv, Ref: "OPENAI_KEY"}}
	s := specOf(w)
	_, res := h.deploy(t, s, ApplyOptions{SkipSmoke: true})
	f := &rotateFixture{harness: h, spec: s, name: "image-api", oldKey: res.Workers[0].GeneratedKey}
	kf := &keyFile{path: filepath.Join(t.TempDir(), "key")}
	f.mustRotate(t, RotateOptions{Mode: RotateStart, OldKey: f.oldKey, Handover: kf.handover})
	f.mustRotate(t, RotateOptions{Mode: RotateFinish, NewKey: kf.key(t), OldKey: f.oldKey})
	if b := h.scriptBindings(t, "image-api")["OPENAI_KEY"]; b == nil || b["type"] != "secret_text" {
		t.Fatalf("OPENAI_KEY after rotate-key: %v", b)
	}
	if got := fmtChanges(h.plan(t, s).Workers[0].Changes); strings.Contains(got, "secrets.OPENAI_KEY") {
		t.Errorf("plan after rotate-key: %s", got)
	}
	noSecretIn(t, map[string]string{"log": h.log.String()})
}

// After a rollback Cloudflare refuses secret edits until the newest version is deployed, so a
// removal rests on the upload alone. Where an upload keeps secrets it does not name, the secret
// survives that apply; it stays recorded, so the next plan removes it again (and can delete
// it); the worker ends without it under both readings.
func TestSecretRemovalAfterARollback(t *testing.T) {
	for name, quirks := range map[string]localcf.Quirks{"strict": {}, "implicit_secret_retention": {ImplicitSecretRetention: true}} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			h.srv.SetQuirks(quirks)
			ctx := context.Background()
			h.env["OPENAI_KEY"] = openAIKey1
			w := withHookSecret(t, secretWorker(t, "sec-rb"))
			h.deploy(t, specOf(w), ApplyOptions{})
			w.Vars = map[string]string{"SECOND": "yes"}
			h.deploy(t, specOf(w), ApplyOptions{})
			rp, err := h.eng.PlanRollback(ctx, specOf(w), RollbackOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.eng.ApplyRollout(ctx, rp, RolloutOptions{}); err != nil {
				t.Fatalf("rollback: %v", err)
			}

			w.Secrets = w.Secrets[1:]
			for i := 0; ; i++ {
				p := h.plan(t, specOf(w))
				got := fmtChanges(p.Workers[0].Changes)
				if !strings.Contains(got, "secrets.OPENAI_KEY remove") {
					t.Logf("OPENAI_KEY removed after %d applies", i)
					break
				}
				if i == 2 {
					t.Fatalf("apply %d still removes OPENAI_KEY: %s", i, got)
				}
				if _, err := h.eng.Apply(ctx, p, ApplyOptions{}); err != nil {
					t.Fatalf("apply %d: %v\nlog:\n%s", i, err, h.log)
				}
			}
			if _, ok := h.scriptBindings(t, "sec-rb")["OPENAI_KEY"]; ok {
				t.Error("OPENAI_KEY is still bound")
			}
			h.wantSees(t, "sec-rb", "WEBHOOK_SECRET", hookSecret)
			if again := h.plan(t, specOf(w)); again.HasChanges() {
				t.Errorf("plan at the end: %s", fmtChanges(again.Workers[0].Changes))
			}
		})
	}
}
