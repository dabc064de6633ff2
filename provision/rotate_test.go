package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flareform/flareform/localcf"
	"github.com/flareform/flareform/provision/spec"
)

// rotateFixture is a deployed text-to-image worker with a generated key.
type rotateFixture struct {
	*harness
	spec   *spec.Spec
	name   string
	oldKey string
}

func newRotateFixture(t *testing.T, tune ...func(*Config)) *rotateFixture {
	t.Helper()
	h := newHarness(t, tune...)
	s := specOf(imageWorker(t, "image-api", ""))
	_, res := h.deploy(t, s, ApplyOptions{SkipSmoke: true})
	key := res.Workers[0].GeneratedKey
	if key == "" {
		t.Fatal("deploy generated no key")
	}
	return &rotateFixture{harness: h, spec: s, name: "image-api", oldKey: key}
}

// keyFile hands keys over the way --key-out does: into a 0600 file.
type keyFile struct {
	path  string
	calls int
	fail  error // returned instead of writing, when set
}

func (k *keyFile) handover(_ context.Context, key string, _ *RotateResult) error {
	k.calls++
	if k.fail != nil {
		return k.fail
	}
	return os.WriteFile(k.path, []byte(key+"\n"), 0o600)
}

func (k *keyFile) key(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(k.path)
	if err != nil {
		t.Fatalf("read handed-over key: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// held is the file's key, "" when the file does not exist yet.
func (k *keyFile) held() []string {
	b, err := os.ReadFile(k.path)
	if err != nil {
		return nil
	}
	return []string{strings.TrimSpace(string(b))}
}

func (f *rotateFixture) rotate(t *testing.T, opts RotateOptions) (*RotateResult, error) {
	t.Helper()
	opts.Name = f.name
	opts.Smoke = f.spec.Workers[0].Smoke
	return f.eng.RotateKey(context.Background(), opts)
}

func (f *rotateFixture) mustRotate(t *testing.T, opts RotateOptions) *RotateResult {
	t.Helper()
	res, err := f.rotate(t, opts)
	if err != nil {
		t.Fatalf("rotate-key (%s): %v\nlog:\n%s", opts.Mode, err, f.log)
	}
	return res
}

func (f *rotateFixture) state(t *testing.T) *rotationState {
	t.Helper()
	st, err := f.eng.readRotation(context.Background(), f.srv.AccountID(), f.name)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (f *rotateFixture) wantStatus(t *testing.T, what, key string, want int) {
	t.Helper()
	if got := f.post(t, f.name, key); got != want {
		t.Errorf("%s: status %d, want %d", what, got, want)
	}
}

// assertKeysHidden fails when any key shows up in the log or the result's JSON.
func assertKeysHidden(t *testing.T, log string, res *RotateResult, keys ...string) {
	t.Helper()
	js, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k == "" {
			continue
		}
		if strings.Contains(log, k) {
			t.Errorf("a key appears in the log")
		}
		if strings.Contains(string(js), k) {
			t.Errorf("a key appears in the result JSON: %s", js)
		}
	}
}

func TestRotateKeepsOldKeyUntilFinish(t *testing.T) {
	f := newRotateFixture(t)
	kf := &keyFile{path: filepath.Join(t.TempDir(), "key")}
	res := f.mustRotate(t, RotateOptions{Mode: RotateStart, OldKey: f.oldKey, Handover: kf.handover})
	newKey := kf.key(t)

	if res.Action != rotateActionRotated || res.Phase != PhaseRotating || !res.HandedOver || !res.Generated {
		t.Errorf("result %+v, want a handed-over rotation in phase rotating", res)
	}
	if res.NewKey != newKey || len(newKey) < 43 {
		t.Errorf("handed-over key differs from the result's, or is short (%d chars)", len(newKey))
	}
	if !FingerprintMatches(res.KeyFingerprint, f.name, "API_KEY", newKey) ||
		!FingerprintMatches(res.PreviousFingerprint, f.name, "API_KEY", f.oldKey) {
		t.Errorf("fingerprints %q/%q do not match the new/old key", res.KeyFingerprint, res.PreviousFingerprint)
	}
	expires, err := time.Parse(time.RFC3339, res.PreviousExpires)
	if err != nil || expires.Sub(time.Now()) < 23*time.Hour || expires.Sub(time.Now()) > 25*time.Hour {
		t.Errorf("previous key expires %q, want about 24h from now", res.PreviousExpires)
	}
	for _, c := range res.Checks {
		if !c.Passed {
			t.Errorf("check %+v did not pass", c)
		}
	}
	f.wantStatus(t, "new key during rotation", newKey, http.StatusOK)
	f.wantStatus(t, "old key during rotation", f.oldKey, http.StatusOK)
	st := f.state(t)
	if st.pendingFP != "" || !st.hasPrevious || !st.hasExpires {
		t.Errorf("live state after rotation: %+v", st)
	}

	// Plan and apply leave a pending rotation alone.
	p := f.plan(t, f.spec)
	if p.HasChanges() {
		t.Errorf("plan after rotation has changes: %+v", p.Workers[0].Changes)
	}
	if until, ok := p.Workers[0].PendingRotation(); !ok || until != res.PreviousExpires || p.Workers[0].KeyRotationUntil != until || p.Workers[0].ChangesKeyDuringRotation() {
		t.Errorf("plan does not show the pending rotation: %q %t, key_rotation_until %q", until, ok, p.Workers[0].KeyRotationUntil)
	}
	s2 := specOf(imageWorker(t, f.name, ""))
	s2.Workers[0].Vars["MAX_PROMPT_CHARS"] = "500"
	f.deploy(t, s2, ApplyOptions{Keys: map[string]string{f.name: newKey}})
	f.wantStatus(t, "old key after an apply", f.oldKey, http.StatusOK)
	f.wantStatus(t, "new key after an apply", newKey, http.StatusOK)

	fin := f.mustRotate(t, RotateOptions{Mode: RotateFinish, NewKey: newKey, OldKey: f.oldKey})
	if fin.Action != rotateActionFinished || fin.Phase != PhaseStable || fin.PreviousFingerprint != "" {
		t.Errorf("finish result %+v", fin)
	}
	for _, c := range fin.Checks {
		if !c.Passed {
			t.Errorf("finish check %+v did not pass", c)
		}
	}
	f.wantStatus(t, "old key after finish", f.oldKey, http.StatusUnauthorized)
	f.wantStatus(t, "new key after finish", newKey, http.StatusOK)
	st = f.state(t)
	if st.hasPrevious || liveExpiry(st) || st.prevFP != "" || st.pendingFP != "" {
		t.Errorf("live state after finish: %+v", st)
	}
	p = f.plan(t, s2)
	if _, pending := p.Workers[0].PendingRotation(); p.HasChanges() || pending || p.Workers[0].KeyRotationUntil != "" {
		t.Errorf("plan after finish: changes %+v, rotation pending %t", p.Workers[0].Changes, pending)
	}

	// Finishing again changes nothing.
	f.srv.ResetRequests()
	again := f.mustRotate(t, RotateOptions{Mode: RotateFinish, NewKey: newKey, OldKey: f.oldKey})
	if _, writes := f.apiCalls(); writes != 0 || again.Action != rotateActionUnchanged {
		t.Errorf("second finish: action %s, %d write calls", again.Action, writes)
	}
	assertKeysHidden(t, f.log.String(), res, f.oldKey)
	assertKeysHidden(t, f.log.String(), fin, f.oldKey, newKey)
	if strings.Contains(f.log.String(), newKey) {
		t.Error("the new key appears in the log")
	}
}

func TestRotatePreviousKeyExpiresWithoutAnyCommand(t *testing.T) {
	f := newRotateFixture(t)
	kf := &keyFile{path: filepath.Join(t.TempDir(), "key")}
	f.mustRotate(t, RotateOptions{Mode: RotateStart, Grace: 4 * time.Second, OldKey: f.oldKey, Handover: kf.handover})
	newKey := kf.key(t)
	st := f.state(t)
	deadline, err := time.Parse(time.RFC3339, st.expires)
	if err != nil {
		t.Fatalf("expiry %q: %v", st.expires, err)
	}
	time.Sleep(time.Until(deadline.Add(200 * time.Millisecond)))
	f.srv.ResetRequests()
	f.wantStatus(t, "old key after its expiry", f.oldKey, http.StatusUnauthorized)
	f.wantStatus(t, "new key after the old one expired", newKey, http.StatusOK)
	if total, _ := f.apiCalls(); total != 0 {
		t.Errorf("%d API calls while waiting for the expiry", total)
	}
	if !f.state(t).hasPrevious {
		t.Error("the previous key binding vanished: the worker alone must enforce the window")
	}
}

func TestRotateRevokeKillsEveryOtherKeyAtOnce(t *testing.T) {
	f := newRotateFixture(t)
	kf := &keyFile{path: filepath.Join(t.TempDir(), "key")}
	f.mustRotate(t, RotateOptions{Mode: RotateStart, OldKey: f.oldKey, Handover: kf.handover})
	leaked := kf.key(t) // the current key leaks while the first key is still in its window

	res := f.mustRotate(t, RotateOptions{Mode: RotateRevoke, KnownKeys: kf.held(), Handover: kf.handover})
	newKey := kf.key(t)
	if newKey == leaked || res.Action != rotateActionRevoked || res.Phase != PhaseStable || !res.HandedOver {
		t.Fatalf("revoke result %+v", res)
	}
	f.wantStatus(t, "leaked key right after revoke", leaked, http.StatusUnauthorized)
	f.wantStatus(t, "first key right after revoke", f.oldKey, http.StatusUnauthorized)
	f.wantStatus(t, "new key after revoke", newKey, http.StatusOK)
	var sawOld bool
	for _, c := range res.Checks {
		if !c.Passed {
			t.Errorf("revoke check %+v did not pass", c)
		}
		sawOld = sawOld || c.Name == "old key rejected"
	}
	if !sawOld {
		t.Error("revoke did not check the old key, though the key file held it")
	}
	st := f.state(t)
	if st.hasPrevious || liveExpiry(st) || st.pendingFP != "" {
		t.Errorf("live state after revoke: %+v", st)
	}
	assertKeysHidden(t, f.log.String(), res, leaked, f.oldKey)
}

func TestRotateRerunReplacesKeyThatWasNeverHandedOver(t *testing.T) {
	f := newRotateFixture(t)
	lost := ""
	_, err := f.rotate(t, RotateOptions{Mode: RotateStart, OldKey: f.oldKey,
		Handover: func(_ context.Context, key string, _ *RotateResult) error {
			lost = key // the process "dies" before the key reaches anyone
			return errors.New("stdout closed")
		}})
	if err == nil || lost == "" {
		t.Fatalf("first run: err %v, key deployed %t", err, lost != "")
	}
	if strings.Contains(err.Error(), lost) {
		t.Error("the error shows the key")
	}
	if st := f.state(t); !st.pendingKey() {
		t.Fatalf("after a failed handover the key should be marked pending: %+v", st)
	}
	f.wantStatus(t, "old key while the new one is pending", f.oldKey, http.StatusOK)

	kf := &keyFile{path: filepath.Join(t.TempDir(), "key")}
	res := f.mustRotate(t, RotateOptions{Mode: RotateStart, OldKey: f.oldKey, Handover: kf.handover})
	newKey := kf.key(t)
	if res.Action != rotateActionReplaced || newKey == lost {
		t.Fatalf("re-run: action %s, key replaced %t", res.Action, newKey != lost)
	}
	f.wantStatus(t, "old key after the re-run", f.oldKey, http.StatusOK)
	f.wantStatus(t, "new key after the re-run", newKey, http.StatusOK)
	f.wantStatus(t, "key that was never handed over", lost, http.StatusUnauthorized)
	if st := f.state(t); st.pendingFP != "" || !FingerprintMatches(st.prevFP, f.name, "API_KEY", f.oldKey) {
		t.Errorf("state after re-run: %+v", st)
	}
}

func TestRotateRerunResumesWhenKeyFileHoldsDeployedKey(t *testing.T) {
	f := newRotateFixture(t, func(c *Config) { c.MaxRetries = -1 })
	kf := &keyFile{path: filepath.Join(t.TempDir(), "key")}
	// The key reaches the file, but recording the handover fails.
	f.srv.SetFaults([]localcf.FaultRule{{Path: "*/script-settings", Method: "PATCH", Kind: "503"}}, 1)
	if _, err := f.rotate(t, RotateOptions{Mode: RotateStart, OldKey: f.oldKey, Handover: kf.handover}); err == nil {
		t.Fatal("rotation succeeded although recording the handover failed")
	}
	handed := kf.key(t)
	f.srv.SetFaults(nil, 1)
	f.srv.ResetRequests()
	res := f.mustRotate(t, RotateOptions{Mode: RotateStart, KnownKeys: kf.held(), Handover: kf.handover})
	if res.Action != rotateActionResumed || kf.key(t) != handed {
		t.Fatalf("re-run: action %s, same key %t", res.Action, kf.key(t) == handed)
	}
	for _, r := range f.srv.Requests() {
		if r.Method == http.MethodPatch && strings.HasSuffix(r.Path, "/settings") {
			t.Errorf("the resumed run deployed again: %s %s", r.Method, r.Path)
		}
	}
	f.wantStatus(t, "handed-over key", handed, http.StatusOK)
	f.wantStatus(t, "old key", f.oldKey, http.StatusOK)
}

// lossyTransport loses the response of the first request matching method and path suffix
// after the server has handled it, the worst case for a non-idempotent call.
type lossyTransport struct {
	base   http.RoundTripper
	method string
	suffix string
	lost   atomic.Int32
}

func (l *lossyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := l.base.RoundTrip(req)
	if err == nil && req.Method == l.method && strings.HasSuffix(req.URL.Path, l.suffix) && l.lost.Add(1) == 1 {
		res.Body.Close()
		return nil, errors.New("connection reset by peer (injected after the server answered)")
	}
	return res, err
}

func TestRotateRetryAfterLostResponseKeepsOldKey(t *testing.T) {
	lossy := &lossyTransport{base: http.DefaultTransport, method: http.MethodPatch, suffix: "/settings"}
	f := newRotateFixture(t, func(c *Config) { c.HTTPClient = &http.Client{Transport: lossy, Timeout: time.Minute} })
	kf := &keyFile{path: filepath.Join(t.TempDir(), "key")}
	f.mustRotate(t, RotateOptions{Mode: RotateStart, OldKey: f.oldKey, Handover: kf.handover})
	if lossy.lost.Load() < 2 {
		t.Fatalf("the settings PATCH was not retried (%d attempts)", lossy.lost.Load())
	}
	// The retried PATCH must copy the key of the pinned version again, not the new key.
	f.wantStatus(t, "old key after a retried deploy", f.oldKey, http.StatusOK)
	f.wantStatus(t, "new key after a retried deploy", kf.key(t), http.StatusOK)
}

func TestRotateRefusesWorkerWithoutKeyOrWorkersDev(t *testing.T) {
	f := newRotateFixture(t)
	if _, err := f.eng.RotateKey(context.Background(), RotateOptions{Name: "nope"}); err == nil ||
		!strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing worker: %v", err)
	}
	off := specOf(imageWorker(t, f.name, ""))
	off.Workers[0].WorkersDev = false
	f.deploy(t, off, ApplyOptions{SkipSmoke: true})
	f.srv.ResetRequests()
	if _, err := f.rotate(t, RotateOptions{Mode: RotateStart}); err == nil || !strings.Contains(err.Error(), "workers.dev") {
		t.Errorf("workers.dev off: %v", err)
	}
	if _, writes := f.apiCalls(); writes != 0 {
		t.Errorf("a refused rotation made %d write calls", writes)
	}
}

// TestRotateUnderLoad is the acceptance test: two clients never see a failure while a rotation
// and its finish run; afterwards the old key gets 401 and the new one 200.
func TestRotateUnderLoad(t *testing.T) {
	f := newRotateFixture(t)
	kf := &keyFile{path: filepath.Join(t.TempDir(), "key")}
	var handed atomic.Value // string: the new key, once handed over
	handover := func(ctx context.Context, key string, r *RotateResult) error {
		if err := kf.handover(ctx, key, r); err != nil {
			return err
		}
		handed.Store(key)
		return nil
	}
	var oldOK, newOK atomic.Int64
	var mu sync.Mutex
	var failures []string
	client := &http.Client{Timeout: 30 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	send := func(key string) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+f.srv.WorkersDevAddr()+"/", strings.NewReader(`{"prompt":"load"}`))
		req.Host = f.name + "." + f.srv.Subdomain() + ".workers.dev"
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := client.Do(req)
		if err != nil {
			return -1
		}
		defer res.Body.Close()
		_, _ = io.Copy(io.Discard, res.Body)
		return res.StatusCode
	}
	var wg sync.WaitGroup
	loop := func(name string, stop <-chan struct{}, keyOf func() string, ok *atomic.Int64) {
		defer wg.Done()
		for i := 0; i < 20000; i++ { // bounded; stop ends it long before
			select {
			case <-stop:
				return
			default:
			}
			key := keyOf()
			if key == "" {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			if status := send(key); status == http.StatusOK {
				ok.Add(1)
			} else {
				mu.Lock()
				failures = append(failures, fmt.Sprintf("%s: status %d", name, status))
				mu.Unlock()
			}
		}
	}
	// waitFor lets the clients make at least n more successful requests each (bounded).
	waitFor := func(n int64, counters ...*atomic.Int64) {
		t.Helper()
		base := make([]int64, len(counters))
		for i, c := range counters {
			base[i] = c.Load()
		}
		deadline := time.Now().Add(60 * time.Second)
		for i, c := range counters {
			for c.Load() < base[i]+n {
				if time.Now().After(deadline) {
					mu.Lock()
					defer mu.Unlock()
					t.Fatalf("clients made too few successful requests (failures so far: %v)", failures)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	}

	stop := make(chan struct{})
	wg.Add(2)
	go loop("old-key client", stop, func() string { return f.oldKey }, &oldOK)
	go loop("new-key client", stop, func() string { s, _ := handed.Load().(string); return s }, &newOK)
	waitFor(3, &oldOK)
	f.mustRotate(t, RotateOptions{Mode: RotateStart, OldKey: f.oldKey, Handover: handover})
	waitFor(3, &oldOK, &newOK) // both clients inside the window
	close(stop)
	wg.Wait()
	newKey, _ := handed.Load().(string)

	// Finish under load from the new-key client only: the old key is meant to die now.
	stop = make(chan struct{})
	wg.Add(1)
	go loop("new-key client during finish", stop, func() string { return newKey }, &newOK)
	waitFor(1, &newOK)
	f.mustRotate(t, RotateOptions{Mode: RotateFinish, NewKey: newKey, OldKey: f.oldKey})
	waitFor(3, &newOK)
	close(stop)
	wg.Wait()

	if len(failures) > 0 {
		t.Errorf("%d failed requests during the window, first: %s", len(failures), failures[0])
	}
	t.Logf("old-key client: %d ok; new-key client: %d ok", oldOK.Load(), newOK.Load())
	f.wantStatus(t, "old key after finish", f.oldKey, http.StatusUnauthorized)
	f.wantStatus(t, "new key after finish", newKey, http.StatusOK)
}

// faultStep is one API call of a rotation, made to fail for good (no retries).
type faultStep struct {
	name   string
	rule   localcf.FaultRule
	mode   RotateMode
	rotate bool // rotate first (without faults), so finish has something to finish
}

func rotateFaultSteps() []faultStep {
	reads := []faultStep{
		{name: "read settings", rule: localcf.FaultRule{Path: "*/scripts/image-api/settings", Method: "GET"}},
		{name: "read deployments", rule: localcf.FaultRule{Path: "*/scripts/image-api/deployments", Method: "GET"}},
		{name: "read account subdomain", rule: localcf.FaultRule{Path: "*/workers/subdomain", Method: "GET"}},
		{name: "read workers.dev state", rule: localcf.FaultRule{Path: "*/scripts/image-api/subdomain", Method: "GET"}},
	}
	writes := []faultStep{
		{name: "deploy", rule: localcf.FaultRule{Path: "*/settings", Method: "PATCH"}},
		{name: "record handover", rule: localcf.FaultRule{Path: "*/script-settings", Method: "PATCH"}},
		{name: "delete previous", rule: localcf.FaultRule{Path: "*/secrets/API_KEY_PREVIOUS", Method: "DELETE"}},
		{name: "remove expiry", rule: localcf.FaultRule{Path: "*/settings", Method: "PATCH"}},
	}
	var steps []faultStep
	for _, mode := range []RotateMode{RotateStart, RotateFinish, RotateRevoke} {
		for _, s := range append(reads[:len(reads):len(reads)], writes...) {
			s.mode, s.rotate = mode, mode != RotateStart
			switch {
			case mode == RotateStart && (s.name == "delete previous" || s.name == "remove expiry"):
				continue // a rotation makes neither call
			case mode == RotateFinish && (s.name == "deploy" || s.name == "record handover"):
				continue
			case mode == RotateRevoke && s.name == "remove expiry":
				// The second settings PATCH of a revoke: let the deploy through first.
				s.rule.Skip = 1
			}
			s.rule.Kind = "503"
			steps = append(steps, s)
		}
	}
	return steps
}

// TestRotateFaultAtEachStepThenRerunConverges fails each API call of rotate, finish and revoke in
// turn. After the failed run at least one key that a client holds still works; re-running the
// same command converges and the handed-over key works.
func TestRotateFaultAtEachStepThenRerunConverges(t *testing.T) {
	for _, step := range rotateFaultSteps() {
		t.Run(string(step.mode)+"/"+step.name, func(t *testing.T) {
			f := newRotateFixture(t, func(c *Config) { c.MaxRetries = -1; c.SmokeWait = 5 * time.Second })
			kf := &keyFile{path: filepath.Join(t.TempDir(), "key")}
			if err := os.WriteFile(kf.path, []byte(f.oldKey+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			clientKey := f.oldKey // what clients use before the command under test
			if step.rotate {
				f.mustRotate(t, RotateOptions{Mode: RotateStart, KnownKeys: kf.held(), Handover: kf.handover})
				clientKey = kf.key(t)
			}
			opts := func() RotateOptions {
				o := RotateOptions{Mode: step.mode, KnownKeys: kf.held(), Handover: kf.handover}
				if step.mode == RotateFinish {
					o.NewKey = clientKey
				}
				return o
			}
			f.srv.SetFaults([]localcf.FaultRule{step.rule}, 1)
			res, err := f.rotate(t, opts())
			if err == nil {
				t.Fatalf("the run with a failing %s succeeded: %+v", step.name, res)
			}
			f.srv.SetFaults(nil, 1)
			if step.mode != RotateRevoke {
				// A revoke is meant to kill the old key; anything else keeps it working.
				f.wantStatus(t, "client key after the failed run", clientKey, http.StatusOK)
			}
			res = f.mustRotate(t, opts())
			handed := kf.key(t)
			f.wantStatus(t, "handed-over key after the re-run", handed, http.StatusOK)
			st := f.state(t)
			if st.pendingFP != "" || !FingerprintMatches(st.keyFP, f.name, "API_KEY", handed) {
				t.Errorf("state after the re-run: %+v", st)
			}
			switch step.mode {
			case RotateStart:
				f.wantStatus(t, "old key during the window", f.oldKey, http.StatusOK)
			case RotateFinish, RotateRevoke:
				f.wantStatus(t, "retired key", f.oldKey, http.StatusUnauthorized)
				if st.hasPrevious || liveExpiry(st) {
					t.Errorf("previous key left behind: %+v", st)
				}
			}
			if step.mode == RotateRevoke {
				f.wantStatus(t, "revoked key", clientKey, http.StatusUnauthorized)
			}
			assertKeysHidden(t, f.log.String(), res, f.oldKey, handed)
		})
	}
}

// TestApplyAfterWindowFinishesRotation: once the grace window has passed, plan shows the
// previous key's removal and apply performs it; the next plan is empty again.
func TestApplyAfterWindowFinishesRotation(t *testing.T) {
	f := newRotateFixture(t)
	kf := &keyFile{path: filepath.Join(t.TempDir(), "key")}
	f.mustRotate(t, RotateOptions{Mode: RotateStart, Grace: 2 * time.Second, OldKey: f.oldKey, Handover: kf.handover})
	newKey := kf.key(t)
	ctx := context.Background()

	// Inside the window apply leaves the rotation alone.
	p, err := f.eng.Plan(ctx, f.spec)
	if err != nil {
		t.Fatal(err)
	}
	if p.HasChanges() {
		t.Fatalf("plan inside the rotation window has changes: %+v", p.Workers[0].Changes)
	}
	if got := p.Workers[0].KeyRotationUntil; got != f.state(t).expires || got == "" {
		t.Fatalf("plan shows the rotation window until %q, want %q", got, f.state(t).expires)
	}

	deadline, err := time.Parse(time.RFC3339, f.state(t).expires)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(deadline.Add(200 * time.Millisecond)))
	p, err = f.eng.Plan(ctx, f.spec)
	if err != nil {
		t.Fatal(err)
	}
	ch := p.Workers[0].Changes
	if len(ch) != 1 || ch[0].Path != "secrets."+RotationPreviousBinding || ch[0].Op != OpRemove {
		t.Fatalf("plan after the window = %+v; want exactly the removal of %s", ch, RotationPreviousBinding)
	}
	if _, err := f.eng.Apply(ctx, p, ApplyOptions{Keys: map[string]string{"image-api": newKey}}); err != nil {
		t.Fatalf("apply after the window: %v\nlog:\n%s", err, f.log)
	}
	st := f.state(t)
	if st.hasPrevious || liveExpiry(st) {
		t.Fatalf("after apply: previous key present=%v, expiry present=%v; want both gone", st.hasPrevious, st.hasExpires)
	}
	f.wantStatus(t, "old key after apply", f.oldKey, http.StatusUnauthorized)
	f.wantStatus(t, "new key after apply", newKey, http.StatusOK)
	if p, err = f.eng.Plan(ctx, f.spec); err != nil || p.HasChanges() {
		t.Fatalf("plan after finishing: changes=%v err=%v; want none", p != nil && p.HasChanges(), err)
	}
}

// liveExpiry reports an API_KEY_PREVIOUS_EXPIRES that should be gone: present and not the inert
// leftover that an API merging settings PATCHes keeps (rotate_expiry.go).
func liveExpiry(st *rotationState) bool {
	return st.hasExpires && !st.expiryInert()
}

// Whether the API renames a secret through an inherit binding's old_name is UNCONFIRMED
// (cloudflare-operations.md 8.4; quirk secret_rename_inherit). A rotation therefore sends the old
// key's value as API_KEY_PREVIOUS, so rotate-key and apply's env-key rotation work under both
// readings, and no request carries old_name. A rotation that does not hold the current key stops
// before any write and says how to pass it.
func TestRotationUnderBothSecretRenameReadings(t *testing.T) {
	for _, lenient := range []bool{false, true} {
		t.Run(map[bool]string{false: "strict", true: "secret_rename_inherit"}[lenient], func(t *testing.T) {
			rec := &recordingTransport{next: http.DefaultTransport}
			f := newRotateFixture(t, func(c *Config) { c.HTTPClient = &http.Client{Transport: rec, Timeout: 2 * time.Minute} })
			f.srv.SetQuirks(localcf.Quirks{SecretRenameInherit: lenient})
			kf := &keyFile{path: filepath.Join(t.TempDir(), "key")}

			f.srv.ResetRequests()
			for _, opts := range []RotateOptions{
				{Mode: RotateStart, Handover: kf.handover},
				{Mode: RotateStart, OldKey: "not-the-live-key-0123456789abcdefghijk", Handover: kf.handover},
			} {
				_, err := f.rotate(t, opts)
				if !errors.Is(err, ErrOldKeyUnknown) || !strings.Contains(err.Error(), "--old-key-file") || !strings.Contains(err.Error(), "nothing was changed") {
					t.Errorf("rotation without the current key (old key %q): %v, want ErrOldKeyUnknown asking for --old-key-file", opts.OldKey, err)
				}
			}
			if _, writes := f.apiCalls(); writes != 0 || kf.calls != 0 {
				t.Fatalf("refused rotations made %d writes and %d hand-overs", writes, kf.calls)
			}
			f.wantStatus(t, "old key after the refusals", f.oldKey, http.StatusOK)

			// Known from a key the caller holds (the key store, a key file): by fingerprint.
			f.mustRotate(t, RotateOptions{Mode: RotateStart, KnownKeys: []string{f.oldKey}, Handover: kf.handover})
			second := kf.key(t)
			f.wantStatus(t, "old key in its window", f.oldKey, http.StatusOK)
			f.wantStatus(t, "new key", second, http.StatusOK)
			// A second rotation in the window, asked to drop the previous key, keeps the second key
			// and drops the first (without DropPrevious it is refused: TestRotateRefusedWhileRotationInProgress).
			res := f.mustRotate(t, RotateOptions{Mode: RotateStart, OldKey: second, DropPrevious: true, Handover: kf.handover})
			third := kf.key(t)
			f.wantStatus(t, "second key in its window", second, http.StatusOK)
			f.wantStatus(t, "third key", third, http.StatusOK)
			f.wantStatus(t, "first key after the second rotation", f.oldKey, http.StatusUnauthorized)
			if res.DroppedPrevious == "" || res.DroppedPreviousExpires == "" {
				t.Errorf("the rotation that dropped the previous key does not say so: %+v", res)
			}
			f.mustRotate(t, RotateOptions{Mode: RotateFinish, NewKey: third, OldKey: second})
			f.wantStatus(t, "second key after finish", second, http.StatusUnauthorized)

			// apply rotating an env key: the same, with the old key from the caller.
			f.env["ROT_KEY"] = "env-key-one-0123456789abcdefghijklmnop"
			w := imageWorker(t, "env-rotated", "ROT_KEY")
			f.deploy(t, specOf(w), ApplyOptions{SkipSmoke: true})
			f.env["ROT_KEY"] = "env-key-two-0123456789abcdefghijklmnop"
			held := func(spec.Worker) []string { return []string{"env-key-one-0123456789abcdefghijklmnop"} }
			f.deploy(t, specOf(w), ApplyOptions{KeyCandidates: held})
			for _, k := range []string{"env-key-one-0123456789abcdefghijklmnop", "env-key-two-0123456789abcdefghijklmnop"} {
				if got := f.post(t, "env-rotated", k); got != http.StatusOK {
					t.Errorf("env key rotation: a key gets %d, want 200 (both in the window)", got)
				}
			}

			for _, r := range rec.all() {
				if bytes.Contains(r.body, []byte("old_name")) {
					t.Errorf("%s %s carries old_name", r.method, r.path)
				}
			}
		})
	}
}

// TestRotateRefusedWhileRotationInProgress: a second rotation inside the first one's grace
// window used to replace API_KEY_PREVIOUS with the first rotation's new key, so the oldest key
// (promised a day) got 401 at once, with one line of output and no error. Like AWS Secrets
// Manager, a rotation is refused while one is in progress, before any write, naming when the
// window ends and the ways out (--finish, --revoke, --drop-previous); --revoke and --finish
// stay allowed. The same holds for apply rotating a changed env key.
func TestRotateRefusedWhileRotationInProgress(t *testing.T) {
	f := newRotateFixture(t)
	kf := &keyFile{path: filepath.Join(t.TempDir(), "key")}
	first := f.mustRotate(t, RotateOptions{Mode: RotateStart, KnownKeys: []string{f.oldKey}, Handover: kf.handover})
	second := kf.key(t)

	f.srv.ResetRequests()
	_, err := f.rotate(t, RotateOptions{Mode: RotateStart, KnownKeys: []string{f.oldKey, second}, Handover: kf.handover})
	if !errors.Is(err, ErrRotationInProgress) {
		t.Fatalf("second rotation inside the window: %v, want ErrRotationInProgress", err)
	}
	for _, want := range []string{first.PreviousExpires, "--finish", "--revoke", "--drop-previous", "nothing was changed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal does not say %q: %v", want, err)
		}
	}
	if _, writes := f.apiCalls(); writes != 0 || kf.calls != 1 {
		t.Errorf("the refused rotation made %d writes and %d more hand-overs", writes, kf.calls-1)
	}
	f.wantStatus(t, "oldest key, still in its window", f.oldKey, http.StatusOK)
	f.wantStatus(t, "current key", second, http.StatusOK)
	if st := f.state(t); !st.matches(st.keyFP, second) || !st.matches(st.prevFP, f.oldKey) {
		t.Error("the refused rotation changed the worker's keys")
	}

	// --finish ends the rotation; then a new one starts normally.
	f.mustRotate(t, RotateOptions{Mode: RotateFinish, NewKey: second, OldKey: f.oldKey})
	f.mustRotate(t, RotateOptions{Mode: RotateStart, KnownKeys: []string{second}, Handover: kf.handover})
	third := kf.key(t)
	f.wantStatus(t, "second key in the new window", second, http.StatusOK)
	// --revoke is allowed at any time (a leaked key), also inside a window.
	f.mustRotate(t, RotateOptions{Mode: RotateRevoke, OldKey: third, Handover: kf.handover})
	f.wantStatus(t, "second key after revoke", second, http.StatusUnauthorized)
	f.wantStatus(t, "third key after revoke", third, http.StatusUnauthorized)
	f.wantStatus(t, "revoked-to key", kf.key(t), http.StatusOK)

	// apply: an env key changed twice inside the first change's window.
	one, two, three := "env-key-one-0123456789abcdefghijklmnop", "env-key-two-0123456789abcdefghijklmnop", "env-key-three-0123456789abcdefghijklmn"
	f.env["ROT_KEY"] = one
	w := imageWorker(t, "env-rotated", "ROT_KEY")
	f.deploy(t, specOf(w), ApplyOptions{SkipSmoke: true})
	f.env["ROT_KEY"] = two
	f.deploy(t, specOf(w), ApplyOptions{KeyCandidates: func(spec.Worker) []string { return []string{one} }})
	f.env["ROT_KEY"] = three
	p := f.plan(t, specOf(w))
	if !p.Workers[0].ChangesKeyDuringRotation() {
		t.Errorf("the plan does not mark the key change during the rotation (which apply refuses)")
	}
	f.srv.ResetRequests()
	_, err = f.eng.Apply(context.Background(), p, ApplyOptions{KeyCandidates: func(spec.Worker) []string { return []string{two} }})
	if !errors.Is(err, ErrRotationInProgress) || !strings.Contains(err.Error(), "rotate-key env-rotated --finish") {
		t.Fatalf("apply changing the key inside a rotation window: %v, want ErrRotationInProgress naming rotate-key --finish", err)
	}
	if _, writes := f.apiCalls(); writes != 0 {
		t.Errorf("the refused apply made %d writes", writes)
	}
	for _, k := range []string{one, two} {
		if got := f.post(t, "env-rotated", k); got != http.StatusOK {
			t.Errorf("after the refused apply a key of the rotation gets %d, want 200", got)
		}
	}
	f.name = "env-rotated"
	f.mustRotate(t, RotateOptions{Mode: RotateFinish, NewKey: two, OldKey: one})
	f.deploy(t, specOf(w), ApplyOptions{KeyCandidates: func(spec.Worker) []string { return []string{two} }})
	for k, want := range map[string]int{one: http.StatusUnauthorized, two: http.StatusOK, three: http.StatusOK} {
		if got := f.post(t, "env-rotated", k); got != want {
			t.Errorf("after finish and apply: a key gets %d, want %d", got, want)
		}
	}
}
