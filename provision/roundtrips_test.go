package provision

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flareform/flareform/bundler"

	"github.com/flareform/flareform/localcf"
	"github.com/flareform/flareform/localcf/faults"
	"github.com/flareform/flareform/localcf/localcftest"
	"github.com/flareform/flareform/provision/spec"
)

// withLatency makes every API call of h's server take at least 150ms, so calls that overlap in
// time are told apart from calls that follow one another. The latency must dominate the local
// work between calls (bundling, the smoke test against workerd), as Cloudflare's does: at 40ms
// a smoke test slowed by a loaded machine outlasted a read meant to overlap it, and the count
// measured the machine's load instead of apply's order of calls.
func withLatency(t *testing.T, h *harness) {
	t.Helper()
	h.srv.SetFaults([]faults.Rule{{Path: "/client/v4/*", Kind: faults.KindLatency, LatencyMS: 150}}, 1)
	t.Cleanup(func() { h.srv.SetFaults(nil, 0) })
}

func versionReads(recs []localcf.RequestRecord) int {
	n := 0
	for _, r := range recs {
		if strings.Contains(r.Path, "/versions/") {
			n++
		}
	}
	return n
}

// A plan of an unchanged worker reads everything at once: one round trip. The annotation of
// the serving version comes from the version cache of the machine that deployed it; another
// machine reads it, one round trip more, and reaches the same plan.
func TestNoChangePlanIsOneRoundTrip(t *testing.T) {
	h := newHarness(t)
	s := specOf(imageWorker(t, "image-api", ""))
	h.deploy(t, s, ApplyOptions{SkipSmoke: true})
	withLatency(t, h)

	h.srv.ResetRequests()
	if p := h.plan(t, s); p.HasChanges() {
		t.Fatalf("plan after deploy has changes: %+v", p.Workers)
	}
	recs := h.srv.Requests()
	if rt := localcftest.RoundTrips(recs); rt != 1 {
		t.Errorf("no-change plan took %d sequential round trips, want 1: %+v", rt, recs)
	}
	if n := versionReads(recs); n != 0 {
		t.Errorf("no-change plan read %d versions, want 0 (this machine uploaded the serving one)", n)
	}

	other := newHarnessOn(t, h, func(c *Config) { c.VersionCacheDir = t.TempDir() })
	h.srv.ResetRequests()
	if p := other.plan(t, s); p.HasChanges() {
		t.Fatalf("plan on another machine has changes: %+v", p.Workers)
	}
	recs = h.srv.Requests()
	if rt := localcftest.RoundTrips(recs); rt != 2 {
		t.Errorf("no-change plan on a machine without the version cached took %d round trips, want 2", rt)
	}
	if n := versionReads(recs); n != 1 {
		t.Errorf("another machine read %d versions, want 1 (the serving one)", n)
	}
}

// A first deploy costs the reads (all at once), the upload, the workers.dev switch and, after
// the smoke test, the tested mark (a tags write, smokemark.go) and the deployments. When the
// upload's answer does not name the new version, the newest version is read during the switch
// and its annotation during the smoke test: the mark names the version only once that
// annotation says it is this run's, a round trip more here, where the smoke test against local
// workerd takes no time (against Cloudflare an image model's seconds hide it).
func TestFirstDeployRoundTrips(t *testing.T) {
	for _, tc := range []struct {
		name   string
		quirks localcf.Quirks
		want   int
	}{
		{"upload answer without the version id", localcf.Quirks{}, 6},
		{"upload answer with deployment_id", localcf.Quirks{DeploymentID: true}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.srv.SetQuirks(tc.quirks)
			withLatency(t, h)
			h.srv.ResetRequests()
			h.deploy(t, specOf(imageWorker(t, "image-api", "")), ApplyOptions{})
			if rt := localcftest.RoundTrips(h.srv.Requests()); rt > tc.want {
				t.Errorf("first deploy took %d sequential round trips, want at most %d: %+v", rt, tc.want, h.srv.Requests())
			}
		})
	}
}

// holdAnnotation is a transport that holds the read of one version's annotation (GET
// .../versions/{id}) until the deployments have been answered, then lets another party write
// (during) before the held read goes on: a write landing while that read is out.
type holdAnnotation struct {
	next         http.RoundTripper
	deployments  chan struct{} // closed once a deployments read has been answered
	once         sync.Once
	during       func()
	duringCalled atomic.Bool
	timedOut     atomic.Bool
}

var versionReadPath = regexp.MustCompile(`/workers/scripts/[^/]+/versions/[^/]+$`)

