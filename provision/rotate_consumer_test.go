package provision

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/flareform/flareform/provision/keystore"
	"github.com/flareform/flareform/provision/spec"
)

// consumerFixture is a deployed consumerWorker with its key store and the keys apply gave.
type consumerFixture struct {
	h     *harness
	store *keystore.Store
	w     spec.Worker
	keys  map[string]string // consumer name ("owner" too) -> key
}

func newConsumerFixture(t *testing.T) *consumerFixture {
	h := newHarness(t)
	h.env["PARTNER_KEY"] = partnerKey
	store, err := keystore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h.eng.UseKeyStore(store)
	w := consumerWorker(t, "con-api")
	_, res := h.deploy(t, specOf(w), ApplyOptions{KeyStore: store})
	r := res.Workers[0]
	keys := map[string]string{"owner": r.GeneratedKey, "mobile": r.ConsumerKeys["mobile"], "partner": partnerKey, "web": r.ConsumerKeys["web"]}
	// Handed over: the CLI marks them active (a pending live key is one a crashed run left).
	for _, p := range [][2]string{{"consumer:mobile", keys["mobile"]}, {"consumer:web", keys["web"]}, {ConsumerSaltStoreBinding, r.ConsumerSalt}} {
		if err := store.Promote("con-api", p[0], p[1]); err != nil {
			t.Fatal(err)
		}
	}
	return &consumerFixture{h: h, store: store, w: w, keys: keys}
}

// rotate runs rotate-key --consumer name in mode, recording and handing over like the CLI.
func (f *consumerFixture) rotate(t *testing.T, name string, mode RotateMode, handedOver *string) (*RotateResult, error) {
	t.Helper()
	binding := spec.ConsumerKeyBinding(name)
	old := f.keys[name]
	res, err := f.h.eng.RotateKey(context.Background(), RotateOptions{
		Name: "con-api", Consumer: name, Mode: mode, Held: f.store,
		// The spec's env: key, as the CLI passes it.
		ConsumerKeys: map[string][]string{"partner": {partnerKey}},
		RecordKey:    func(k string) error { return f.store.AddPending("con-api", binding, k) },
		Handover: func(_ context.Context, k string, r *RotateResult) error {
			if r.Consumer != name || !r.HandedOver {
				t.Errorf("hand-over result: consumer %q, handed_over %v", r.Consumer, r.HandedOver)
			}
			*handedOver = k
			return nil
		},
	})
	if err == nil && *handedOver != "" {
		// As the CLI records it: the new key active, the old one kept while its window is open.
		var keep []string
		if mode == RotateStart {
			keep = []string{old}
		}
		if perr := f.store.Promote("con-api", binding, *handedOver, keep...); perr != nil {
			t.Fatal(perr)
		}
	}
	return res, err
}

// wantAnswers checks each key opens the worker as its consumer, and each refused key gets 401.
func (f *consumerFixture) wantAnswers(t *testing.T, when string, accepted map[string]string, refused ...string) {
	t.Helper()
	for name, key := range accepted {
		if status, who := f.h.wellKnown(t, "con-api", key); status != http.StatusOK || who != name {
			t.Errorf("%s: %s's key: %d as %q, want 200 as %q", when, name, status, who, name)
		}
	}
	for _, key := range refused {
		if status, _ := f.h.wellKnown(t, "con-api", key); status != http.StatusUnauthorized {
			t.Errorf("%s: a retired key got %d, want 401", when, status)
		}
	}
}

func TestRotateConsumerKeyGraceFinishRevoke(t *testing.T) {
	f := newConsumerFixture(t)
	old := f.keys["mobile"]

	var newKey string
	res, err := f.rotate(t, "mobile", RotateStart, &newKey)
	if err != nil {
		t.Fatalf("rotate: %v\nlog:\n%s", err, f.h.log)
	}
	if res.Action != rotateActionRotated || res.Phase != PhaseRotating || res.PreviousExpires == "" || newKey == "" || newKey == old {
		t.Fatalf("rotate result: %+v (new key given: %v)", res, newKey != "")
	}
	f.keys["mobile"] = newKey
	f.wantAnswers(t, "during the window", f.keys)
	f.wantAnswers(t, "during the window (old key)", map[string]string{"mobile": old})
	assertKeysHidden(t, f.h.log.String(), res, newKey, old)

	// An apply that rewrites the table (partner removed) keeps mobile's window.
	if again := f.h.plan(t, specOf(f.w)); again.HasChanges() {
		t.Fatalf("plan after the rotation has changes: %s", fmtChanges(again.Workers[0].Changes))
	}
	w := f.w
	w.Consumers = []spec.Consumer{w.Consumers[0], w.Consumers[2]}
	f.h.deploy(t, specOf(w), ApplyOptions{KeyStore: f.store})
	f.wantAnswers(t, "after an apply that rewrote the table", map[string]string{"mobile": newKey, "web": f.keys["web"], "owner": f.keys["owner"]})
	f.wantAnswers(t, "after an apply that rewrote the table (old key)", map[string]string{"mobile": old}, partnerKey)
	delete(f.keys, "partner")

	// A second rotation while the window is open is refused before any write.
	var none string
	if _, err := f.rotate(t, "mobile", RotateStart, &none); !errors.Is(err, ErrRotationInProgress) || none != "" {
		t.Fatalf("second rotation: %v (handed over: %v), want ErrRotationInProgress", err, none != "")
	}

	res, err = f.rotate(t, "mobile", RotateFinish, &none)
	if err != nil || res.Action != rotateActionFinished || res.Phase != PhaseStable {
		t.Fatalf("finish: %v, %+v\nlog:\n%s", err, res, f.h.log)
	}
	f.wantAnswers(t, "after finish", f.keys, old)
	if res, err = f.rotate(t, "mobile", RotateFinish, &none); err != nil || res.Action != rotateActionUnchanged {
		t.Fatalf("finish again: %v, %+v", err, res)
	}

	var revoked string
	if res, err = f.rotate(t, "web", RotateRevoke, &revoked); err != nil || res.Action != rotateActionRevoked || revoked == "" {
		t.Fatalf("revoke web: %v, %+v", err, res)
	}
	oldWeb := f.keys["web"]
	f.keys["web"] = revoked
	f.wantAnswers(t, "after revoking web", f.keys, oldWeb)
}

func TestRotateConsumerRefusedWithoutOtherKeys(t *testing.T) {
	f := newConsumerFixture(t)
	// A key store that lost web's key: rewriting the table would change web's entry.
	if err := f.store.Remove("con-api", spec.ConsumerKeyBinding("web"), f.keys["web"]); err != nil {
		t.Fatal(err)
	}
	var none string
	_, err := f.rotate(t, "mobile", RotateStart, &none)
	if !errors.Is(err, ErrConsumerTableUnknown) || !strings.Contains(err.Error(), "web (its key)") || none != "" {
		t.Fatalf("rotate without web's key: %v, want ErrConsumerTableUnknown naming web", err)
	}
	f.wantAnswers(t, "after the refusal", f.keys)
}
