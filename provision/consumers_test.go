package provision

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/flareform/flareform/provision/keystore"
	"github.com/flareform/flareform/provision/spec"
)

const partnerKey = "partner-key-0123456789abcdef0123456789abcd"

// consumerWorker is a worker with the consumers of docs/consumers.md's example: mobile
// (its own limit), partner (an env key) and web, behind the contract's test worker.
func consumerWorker(t testing.TB, name string) spec.Worker {
	gen := func(n string) spec.KeySource {
		return spec.KeySource{Binding: spec.ConsumerKeyBinding(n), From: keyFromGenerate}
	}
	return spec.Worker{
		Key: name, Name: name,
		Main:              testdataWorker(t, "consumers.js"),
		CompatibilityDate: "2025-06-01",
		APIKey:            &spec.KeySource{Binding: "API_KEY", From: keyFromGenerate},
		WorkersDev:        true,
		Usage:             true,
		Consumers: []spec.Consumer{
			{Name: "mobile", Key: gen("mobile"), RateLimit: &spec.RateLimit{Limit: 3, Period: 60}},
			{Name: "partner", Key: spec.KeySource{Binding: spec.ConsumerKeyBinding("partner"), From: keyFromEnv, Ref: "PARTNER_KEY"}},
			{Name: "web", Key: gen("web")},
		},
		Pos: map[string]spec.Position{},
	}
}

// wellKnown asks the deployed worker who key belongs to: the status and the consumer named.
func (h *harness) wellKnown(t testing.TB, name, key string) (int, string) {
	t.Helper()
	body, status := h.get(t, name, WellKnownPath, key)
	var got struct {
		Consumer string `json:"consumer"`
	}
	_ = json.Unmarshal([]byte(body), &got)
	return status, got.Consumer
}

func (h *harness) get(t testing.TB, name, path, key string) (string, int) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+h.srv.WorkersDevAddr()+path, nil)
	req.Host = name + "." + h.srv.Subdomain() + ".workers.dev"
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b), res.StatusCode
}

func TestConsumersDeployVerifyAndRemove(t *testing.T) {
	h := newHarness(t)
	h.env["PARTNER_KEY"] = partnerKey
	store, err := keystore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h.eng.UseKeyStore(store)
	w := consumerWorker(t, "con-api")
	p, res := h.deploy(t, specOf(w), ApplyOptions{KeyStore: store})

	r := res.Workers[0]
	if !strings.Contains(h.log.String(), "con-api: checking 3 consumer keys at "+WellKnownPath) {
		t.Errorf("apply did not check the consumer keys; log:\n%s", h.log)
	}
	if len(r.ConsumerKeys) != 2 || r.ConsumerKeys["mobile"] == "" || r.ConsumerKeys["web"] == "" {
		t.Fatalf("consumer keys handed over: %d (%v), want mobile and web", len(r.ConsumerKeys), sortedKeys(r.ConsumerKeys))
	}
	keys := map[string]string{"mobile": r.ConsumerKeys["mobile"], "partner": partnerKey, "web": r.ConsumerKeys["web"], "owner": r.GeneratedKey}
	for name, key := range keys {
		if status, who := h.wellKnown(t, "con-api", key); status != http.StatusOK || who != name {
			t.Errorf("%s's key: %d as %q, want 200 as %q", name, status, who, name)
		}
		assertNoSecret(t, key, h.log.String(), p, res)
	}
	if status, _ := h.wellKnown(t, "con-api", "not-a-key-0123456789abcdef0123456789"); status != http.StatusUnauthorized {
		t.Errorf("a wrong key: %d, want 401", status)
	}
	checkConsumerTable(t, h, r.GeneratedKey, keys)
	// Recorded before the upload, and still pending until the caller hands them over.
	for _, b := range []string{"consumer:mobile", "consumer:web", ConsumerSaltStoreBinding} {
		if entries, err := store.Keys("con-api", b); err != nil || len(entries) != 1 || entries[0].State != keystore.Pending {
			t.Errorf("key store %s: %+v (%v), want one pending entry", b, entries, err)
		}
	}
	if again := h.plan(t, specOf(w)); again.HasChanges() {
		t.Fatalf("second plan has changes: %+v", again.Workers[0].Changes)
	}

	w.Consumers = []spec.Consumer{w.Consumers[0], w.Consumers[2]}
	p2 := h.plan(t, specOf(w))
	if got := fmtChanges(p2.Workers[0].Changes); got != "consumers.partner remove (sensitive, removed)" {
		t.Fatalf("plan after removing partner: %s", got)
	}
	_, res2 := h.deploy(t, specOf(w), ApplyOptions{KeyStore: store})
	if len(res2.Workers[0].ConsumerKeys) != 0 {
		t.Errorf("removing a consumer generated keys for %v", sortedKeys(res2.Workers[0].ConsumerKeys))
	}
	if status, _ := h.wellKnown(t, "con-api", partnerKey); status != http.StatusUnauthorized {
		t.Errorf("removed partner's key: %d, want 401", status)
	}
	for _, name := range []string{"mobile", "web"} {
		if status, who := h.wellKnown(t, "con-api", keys[name]); status != http.StatusOK || who != name {
			t.Errorf("%s's key after removing partner: %d as %q", name, status, who)
		}
	}
}

