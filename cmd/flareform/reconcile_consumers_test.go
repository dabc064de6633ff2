package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flareform/flareform/provision"
	"github.com/flareform/flareform/provision/keystore"
)

// TestApplyRecoversPendingConsumerKeys: a run that died after deploying consumer keys left them
// pending in the key store; the next apply promotes the live ones (the key is handed over again
// in --key-out, the salt only kept) and drops one that never landed.
func TestApplyRecoversPendingConsumerKeys(t *testing.T) {
	_, env := startStandalone(t)
	env["PARTNER_KEY"] = "partner-key-0123456789abcdef0123456789abcd"
	c := newCLI(t, env)
	specPath := consumerProject(t)
	dir := t.TempDir()
	c.mustRun(0, "-f", specPath, "apply", "--auto-approve", "--key-out", filepath.Join(dir, "first.txt"))
	_, first := readConsumerLines(t, filepath.Join(dir, "first.txt"))

	store, err := keystore.Open(filepath.Join(filepath.Dir(specPath), ".flareform"))
	if err != nil {
		t.Fatal(err)
	}
	salts, err := store.Keys("con-api", provision.ConsumerSaltStoreBinding)
	if err != nil || len(salts) != 1 {
		t.Fatalf("salt entries: %v, %d", err, len(salts))
	}
	// As the crashed run left them: the live mobile key and salt pending, and a web key that
	// the crash stopped before its upload.
	const lost = "never-deployed-web-key-0123456789abcdef0123"
	for _, p := range [][2]string{{"consumer:mobile", first["mobile"]}, {provision.ConsumerSaltStoreBinding, salts[0].Key}, {"consumer:web", lost}} {
		if err := store.AddPending("con-api", p[0], p[1]); err != nil {
			t.Fatal(err)
		}
	}

	again := filepath.Join(dir, "again.txt")
	r := c.mustRun(0, "-f", specPath, "apply", "--auto-approve", "--key-out", again)
	for _, want := range []string{"recovered the key of consumer mobile", "recovered the consumer salt", "discarded a key of consumer web"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("apply's log lacks %q:\n%s", want, r.stderr)
		}
	}
	content, err := os.ReadFile(again)
	if err != nil {
		t.Fatal(err)
	}
	if got := parseConsumerKeys(string(content))["con-api"]; got["mobile"] != first["mobile"] || got["web"] != "" {
		t.Errorf("--key-out after recovery holds consumers %v, want mobile's recovered key only", sortedNames(got))
	}
	want := map[string]string{"consumer:mobile": first["mobile"], "consumer:web": first["web"], provision.ConsumerSaltStoreBinding: salts[0].Key}
	for binding, key := range want {
		entries, err := store.Keys("con-api", binding)
		if err != nil || len(entries) != 1 || entries[0].Key != key || entries[0].State != keystore.Active {
			t.Errorf("key store %s after recovery: %d entries (%v), want the live key, active", binding, len(entries), err)
		}
	}
}

// TestApplyTakesConsumerKeysFromKeyFile: on a checkout whose key store lacks the salt and the
// consumer keys (a fresh CI runner), --key-file's <worker>/<consumer> lines are the keys apply
// keeps: the table is written under a new salt, and the keys clients hold still answer.
func TestApplyTakesConsumerKeysFromKeyFile(t *testing.T) {
	srv, env := startStandalone(t)
	env["PARTNER_KEY"] = "partner-key-0123456789abcdef0123456789abcd"
	c := newCLI(t, env)
	specPath := consumerProject(t)
	keyFile := filepath.Join(t.TempDir(), "keys.txt")
	c.mustRun(0, "-f", specPath, "apply", "--auto-approve", "--key-out", keyFile)
	owner, first := readConsumerLines(t, keyFile)
	if err := os.Remove(filepath.Join(filepath.Dir(specPath), ".flareform", "keys.json")); err != nil {
		t.Fatal(err)
	}
	// Removing partner makes apply write the table again, which needs every kept key.
	raw, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	trimmed := strings.Replace(string(raw), "      partner: { from: \"env:PARTNER_KEY\" }\n", "", 1)
	if trimmed == string(raw) {
		t.Fatal("the spec has no partner line to remove")
	}
	if err := os.WriteFile(specPath, []byte(trimmed), 0o644); err != nil {
		t.Fatal(err)
	}
	r := c.mustRun(0, "-f", specPath, "apply", "--auto-approve", "--key-file", keyFile, "--json")
	if strings.Contains(r.stdout, "consumer_keys") {
		t.Errorf("apply replaced consumer keys the --key-file holds:\n%s", r.stdout)
	}
	wantConsumers(t, srv, "after the apply with a fresh key store", map[string]string{
		"owner": owner, "mobile": first["mobile"], "web": first["web"]}, env["PARTNER_KEY"])
}
