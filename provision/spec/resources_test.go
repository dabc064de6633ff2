package spec

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestLoadResourceKeys(t *testing.T) {
	dir := t.TempDir()
	writeWorker(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "sample.wav"), []byte("RIFF...."), 0o644); err != nil {
		t.Fatal(err)
	}
	path := writeSpec(t, dir, `workers:
  search:
    main: ./src/worker.js
    compatibility_date: "2025-06-01"
    ai:
      model: "@cf/baai/bge-base-en-v1.5"
      gateway: { id: search-gw, cache_ttl: 3600, collect_logs: true, rate_limit: { limit: 50, period: 120 } }
    rate_limit: { limit: 3, period: 60 }
    vectorize: { index: docs, dimensions: 768, metric: dot-product }
    smoke:
      path: /query
      body: { query: "hello", topK: 3 }
      expect: application/json
      expect_fields: [matches, count]
  speech:
    main: ./src/worker.js
    compatibility_date: "2025-06-01"
    vectorize: { binding: INDEX, index: other-docs, dimensions: 384, metric: cosine }
    smoke:
      method: PUT
      body_file: ./sample.wav
      content_type: audio/wav
      expect: text/event-stream
`)
	s, err := Load(path, "", envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	search, speech := s.Workers[0], s.Workers[1]
	wantGW := &AIGateway{ID: "search-gw", CacheTTL: 3600, CollectLogs: true, RateLimit: &RateLimit{Limit: 50, Period: 120}}
	if !reflect.DeepEqual(search.AI.Gateway, wantGW) {
		t.Errorf("gateway = %+v, want %+v", search.AI.Gateway, wantGW)
	}
	if !reflect.DeepEqual(search.RateLimit, &RateLimit{Limit: 3, Period: 60}) {
		t.Errorf("rate_limit = %+v", search.RateLimit)
	}
	if want := (&VectorizeIndex{Binding: "VECTORIZE", Index: "docs", Dimensions: 768, Metric: "dot-product"}); !reflect.DeepEqual(search.Vectorize, want) {
		t.Errorf("vectorize = %+v, want %+v", search.Vectorize, want)
	}
	if got := string(search.Smoke.Body); got != `{"query":"hello","topK":3}` {
		t.Errorf("smoke body = %s", got)
	}
	if !reflect.DeepEqual(search.Smoke.ExpectFields, []string{"matches", "count"}) || search.Smoke.Method != "POST" {
		t.Errorf("smoke = %+v", search.Smoke)
	}
	if speech.Vectorize.Binding != "INDEX" || speech.Smoke.BodyFile != filepath.Join(dir, "sample.wav") ||
		speech.Smoke.ContentType != "audio/wav" || speech.Smoke.Method != "PUT" || speech.Smoke.Expect != "text/event-stream" {
		t.Errorf("speech = %+v / %+v", speech.Vectorize, speech.Smoke)
	}
	if p := search.Pos["vectorize.dimensions"]; p.Line != 9 {
		t.Errorf("vectorize.dimensions at %+v, want line 9", p)
	}
}