// checkConsumerTable reads the deployed table (the test worker echoes it to the owner) and
// checks it holds a mac per consumer and the limiter, and none of the keys.
func checkConsumerTable(t *testing.T, h *harness, ownerKey string, keys map[string]string) {
	t.Helper()
	body, status := h.get(t, "con-api", "/", ownerKey)
	var echo struct {
		Table string `json:"table"`
	}
	if status != http.StatusOK || json.Unmarshal([]byte(body), &echo) != nil {
		t.Fatalf("reading the table: %d", status)
	}
	var table consumerTable
	if err := json.Unmarshal([]byte(echo.Table), &table); err != nil || table.V != 1 || len(table.Consumers) != 3 {
		t.Fatalf("table: %v, %d consumers", err, len(table.Consumers))
	}
	for _, c := range table.Consumers {
		if len(c.MAC) != 64 || (c.Name == "mobile") != (c.Limiter == "RATE_LIMITER_3_60") {
			t.Errorf("table entry %s: mac of %d hex digits, limiter %q", c.Name, len(c.MAC), c.Limiter)
		}
	}
	for name, key := range keys {
		if strings.Contains(echo.Table, key) {
			t.Errorf("the table holds %s's key", name)
		}
	}
}

func fmtChanges(cs []Change) string {
	var out []string
	for _, c := range cs {
		out = append(out, strings.TrimSpace(c.Path+" "+c.Op+" "+c.Old+c.New))
	}
	return strings.Join(out, "; ")
}

// failingRecorder refuses to record consumer keys: apply must then write nothing, which shows
// the keys are recorded before the upload that installs them.
type failingRecorder struct{ pendingKeys }

func (f *failingRecorder) AddPending(script, binding, key string) error {
	if strings.HasPrefix(binding, "consumer:") {
		return errors.New("disk full")
	}
	return f.pendingKeys.AddPending(script, binding, key)
}

func TestConsumerKeysRecordedBeforeTheUpload(t *testing.T) {
	h := newHarness(t)
	h.env["PARTNER_KEY"] = partnerKey
	s := specOf(consumerWorker(t, "con-api"))
	p := h.plan(t, s)
	_, err := h.eng.Apply(context.Background(), p, ApplyOptions{KeyStore: &failingRecorder{}})
	if err == nil || !strings.Contains(err.Error(), "record the new key of consumer") {
		t.Fatalf("apply: %v, want a refusal to deploy an unrecorded consumer key", err)
	}
	if names := h.scriptNames(t); len(names) != 0 {
		t.Errorf("scripts %v exist: the upload ran before the key was recorded", names)
	}
}
