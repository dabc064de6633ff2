package spec

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/flareform.schema.json from the schema table")

var committedSchema = filepath.Join("..", "..", "docs", "flareform.schema.json")

// TestJSONSchemaIsCommitted fails when docs/flareform.schema.json drifts from the key table
// the loader uses: regenerate with `go test ./provision/spec -run Schema -update`.
func TestJSONSchemaIsCommitted(t *testing.T) {
	got := JSONSchema()
	if *update {
		if err := os.WriteFile(committedSchema, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(committedSchema)
	if err != nil {
		t.Fatalf("%v (go test ./provision/spec -run Schema -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the spec's key table; run go test ./provision/spec -run Schema -update", committedSchema)
	}
}

// The schema says what the table says: every worker key, required ones, no others.
func TestJSONSchemaFollowsTheKeyTable(t *testing.T) {
	var doc struct {
		Required   []string `json:"required"`
		Properties map[string]struct {
			AdditionalProperties struct {
				Required   []string                   `json:"required"`
				Properties map[string]json.RawMessage `json:"properties"`
				Additional bool                       `json:"additionalProperties"`
			} `json:"additionalProperties"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(JSONSchema(), &doc); err != nil {
		t.Fatal(err)
	}
	workers := doc.Properties["workers"].AdditionalProperties
	for key := range workerSchema {
		if _, ok := workers.Properties[key]; !ok {
			t.Errorf("worker key %s missing from the JSON Schema", key)
		}
	}
	if len(workers.Properties) != len(workerSchema) || workers.Additional {
		t.Errorf("JSON Schema worker has %d keys (additional %t), the table %d", len(workers.Properties), workers.Additional, len(workerSchema))
	}
	if len(doc.Required) != 1 || doc.Required[0] != "workers" {
		t.Errorf("root required = %v; want [workers]", doc.Required)
	}
	if len(workers.Required) != 2 {
		t.Errorf("worker required = %v; want compatibility_date and main", workers.Required)
	}
}

// The example spec, which names the schema on its first line as init writes it, still loads.
func TestExampleSpecWithSchemaLineLoads(t *testing.T) {
	s, err := Load(filepath.Join("..", "..", "examples", "text-to-image", "flareform.yaml"), "", func(string) string { return "0123456789abcdef0123456789abcdef" })
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Workers) == 0 {
		t.Fatal("example has no workers")
	}
}
