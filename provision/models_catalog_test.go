package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flareform/flareform/provision/spec"
)

// catalogOverlay stands in front of the local Cloudflare's ai/models/search and makes its
// catalog say what a test needs, whatever the local catalog holds today: each model in models
// is in the answer of a search whose term it contains (added to page 1 when missing), with the
// task and planned_deprecation_date given.
type catalogOverlay struct {
	next   http.RoundTripper
	models map[string]overlayModel
}

type overlayModel struct {
	task, date string
}

func (o *catalogOverlay) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := o.next.RoundTrip(req)
	if err != nil || req.Method != http.MethodGet || !strings.HasSuffix(req.URL.Path, "/ai/models/search") || res.StatusCode != http.StatusOK {
		return res, err
	}
	data, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	var env map[string]json.RawMessage
	var items []map[string]any
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(env["result"], &items); err != nil {
		return nil, err
	}
	term := strings.ToLower(req.URL.Query().Get("search"))
	for name, m := range o.models {
		if !strings.Contains(strings.ToLower(name), term) {
			continue
		}
		found := false
		for _, item := range items {
			if item["name"] == name {
				found = true
				item["properties"] = overlayProperties(item["properties"], m.date)
			}
		}
		if !found && req.URL.Query().Get("page") == "1" {
			items = append(items, map[string]any{"id": "overlay-" + name, "source": 1, "name": name, "description": "overlay",
				"task": map[string]any{"id": "overlay-task", "name": m.task}, "tags": []string{},
				"properties": overlayProperties(nil, m.date)})
		}
	}
	if env["result"], err = json.Marshal(items); err != nil {
		return nil, err
	}
	if data, err = json.Marshal(env); err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(data))
	res.ContentLength = int64(len(data))
	res.Header.Set("Content-Length", strconv.Itoa(len(data)))
	return res, nil
}

// overlayProperties replaces the planned_deprecation_date among props with date ("" = none).
func overlayProperties(props any, date string) []any {
	var out []any
	list, _ := props.([]any)
	for _, p := range list {
		if m, ok := p.(map[string]any); ok && m["property_id"] == "planned_deprecation_date" {
			continue
		}
		out = append(out, p)
	}
	if date != "" {
		out = append(out, map[string]any{"property_id": "planned_deprecation_date", "value": date})
	}
	if out == nil {
		out = []any{}
	}
	return out
}

// testToday is the engine clock of the catalog tests.
var testToday = time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)

// catalogHarness is a harness whose catalog says what models says, on a clock at testToday.
func catalogHarness(t *testing.T, models map[string]overlayModel) *harness {
	t.Helper()
	return newHarness(t, func(c *Config) {
		c.HTTPClient = &http.Client{Transport: &catalogOverlay{next: c.HTTPClient.Transport, models: models}, Timeout: c.HTTPClient.Timeout}
		c.Now = func() time.Time { return testToday }
	})
}

const (
	llama31    = "@cf/meta/llama-3.1-8b-instruct"
	llama31Fst = "@cf/meta/llama-3.1-8b-instruct-fast"
	llama3     = "@cf/meta/llama-3-8b-instruct"
	qwenChat   = "@cf/qwen/qwen1.5-7b-chat-awq"
	llava      = "@cf/llava-hf/llava-1.5-7b-hf"
)

func chatWorker(t *testing.T, name, model string) spec.Worker {
	w := imageWorker(t, name, "")
	w.AI.Model = model
	w.Smoke = nil
	return w
}

