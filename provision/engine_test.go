package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flareform/flareform/bundler"
	"github.com/flareform/flareform/internal/syncbuf"
	"github.com/flareform/flareform/localcf"
	"github.com/flareform/flareform/localcf/localcftest"
	"github.com/flareform/flareform/provision/spec"
)

const sdxl = "@cf/stabilityai/stable-diffusion-xl-base-1.0"

// templateWorker is the real text-to-image worker that `flareform init` writes. The example
// copy is used because it sits next to the src/lib modules it imports, as in an init project
// (templates/ keeps those shared files in templates/shared; a test keeps the example identical).
func templateWorker(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file), "..", "examples", "text-to-image", "src", "worker.js")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("template worker missing: %v", err)
	}
	return path
}

func testdataWorker(t testing.TB, name string) string {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// imageWorker is a spec worker like the init template's, with its key taken from env var keyEnv
// (or generated when keyEnv is "").
func imageWorker(t testing.TB, name, keyEnv string) spec.Worker {
	key := &spec.KeySource{Binding: "API_KEY", From: keyFromGenerate}
	if keyEnv != "" {
		key = &spec.KeySource{Binding: "API_KEY", From: keyFromEnv, Ref: keyEnv}
	}
	return spec.Worker{
		Key: name, Name: name,
		Main:              templateWorker(t),
		CompatibilityDate: "2025-06-01",
		AI:                &spec.AIBinding{Binding: "AI", Model: sdxl},
		APIKey:            key,
		Vars:              map[string]string{"MAX_PROMPT_CHARS": "1000"},
		WorkersDev:        true,
		Smoke:             &spec.Smoke{Prompt: "a cute robot cooking breakfast", Expect: "image/png"},
		Pos: map[string]spec.Position{
			"main": {Line: 3, Col: 11}, "ai.model": {Line: 7, Col: 14}, "api_key": {Line: 8, Col: 5},
		},
	}
}

func specOf(workers ...spec.Worker) *spec.Spec {
	return &spec.Spec{File: "flareform.yaml", Dir: ".", Workers: workers}
}

type harness struct {
	srv *localcf.Server
	eng *Engine
	log *syncBuffer
	env map[string]string
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer = syncbuf.Buffer

func newHarness(t testing.TB, tune ...func(*Config)) *harness {
	t.Helper()
	h := &harness{srv: localcftest.New(t), log: &syncBuffer{}, env: map[string]string{}}
	// Connections dialled for concurrent requests but never used look "new" to the server,
	// and http.Server.Shutdown waits for those; closing them first lets the server stop at once.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(transport.CloseIdleConnections)
	t.Cleanup(http.DefaultClient.CloseIdleConnections)
	cfg := Config{
		HTTPClient: &http.Client{Transport: transport, Timeout: 2 * time.Minute},
		APIBaseURL: h.srv.APIBaseURL(),
		APIToken:   h.srv.Token(),
		AccountID:  h.srv.AccountID(),
		Log:        h.log,
		Getenv:     func(k string) string { return h.env[k] },
		SmokeWait:  10 * time.Second,
		// Each harness is a machine of its own: versions another test's engine cached are
		// not this one's.
		VersionCacheDir: t.TempDir(),
		BundleCacheDir:  t.TempDir(),
	}
	for _, f := range tune {
		f(&cfg)
	}
	eng, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.eng = eng
	return h
}

// apiCalls is the number of Cloudflare API requests logged since the last reset, and how many
// of them wrote (anything but GET).
func (h *harness) apiCalls() (total, writes int) {
	for _, r := range h.srv.Requests() {
		if !strings.Contains(r.Path, "/client/v4/") {
			continue
		}
		total++
		if r.Method != http.MethodGet {
			writes++
		}
	}
	return total, writes
}

func (h *harness) deploy(t testing.TB, s *spec.Spec, opts ApplyOptions) (*Plan, *Result) {
	t.Helper()
	ctx := context.Background()
	p, err := h.eng.Plan(ctx, s)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	res, err := h.eng.Apply(ctx, p, opts)
	if err != nil {
		t.Fatalf("apply: %v\nlog:\n%s", err, h.log)
	}
	return p, res
}

func (h *harness) plan(t testing.TB, s *spec.Spec) *Plan {
	t.Helper()
	p, err := h.eng.Plan(context.Background(), s)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return p
}

// Four calls do the work (subdomain and settings reads, the upload, the workers.dev switch);
// the deployments are read alongside the settings (for a worker that exists, that saves a
// round trip), and so is the Workers AI catalog, which confirms the model. Three more check that this run's version serves: as the upload's answer need
// not name the version, the newest version and its annotation (during the workers.dev switch
// and the smoke test), then, after the smoke test, the deployments: exit 0 must mean this
// run's code and key serve, and one tags write marks the version tested (smokemark.go), so an
// apply stopped before its smoke test is not taken for a finished one. An apply that follows its
// plan at once reads the worker no second time before the upload: the plan's read is that check.
func TestFirstDeployServesPNGWithinTenCalls(t *testing.T) {
	h := newHarness(t)
	out := t.TempDir()
	h.srv.ResetRequests()
	p, res := h.deploy(t, specOf(imageWorker(t, "image-api", "")), ApplyOptions{SmokeOut: out})

	if total, _ := h.apiCalls(); total > 10 {
		t.Errorf("first deploy made %d API calls, want at most 10: %+v", total, h.srv.Requests())
	}
	if p.Workers[0].Action != ActionCreate {
		t.Errorf("plan action %s, want create", p.Workers[0].Action)
	}
	w := res.Workers[0]
	if w.GeneratedKey == "" || !FingerprintMatches(w.KeyFingerprint, "image-api", "API_KEY", w.GeneratedKey) {
		t.Fatalf("result key: generated %t, fingerprint %q", w.GeneratedKey != "", w.KeyFingerprint)
	}
	if w.Smoke == nil || !w.Smoke.Passed {
		t.Fatalf("smoke did not pass: %+v", w.Smoke)
	}
	wantURL := "https://image-api." + h.srv.Subdomain() + ".workers.dev"
	if w.URL != wantURL || w.Smoke.URL != wantURL+"/" {
		t.Errorf("URL %q / smoke URL %q, want %q", w.URL, w.Smoke.URL, wantURL)
	}
	assertPNGFile(t, w.Smoke.OutputPath, filepath.Join(out, "image-api.png"))
	assertNoSecret(t, w.GeneratedKey, h.log.String(), p, res)

	// The deployed worker answers the generated key, and only that key.
	if status := h.post(t, "image-api", w.GeneratedKey); status != http.StatusOK {
		t.Errorf("POST with generated key: %d", status)
	}
	if status := h.post(t, "image-api", "wrong"); status != http.StatusUnauthorized {
		t.Errorf("POST with a wrong key: %d, want 401", status)
	}
}

func assertPNGFile(t *testing.T, got, want string) {
	t.Helper()
	if got != want {
		t.Fatalf("smoke output path %q, want %q", got, want)
	}
	f, err := os.Open(got)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Errorf("smoke output is not a PNG: %v", err)
	}
}

// assertNoSecret fails when secret shows up in logs, or plan or result JSON. The plan's text
// (cmd/flareform/view) is made of the exported fields the JSON holds, and a rotation's expiry.
func assertNoSecret(t *testing.T, secret, log string, p *Plan, res *Result) {
	t.Helper()
	planJSON, _ := json.Marshal(p)
	resJSON, _ := json.Marshal(res)
	for what, s := range map[string]string{"log": log, "plan JSON": string(planJSON), "result JSON": string(resJSON)} {
		if strings.Contains(s, secret) {
			t.Errorf("the key appears in the %s", what)
		}
	}
}

// pendingKeys records the keys apply generates (a KeyRecorder), so a test can look for them in
// what the run printed.
type pendingKeys struct {
	mu   sync.Mutex
	keys []string
}

func (k *pendingKeys) AddPending(_, _, key string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys = append(k.keys, key)
	return nil
}

// assertNoneLeaked checks that no key k recorded appears in the log, plan, result or err.
func (k *pendingKeys) assertNoneLeaked(t *testing.T, log string, p *Plan, res *Result, err error) {
	t.Helper()
	if len(k.keys) == 0 {
		t.Fatal("apply generated no key: nothing to look for")
	}
	for _, key := range k.keys {
		assertNoSecret(t, key, log, p, res)
		if err != nil && strings.Contains(err.Error(), key) {
			t.Error("the key appears in the error")
		}
	}
}

// post sends an authorised prompt to a deployed worker through the data plane.
func (h *harness) post(t testing.TB, name, key string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+h.srv.WorkersDevAddr()+"/", strings.NewReader(`{"prompt":"a fox"}`))
	req.Host = name + "." + h.srv.Subdomain() + ".workers.dev"
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode
}

