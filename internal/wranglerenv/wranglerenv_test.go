package wranglerenv

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestOfflineEnvironment(t *testing.T) {
	dir := t.TempDir()
	env, err := Offline(dir, "4.164.0", API{BaseURL: "http://127.0.0.1:1/client/v4", Token: "tok", AccountID: "acc"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"HOME=" + filepath.Join(dir, ".home"), "TMPDIR=" + filepath.Join(dir, ".tmp"),
		"CLOUDFLARE_API_BASE_URL=http://127.0.0.1:1/client/v4", "CLOUDFLARE_API_TOKEN=tok",
		"CLOUDFLARE_ACCOUNT_ID=acc", "WRANGLER_SEND_METRICS=false", "WRANGLER_HIDE_BANNER=true",
		"HTTPS_PROXY=http://127.0.0.1:9",
	} {
		if !slices.Contains(env, want) {
			t.Errorf("environment lacks %s", want)
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, ".tmp", "update-check", "wrangler-latest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cache struct {
		Latest     string `json:"latest"`
		LastUpdate int64  `json:"lastUpdate"`
	}
	if err := json.Unmarshal(data, &cache); err != nil || cache.Latest != "4.164.0" || cache.LastUpdate == 0 {
		t.Errorf("update-check cache %s (%v): want latest 4.164.0 and a timestamp", data, err)
	}
	if info, err := os.Stat(filepath.Join(dir, ".home")); err != nil || !info.IsDir() {
		t.Errorf("no home directory: %v", err)
	}
}
