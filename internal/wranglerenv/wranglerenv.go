// Package wranglerenv builds the environment in which wrangler, the official Cloudflare CLI,
// runs against a local Cloudflare without ever reaching the internet. The fidelity tests and
// the benchmark both run wrangler this way.
package wranglerenv

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// API says where wrangler sends its Cloudflare API calls and as whom.
type API struct {
	BaseURL   string
	Token     string
	AccountID string
}

// Offline makes a fresh home and temp directory under dir and returns wrangler's environment:
// the API from api, telemetry, banner and error reports off, the update check answered from a
// cache seeded with version, and every request that is not to loopback sent to a closed port,
// so that whatever wrangler tries fails at once instead of waiting on the network.
func Offline(dir, version string, api API) ([]string, error) {
	home := filepath.Join(dir, ".home")
	tmp := filepath.Join(dir, ".tmp")
	cache := filepath.Join(tmp, "update-check", "wrangler-latest.json")
	if err := os.MkdirAll(filepath.Dir(cache), 0o755); err != nil {
		return nil, fmt.Errorf("wrangler temp dir: %w", err)
	}
	if err := os.MkdirAll(home, 0o755); err != nil {
		return nil, fmt.Errorf("wrangler home: %w", err)
	}
	seed := fmt.Appendf(nil, `{"latest":%q,"lastUpdate":%d}`, version, time.Now().UnixMilli())
	if err := os.WriteFile(cache, seed, 0o644); err != nil {
		return nil, fmt.Errorf("seed wrangler's update-check cache: %w", err)
	}
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"TMPDIR=" + tmp,
		"CI=1",
		"CLOUDFLARE_API_BASE_URL=" + api.BaseURL,
		"CLOUDFLARE_API_TOKEN=" + api.Token,
		"CLOUDFLARE_ACCOUNT_ID=" + api.AccountID,
		"WRANGLER_SEND_METRICS=false",
		"WRANGLER_HIDE_BANNER=true",
		"WRANGLER_SEND_ERROR_REPORTS=false",
		"HTTPS_PROXY=http://127.0.0.1:9",
		"HTTP_PROXY=http://127.0.0.1:9",
		"NO_PROXY=localhost,127.0.0.1,::1",
	}, nil
}