func TestSecondApplyMakesNoWriteCalls(t *testing.T) {
	h := newHarness(t)
	h.env["IMG_KEY"] = "correct-horse-battery-staple-0123456789"
	s := specOf(imageWorker(t, "image-api", "IMG_KEY"), imageWorker(t, "image-gen", ""))
	h.deploy(t, s, ApplyOptions{SkipSmoke: true})

	h.srv.ResetRequests()
	p := h.plan(t, s)
	if p.HasChanges() {
		js, _ := json.Marshal(p)
		t.Fatalf("second plan has changes:\n%s", js)
	}
	if _, writes := h.apiCalls(); writes != 0 {
		t.Errorf("plan made %d write calls", writes)
	}
	h.srv.ResetRequests()
	res, err := h.eng.Apply(context.Background(), p, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if total, _ := h.apiCalls(); total != 0 {
		t.Errorf("no-op apply made %d API calls, want 0", total)
	}
	for _, w := range res.Workers {
		if w.Action != ActionNoOp || w.GeneratedKey != "" {
			t.Errorf("no-op apply result %+v", w)
		}
	}
}

func TestChangingVarPlansExactlyOneChange(t *testing.T) {
	h := newHarness(t)
	h.env["IMG_KEY"] = "k-one-two-three-0123456789abcdef0123456789"
	w := imageWorker(t, "image-api", "IMG_KEY")
	h.deploy(t, specOf(w), ApplyOptions{SkipSmoke: true})

	w.Vars = map[string]string{"MAX_PROMPT_CHARS": "50"}
	p := h.plan(t, specOf(w))
	want := []Change{{Path: "vars.MAX_PROMPT_CHARS", Op: OpChange, Old: "1000", New: "50"}}
	if got := p.Workers[0].Changes; p.Workers[0].Action != ActionUpdate || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("plan %s %+v, want update %+v", p.Workers[0].Action, got, want)
	}
	_, res := h.deploy(t, specOf(w), ApplyOptions{})
	if !res.Workers[0].Smoke.Passed {
		t.Fatalf("smoke after var change: %+v", res.Workers[0].Smoke)
	}
	if p := h.plan(t, specOf(w)); p.HasChanges() {
		t.Errorf("plan after applying the var change still has changes: %+v", p.Workers[0].Changes)
	}
	// The key survived the upload without being resent.
	if status := h.post(t, "image-api", "k-one-two-three-0123456789abcdef0123456789"); status != http.StatusOK {
		t.Errorf("key lost after var-only update: status %d", status)
	}
}

