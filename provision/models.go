package provision

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/flareform/flareform/internal/aimodels"
	"github.com/flareform/flareform/provision/spec"
)

// Models are checked against the account's Workers AI catalog (GET .../ai/models/search), never
// against a list in the code: the catalog is what can run, and it says when a model is retired
// (its planned_deprecation_date property, cloudflare-operations.md 5.1). Plan searches every
// model the spec names alongside its other reads, once per model per Engine.

// catalogModel is one item of ai/models/search, reduced to what plan uses.
type catalogModel struct {
	Name string
	Task string // task name, e.g. "Text Generation"
	// Vision: the model reads images (task Image-to-Text, or the `vision` property).
	Vision bool
	// Deprecation is the planned_deprecation_date, YYYY-MM-DD; "" when the model has none.
	Deprecation string
}

// modelLookup is what the catalog says about one model name.
type modelLookup struct {
	found bool
	model catalogModel
	// near lists the catalog models seen while looking for a name that is not there, for
	// suggestModel.
	near []catalogModel
}

// modelCache holds one lookup per model name for the Engine's lifetime; concurrent plans of the
// same name share the search in flight. A failed search is not kept: the next plan asks again.
type modelCache struct {
	mu      sync.Mutex
	entries map[string]*modelEntry
}

type modelEntry struct {
	done   chan struct{}
	lookup modelLookup
	err    error
}

// lookupModel asks the catalog about model once per Engine.
func (e *Engine) lookupModel(ctx context.Context, accountID, model string) (modelLookup, error) {
	c := &e.models
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[string]*modelEntry{}
	}
	key := accountID + "\x00" + model
	if ent, ok := c.entries[key]; ok {
		c.mu.Unlock()
		select {
		case <-ent.done:
			if ent.err == nil {
				return ent.lookup, nil
			}
		case <-ctx.Done():
			return modelLookup{}, ctx.Err()
		}
		return e.lookupModel(ctx, accountID, model) // the search failed and was dropped: ask again
	}
	ent := &modelEntry{done: make(chan struct{})}
	c.entries[key] = ent
	c.mu.Unlock()
	ent.lookup, ent.err = e.searchModel(ctx, accountID, model)
	if ent.err != nil {
		c.mu.Lock()
		delete(c.entries, key)
		c.mu.Unlock()
	}
	close(ent.done)
	return ent.lookup, ent.err
}

// searchModel looks model up in the catalog. When it is not there, the lookup's near lists the
// catalog models seen while looking (and, with one more search on the start of the name, models
// like it), for suggestModel.
func (e *Engine) searchModel(ctx context.Context, accountID, model string) (modelLookup, error) {
	// Search on the last path segment: it is the part a fuzzy search matches most reliably,
	// and the exact comparison below decides.
	term := model[strings.LastIndex(model, "/")+1:]
	near, err := e.searchModels(ctx, accountID, term, model)
	if err != nil {
		return modelLookup{}, err
	}
	if i := slices.IndexFunc(near, func(m catalogModel) bool { return m.Name == model }); i >= 0 {
		return modelLookup{found: true, model: near[i]}, nil
	}
	// A typo defeats that search; the name's first word ("llama", "stable") finds its family.
	if prefix := familyOf(term); prefix != "" && prefix != term {
		more, err := e.searchModels(ctx, accountID, prefix, model)
		if err != nil {
			return modelLookup{}, err
		}
		near = append(near, more...)
	}
	return modelLookup{near: near}, nil
}

// searchModels lists the catalog models a search for term finds, stopping early at model.
func (e *Engine) searchModels(ctx context.Context, accountID, term, model string) ([]catalogModel, error) {
	var models []catalogModel
	// Pages are walked by hand: the SDK's auto-pager drops the context and always asks for
	// one page more than needed.
	for page := int64(1); page <= maxModelSearchPages; page++ {
		items, err := e.api.Account(accountID).SearchModels(ctx, term, page, modelSearchPageSize)
		if err != nil {
			return nil, fmt.Errorf("search the Workers AI catalog for %s: %w", model, err)
		}
		for _, item := range items {
			if m, ok := parseCatalogModel(item); ok {
				models = append(models, m)
				if m.Name == model {
					return models, nil
				}
			}
		}
		if len(items) < modelSearchPageSize {
			break
		}
	}
	return models, nil
}

// parseCatalogModel reads one search result item: {name, task: {name}, properties:
// [{property_id, value}]}. A value is usually a string; other types are skipped.
func parseCatalogModel(item any) (catalogModel, bool) {
	m, ok := item.(map[string]any)
	if !ok {
		return catalogModel{}, false
	}
	name, _ := m["name"].(string)
	if name == "" {
		return catalogModel{}, false
	}
	out := catalogModel{Name: name}
	if task, ok := m["task"].(map[string]any); ok {
		out.Task, _ = task["name"].(string)
	}
	out.Vision = strings.EqualFold(out.Task, "Image-to-Text")
	props, _ := m["properties"].([]any)
	for _, p := range props {
		prop, ok := p.(map[string]any)
		if !ok {
			continue
		}
		id, _ := prop["property_id"].(string)
		value, _ := prop["value"].(string)
		switch id {
		case "planned_deprecation_date":
			out.Deprecation = deprecationDay(value)
		case "vision":
			out.Vision = out.Vision || value == "true"
		}
	}
	return out, true
}

