package templates

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flareform/flareform/localcf"
	"github.com/flareform/flareform/localcf/localcftest"
)

// The consumer table of docs/consumers.md as the engine deploys it: FLAREFORM_CONSUMER_SALT and
// the macs of each consumer's key under it.
const (
	consumerTestSalt  = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	mobileTestKey     = "mobile-consumer-key-0123456789abcdef"
	webTestKey        = "web-consumer-key-0123456789abcdef"
	partnerOldTestKey = "partner-old-key-0123456789abcdef"
	partnerNewTestKey = "partner-new-key-0123456789abcdef"
)

// consumerMAC is lowercase hex of HMAC-SHA-256(salt, "flareform consumer key\0" + key).
func consumerMAC(salt, key string) string {
	m := hmac.New(sha256.New, []byte(salt))
	m.Write([]byte("flareform consumer key\x00" + key))
	return hex.EncodeToString(m.Sum(nil))
}

// consumerEntry is one row of FLAREFORM_CONSUMERS.
type consumerEntry struct {
	Name        string `json:"name"`
	MAC         string `json:"mac"`
	PrevMAC     string `json:"prev_mac,omitempty"`
	PrevExpires string `json:"prev_expires,omitempty"`
	Limiter     string `json:"limiter,omitempty"`
}

// consumerTable is a FLAREFORM_CONSUMERS value.
func consumerTable(t *testing.T, entries ...consumerEntry) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"v": 1, "consumers": entries})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// call sends method path with key (none when "") to the deployed worker and returns the answer.
func (d *deployedTemplate) call(t *testing.T, method, path, key, body string) (int, http.Header, []byte) {
	t.Helper()
	return callWorker(t, "http://"+d.srv.WorkersDevAddr(), d.script+"."+d.srv.Subdomain()+".workers.dev", method, path, key, body)
}

// callWorker sends method path with key (none when "") to the worker at base, Host host.
func callWorker(t *testing.T, base, host, method, path, key, body string) (int, http.Header, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, data
}

// modelCalls counts the calls workers made to Workers AI through their AI binding.
func modelCalls(srv *localcf.Server) int {
	n := 0
	for _, c := range srv.BindingCalls() {
		if strings.HasPrefix(c.Path, "/run/") {
			n++
		}
	}
	return n
}

// setSecret changes one secret of the deployed worker, as `flareform apply` does when the
// consumer table changes.
func (d *deployedTemplate) setSecret(t *testing.T, name, value string) {
	t.Helper()
	body, err := json.Marshal(map[string]string{"name": name, "text": value, "type": "secret_text"})
	if err != nil {
		t.Fatal(err)
	}
	api(t, d.srv, http.MethodPut, "/workers/scripts/"+d.script+"/secrets", "application/json", strings.NewReader(string(body)))
}