// rawUpload deploys code with the given vars the way wrangler does: secrets kept, then the
// script's tags wiped with PATCH script-settings.
func (h *harness) rawUpload(t testing.TB, name string, code []byte, vars map[string]string) {
	t.Helper()
	bindings := []map[string]string{{"type": "ai", "name": "AI"}}
	for k, v := range vars {
		bindings = append(bindings, map[string]string{"type": "plain_text", "name": k, "text": v})
	}
	meta, _ := json.Marshal(map[string]any{
		"main_module": "index.js", "compatibility_date": "2025-06-01",
		"bindings": bindings, "keep_bindings": []string{"secret_text"},
	})
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("metadata", string(meta))
	hdr := textproto.MIMEHeader{}
	hdr.Set("Content-Disposition", `form-data; name="index.js"; filename="index.js"`)
	hdr.Set("Content-Type", "application/javascript+module")
	part, _ := mw.CreatePart(hdr)
	_, _ = part.Write(code)
	_ = mw.Close()
	url := fmt.Sprintf("%s/accounts/%s/workers/scripts/%s", h.srv.APIBaseURL(), h.srv.AccountID(), name)
	req, _ := http.NewRequest(http.MethodPut, url, &body)
	req.Header.Set("Authorization", "Bearer "+h.srv.Token())
	req.Header.Set("Content-Type", mw.FormDataContentType())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("raw upload: %d %s", res.StatusCode, b)
	}
	h.rawJSON(t, http.MethodPatch, url+"/script-settings", `{"observability":{"enabled":false},"tags":[]}`)
}

func (h *harness) rawJSON(t testing.TB, method, url, body string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+h.srv.Token())
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("%s %s: %d %s", method, url, res.StatusCode, b)
	}
}

