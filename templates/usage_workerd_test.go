package templates

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/flareform/flareform/bundler"
	"github.com/flareform/flareform/localcf/workerd"
)

// usagePoint is one Analytics Engine data point as the worker wrote it.
type usagePoint struct {
	Indexes []string  `json:"indexes"`
	Blobs   []string  `json:"blobs"`
	Doubles []float64 `json:"doubles"`
}

// TestUsageDataPointsInWorkerd runs the embeddings template in workerd behind
// testdata/workerd/usage_harness.js, whose USAGE stand-in records what writeDataPoint gets (the
// local Cloudflare does not run Analytics Engine bindings), and checks that each request,
// whatever its answer, writes exactly one point in the layout of docs/consumers.md: indexes
// [consumer], blobs [worker, consumer, model, status_class], doubles [1, ai_calls, tokens],
// with no key, salt or request text in it.
func TestUsageDataPointsInWorkerd(t *testing.T) {
	const model = "@cf/baai/bge-small-en-v1.5"
	dir := t.TempDir()
	if _, err := Write(dir, Options{Template: "embeddings", WorkerName: "usage-api"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := bundler.Bundle(ctx, bundler.Options{Entry: filepath.Join(dir, "src", "worker.js")})
	if err != nil {
		t.Fatal(err)
	}
	harness, err := os.ReadFile(filepath.Join("testdata", "workerd", "usage_harness.js"))
	if err != nil {
		t.Fatal(err)
	}
	table := consumerTable(t,
		consumerEntry{Name: "mobile", MAC: consumerMAC(consumerTestSalt, mobileTestKey), Limiter: "RATE_LIMITER_1_10"},
		consumerEntry{Name: "web", MAC: consumerMAC(consumerTestSalt, webTestKey)},
	)
	p, err := workerd.Start(ctx, workerd.Options{TempDir: t.TempDir()}, workerd.Worker{
		Name:              "usage-api",
		MainModule:        "harness.js",
		Modules:           []workerd.Module{{Name: "harness.js", Type: "esm", Content: harness}, {Name: res.ModuleName, Type: "esm", Content: res.Code}},
		CompatibilityDate: DefaultCompatibilityDate,
		Bindings: []workerd.Binding{
			{Name: "API_KEY", Type: "secret_text", Text: workerdTestKey},
			{Name: "FLAREFORM_CONSUMER_SALT", Type: "secret_text", Text: consumerTestSalt},
			{Name: "FLAREFORM_CONSUMERS", Type: "secret_text", Text: table},
			{Name: "FLAREFORM_WORKER", Type: "plain_text", Text: "usage-api"},
			{Name: "AI_MODEL", Type: "plain_text", Text: model},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	base, host := "http://"+p.Addr(), "usage-api.example.workers.dev"

	requests := []struct {
		what              string
		method, path, key string
		body              string
		status            int
		consumer, class   string
		aiCalls, tokens   float64
	}{
		{"owner", "POST", "/", workerdTestKey, `{"text":"hello"}`, 200, "owner", "2xx", 1, 7},
		{"consumer", "POST", "/", mobileTestKey, `{"text":["a","b"]}`, 200, "mobile", "2xx", 1, 14},
		{"consumer over its limit", "POST", "/", mobileTestKey, `{"text":"again"}`, 429, "mobile", "429", 0, 0},
		{"wrong key", "POST", "/", "wrong-key-0123456789abcdef", `{"text":"hello"}`, 401, "-", "401", 0, 0},
		{"wrong method", "GET", "/", workerdTestKey, "", 405, "-", "4xx", 0, 0},
		{"well-known", "GET", "/.well-known/flareform", webTestKey, "", 200, "web", "2xx", 0, 0},
		{"model failure", "POST", "/", workerdTestKey, `{"text":"fail"}`, 502, "owner", "5xx", 1, 0},
		{"bad body", "POST", "/", webTestKey, `{"text":`, 400, "web", "4xx", 0, 0},
	}
	var want []usagePoint
	for _, r := range requests {
		status, _, data := callWorker(t, base, host, r.method, r.path, r.key, r.body)
		if status != r.status {
			t.Fatalf("%s: status %d, want %d; body %.300s", r.what, status, r.status, data)
		}
		want = append(want, usagePoint{
			Indexes: []string{r.consumer},
			Blobs:   []string{"usage-api", r.consumer, model, r.class},
			Doubles: []float64{1, r.aiCalls, r.tokens},
		})
	}

	status, _, data := callWorker(t, base, host, http.MethodGet, "/__harness", "", "")
	var got struct {
		Points      []usagePoint `json:"points"`
		ModelCalls  []string     `json:"modelCalls"`
		LimiterKeys []string     `json:"limiterKeys"`
	}
	if status != http.StatusOK || json.Unmarshal(data, &got) != nil {
		t.Fatalf("harness record: status %d, body %.300s", status, data)
	}
	if len(got.Points) != len(requests) {
		t.Fatalf("%d data points for %d requests: %s", len(got.Points), len(requests), data)
	}
	for i, r := range requests {
		if !reflect.DeepEqual(got.Points[i], want[i]) {
			t.Errorf("%s: data point %+v, want %+v", r.what, got.Points[i], want[i])
		}
	}
	if len(got.ModelCalls) != 3 {
		t.Errorf("the model saw %d calls, want 3 (the well-known check must not call it)", len(got.ModelCalls))
	}
	points, _ := json.Marshal(got.Points)
	limiter, _ := json.Marshal(got.LimiterKeys)
	for _, secret := range []string{workerdTestKey, mobileTestKey, webTestKey, consumerTestSalt, "hello", "again"} {
		if strings.Contains(string(points), secret) {
			t.Errorf("a data point holds %q: %s", secret, points)
		}
	}
	for _, secret := range []string{mobileTestKey, "mobile"} {
		if strings.Contains(string(limiter), secret) {
			t.Errorf("the limiter counts under %q: %s", secret, limiter)
		}
	}
}