// TestConsumersInWorkerd deploys a template with the bindings flareform deploys for consumers
// (docs/consumers.md) to a local Cloudflare and calls it with each kind of key: the owner's
// and the consumers' keys are accepted and named by GET /.well-known/flareform without a model
// call; wrong, removed and expired keys are 401; a malformed table shuts out the consumers but
// not the owner; a consumer's own limiter answers 429 while the others are still served.
func TestConsumersInWorkerd(t *testing.T) {
	srv := localcftest.New(t)
	const text = `{"text":"hello"}`
	// The partner's previous key stays open a few seconds: long enough for the calls before the
	// expiry, short enough to wait out in the test.
	prevExpires := time.Now().Add(6 * time.Second)
	table := consumerTable(t,
		consumerEntry{Name: "mobile", MAC: consumerMAC(consumerTestSalt, mobileTestKey), Limiter: "RATE_LIMITER_2_10"},
		consumerEntry{Name: "partner", MAC: consumerMAC(consumerTestSalt, partnerNewTestKey),
			PrevMAC: consumerMAC(consumerTestSalt, partnerOldTestKey), PrevExpires: prevExpires.UTC().Format(time.RFC3339Nano)},
		consumerEntry{Name: "web", MAC: consumerMAC(consumerTestSalt, webTestKey)},
	)
	d := deployTemplate(t, srv, "embeddings", "consumers", "@cf/baai/bge-small-en-v1.5",
		map[string]any{"type": "secret_text", "name": "FLAREFORM_CONSUMER_SALT", "text": consumerTestSalt},
		map[string]any{"type": "secret_text", "name": "FLAREFORM_CONSUMERS", "text": table},
		map[string]any{"type": "ratelimit", "name": "RATE_LIMITER_2_10", "namespace_id": "3001", "simple": map[string]any{"limit": 2, "period": 10}},
		map[string]any{"type": "ratelimit", "name": "RATE_LIMITER", "namespace_id": "3002", "simple": map[string]any{"limit": 100, "period": 60}},
		map[string]any{"type": "plain_text", "name": "RATE_LIMIT_PERIOD", "text": "60"},
	)

	wellKnown := func(t *testing.T, key string) (int, string) {
		t.Helper()
		before := modelCalls(srv)
		status, _, data := d.call(t, http.MethodGet, "/.well-known/flareform", key, "")
		if after := modelCalls(srv); after != before {
			t.Errorf("GET /.well-known/flareform made %d model calls", after-before)
		}
		if status != http.StatusOK {
			return status, ""
		}
		var body struct {
			Consumer string `json:"consumer"`
		}
		if err := json.Unmarshal(data, &body); err != nil {
			t.Fatalf("well-known answer %s: %v", data, err)
		}
		return status, body.Consumer
	}

	t.Run("the owner's key works as before", func(t *testing.T) {
		if status, _, data := d.call(t, http.MethodPost, "/", workerdTestKey, text); status != http.StatusOK {
			t.Fatalf("owner: status %d, body %.300s", status, data)
		}
		if status, name := wellKnown(t, workerdTestKey); status != http.StatusOK || name != "owner" {
			t.Errorf("well-known with the owner's key: %d %q, want 200 owner", status, name)
		}
	})

	t.Run("each consumer's key is accepted and named, without a model call", func(t *testing.T) {
		for key, want := range map[string]string{webTestKey: "web", mobileTestKey: "mobile", partnerNewTestKey: "partner", partnerOldTestKey: "partner"} {
			if status, name := wellKnown(t, key); status != http.StatusOK || name != want {
				t.Errorf("well-known with %s's key: %d %q, want 200 %s", want, status, name, want)
			}
		}
		before := modelCalls(srv)
		if status, _, data := d.call(t, http.MethodPost, "/", webTestKey, text); status != http.StatusOK || !strings.Contains(string(data), `"shape"`) {
			t.Fatalf("web: status %d, body %.300s", status, data)
		}
		if modelCalls(srv) != before+1 {
			t.Errorf("the consumer's request made %d model calls, want 1", modelCalls(srv)-before)
		}
	})

	t.Run("a wrong key is 401, on the API and on the well-known path", func(t *testing.T) {
		for _, key := range []string{"", "wrong-key-0123456789abcdef", webTestKey + "x", consumerMAC(consumerTestSalt, webTestKey)} {
			status, _, data := d.call(t, http.MethodPost, "/", key, text)
			jsonErrorOf(t, status, "application/json", data, http.StatusUnauthorized)
			if status, _ := wellKnown(t, key); status != http.StatusUnauthorized {
				t.Errorf("well-known with a wrong key: %d, want 401", status)
			}
		}
	})

	t.Run("a consumer's limiter answers 429 while the others are served", func(t *testing.T) {
		// A 10 s window: should it roll over between calls the count restarts, so five calls
		// see a 429 whichever way the clock falls.
		limited := false
		for i := 1; i <= 5 && !limited; i++ {
			status, header, data := d.call(t, http.MethodPost, "/", mobileTestKey, text)
			if status == http.StatusOK {
				continue
			}
			jsonErrorOf(t, status, header.Get("Content-Type"), data, http.StatusTooManyRequests)
			if got := header.Get("Retry-After"); got != "10" {
				t.Errorf("Retry-After %q, want 10 (RATE_LIMITER_2_10's period, not RATE_LIMIT_PERIOD)", got)
			}
			if i < 3 {
				t.Errorf("call %d was limited; mobile's limit is 2", i)
			}
			limited = true
			for key, who := range map[string]string{webTestKey: "web", workerdTestKey: "owner", partnerNewTestKey: "partner"} {
				if status, _, data := d.call(t, http.MethodPost, "/", key, text); status != http.StatusOK {
					t.Errorf("%s while mobile is limited: status %d, body %.300s", who, status, data)
				}
			}
		}
		if !limited {
			t.Fatal("five calls with mobile's key never got a 429")
		}
	})

	t.Run("the previous key of a consumer is refused once prev_expires has passed", func(t *testing.T) {
		if time.Now().Before(prevExpires) {
			if status, _, data := d.call(t, http.MethodPost, "/", partnerOldTestKey, text); status != http.StatusOK {
				t.Fatalf("partner's previous key before prev_expires: status %d, body %.300s", status, data)
			}
		}
		time.Sleep(time.Until(prevExpires.Add(500 * time.Millisecond)))
		status, _, data := d.call(t, http.MethodPost, "/", partnerOldTestKey, text)
		jsonErrorOf(t, status, "application/json", data, http.StatusUnauthorized)
		if status, _, data := d.call(t, http.MethodPost, "/", partnerNewTestKey, text); status != http.StatusOK {
			t.Errorf("partner's current key after the window: status %d, body %.300s", status, data)
		}
	})

	t.Run("a consumer removed from the table is 401", func(t *testing.T) {
		d.setSecret(t, "FLAREFORM_CONSUMERS", consumerTable(t,
			consumerEntry{Name: "mobile", MAC: consumerMAC(consumerTestSalt, mobileTestKey), Limiter: "RATE_LIMITER_2_10"}))
		status, _, data := d.call(t, http.MethodPost, "/", webTestKey, text)
		jsonErrorOf(t, status, "application/json", data, http.StatusUnauthorized)
		if status, name := wellKnown(t, mobileTestKey); status != http.StatusOK || name != "mobile" {
			t.Errorf("mobile, still in the table: %d %q, want 200 mobile", status, name)
		}
	})

	t.Run("a malformed table refuses the consumers, not the owner", func(t *testing.T) {
		d.setSecret(t, "FLAREFORM_CONSUMERS", `{"v":1,"consumers":[{"name":"mobile","mac":"`+consumerMAC(consumerTestSalt, mobileTestKey)+`"`)
		if status, _ := wellKnown(t, mobileTestKey); status != http.StatusUnauthorized {
			t.Errorf("mobile with a truncated table: %d, want 401", status)
		}
		if status, _, data := d.call(t, http.MethodPost, "/", workerdTestKey, text); status != http.StatusOK {
			t.Errorf("owner with a truncated table: status %d, body %.300s", status, data)
		}
		if status, name := wellKnown(t, workerdTestKey); status != http.StatusOK || name != "owner" {
			t.Errorf("well-known with the owner's key: %d %q", status, name)
		}
	})
}