func TestDriftFromAnotherToolShowsAndConverges(t *testing.T) {
	h := newHarness(t)
	h.env["IMG_KEY"] = "drift-key-1234-0123456789abcdef0123456789"
	w := imageWorker(t, "image-api", "IMG_KEY")
	h.deploy(t, specOf(w), ApplyOptions{SkipSmoke: true})

	// Another tool uploads the same worker as one module, so it has to bundle its src/lib imports.
	bundled, err := bundler.Bundle(t.Context(), bundler.Options{Entry: w.Main})
	if err != nil {
		t.Fatal(err)
	}
	h.rawUpload(t, "image-api", bundled.Code, map[string]string{"MAX_PROMPT_CHARS": "7", "AI_MODEL": sdxl})

	// The upload wiped flareform's tags, so the script no longer reads as flareform's: taking
	// it back is explicit (apply --adopt).
	if _, err := h.eng.Plan(t.Context(), specOf(w)); err == nil || !strings.Contains(err.Error(), "--adopt image-api") {
		t.Fatalf("plan of the re-uploaded script: %v; want a refusal naming --adopt image-api", err)
	}
	h = newHarnessOn(t, h, func(c *Config) { c.Adopt = []string{"image-api"} })
	p := h.plan(t, specOf(w))
	got := map[string]Change{}
	for _, c := range p.Workers[0].Changes {
		got[c.Path] = c
	}
	if c := got["vars.MAX_PROMPT_CHARS"]; c.Old != "7" || c.New != "1000" {
		t.Errorf("var drift not shown: %+v", p.Workers[0].Changes)
	}
	if c := got["code"]; c.Op != OpChange || !strings.Contains(c.Old, "outside flareform") {
		t.Errorf("code drift (tags wiped) not shown: %+v", p.Workers[0].Changes)
	}
	if c := got["secrets.API_KEY"]; c.Op != OpChange || strings.Contains(c.Old+c.New, "drift-key") {
		t.Errorf("key fingerprint drift not shown safely: %+v", c)
	}
	// The worker's key has no fingerprint flareform can read, so apply keeps it valid for the
	// grace window only when the caller names it (--key-file, FLAREFORM_API_KEY).
	if _, err := h.eng.Apply(t.Context(), p, ApplyOptions{}); !errors.As(err, new(*PreviousKeyError)) {
		t.Fatalf("apply without the current key: %v, want a PreviousKeyError before any write", err)
	}
	h.deploy(t, specOf(w), ApplyOptions{Keys: map[string]string{"image-api": h.env["IMG_KEY"]}})
	if p := h.plan(t, specOf(w)); p.HasChanges() {
		t.Errorf("plan after re-apply still has changes: %+v", p.Workers[0].Changes)
	}
}