// A model whose planned_deprecation_date has come (by the engine's clock, the day itself
// included) is refused at the spec's model line, with the date and what to use instead, before
// any write: the snapshot's replacement when it has one, else the changelog's recommendation
// for the model's task.
func TestRetiredModelIsRefusedBeforeAnyWrite(t *testing.T) {
	h := catalogHarness(t, map[string]overlayModel{
		llama31:  {"Text Generation", "2026-05-30"},
		qwenChat: {"Text Generation", "2026-12-06"}, // today: retired from this day on
		llava:    {"Image-to-Text", "2026-11-01"},
	})
	for _, tc := range []struct{ model, date, fix string }{
		{llama31, "2026-05-30", "use " + llama31Fst + " (same inputs and outputs)"},
		{qwenChat, "2026-12-06", "use @cf/zai-org/glm-4.7-flash (check its inputs and outputs: they differ)"},
		{llava, "2026-11-01", "use @cf/google/gemma-4-26b-a4b-it (check its inputs and outputs: they differ)"},
	} {
		h.srv.ResetRequests()
		_, err := h.eng.Plan(context.Background(), specOf(chatWorker(t, "chat-api", tc.model)))
		var se *spec.Error
		if !errors.As(err, &se) {
			t.Fatalf("%s: err = %v, want a *spec.Error", tc.model, err)
		}
		want := "flareform.yaml:7:14: workers.chat-api: " + tc.model + " was retired on " + tc.date + "; " + tc.fix
		if se.Error() != want {
			t.Errorf("%s:\n got %q\nwant %q", tc.model, se.Error(), want)
		}
		if _, writes := h.apiCalls(); writes != 0 {
			t.Errorf("%s: %d writes before the refusal", tc.model, writes)
		}
	}
	// The day before the date it is only a warning.
	h.eng.cfg.Now = func() time.Time { return time.Date(2026, 12, 5, 23, 59, 0, 0, time.UTC) }
	h.eng.models = modelCache{}
	if p := h.plan(t, specOf(chatWorker(t, "chat-api", qwenChat))); len(p.Warnings) != 1 {
		t.Errorf("the day before its date: warnings %+v, want one", p.Warnings)
	}
}

// A date still ahead is a warning, in the plan's text and its JSON, and stops nothing.
func TestFutureDeprecationWarnsWithoutFailing(t *testing.T) {
	h := catalogHarness(t, map[string]overlayModel{qwenChat: {"Text Generation", "2027-03-01"}})
	s := specOf(chatWorker(t, "chat-api", qwenChat))
	p := h.plan(t, s)
	if len(p.Warnings) != 1 {
		t.Fatalf("warnings %+v, want one", p.Warnings)
	}
	w := p.Warnings[0]
	if w.Worker != "chat-api" || w.Model != qwenChat || w.Date != "2027-03-01" || w.File != "flareform.yaml" || w.Line != 7 || w.Col != 14 ||
		!strings.Contains(w.Message, "will be retired on 2027-03-01") || !strings.Contains(w.Fix, "glm-4.7-flash") {
		t.Errorf("warning %+v", w)
	}
	// The plan's text prints it first, as "Warning: " and this (cmd/flareform/view).
	if !strings.HasPrefix(w.String(), "flareform.yaml:7:14: workers.chat-api: "+qwenChat+" will be retired on 2027-03-01") {
		t.Errorf("warning as printed: %s", w)
	}
	js, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Warnings []map[string]any `json:"warnings"`
	}
	if err := json.Unmarshal(js, &doc); err != nil || len(doc.Warnings) != 1 || doc.Warnings[0]["date"] != "2027-03-01" || doc.Warnings[0]["line"] != 7.0 {
		t.Errorf("plan JSON warnings %s (%v)", js, err)
	}
	if _, err := h.eng.Apply(context.Background(), p, ApplyOptions{SkipSmoke: true}); err != nil {
		t.Fatalf("apply of a plan with a warning: %v", err)
	}
	// A model without a date warns about nothing.
	if p := h.plan(t, specOf(imageWorker(t, "image-api", ""))); len(p.Warnings) != 0 {
		t.Errorf("warnings for %s: %+v", sdxl, p.Warnings)
	}
}

// A typo of a retired model's name is answered with the nearest model that still runs, never
// the retired one.
func TestDidYouMeanSkipsRetiredModels(t *testing.T) {
	h := catalogHarness(t, map[string]overlayModel{
		llama31:    {"Text Generation", "2026-05-30"},
		llama3:     {"Text Generation", "2026-05-30"},
		llama31Fst: {"Text Generation", ""},
	})
	_, err := h.eng.Plan(context.Background(), specOf(chatWorker(t, "chat-api", "@cf/meta/llama-3.1-8b-instrcut")))
	var se *spec.Error
	if !errors.As(err, &se) || se.Fix != `did you mean "`+llama31Fst+`"?` {
		t.Fatalf("typo of a retired model: %v, want the -fast variant suggested", err)
	}
}
