package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flareform/flareform/localcf"
)

// consumerOf asks the deployed worker whose key key is: the status and the consumer named.
func consumerOf(t *testing.T, srv *localcf.Server, worker, key string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+srv.WorkersDevAddr()+"/.well-known/flareform", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = worker + "." + srv.Subdomain() + ".workers.dev"
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	var got struct {
		Consumer string `json:"consumer"`
	}
	_ = json.Unmarshal(body, &got)
	return res.StatusCode, got.Consumer
}

// wantConsumers checks each key answers its consumer's name, and each retired key gets 401.
func wantConsumers(t *testing.T, srv *localcf.Server, when string, keys map[string]string, retired ...string) {
	t.Helper()
	for name, key := range keys {
		if status, who := consumerOf(t, srv, "con-api", key); status != http.StatusOK || who != name {
			t.Errorf("%s: %s's key: %d as %q, want 200 as %q", when, name, status, who, name)
		}
	}
	for _, key := range retired {
		if status, _ := consumerOf(t, srv, "con-api", key); status != http.StatusUnauthorized {
			t.Errorf("%s: a retired key got %d, want 401", when, status)
		}
	}
}

func readConsumerLines(t *testing.T, path string) (owner string, consumers map[string]string) {
	t.Helper()
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := parseKeyFile(string(content), []string{"con-api"})
	if err != nil {
		t.Fatal(err)
	}
	return keys["con-api"], parseConsumerKeys(string(content))["con-api"]
}

// TestRotateKeyConsumer rotates one consumer through the CLI (grace, finish, a JSON revoke of
// another) and checks that the other keys keep working and every key goes only where handed.
func TestRotateKeyConsumer(t *testing.T) {
	srv, env := startStandalone(t)
	env["PARTNER_KEY"] = "partner-key-0123456789abcdef0123456789abcd"
	c := newCLI(t, env)
	specPath := consumerProject(t)
	f := []string{"-f", specPath}
	keyFile := filepath.Join(t.TempDir(), "keys.txt")
	c.mustRun(0, append(f, "apply", "--auto-approve", "--key-out", keyFile)...)
	owner, before := readConsumerLines(t, keyFile)
	keys := map[string]string{"owner": owner, "mobile": before["mobile"], "web": before["web"], "partner": env["PARTNER_KEY"]}

	r := c.mustRun(0, append(f, "rotate-key", "con-api", "--consumer", "mobile", "--key-out", keyFile)...)
	_, after := readConsumerLines(t, keyFile)
	if after["mobile"] == before["mobile"] || after["web"] != before["web"] || r.stdout != "" {
		t.Fatalf("rotation: mobile changed %t, web kept %t, stdout %q", after["mobile"] != before["mobile"], after["web"] == before["web"], r.stdout)
	}
	for _, want := range []string{"rotate-key con-api --consumer mobile: rotated (phase rotating)", "old key still accepted as mobile", "consumer web's key still accepted"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.stderr)
		}
	}
	keys["mobile"] = after["mobile"]
	wantConsumers(t, srv, "during mobile's window", keys)
	wantConsumers(t, srv, "during mobile's window (old key)", map[string]string{"mobile": before["mobile"]})
	if r := c.mustRun(0, append(f, "plan")...); !strings.Contains(r.stdout+r.stderr, "No changes") {
		t.Errorf("plan after the rotation:\n%s%s", r.stdout, r.stderr)
	}

	c.mustRun(0, append(f, "rotate-key", "con-api", "--consumer", "mobile", "--finish")...)
	wantConsumers(t, srv, "after finish", keys, before["mobile"])

	r = c.mustRun(0, append(f, "rotate-key", "con-api", "--consumer", "web", "--revoke", "--json")...)
	var res struct {
		Name, Consumer, Action, APIKey string `json:"-"`
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
		t.Fatalf("--json: %v\n%s", err, r.stdout)
	}
	res.Consumer, _ = raw["consumer"].(string)
	res.Action, _ = raw["action"].(string)
	res.APIKey, _ = raw["api_key"].(string)
	if res.Consumer != "web" || res.Action != "revoked" || res.APIKey == "" || raw["handed_over"] != true {
		t.Fatalf("revoke --json: %s", r.stdout)
	}
	keys["web"] = res.APIKey
	wantConsumers(t, srv, "after revoking web", keys, before["web"])
	for name, key := range keys {
		if name != "web" && strings.Contains(r.stdout+r.stderr, key) {
			t.Errorf("the revoke's output holds %s's key", name)
		}
	}
}
