package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/flareform/flareform/bundler"
	"github.com/flareform/flareform/internal/keysource"
	"github.com/flareform/flareform/provision/cfapi"
	"github.com/flareform/flareform/provision/spec"
)

// flakyAPI answers the first `failures` requests with 429 (Retry-After 0.05s as milliseconds)
// and then succeeds with an envelope, counting requests and checking every body arrived whole.
func flakyAPI(t *testing.T, failures int32) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		if r.Method == http.MethodPost {
			var body map[string]any
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body["enabled"] != true {
				t.Errorf("attempt %d: body not replayed intact: %v %v", n, body, err)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		if n <= failures {
			w.Header().Set("Retry-After-Ms", "50")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"success":false,"errors":[{"code":971,"message":"Please wait and consider throttling your request speed"}]}`)
			return
		}
		fmt.Fprint(w, `{"success":true,"errors":[],"messages":[],"result":{"enabled":true,"previews_enabled":false}}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func TestRetryMiddlewareRetriesThenSucceeds(t *testing.T) {
	srv, calls := flakyAPI(t, 2)
	e, err := New(Config{APIBaseURL: srv.URL + "/client/v4", APIToken: "t0ken", MaxRetries: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.setWorkersDev(context.Background(), strings.Repeat("a", 32), "w", true); err != nil {
		t.Fatalf("setWorkersDev after two 429s: %v", err)
	}
	if got := calls.Load(); got != 3 {
		t.Errorf("API saw %d calls, want 3 (two 429s, one success)", got)
	}
}

func TestRetryMiddlewareGivesUpWithClearError(t *testing.T) {
	srv, calls := flakyAPI(t, 100)
	e, err := New(Config{APIBaseURL: srv.URL + "/client/v4", APIToken: "t0ken", MaxRetries: 2})
	if err != nil {
		t.Fatal(err)
	}
	err = e.setWorkersDev(context.Background(), strings.Repeat("a", 32), "w", true)
	want := "giving up after 3 attempts: 429 Please wait and consider throttling your request speed (code 971)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error = %v, want it to contain %q", err, want)
	}
	var re *cfapi.RetryError
	if !errors.As(err, &re) || re.Attempts != 3 {
		t.Errorf("error is not a *RetryError with 3 attempts: %#v", err)
	}
	if got := calls.Load(); got != 3 {
		t.Errorf("API saw %d calls, want 3", got)
	}
}

func TestRetryMiddlewareRefusesLongRetryAfter(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Retry-After", "300")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"success":false,"errors":[{"code":971,"message":"rate limited"}]}`)
	}))
	defer srv.Close()
	e, err := New(Config{APIBaseURL: srv.URL, APIToken: "t0ken"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.accountSubdomain(context.Background(), "acc")
	if err == nil || !strings.Contains(err.Error(), "asks to wait 5m0s") {
		t.Fatalf("error = %v, want it to explain the long Retry-After", err)
	}
	if calls.Load() != 1 {
		t.Errorf("API saw %d calls, want 1 (no point retrying within the block)", calls.Load())
	}
}

func TestKeyFingerprint(t *testing.T) {
	const key = "secret-value-secret-value-secret-value"
	fp := NewKeyFingerprint("image-api", "API_KEY", key)
	if len(fp) != 32 || strings.Trim(fp, "0123456789abcdef") != "" {
		t.Fatalf("fingerprint %q is not 32 lowercase hex digits", fp)
	}
	if !FingerprintMatches(fp, "image-api", "API_KEY", key) {
		t.Error("a fingerprint does not match its own key")
	}
	if again := NewKeyFingerprint("image-api", "API_KEY", key); again == fp {
		t.Error("two fingerprints of one key are equal: the salt is not random")
	} else if again[fingerprintSaltBytes*2:] == fp[fingerprintSaltBytes*2:] {
		t.Error("two salts gave the same hash: the salt is not used")
	}
	for name, other := range map[string][3]string{
		"script":  {"other-api", "API_KEY", key},
		"binding": {"image-api", "OTHER_KEY", key},
		"key":     {"image-api", "API_KEY", key[:len(key)-1] + "f"},
	} {
		if FingerprintMatches(fp, other[0], other[1], other[2]) {
			t.Errorf("a different %s matches the fingerprint", name)
		}
	}
	for _, bad := range []string{"", fp[:12], strings.ToUpper(fp), fp + "0", "zz" + fp[2:]} {
		if FingerprintMatches(bad, "image-api", "API_KEY", key) {
			t.Errorf("malformed fingerprint %q matches", bad)
		}
	}
	if tag := keyTag("API_KEY", fp); tag != "ff-key-api-key-"+fp || strings.Trim(tag, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
		t.Errorf("key tag %q uses characters outside [a-z0-9-]", tag)
	}
}

// TestFingerprinterKeepsOneFingerprintPerKey: plan and apply (one engine) must show the same
// fingerprint for a key, and a key that matches the live tag keeps that tag.
func TestFingerprinterKeepsOneFingerprintPerKey(t *testing.T) {
	const key = "secret-value-secret-value-secret-value"
	f := newFingerprinter()
	first := f.forKey("image-api", "API_KEY", key)
	if again := f.forKey("image-api", "API_KEY", key); again != first {
		t.Errorf("forKey gave %s, then %s", first, again)
	}
	live := NewKeyFingerprint("text-api", "API_KEY", key)
	if !f.matches(live, "text-api", "API_KEY", key) || f.forKey("text-api", "API_KEY", key) != live {
		t.Error("a key matching its live fingerprint does not keep it")
	}
	if f.matches(live, "text-api", "API_KEY", key+"x") || f.matches("", "text-api", "API_KEY", key) {
		t.Error("a different key (or no fingerprint) matches")
	}
}

// BenchmarkFingerprintGuess is what one guess costs an attacker who holds a fingerprint from a
// tag, plan or log: one Argon2id derivation (docs/design/fingerprints.md quotes its result).
func BenchmarkFingerprintGuess(b *testing.B) {
	fp := NewKeyFingerprint("image-api", "API_KEY", "the-real-key-the-real-key-the-real-key")
	b.ReportAllocs()
	for b.Loop() {
		if FingerprintMatches(fp, "image-api", "API_KEY", "a-guessed-key-a-guessed-key-a-guessed") {
			b.Fatal("a wrong guess matched")
		}
	}
}

func TestGenerateKey(t *testing.T) {
	a, err := generateKey()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := generateKey()
	if len(a) != 43 || a == b {
		t.Errorf("generated keys %q, %q: want two different 43-char base64url strings", a, b)
	}
	if err := keysource.Check(a); err != nil {
		t.Errorf("a generated key breaks the key rule: %v", err)
	}
}

// testWorker is a spec worker with everything set, for diff tests.
func testWorker() spec.Worker {
	return spec.Worker{
		Key: "img", Name: "image-api", Main: "/dev/null",
		CompatibilityDate: "2025-06-01",
		AI:                &spec.AIBinding{Binding: "AI", Model: "@cf/stabilityai/stable-diffusion-xl-base-1.0"},
		APIKey:            &spec.KeySource{Binding: "API_KEY", From: keyFromEnv, Ref: "IMG_KEY"},
		Vars:              map[string]string{"MAX_PROMPT_CHARS": "1000"},
		WorkersDev:        true,
	}
}

func testBundle() *bundler.Result {
	return &bundler.Result{ModuleName: "worker.js", Code: []byte("export default {}"), Hash: strings.Repeat("ab", 32)}
}

// liveMatching is the live state a successful apply of testWorker leaves behind.
func liveMatching(w spec.Worker, key string) *liveWorker {
	fp := NewKeyFingerprint(w.Name, "API_KEY", key)
	return &liveWorker{
		exists:          true,
		compatDate:      w.CompatibilityDate,
		aiBindings:      []string{"AI"},
		vars:            map[string]string{"MAX_PROMPT_CHARS": "1000", modelVar: w.AI.Model},
		reservedVars:    map[string]string{"API_KEY_PREVIOUS_EXPIRES": "2099-01-01T00:00:00Z"},
		otherBindings:   map[string]string{},
		secrets:         map[string]bool{"API_KEY": true, "API_KEY_PREVIOUS": true},
		tags:            []string{managedTag, "ff-bundle-abababababababab", keyTag("API_KEY", fp), "team-x"},
		bundleTag:       "ff-bundle-abababababababab",
		keyFingerprints: map[string]string{"API_KEY": fp},
		workersDev:      true,
		versionID:       "v1",
	}
}

func testEngine(t *testing.T, key string) *Engine {
	t.Helper()
	e, err := New(Config{APIToken: "t", Getenv: func(name string) string {
		if name == "IMG_KEY" {
			return key
		}
		return ""
	}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestDiffMatchingLiveIsNoOp(t *testing.T) {
	w := testWorker()
	e := testEngine(t, "k1-0123456789abcdef0123456789abcdef")
	wp, err := e.diffWorker(w, testBundle(), liveMatching(w, "k1-0123456789abcdef0123456789abcdef"), "acme", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if wp.Action != ActionNoOp || len(wp.Changes) != 0 {
		t.Fatalf("plan = %s %+v, want no-op", wp.Action, wp.Changes)
	}
	if wp.URL != "https://image-api.acme.workers.dev" {
		t.Errorf("URL = %q", wp.URL)
	}
}

func TestDiffReportsEachDifference(t *testing.T) {
	w := testWorker()
	e := testEngine(t, "k2-0123456789abcdef0123456789abcdef") // the key changed too
	live := liveMatching(w, "k1-0123456789abcdef0123456789abcdef")
	live.vars["MAX_PROMPT_CHARS"] = "50"
	live.vars["DEBUG"] = "1"
	live.bundleTag = ""
	live.workersDev = false
	live.otherBindings["CACHE"] = "kv_namespace"
	wp, err := e.diffWorker(w, testBundle(), live, "acme", "", "")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Change{}
	for _, c := range wp.Changes {
		got[c.Path] = c
	}
	want := map[string]string{
		"code":                  OpChange,
		"vars.MAX_PROMPT_CHARS": OpChange,
		"vars.DEBUG":            OpRemove,
		"bindings.CACHE":        OpRemove,
		"secrets.API_KEY":       OpChange,
		"workers_dev":           OpChange,
	}
	if len(got) != len(want) {
		t.Errorf("changes = %+v, want paths %v", wp.Changes, want)
	}
	for path, op := range want {
		if got[path].Op != op {
			t.Errorf("change %s: op %q, want %q (all: %+v)", path, got[path].Op, op, wp.Changes)
		}
	}
	if wp.Action != ActionUpdate || !wp.desired.upload || !wp.desired.sendKey {
		t.Errorf("action %s upload %t sendKey %t, want update with upload and key", wp.Action, wp.desired.upload, wp.desired.sendKey)
	}
	if c := got["secrets.API_KEY"]; strings.Contains(c.Old+c.New, "k2") || !strings.HasPrefix(c.New, "(sensitive, changed") {
		t.Errorf("secret change %+v must show only fingerprints", c)
	}
	// Reserved rotation bindings are carried, never diffed; foreign tags are kept.
	if wp.desired.keepVars["API_KEY_PREVIOUS_EXPIRES"] != "2099-01-01T00:00:00Z" {
		t.Errorf("reserved var not carried over: %v", wp.desired.keepVars)
	}
	if tags := strings.Join(wp.desired.tags, ","); !strings.Contains(tags, "team-x") || !strings.Contains(tags, managedTag) {
		t.Errorf("upload tags %q lost the foreign tag or the managed marker", tags)
	}
}

func TestDiffGeneratedKeyOnlyWhenMissing(t *testing.T) {
	w := testWorker()
	w.APIKey = &spec.KeySource{Binding: "API_KEY", From: keyFromGenerate}
	e := testEngine(t, "")
	live := liveMatching(w, "whatever")
	wp, err := e.diffWorker(w, testBundle(), live, "acme", "", "")
	if err != nil || wp.Action != ActionNoOp {
		t.Fatalf("existing generated key: action %s, err %v; want no-op", wp.Action, err)
	}
	delete(live.secrets, "API_KEY")
	wp, err = e.diffWorker(w, testBundle(), live, "acme", "", "")
	if err != nil || len(wp.Changes) != 1 || wp.Changes[0].Path != "secrets.API_KEY" || !wp.desired.genKey {
		t.Fatalf("missing generated key: changes %+v err %v; want one secrets.API_KEY add", wp.Changes, err)
	}
}

func TestDiffCreateListsAdds(t *testing.T) {
	w := testWorker()
	wp, err := testEngine(t, "k1-0123456789abcdef0123456789abcdef").diffWorker(w, testBundle(), &liveWorker{}, "acme", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if wp.Action != ActionCreate {
		t.Fatalf("action %s, want create", wp.Action)
	}
	for _, c := range wp.Changes {
		if c.Op != OpAdd {
			t.Errorf("create change %+v is not an add", c)
		}
	}
	if wp.desired.workersDev == nil || !*wp.desired.workersDev {
		t.Error("create must enable workers.dev")
	}
}

func TestDiffMissingEnvKeyIsAnError(t *testing.T) {
	_, err := testEngine(t, "").diffWorker(testWorker(), testBundle(), &liveWorker{}, "acme", "", "")
	var ke *keySourceError
	if !errors.As(err, &ke) || !strings.Contains(err.Error(), "IMG_KEY") {
		t.Fatalf("err = %v, want a key source error naming IMG_KEY", err)
	}
}

func TestApplyRejectsPlanWithoutDesiredState(t *testing.T) {
	e := testEngine(t, "")
	p := &Plan{AccountID: "acc", Workers: []WorkerPlan{{Name: "image-api", Action: ActionUpdate}}}
	res, err := e.Apply(context.Background(), p, ApplyOptions{})
	if err == nil || !strings.Contains(err.Error(), "plan again") || res.Workers[0].Error == "" {
		t.Fatalf("Apply of a JSON-only plan: err %v, result %+v", err, res)
	}
}

func TestNetworkErrorsLeaveTheURLOut(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close() // drop every request without an answer
		}
	}))
	defer srv.Close()
	account := strings.Repeat("a", 32)
	e, err := New(Config{APIBaseURL: srv.URL + "/client/v4", APIToken: "t0ken", MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	err = e.setWorkersDev(context.Background(), account, "w", true)
	if err == nil || !strings.Contains(err.Error(), "network error: ") {
		t.Fatalf("error = %v, want a network error", err)
	}
	if strings.Contains(err.Error(), account) || strings.Contains(err.Error(), srv.URL) {
		t.Errorf("error repeats the request URL: %v", err)
	}
}