func TestDestroyDeletesOnlyTheSpecsWorkers(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	mine := specOf(imageWorker(t, "image-a", ""), imageWorker(t, "image-b", ""))
	other := specOf(imageWorker(t, "other-team", ""))
	h.deploy(t, mine, ApplyOptions{SkipSmoke: true})
	h.deploy(t, other, ApplyOptions{SkipSmoke: true})

	mine.Workers = append(mine.Workers, imageWorker(t, "never-deployed", ""))
	p, err := h.eng.PlanDestroy(ctx, mine)
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]Action{}
	for _, w := range p.Workers {
		actions[w.Name] = w.Action
	}
	if fmt.Sprint(actions) != fmt.Sprint(map[string]Action{"image-a": ActionDelete, "image-b": ActionDelete, "never-deployed": ActionNoOp}) {
		t.Fatalf("destroy plan actions %v", actions)
	}
	if _, err := h.eng.Apply(ctx, p, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := h.scriptNames(t); fmt.Sprint(got) != "[other-team]" {
		t.Fatalf("scripts after destroying mine: %v, want [other-team]", got)
	}
	p, err = h.eng.PlanDestroy(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.eng.Apply(ctx, p, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := h.scriptNames(t); len(got) != 0 {
		t.Fatalf("scripts after destroying everything: %v, want none", got)
	}
}

func (h *harness) scriptNames(t testing.TB) []string {
	t.Helper()
	url := fmt.Sprintf("%s/accounts/%s/workers/scripts", h.srv.APIBaseURL(), h.srv.AccountID())
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+h.srv.Token())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var env struct {
		Result []struct {
			ID string `json:"id"`
		} `json:"result"`
	}
	if err := json.NewDecoder(res.Body).Decode(&env); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range env.Result {
		names = append(names, s.ID)
	}
	return names
}

func TestUnknownModelFailsAtSpecPositionWithoutWrites(t *testing.T) {
	h := newHarness(t)
	w := imageWorker(t, "image-api", "")
	w.AI.Model = "@cf/nobody/no-such-model-9000"
	h.srv.ResetRequests()
	_, err := h.eng.Plan(context.Background(), specOf(w))
	var se *spec.Error
	if !errors.As(err, &se) {
		t.Fatalf("err = %v (%T), want a *spec.Error", err, err)
	}
	if se.Line != 7 || se.Col != 14 || !strings.Contains(se.Msg, "no-such-model-9000") {
		t.Errorf("spec error %q, want it at 7:14 naming the model", se.Error())
	}
	total, writes := h.apiCalls()
	if writes != 0 || total == 0 {
		t.Errorf("unknown model: %d calls, %d writes; want a search call and no writes", total, writes)
	}
}

// Every model is confirmed by the catalog, the usual ones too: there is no list in the code.
// One search per distinct model per engine: two workers of one model share it, and a second
// plan of the same engine asks again for nothing.
func TestEveryModelIsConfirmedBySearchOncePerEngine(t *testing.T) {
	h := newHarness(t)
	a, b := imageWorker(t, "image-a", ""), imageWorker(t, "image-b", "")
	a.Smoke, b.Smoke = nil, nil
	b.Key = "image-b"
	searches := func() int {
		n := 0
		for _, r := range h.srv.Requests() {
			if strings.HasSuffix(r.Path, "/ai/models/search") {
				n++
			}
		}
		return n
	}
	h.srv.ResetRequests()
	p := h.plan(t, specOf(a, b))
	if n := searches(); n != 1 || p.Workers[0].Action != ActionCreate {
		t.Errorf("plan of two workers of %s: %d searches (want 1), action %s", sdxl, n, p.Workers[0].Action)
	}
	h.srv.ResetRequests()
	h.plan(t, specOf(a, b))
	if n := searches(); n != 0 {
		t.Errorf("the engine's second plan searched the catalog %d times, want 0 (cached per run)", n)
	}
}

func TestJSSyntaxErrorPointsAtMain(t *testing.T) {
	h := newHarness(t)
	w := imageWorker(t, "image-api", "")
	w.Main = testdataWorker(t, "broken.js")
	h.srv.ResetRequests()
	_, err := h.eng.Plan(context.Background(), specOf(w))
	var se *spec.Error
	if !errors.As(err, &se) || se.Line != 3 || !strings.Contains(se.Msg, "broken.js") {
		t.Fatalf("err = %v, want a spec error at the main line naming broken.js", err)
	}
	// The plan's reads start alongside bundling (a round trip saved on every plan), so some
	// may have gone out; nothing is written.
	if _, writes := h.apiCalls(); writes != 0 {
		t.Errorf("a JS error still made %d API writes", writes)
	}
}

func TestRateLimitedUploadIsRetried(t *testing.T) {
	h := newHarness(t)
	h.srv.SetFaults([]localcf.FaultRule{{Path: "*/workers/scripts/image-api", Method: "PUT", Kind: "429", RetryAfter: 1, Count: 2}}, 1)
	h.srv.ResetRequests()
	_, res := h.deploy(t, specOf(imageWorker(t, "image-api", "")), ApplyOptions{})
	if !res.Workers[0].Smoke.Passed {
		t.Fatalf("smoke after retried upload: %+v", res.Workers[0].Smoke)
	}
	var puts []int
	for _, r := range h.srv.Requests() {
		if r.Method == http.MethodPut {
			puts = append(puts, r.Status)
		}
	}
	if fmt.Sprint(puts) != "[429 429 200]" {
		t.Errorf("PUT statuses %v, want [429 429 200]", puts)
	}
	if !strings.Contains(h.log.String(), "retrying in 1") {
		t.Errorf("log does not show the Retry-After wait:\n%s", h.log)
	}
}

func TestExhaustedRetriesThenRerunConverges(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxRetries = 2 })
	s := specOf(imageWorker(t, "image-api", ""))
	h.srv.SetFaults([]localcf.FaultRule{{Path: "*/workers/scripts/image-api", Method: "PUT", Kind: "429", RetryAfter: 1}}, 1)
	p := h.plan(t, s)
	res, err := h.eng.Apply(context.Background(), p, ApplyOptions{})
	want := "apply image-api: upload script: giving up after 3 attempts: 429 Please wait and consider throttling your request speed (code 971)"
	if err == nil || err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
	if res.Workers[0].Error != want || res.Workers[0].GeneratedKey != "" {
		t.Errorf("worker result error %q, generated key handed out %t (want none: nothing deployed)",
			res.Workers[0].Error, res.Workers[0].GeneratedKey != "")
	}
	h.srv.SetFaults(nil, 0)
	_, res = h.deploy(t, s, ApplyOptions{})
	if res.Workers[0].Action != ActionCreate || !res.Workers[0].Smoke.Passed {
		t.Fatalf("re-run: %+v", res.Workers[0])
	}
	if p := h.plan(t, s); p.HasChanges() {
		t.Errorf("not converged: %+v", p.Workers[0].Changes)
	}
}