func (h *holdAnnotation) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet && versionReadPath.MatchString(r.URL.Path) && h.duringCalled.CompareAndSwap(false, true) {
		select {
		case <-h.deployments:
		case <-time.After(20 * time.Second): // code that reads the annotation first never answers the deployments meanwhile
			h.timedOut.Store(true)
		}
		h.during()
	}
	res, err := h.next.RoundTrip(r)
	if err == nil && r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/deployments") {
		h.once.Do(func() { close(h.deployments) })
	}
	return res, err
}

// When the upload's answer does not name the new version, the annotation that identifies it
// may still be on its way while the deployments are read after the smoke test. Another party's
// upload landing in that window must not go unseen: apply reads the deployments again and stops.
func TestWriteWhileTheAnnotationReadIsOutIsSeen(t *testing.T) {
	var hold *holdAnnotation
	h := newHarness(t, func(c *Config) {
		hold = &holdAnnotation{next: c.HTTPClient.Transport, deployments: make(chan struct{})}
		c.HTTPClient = &http.Client{Transport: hold, Timeout: c.HTTPClient.Timeout}
	})
	w := imageWorker(t, "image-api", "")
	bundled, err := bundler.Bundle(t.Context(), bundler.Options{Entry: w.Main})
	if err != nil {
		t.Fatal(err)
	}
	hold.during = func() {
		h.rawUpload(t, "image-api", bundled.Code, map[string]string{"MAX_PROMPT_CHARS": "7", "AI_MODEL": sdxl})
	}
	p := h.plan(t, specOf(w))
	keys := &pendingKeys{}
	res, err := h.eng.Apply(context.Background(), p, ApplyOptions{KeyStore: keys})
	if !errors.Is(err, ErrChanged) {
		t.Fatalf("apply while another party uploaded during the annotation read: %v, want ErrChanged", err)
	}
	keys.assertNoneLeaked(t, h.log.String(), p, res, err)
	if !hold.duringCalled.Load() || hold.timedOut.Load() {
		t.Fatalf("the window was not exercised: annotation read %t, deployments read while it was out %t",
			hold.duringCalled.Load(), !hold.timedOut.Load())
	}
}

// A plan that has aged (a long approval prompt, a saved plan) is checked against the worker
// before the upload: another run that created the worker meanwhile stops this one before
// anything is written.
func TestAgedPlanIsCheckedBeforeTheUpload(t *testing.T) {
	h := newHarness(t)
	s := specOf(imageWorker(t, "image-api", ""))
	p := h.plan(t, s)
	p.readAt = time.Now().Add(-time.Minute)

	other := newHarnessOn(t, h, func(c *Config) { c.VersionCacheDir = t.TempDir() })
	other.deploy(t, s, ApplyOptions{SkipSmoke: true})

	h.srv.ResetRequests()
	_, err := h.eng.Apply(context.Background(), p, ApplyOptions{SkipSmoke: true})
	if !errors.Is(err, ErrChanged) {
		t.Fatalf("apply of an aged plan after another run created the worker: %v, want ErrChanged", err)
	}
	if _, writes := h.apiCalls(); writes != 0 {
		t.Errorf("the aged plan's apply made %d writes, want 0", writes)
	}
}

// The version cache keys entries by API, account, script and version, and remembers which
// scripts this machine has seen.
func TestVersionCacheKeys(t *testing.T) {
	c := &versionCache{dir: t.TempDir()}
	if c.known("api", "acct", "w") {
		t.Fatal("an empty cache knows a script")
	}
	c.put("api", "acct", "w", "v1", "flareform msg")
	if msg, ok := c.get("api", "acct", "w", "v1"); !ok || msg != "flareform msg" {
		t.Errorf("get after put: %q, %t", msg, ok)
	}
	for _, k := range [][4]string{{"api2", "acct", "w", "v1"}, {"api", "acct2", "w", "v1"}, {"api", "acct", "w2", "v1"}, {"api", "acct", "w", "v2"}} {
		if _, ok := c.get(k[0], k[1], k[2], k[3]); ok {
			t.Errorf("entry found under another key %v", k)
		}
	}
	if !c.known("api", "acct", "w") || c.known("api", "acct", "w2") {
		t.Error("known: want only the script a version was cached of")
	}
	off := &versionCache{}
	off.put("api", "acct", "w", "v1", "m")
	if _, ok := off.get("api", "acct", "w", "v1"); ok {
		t.Error("a disabled cache returned an entry")
	}
}