// deprecationDay is the YYYY-MM-DD a planned_deprecation_date names ("2026-05-30", also when
// the API adds a time to it); "" when it names none.
func deprecationDay(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= len(time.DateOnly) {
		if _, err := time.Parse(time.DateOnly, v[:len(time.DateOnly)]); err == nil {
			return v[:len(time.DateOnly)]
		}
	}
	return ""
}

// retired reports whether the catalog's date for m has come on day now: from then on Workers AI
// answers no inference with it.
func (m catalogModel) retired(now time.Time) bool {
	return m.Deprecation != "" && aimodels.PastDate(m.Deprecation, now)
}

// familyOf is the first word of a model's last segment ("llama" of "llama-3.1-8b-instruct").
func familyOf(term string) string {
	if i := strings.IndexAny(term, "-_."); i >= 3 {
		return term[:i]
	}
	return ""
}

// suggestModel is the catalog name nearest to model by edit distance among near, leaving out
// models retired by now; "" when none is close enough (a quarter of the name's length) to be
// what was meant, since suggesting an unrelated model helps nobody.
func suggestModel(model string, near []catalogModel, now time.Time) string {
	best, bestDist := "", len(model)/4+1
	for _, c := range near {
		if c.retired(now) {
			continue
		}
		if d := spec.EditDistance(strings.ToLower(model), strings.ToLower(c.Name)); d < bestDist {
			best, bestDist = c.Name, d
		}
	}
	return best
}

// replacementAdvice is what to use instead of a retired or retiring model: the snapshot's
// replacement (the -fast variant where one exists), else the changelog's recommendation for the
// model's task.
func replacementAdvice(m catalogModel) string {
	if r, ok := aimodels.LookupRetired(m.Name); ok {
		return r.Advice()
	}
	switch {
	case m.Vision:
		return "use " + aimodels.VisionReplacement + " (check its inputs and outputs: they differ)"
	case strings.EqualFold(m.Task, "Text Generation"):
		return "use " + aimodels.ChatReplacement + " (check its inputs and outputs: they differ)"
	}
	return "use a current model from the Workers AI catalog (https://developers.cloudflare.com/workers-ai/models/)"
}

// Warning is something a plan found that does not stop it: a model Workers AI retires soon.
type Warning struct {
	Worker  string `json:"worker,omitempty"` // the worker's key in the spec
	Model   string `json:"model,omitempty"`
	Date    string `json:"date,omitempty"` // the model's planned_deprecation_date
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"`
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Col     int    `json:"col,omitempty"`
}

// String is the warning as the plan prints it: "file:line:col: message; fix".
func (w Warning) String() string {
	return (&spec.Error{File: w.File, Line: w.Line, Col: w.Col, Msg: w.Message, Fix: w.Fix}).Error()
}

// checkModels looks every model the spec names up in the catalog, all at once: an unknown
// model (with the nearest name) or one whose planned_deprecation_date has come fails at the
// spec's ai.model line; one whose date is still ahead is a warning.
func (e *Engine) checkModels(ctx context.Context, s *spec.Spec, accountID string) ([]Warning, error) {
	lookups := map[string]*modelEntry{}
	var wg sync.WaitGroup
	for _, w := range s.Workers {
		if w.AI == nil || lookups[w.AI.Model] != nil {
			continue
		}
		ent := &modelEntry{}
		lookups[w.AI.Model] = ent
		wg.Add(1)
		go func() {
			defer wg.Done()
			ent.lookup, ent.err = e.lookupModel(ctx, accountID, w.AI.Model)
		}()
	}
	wg.Wait()
	now := e.cfg.Now()
	var problems spec.ErrorList
	var warnings []Warning
	for _, w := range s.Workers {
		if w.AI == nil {
			continue
		}
		ent := lookups[w.AI.Model]
		switch m := ent.lookup.model; {
		case ent.err != nil:
			return nil, fmt.Errorf("plan %s: %w", w.Name, ent.err)
		case !ent.lookup.found:
			problems = append(problems, specError(s, w, "ai.model",
				fmt.Sprintf("unknown Workers AI model %q", w.AI.Model), unknownModelFix(suggestModel(w.AI.Model, ent.lookup.near, now))))
		case m.retired(now):
			problems = append(problems, specError(s, w, "ai.model",
				fmt.Sprintf("%s was retired on %s", m.Name, m.Deprecation), replacementAdvice(m)))
		case m.Deprecation != "":
			se := specError(s, w, "ai.model", fmt.Sprintf("%s will be retired on %s (its planned_deprecation_date): Workers AI refuses it from that day",
				m.Name, m.Deprecation), replacementAdvice(m))
			warnings = append(warnings, Warning{Worker: w.Key, Model: m.Name, Date: m.Deprecation, Message: se.Msg, Fix: se.Fix,
				File: se.File, Line: se.Line, Col: se.Col})
		}
	}
	return warnings, errorListOrNil(problems)
}

// unknownModelFix suggests the nearest catalog name, when there is one.
func unknownModelFix(suggestion string) string {
	if suggestion != "" {
		return fmt.Sprintf("did you mean %q?", suggestion)
	}
	return "use a model name from the Workers AI catalog (https://developers.cloudflare.com/workers-ai/models/)"
}

const (
	modelSearchPageSize = 50
	maxModelSearchPages = 10
)
