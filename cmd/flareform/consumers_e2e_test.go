package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// consumerProject writes a project whose worker implements the consumer contract
// (provision/testdata/consumers.js) with consumers mobile (3/60), partner (env key) and web.
func consumerProject(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	code, err := os.ReadFile(filepath.Join("..", "..", "provision", "testdata", "consumers.js"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "src"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "src", "worker.js"), code, 0o644); err != nil {
		t.Fatal(err)
	}
	spec := `workers:
  con-api:
    main: ./src/worker.js
    compatibility_date: "2025-06-01"
    api_key: { from: generate }
    consumers:
      mobile: { rate_limit: { limit: 3, period: 60 } }
      partner: { from: "env:PARTNER_KEY" }
      web: {}
`
	path := filepath.Join(dir, "flareform.yaml")
	if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConsumerKeysGoToKeyOutAndKeysListsThem(t *testing.T) {
	_, env := startStandalone(t)
	env["PARTNER_KEY"] = "partner-key-0123456789abcdef0123456789abcd"
	c := newCLI(t, env)
	specPath := consumerProject(t)
	keyFile := filepath.Join(filepath.Dir(specPath), "keys.txt")
	c.mustRun(0, "-f", specPath, "apply", "--auto-approve", "--key-out", keyFile)

	content, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	owner, err := parseKeyFile(string(content), []string{"con-api"})
	if err != nil || owner["con-api"] == "" {
		t.Fatalf("the owner's key read back: %v, %d keys", err, len(owner))
	}
	consumers := parseConsumerKeys(string(content))["con-api"]
	if len(consumers) != 2 || consumers["mobile"] == "" || consumers["web"] == "" {
		t.Fatalf("--key-out holds consumer lines for %v, want mobile and web (partner's key is the caller's own)", sortedNames(consumers))
	}
	if strings.Contains(string(content), env["PARTNER_KEY"]) {
		t.Error("--key-out repeats partner's env key")
	}

	r := c.mustRun(0, "-f", specPath, "keys", "con-api", "--json")
	var got struct {
		Keys []struct {
			Consumer, Fingerprint, Limit, State, Created string
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("keys --json: %v\n%s", err, r.stdout)
	}
	var seen []string
	for _, k := range got.Keys {
		seen = append(seen, k.Consumer)
		if k.State != "active" || len(k.Fingerprint) < 32 {
			t.Errorf("%s: state %q, fingerprint %q", k.Consumer, k.State, k.Fingerprint)
		}
		if (k.Consumer == "mobile") != (k.Limit == "3/60s") {
			t.Errorf("%s: limit %q", k.Consumer, k.Limit)
		}
		if generated := k.Consumer != "partner"; generated != (k.Created != "") {
			t.Errorf("%s: created %q", k.Consumer, k.Created)
		}
	}
	if strings.Join(seen, ",") != "owner,mobile,partner,web" {
		t.Errorf("keys lists %v", seen)
	}
	for _, key := range append([]string{owner["con-api"], env["PARTNER_KEY"]}, consumers["mobile"], consumers["web"]) {
		if strings.Contains(r.stdout+r.stderr, key) {
			t.Error("keys printed a key")
		}
	}
}