// A key flareform generated gets the fast fingerprint scheme, which matches only that key on
// that script and binding; a key a person chose keeps Argon2id's.
func TestGeneratedKeysGetTheFastFingerprint(t *testing.T) {
	key, err := generateKey()
	if err != nil {
		t.Fatal(err)
	}
	fp := NewGeneratedKeyFingerprint("w", "API_KEY", key)
	if len(fp) != 1+fingerprintHexLen || !strings.HasPrefix(fp, generatedFingerprintPrefix) {
		t.Fatalf("generated-key fingerprint %q: want %q and %d hex digits", fp, generatedFingerprintPrefix, fingerprintHexLen)
	}
	if !FingerprintMatches(fp, "w", "API_KEY", key) {
		t.Error("the fingerprint does not match its key")
	}
	for _, c := range [][3]string{{"w2", "API_KEY", key}, {"w", "OTHER", key}, {"w", "API_KEY", key + "x"}} {
		if FingerprintMatches(fp, c[0], c[1], c[2]) {
			t.Errorf("the fingerprint matches %v", c)
		}
	}
	if FingerprintMatches(strings.TrimPrefix(fp, generatedFingerprintPrefix), "w", "API_KEY", key) {
		t.Error("the fingerprint without its mark matches as an Argon2id one")
	}

	h := newHarness(t)
	h.env["CHOSEN_KEY"] = "a-key-a-person-chose-and-typed-in-1234"
	p, res := h.deploy(t, specOf(imageWorker(t, "gen", ""), imageWorker(t, "chosen", "CHOSEN_KEY")), ApplyOptions{SkipSmoke: true})
	assertNoSecret(t, h.env["CHOSEN_KEY"], h.log.String(), p, res)
	for _, w := range res.Workers {
		generated := strings.HasPrefix(w.KeyFingerprint, generatedFingerprintPrefix)
		if generated != (w.Name == "gen") {
			t.Errorf("%s: fingerprint %q, fast scheme %t, want it only for the generated key", w.Name, w.KeyFingerprint, generated)
		}
	}
}

// Another party sets the worker's key (as `wrangler secret put` does) after this run's plan read
// it and before its upload, which the fresh plan no longer re-reads: apply finds the other
// version in the deployment history, deploys it again and stops. The next apply must not take
// the script's tags (its own undeployed upload's) for the serving version's key: it sends the
// spec's key again and keeps the other party's key, which its clients now hold, as the previous
// one for the grace window.
func TestApplyAfterAnotherKeyWasRestoredKeepsThatKey(t *testing.T) {
	// Under each reading the tags, secrets and the upload's answer can have.
	for name, quirks := range map[string]localcf.Quirks{
		"strict": {}, "script_tags_replace": {ScriptTagsReplace: true},
		"implicit_secret_retention": {ImplicitSecretRetention: true}, "deployment_id": {DeploymentID: true},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			h.srv.SetQuirks(quirks)
			oldKey, newKey := "first-env-key-0123456789abcdefghijkl", "second-env-key-0123456789abcdefghijk"
			theirKey := "their-key-0123456789abcdefghijklmnopqrs"
			h.env["IMG_KEY"] = oldKey
			w := imageWorker(t, "image-api", "IMG_KEY")
			h.deploy(t, specOf(w), ApplyOptions{SkipSmoke: true})

			h.env["IMG_KEY"] = newKey
			p := h.plan(t, specOf(w))
			h.putSecret(t, "image-api", "API_KEY", theirKey)
			// The key being replaced is sent as API_KEY_PREVIOUS: the caller names it.
			held := func(keys ...string) func(spec.Worker) []string { return func(spec.Worker) []string { return keys } }
			if _, err := h.eng.Apply(context.Background(), p, ApplyOptions{KeyCandidates: held(oldKey)}); !errors.Is(err, ErrChanged) {
				t.Fatalf("apply over another party's key change: %v, want ErrChanged", err)
			}
			if got := h.post(t, "image-api", theirKey); got != http.StatusOK {
				t.Fatalf("their key gets %d after the run put their version back, want 200", got)
			}

			// Their version carries no key fingerprint flareform can read: keeping their key
			// for the grace window takes the caller naming it.
			p, res := h.deploy(t, specOf(w), ApplyOptions{KeyCandidates: held(theirKey)})
			for _, k := range []struct{ name, key string }{{"the spec's key", newKey}, {"their key, in its grace window", theirKey}} {
				if got := h.post(t, "image-api", k.key); got != http.StatusOK {
					t.Errorf("%s gets %d after the re-run, want 200", k.name, got)
				}
			}
			for _, key := range []string{oldKey, newKey, theirKey} {
				assertNoSecret(t, key, h.log.String(), p, res)
			}
		})
	}
}

// putSecret sets a secret through the API, as `wrangler secret put` does.
func (h *harness) putSecret(t *testing.T, script, name, value string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"name": name, "text": value, "type": "secret_text"})
	h.rawJSON(t, http.MethodPut, h.srv.APIBaseURL()+"/accounts/"+h.srv.AccountID()+"/workers/scripts/"+script+"/secrets", string(body))
}