func TestFailedSmokeRollsBack(t *testing.T) {
	h := newHarness(t)
	h.env["IMG_KEY"] = "rollback-key-5678-0123456789abcdef0123456789"
	w := imageWorker(t, "image-api", "IMG_KEY")
	_, first := h.deploy(t, specOf(w), ApplyOptions{SkipSmoke: true})
	goodVersion := first.Workers[0].VersionID

	w.Main = testdataWorker(t, "text-not-png.js")
	p := h.plan(t, specOf(w))
	res, err := h.eng.Apply(context.Background(), p, ApplyOptions{})
	if err == nil {
		t.Fatal("apply of a worker that answers text instead of PNG succeeded")
	}
	for _, want := range []string{"authorized check", `content type "text/plain`, "rolled back"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "rollback-key-5678-0123456789abcdef0123456789") {
		t.Error("error contains the key")
	}
	r := res.Workers[0]
	if !r.RolledBack || (goodVersion != "" && r.VersionID != goodVersion) {
		t.Errorf("result rolled back %t version %q, want true %q", r.RolledBack, r.VersionID, goodVersion)
	}
	// The old version serves again.
	reports, err := h.eng.Smoke(context.Background(), specOf(imageWorker(t, "image-api", "IMG_KEY")), nil, "")
	if err != nil || len(reports) != 1 || !reports[0].Passed {
		t.Fatalf("smoke after rollback: %+v %v", reports, err)
	}
}

