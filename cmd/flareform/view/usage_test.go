package view

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flareform/flareform/provision"
)

// corpusUsage covers every branch of Usage: consumers with and without refusals, a consumer
// name a data point left empty or made hostile, a worker with no data, neurons within the free
// allocation, beyond it, a little beyond it, and unknown; windows of days, hours and minutes.
func corpusUsage() map[string]*provision.UsageReport {
	f := func(v float64) *float64 { return &v }
	workers := []provision.WorkerUsage{
		{Worker: "image-api", Consumers: []provision.ConsumerUsage{
			{Consumer: "owner", Requests: 1234567, AICalls: 1200000, Tokens: 48_000_000},
			{Consumer: "", Requests: 17, Unauthorized: 17},
			{Consumer: "mobile", Requests: 530, RateLimited: 30, Unauthorized: 2, AICalls: 498, Tokens: 19920},
			{Consumer: "evil\x1b[31m\nname", Requests: 1},
		}},
		{Worker: "quiet-api", Consumers: []provision.ConsumerUsage{}},
	}
	neurons := func(today *float64, why string) provision.NeuronUsage {
		return provision.NeuronUsage{Today: today, FreeDaily: provision.FreeNeuronsPerDay, Unknown: why}
	}
	return map[string]*provision.UsageReport{
		"within":  {Since: 24 * time.Hour, Workers: workers, Neurons: neurons(f(3456.4), "")},
		"excess":  {Since: 7 * 24 * time.Hour, Workers: workers[:1], Neurons: neurons(f(12345), "")},
		"tiny":    {Since: 36 * time.Hour, Workers: workers[1:], Neurons: neurons(f(10001), "")},
		"little":  {Since: 90 * time.Minute, Workers: workers[1:], Neurons: neurons(f(12), "")},
		"unknown": {Since: time.Minute, Workers: workers, Neurons: neurons(nil, "the GraphQL API returned no aiInferenceAdaptiveGroups")},
	}
}

func usageCases() map[string]string {
	cases := map[string]string{}
	for name, r := range corpusUsage() {
		for suffix, color := range map[string]bool{"": false, "_color": true} {
			var b bytes.Buffer
			Usage(&b, r, color)
			cases["usage_"+name+suffix] = b.String()
		}
	}
	return cases
}

// TestUsageGolden pins Usage byte for byte (go test ./cmd/flareform/view -run TestUsageGolden -update).
func TestUsageGolden(t *testing.T) {
	checkGoldenFile(t, filepath.Join("testdata", "usage.golden"), usageCases())
}

// The text says what the golden file pins, independently of it: the neuron line's numbers and
// price, the empty worker, and no control character from a hostile consumer name.
func TestUsageText(t *testing.T) {
	corpus := corpusUsage()
	var b bytes.Buffer
	Usage(&b, corpus["excess"], false)
	text := b.String()
	for _, want := range []string{
		"Usage in the last 7 days (Analytics Engine dataset flareform_usage):",
		"Neurons today: 12,345 of 10,000 free (123%); excess 2,345 → $0.03\n",
		"\nCONSUMER ", "\nowner ", "\n- ", "\nmobile ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("usage text lacks %q:\n%s", want, text)
		}
	}
	rows := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			rows[f[0]] = strings.Join(f, " ")
		}
	}
	for _, want := range []string{"owner 1,234,567 0 0 1,200,000 48,000,000", "mobile 530 2 30 498 19,920", "- 17 17 0 0 0"} {
		if first := strings.Fields(want)[0]; rows[first] != want {
			t.Errorf("row %q, want %q:\n%s", rows[first], want, text)
		}
	}
	if strings.ContainsAny(text, "\x1b\r") || strings.Count(text, "\n") != 10 {
		t.Errorf("usage text holds a control character or a row over two lines:\n%q", text)
	}
	for name, want := range map[string]string{
		"within":  "Neurons today: 3,456 of 10,000 free (35%)\n",
		"tiny":    "Neurons today: 10,001 of 10,000 free (100%); excess 1 → $0.000011\n",
		"little":  "Neurons today: 12 of 10,000 free (<1%)\n",
		"unknown": "Neurons today: unknown (the GraphQL API returned no aiInferenceAdaptiveGroups)\n",
	} {
		b.Reset()
		Usage(&b, corpus[name], false)
		if !strings.HasSuffix(b.String(), want) || (name == "within" && !strings.Contains(b.String(), "quiet-api: no requests recorded.")) {
			t.Errorf("%s: usage text ends\n%s\nwant %q", name, b.String(), want)
		}
	}
}

// The JSON is exactly the shape docs/json.md gives, with today null and unknown set when the
// neurons are unknown, and no unknown otherwise.
func TestUsageJSONShape(t *testing.T) {
	corpus := corpusUsage()
	var b bytes.Buffer
	if err := JSON(&b, &provision.UsageReport{Workers: corpus["excess"].Workers[:1], Neurons: corpus["tiny"].Neurons}); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	consumer := doc["workers"].([]any)[0].(map[string]any)["consumers"].([]any)[2].(map[string]any)
	wantConsumer := map[string]any{"consumer": "mobile", "requests": 530.0, "unauthorized": 2.0, "rate_limited": 30.0, "ai_calls": 498.0, "tokens": 19920.0}
	if len(doc) != 2 || len(consumer) != len(wantConsumer) {
		t.Errorf("JSON keys %v / consumer %v, want workers and neurons / %v", doc, consumer, wantConsumer)
	}
	for k, v := range wantConsumer {
		if consumer[k] != v {
			t.Errorf("consumer %s = %v, want %v", k, consumer[k], v)
		}
	}
	if n := doc["neurons"].(map[string]any); len(n) != 2 || n["today"] != 10001.0 || n["free_daily"] != 10000.0 {
		t.Errorf("known neurons JSON %v", n)
	}
	b.Reset()
	if err := JSON(&b, corpus["unknown"].Neurons); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(strings.Fields(b.String()), ""); got != `{"today":null,"free_daily":10000,"unknown":"theGraphQLAPIreturnednoaiInferenceAdaptiveGroups"}` {
		t.Errorf("unknown neurons JSON %s", b.String())
	}
}
