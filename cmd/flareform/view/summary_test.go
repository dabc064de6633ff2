package view

import (
	"bytes"
	"strings"
	"testing"

	"github.com/flareform/flareform/provision"
)

// The summary counts account objects as the plan does: a semantic-search project's plan says
// "2 to create" (the index and the worker), so its apply says "2 created" and its destroy
// "2 destroyed".
func TestSummaryCountsAccountObjects(t *testing.T) {
	created := &provision.Result{
		Resources: []provision.ResourceResult{{Kind: "vectorize_index", Name: "search-docs", Action: provision.ActionCreate}},
		Workers:   []provision.WorkerResult{{Key: "search", Name: "search", Action: provision.ActionCreate}},
	}
	destroyed := &provision.Result{
		Resources: []provision.ResourceResult{{Kind: "vectorize_index", Name: "search-docs", Action: provision.ActionDelete}},
		Workers:   []provision.WorkerResult{{Key: "search", Name: "search", Action: provision.ActionDelete}},
	}
	failedIndex := &provision.Result{
		Resources: []provision.ResourceResult{{Kind: "vectorize_index", Name: "search-docs", Action: provision.ActionDelete, Error: "boom"}},
		Workers:   []provision.WorkerResult{{Key: "search", Name: "search", Action: provision.ActionDelete}},
	}
	for _, tt := range []struct {
		name  string
		write func(*bytes.Buffer)
		want  string
	}{
		{"apply", func(w *bytes.Buffer) { Apply(w, created, KeyHandover{}, NotStopped) }, "\nApply complete! Resources: 2 created, 0 updated, 0 destroyed.\n"},
		{"destroy", func(w *bytes.Buffer) { Destroy(w, destroyed) }, "\nDestroy complete! Resources: 0 created, 0 updated, 2 destroyed.\n"},
		{"destroy failed", func(w *bytes.Buffer) { Destroy(w, failedIndex) }, "\nDestroy failed: Resources: 0 created, 0 updated, 1 destroyed. 1 failed.\n"},
	} {
		var buf bytes.Buffer
		tt.write(&buf)
		if !strings.HasSuffix(buf.String(), tt.want) {
			t.Errorf("%s: output\n%s\nwant it to end %q", tt.name, buf.String(), tt.want)
		}
	}
}