func TestOutputs(t *testing.T) {
	h := newHarness(t)
	s := specOf(imageWorker(t, "image-api", ""), imageWorker(t, "not-yet", ""))
	h.deploy(t, specOf(s.Workers[0]), ApplyOptions{SkipSmoke: true})
	outs, err := h.eng.Outputs(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if !outs[0].Exists || !outs[0].WorkersDev || outs[0].VersionID == "" ||
		outs[0].URL != "https://image-api."+h.srv.Subdomain()+".workers.dev" {
		t.Errorf("output of deployed worker: %+v", outs[0])
	}
	if outs[1].Exists || outs[1].URL != "" {
		t.Errorf("output of missing worker: %+v", outs[1])
	}
}

func BenchmarkApplyFirstDeploy(b *testing.B) {
	h := newHarness(b)
	ctx := context.Background()
	calls, writes := 0, 0
	for i := 0; b.Loop(); i++ {
		s := specOf(imageWorker(b, fmt.Sprintf("bench-%d", i), ""))
		h.srv.ResetRequests()
		p, err := h.eng.Plan(ctx, s)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := h.eng.Apply(ctx, p, ApplyOptions{SkipSmoke: true}); err != nil {
			b.Fatal(err)
		}
		n, w := h.apiCalls()
		calls += n
		writes += w
	}
	b.ReportMetric(float64(calls)/float64(b.N), "api-calls/op")
	b.ReportMetric(float64(writes)/float64(b.N), "writes/op")
}

func BenchmarkApplyNoop(b *testing.B) {
	h := newHarness(b)
	ctx := context.Background()
	s := specOf(imageWorker(b, "bench-noop", ""))
	h.deploy(b, s, ApplyOptions{SkipSmoke: true})
	calls, writes := 0, 0
	for b.Loop() {
		h.srv.ResetRequests()
		p, err := h.eng.Plan(ctx, s)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := h.eng.Apply(ctx, p, ApplyOptions{}); err != nil {
			b.Fatal(err)
		}
		n, w := h.apiCalls()
		calls += n
		writes += w
	}
	b.ReportMetric(float64(calls)/float64(b.N), "api-calls/op")
	b.ReportMetric(float64(writes)/float64(b.N), "writes/op")
}

func TestUpdateOfGeneratedKeyWorkerSmokesWithCallerKey(t *testing.T) {
	h := newHarness(t)
	w := imageWorker(t, "image-api", "")
	_, first := h.deploy(t, specOf(w), ApplyOptions{SkipSmoke: true})
	key := first.Workers[0].GeneratedKey

	// Without the key the smoke test cannot check the authorised answer: apply refuses before
	// writing anything instead of reporting a smoke test that did not run.
	w.Vars = map[string]string{"MAX_PROMPT_CHARS": "500"}
	p := h.plan(t, specOf(w))
	h.srv.ResetRequests()
	_, err := h.eng.Apply(context.Background(), p, ApplyOptions{})
	var missing *MissingKeyError
	if !errors.As(err, &missing) || !strings.Contains(err.Error(), "image-api") || !strings.Contains(err.Error(), "--no-smoke") {
		t.Fatalf("update without the key: err %v, want a MissingKeyError naming the worker and the fix", err)
	}
	if n, _ := h.apiCalls(); n != 0 {
		t.Errorf("refused apply made %d API calls, want none: %+v", n, h.srv.Requests())
	}
	// A wrong key (not the deployed one) is refused the same way.
	if _, err := h.eng.Apply(context.Background(), p, ApplyOptions{Keys: map[string]string{"image-api": "not-the-deployed-key-0123456789abcdef"}}); !errors.As(err, &missing) {
		t.Fatalf("update with a wrong key: err %v, want MissingKeyError", err)
	}
	// The key store's candidates are matched by fingerprint: the wrong one is passed over.
	cands := func(spec.Worker) []string { return []string{"not-the-deployed-key-0123456789abcdef", key} }
	_, res := h.deploy(t, specOf(w), ApplyOptions{KeyCandidates: cands})
	if auth := res.Workers[0].Smoke.Checks[0]; !auth.Passed || res.Workers[0].KeyFingerprint != first.Workers[0].KeyFingerprint {
		t.Errorf("update with key candidates: authorized check %+v, fp %q", auth, res.Workers[0].KeyFingerprint)
	}
	var auth SmokeCheck
	w.Vars = map[string]string{"MAX_PROMPT_CHARS": "400"}
	_, res = h.deploy(t, specOf(w), ApplyOptions{Keys: map[string]string{"image-api": key}})
	auth = res.Workers[0].Smoke.Checks[0]
	if !auth.Passed || auth.Skipped != "" || auth.ContentType != "image/png" {
		t.Errorf("update with the caller's key: authorized check %+v, want a passed PNG check", auth)
	}
}

func TestDroppedConnectionsAndEdgeErrorsAreRetried(t *testing.T) {
	h := newHarness(t)
	h.srv.SetFaults([]localcf.FaultRule{
		{Path: "*/workers/scripts/image-api/settings", Method: "GET", Kind: "drop", Count: 1},
		{Path: "*/workers/scripts/image-api/subdomain", Method: "POST", Kind: "502", Count: 2},
	}, 1)
	h.srv.ResetRequests()
	_, res := h.deploy(t, specOf(imageWorker(t, "image-api", "")), ApplyOptions{SkipSmoke: true})
	if res.Workers[0].Action != ActionCreate {
		t.Fatalf("result %+v", res.Workers[0])
	}
	var posts []int
	for _, r := range h.srv.Requests() {
		if r.Method == http.MethodPost {
			posts = append(posts, r.Status)
		}
	}
	if fmt.Sprint(posts) != "[502 502 200]" {
		t.Errorf("subdomain POST statuses %v, want [502 502 200]", posts)
	}
	if !strings.Contains(h.log.String(), "HTML error page: 502 Bad Gateway") {
		t.Errorf("log does not describe the edge error page:\n%s", h.log)
	}
	if p := h.plan(t, specOf(imageWorker(t, "image-api", ""))); p.HasChanges() {
		t.Errorf("not converged: %+v", p.Workers[0].Changes)
	}
}

// An env/file key that changes is rotated by apply itself: the new key works at once and the
// old one keeps working for the spec's grace window, so clients have time to switch.
func TestApplyRotatesChangedEnvKeyWithGrace(t *testing.T) {
	h := newHarness(t)
	oldKey, newKey := "first-env-key-0123456789abcdefghijkl", "second-env-key-0123456789abcdefghijk"
	h.env["IMG_KEY"] = oldKey
	w := imageWorker(t, "image-api", "IMG_KEY")
	w.APIKey.Grace = 2 * time.Hour
	h.deploy(t, specOf(w), ApplyOptions{SkipSmoke: true})

	h.env["IMG_KEY"] = newKey
	p := h.plan(t, specOf(w))
	// The old key is kept by sending it: without it, apply stops before writing anything.
	h.srv.ResetRequests()
	if _, err := h.eng.Apply(context.Background(), p, ApplyOptions{}); !errors.As(err, new(*PreviousKeyError)) ||
		!strings.Contains(err.Error(), "FLAREFORM_API_KEY") || strings.Contains(err.Error(), "env-key") {
		t.Fatalf("apply without the old key: %v, want a PreviousKeyError saying how to pass it", err)
	}
	if _, writes := h.apiCalls(); writes != 0 {
		t.Fatalf("the refused apply made %d writes", writes)
	}
	p = h.plan(t, specOf(w))
	var change *Change
	for i, c := range p.Workers[0].Changes {
		if c.Path == "secrets.API_KEY" {
			change = &p.Workers[0].Changes[i]
		}
	}
	if change == nil || !strings.Contains(change.New, "old key keeps working for 2h after apply") || strings.Contains(change.Old+change.New, "env-key") {
		t.Fatalf("plan does not show the rotation (safely): %+v", p.Workers[0].Changes)
	}
	held := func(spec.Worker) []string { return []string{oldKey} } // FLAREFORM_API_KEY, say
	if _, err := h.eng.Apply(context.Background(), p, ApplyOptions{KeyCandidates: held}); err != nil {
		t.Fatalf("apply: %v\n%s", err, h.log)
	}
	if got := h.post(t, "image-api", newKey); got != http.StatusOK {
		t.Errorf("new key gets %d, want 200", got)
	}
	if got := h.post(t, "image-api", oldKey); got != http.StatusOK {
		t.Errorf("old key gets %d during its grace window, want 200", got)
	}
	if got := h.post(t, "image-api", "some-other-key-0123456789abcdefghijk"); got != http.StatusUnauthorized {
		t.Errorf("a random key gets %d, want 401", got)
	}
	p = h.plan(t, specOf(w))
	if p.HasChanges() {
		t.Errorf("plan after the rotation still has changes: %+v", p.Workers[0].Changes)
	}
	until, ok := p.Workers[0].PendingRotation()
	if deadline, err := time.Parse(time.RFC3339, until); !ok || err != nil || time.Until(deadline) < time.Hour || time.Until(deadline) > 2*time.Hour {
		t.Errorf("rotation window ends %q (%v), want about 2h from now", until, ok)
	}
}

// A secret edit by another party (`wrangler secret put`) makes a new version without
// flareform's annotation and leaves the script's key tag as it was. An apply that then
// rotates a changed env key must not trust that tag: sending the key the tag names as the
// previous key would cut off the key clients were handed by the other party, and exit 0.
func TestApplyRotationDoesNotTrustATagAfterASecretEdit(t *testing.T) {
	h := newHarness(t)
	oldKey, newKey := "first-env-key-0123456789abcdefghijkl", "second-env-key-0123456789abcdefghijk"
	theirKey := "their-secret-put-key-0123456789abcdef"
	h.env["IMG_KEY"] = oldKey
	w := imageWorker(t, "image-api", "IMG_KEY")
	h.deploy(t, specOf(w), ApplyOptions{SkipSmoke: true})
	h.putSecret(t, "image-api", "API_KEY", theirKey)

	h.env["IMG_KEY"] = newKey
	p := h.plan(t, specOf(w))
	h.srv.ResetRequests()
	held := func(spec.Worker) []string { return []string{oldKey} } // FLAREFORM_API_KEY, say
	if _, err := h.eng.Apply(context.Background(), p, ApplyOptions{KeyCandidates: held}); !errors.As(err, new(*PreviousKeyError)) {
		t.Fatalf("apply with a key the worker no longer accepts: %v, want a PreviousKeyError", err)
	}
	if _, writes := h.apiCalls(); writes != 0 {
		t.Fatalf("the refused apply made %d writes", writes)
	}
	if got := h.post(t, "image-api", theirKey); got != http.StatusOK {
		t.Errorf("the key the other party put gets %d after the refused apply, want 200", got)
	}
}

// Two destroys at once: the one whose delete comes second finds the script already gone,
// which is its goal, not another run's deploy.
func TestDestroyOfAScriptAnotherDestroyDeletedSucceeds(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	s := specOf(imageWorker(t, "image-a", ""))
	h.deploy(t, s, ApplyOptions{SkipSmoke: true})
	p, err := h.eng.PlanDestroy(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	h.rawJSON(t, http.MethodDelete, h.srv.APIBaseURL()+"/accounts/"+h.srv.AccountID()+"/workers/scripts/image-a", "")
	if _, err := h.eng.Apply(ctx, p, ApplyOptions{}); err != nil {
		t.Fatalf("destroy after another destroy deleted the script: %v", err)
	}
	if got := h.scriptNames(t); len(got) != 0 {
		t.Fatalf("scripts left: %v", got)
	}
}
