package provision

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/flareform/flareform/provision/cfapi"
	"github.com/flareform/flareform/provision/spec"
)

// vectorizeKind is the Vectorize index kind: `vectorize` on a worker. flareform creates an
// index that does not exist, replaces one it created whose dimensions or metric changed (only
// with apply --allow-replace: the vectors are lost), and refuses one it did not create that does
// not match. Created before the workers that bind it, deleted after the last one stops.
type vectorizeKind struct{}

const indexTagPrefix = "ff-vx-"

func (vectorizeKind) name() string          { return "vectorize_index" }
func (vectorizeKind) afterWorkers() bool    { return false }
func (vectorizeKind) ownsTag(t string) bool { return strings.HasPrefix(t, indexTagPrefix) }
func (k vectorizeKind) ownerTag(name string) string {
	return ownershipTag(indexTagPrefix, k.name(), name)
}

func (vectorizeKind) declared(w spec.Worker) map[string]any {
	if w.Vectorize == nil {
		return nil
	}
	return map[string]any{w.Vectorize.Index: w.Vectorize}
}

// managed: the indexes a live worker binds.
func (k vectorizeKind) managed(_ context.Context, _ *Engine, _ string, owners []kindOwner) ([]string, error) {
	return tagOwned(k, owners, func(live *liveWorker) []string {
		var out []string
		for _, b := range sortedKeys(live.vectorize) {
			out = append(out, live.vectorize[b])
		}
		return out
	}), nil
}

func (vectorizeKind) read(ctx context.Context, e *Engine, accountID, name string, want any) (accountObject, error) {
	x := &indexResource{name: name}
	if want != nil {
		x.want = want.(*spec.VectorizeIndex)
	}
	return x, x.read(ctx, e, accountID)
}

// indexSettings is a Vectorize v2 index as the API sends and answers it.
type indexSettings struct {
	Name        string      `json:"name"`
	Description string      `json:"description,omitempty"`
	Config      indexConfig `json:"config"`
}

type indexConfig struct {
	Dimensions int    `json:"dimensions"`
	Metric     string `json:"metric"`
}

// indexResource is one Vectorize index: what the spec wants (nil: only deleted) and what exists.
type indexResource struct {
	name string
	want *spec.VectorizeIndex
	have *indexSettings // nil: does not exist
}

func (x *indexResource) live() any {
	if x.have == nil {
		return nil
	}
	return x.have
}

// replaces: Vectorize cannot change dimensions or metric in place.
func (x *indexResource) replaces() bool { return true }

func (x *indexResource) replaceNote() string {
	return "dimensions and metric cannot change in place: the index is deleted and created again, and its vectors are lost"
}

func (x *indexResource) deleteNote() string {
	return "flareform created it; its vectors are deleted with it"
}

// refuse stops a plan whose spec needs another shape of an index flareform did not create:
// not flareform's to replace, and the worker would write vectors it cannot hold.
func (x *indexResource) refuse(s *spec.Spec, owned bool) error {
	if owned || x.have == nil || x.want == nil || len(x.diff()) == 0 {
		return nil
	}
	return specError(s, workerUsingIndex(s, x.name), "vectorize.dimensions",
		fmt.Sprintf("index %q exists with %d dimensions and metric %s, and flareform did not create it, so it will not replace it", x.name, x.have.Config.Dimensions, x.have.Config.Metric),
		"match the index's dimensions and metric, or name another index (flareform creates it)")
}

func workerUsingIndex(s *spec.Spec, index string) spec.Worker {
	for _, w := range s.Workers {
		if w.Vectorize != nil && w.Vectorize.Index == index {
			return w
		}
	}
	return s.Workers[0]
}

func indexPath(accountID, name string) string {
	return "accounts/" + accountID + "/vectorize/v2/indexes/" + name
}

func (x *indexResource) read(ctx context.Context, e *Engine, accountID string) error {
	var live indexSettings
	err := e.api.Call(ctx, http.MethodGet, indexPath(accountID, x.name), nil, &live)
	switch {
	case cfapi.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("read Vectorize index: %w", err)
	}
	x.have = &live
	return nil
}

// diff lists dimensions and metric when they differ (both for a new index).
func (x *indexResource) diff() []Change {
	if x.want == nil {
		return nil
	}
	exists := x.have != nil
	var have indexConfig
	if exists {
		have = x.have.Config
	}
	var changes []Change
	add := func(c Change) { changes = append(changes, c) }
	diffScalar("dimensions", exists, fmt.Sprint(have.Dimensions), fmt.Sprint(x.want.Dimensions), add)
	diffScalar("metric", exists, have.Metric, x.want.Metric, add)
	return changes
}

func (x *indexResource) create(ctx context.Context, e *Engine, accountID string) error {
	body := indexSettings{Name: x.name, Description: "created by flareform",
		Config: indexConfig{Dimensions: x.want.Dimensions, Metric: x.want.Metric}}
	if err := e.api.Call(ctx, http.MethodPost, "accounts/"+accountID+"/vectorize/v2/indexes", body, nil); err != nil {
		return fmt.Errorf("create Vectorize index %s: %w", x.name, err)
	}
	return nil
}

// update replaces the index: Vectorize cannot change dimensions or metric in place.
func (x *indexResource) update(ctx context.Context, e *Engine, accountID string) error {
	if err := x.remove(ctx, e, accountID); err != nil {
		return err
	}
	return x.create(ctx, e, accountID)
}

func (x *indexResource) remove(ctx context.Context, e *Engine, accountID string) error {
	err := e.api.Call(ctx, http.MethodDelete, indexPath(accountID, x.name), nil, nil)
	if err != nil && !cfapi.IsNotFound(err) {
		return fmt.Errorf("delete Vectorize index %s: %w", x.name, err)
	}
	return nil
}
