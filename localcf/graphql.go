package localcf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"
)

// POST /client/v4/graphql: the GraphQL Analytics API, as far as Workers AI neurons go
// (cloudflare-operations.md 4.2, UNCONFIRMED as official):
//
//	viewer { accounts(filter: {accountTag: $a}) {
//	  aiInferenceAdaptiveGroups(limit: N, filter: {date: $d}, orderBy: [...]) {
//	    dimensions { modelId } sum { totalNeurons } count } } }
//
// answered from the neuron records of localcf's Workers AI (analytics.go). Answers are HTTP
// 200 with {"data", "errors"}, as GraphQL servers answer, also for a field the schema does not
// have. With the graphql_no_ai_dataset quirk the account type has no AI dataset at all.

// maxGraphQLBytes bounds a GraphQL request body.
const maxGraphQLBytes = 1 << 20

// gqlMaxLimit is the largest limit a dataset query takes (a local choice).
const gqlMaxLimit = 10000

// gqlError is a GraphQL error: a message and the path of the field it concerns.
type gqlError struct {
	Message string `json:"message"`
	Path    []any  `json:"path,omitempty"`
}

func (e *gqlError) Error() string { return e.Message }

func gqlFieldError(path []any, format string, args ...any) *gqlError {
	return &gqlError{Message: fmt.Sprintf(format, args...), Path: extend(path)}
}

// gqlObject is an answer object whose keys keep the query's order.
type gqlObject []gqlEntry

type gqlEntry struct {
	key   string
	value any
}

func (o gqlObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(e.key)
		v, err := json.Marshal(e.value)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", e.key, err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// graphQL serves one request. The route takes any valid token; an account the token does not
// belong to is a GraphQL error, as the API's field-level authorization reports it.
func (s *Server) graphQL(c *call) *apiError {
	var req struct {
		Query     string         `json:"query"`
		Variables map[string]any `json:"variables"`
	}
	body, err := io.ReadAll(io.LimitReader(c.r.Body, maxGraphQLBytes+1))
	if err == nil && len(body) > maxGraphQLBytes {
		err = fmt.Errorf("body over %d bytes", maxGraphQLBytes)
	}
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		writeGraphQL(c.w, nil, &gqlError{Message: "could not read the request: " + err.Error()})
		return nil
	}
	if req.Variables == nil {
		req.Variables = map[string]any{}
	}
	data, gerr := s.gqlExecute(c, req.Query, req.Variables)
	writeGraphQL(c.w, data, gerr)
	return nil
}

func writeGraphQL(w http.ResponseWriter, data any, gerr *gqlError) {
	body := gqlObject{{"data", data}, {"errors", nil}}
	if gerr != nil {
		body = gqlObject{{"data", nil}, {"errors", []*gqlError{gerr}}}
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) gqlExecute(c *call, query string, vars map[string]any) (any, *gqlError) {
	sel, err := parseGraphQL(query, vars)
	if err != nil {
		return nil, &gqlError{Message: err.Error()}
	}
	out := gqlObject{}
	for _, f := range sel {
		if f.name != "viewer" {
			return nil, gqlFieldError([]any{f.key()}, "unknown field %q on type \"Query\"", f.name)
		}
		v, gerr := s.gqlViewer(c, f, []any{f.key()})
		if gerr != nil {
			return nil, gerr
		}
		out = append(out, gqlEntry{f.key(), v})
	}
	return out, nil
}

func (s *Server) gqlViewer(c *call, f gqlField, path []any) (any, *gqlError) {
	out := gqlObject{}
	for _, sub := range f.sel {
		p := extend(path, sub.key())
		if sub.name != "accounts" {
			return nil, gqlFieldError(p, "unknown field %q on type \"viewer\"", sub.name)
		}
		accounts, gerr := s.gqlAccounts(c, sub, p)
		if gerr != nil {
			return nil, gerr
		}
		out = append(out, gqlEntry{sub.key(), accounts})
	}
	return out, nil
}

// gqlAccounts answers accounts(filter: {accountTag}) for the token's own account only.
func (s *Server) gqlAccounts(c *call, f gqlField, path []any) (any, *gqlError) {
	filter, _ := f.args["filter"].(map[string]any)
	tag, _ := filter["accountTag"].(string)
	if tag == "" || len(filter) != 1 {
		return nil, gqlFieldError(path, "accounts needs filter: {accountTag: \"<account id>\"}")
	}
	if s.accountForToken(c.token) != tag {
		return nil, gqlFieldError(path, "not authorized for that account")
	}
	out := gqlObject{}
	for _, sub := range f.sel {
		p := extend(path, 0, sub.key())
		if sub.name != "aiInferenceAdaptiveGroups" || s.Quirks().GraphQLNoAIDataset {
			return nil, gqlFieldError(p, "unknown field %q on type \"account\"", sub.name)
		}
		groups, gerr := s.gqlAIGroups(tag, sub, p)
		if gerr != nil {
			return nil, gerr
		}
		out = append(out, gqlEntry{sub.key(), groups})
	}
	return []any{out}, nil
}

// gqlAIFilter is aiInferenceAdaptiveGroups' filter: dates (UTC, YYYY-MM-DD), hours and the
// model; each has* says whether the query set it.
type gqlAIFilter struct {
	date, dateGeq, dateLeq  string
	hourGeq, hourLeq        time.Time
	modelID                 string
	hasDate, hasGeq, hasLeq bool
	hasHourGeq, hasHourLeq  bool
	hasModel                bool
}

func parseAIFilter(raw any, path []any) (gqlAIFilter, *gqlError) {
	var f gqlAIFilter
	obj, ok := raw.(map[string]any)
	if raw != nil && !ok {
		return f, gqlFieldError(path, "filter must be an object")
	}
	for key, v := range obj {
		s, isString := v.(string)
		if !isString {
			return f, gqlFieldError(path, "filter field %q needs a string", key)
		}
		if gerr := f.set(key, s, path); gerr != nil {
			return f, gerr
		}
	}
	return f, nil
}

func (f *gqlAIFilter) set(key, v string, path []any) *gqlError {
	switch key {
	case "date", "date_geq", "date_leq":
		if _, err := time.Parse(time.DateOnly, v); err != nil {
			return gqlFieldError(path, "filter field %q needs a Date (YYYY-MM-DD), not %q", key, v)
		}
		switch key {
		case "date":
			f.date, f.hasDate = v, true
		case "date_geq":
			f.dateGeq, f.hasGeq = v, true
		default:
			f.dateLeq, f.hasLeq = v, true
		}
	case "datetimeHour_geq", "datetimeHour_leq":
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return gqlFieldError(path, "filter field %q needs a Time (RFC 3339), not %q", key, v)
		}
		if key == "datetimeHour_geq" {
			f.hourGeq, f.hasHourGeq = t.Truncate(time.Hour), true
		} else {
			f.hourLeq, f.hasHourLeq = t.Truncate(time.Hour), true
		}
	case "modelId":
		f.modelID, f.hasModel = v, true
	default:
		return gqlFieldError(path, "unknown filter field %q (date, date_geq, date_leq, datetimeHour_geq, datetimeHour_leq, modelId)", key)
	}
	return nil
}

func (f gqlAIFilter) matches(r *neuronRecord) bool {
	day, hour := r.Time.UTC().Format(time.DateOnly), r.Time.UTC().Truncate(time.Hour)
	switch {
	case f.hasDate && day != f.date, f.hasGeq && day < f.dateGeq, f.hasLeq && day > f.dateLeq:
		return false
	case f.hasHourGeq && hour.Before(f.hourGeq), f.hasHourLeq && hour.After(f.hourLeq):
		return false
	case f.hasModel && r.Model != f.modelID:
		return false
	}
	return true
}

// aiGroup is one group of calls: by model when dimensions { modelId } is selected.
type aiGroup struct {
	model   string
	neurons float64
	count   int
}

// gqlAIGroups answers aiInferenceAdaptiveGroups from the account's neuron records.
func (s *Server) gqlAIGroups(accountID string, f gqlField, path []any) (any, *gqlError) {
	filter, gerr := parseAIFilter(f.args["filter"], path)
	if gerr != nil {
		return nil, gerr
	}
	limit, gerr := gqlLimit(f.args, path)
	if gerr != nil {
		return nil, gerr
	}
	for key := range f.args {
		if key != "filter" && key != "limit" && key != "orderBy" {
			return nil, gqlFieldError(path, "unknown argument %q on aiInferenceAdaptiveGroups", key)
		}
	}
	if gerr := checkGroupSelection(f.sel, path); gerr != nil {
		return nil, gerr
	}
	byModel := selectsModel(f.sel)
	_, neurons, err := s.usageLogs()
	if err != nil {
		return nil, &gqlError{Message: "internal error: " + err.Error(), Path: path}
	}
	groups := groupNeurons(neurons, accountID, filter, byModel)
	if gerr := orderGroups(groups, f.args["orderBy"], path); gerr != nil {
		return nil, gerr
	}
	if len(groups) > limit {
		groups = groups[:limit]
	}
	return renderGroups(groups, f.sel), nil
}

func gqlLimit(args map[string]any, path []any) (int, *gqlError) {
	raw, set := args["limit"]
	if !set {
		return gqlMaxLimit, nil
	}
	n, ok := raw.(float64)
	if !ok || n != float64(int(n)) || n < 0 || n > gqlMaxLimit {
		return 0, gqlFieldError(path, "limit must be a whole number from 0 to %d", gqlMaxLimit)
	}
	return int(n), nil
}

func selectsModel(sel []gqlField) bool {
	for _, f := range sel {
		if f.name == "dimensions" {
			for _, d := range f.sel {
				if d.name == "modelId" {
					return true
				}
			}
		}
	}
	return false
}

// groupNeurons sums the matching records, by model or all together, sorted by model name.
func groupNeurons(log *appendLog[neuronRecord], accountID string, filter gqlAIFilter, byModel bool) []*aiGroup {
	index := map[string]*aiGroup{}
	log.each(func(r *neuronRecord) {
		if r.Account != accountID || !filter.matches(r) {
			return
		}
		key := ""
		if byModel {
			key = r.Model
		}
		g := index[key]
		if g == nil {
			g = &aiGroup{model: key}
			index[key] = g
		}
		g.neurons += r.Neurons
		g.count++
	})
	groups := make([]*aiGroup, 0, len(index))
	for _, g := range index {
		groups = append(groups, g)
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i].model < groups[j].model })
	return groups
}

// orderGroups applies orderBy: ["sum_totalNeurons_DESC", "count_ASC", "modelId_ASC", ...].
func orderGroups(groups []*aiGroup, raw any, path []any) *gqlError {
	if raw == nil {
		return nil
	}
	list, ok := raw.([]any)
	if !ok {
		list = []any{raw}
	}
	for i := len(list) - 1; i >= 0; i-- { // the first key sorts last, so it wins
		key := gqlName(list[i])
		less, gerr := groupOrder(key, path)
		if gerr != nil {
			return gerr
		}
		sort.SliceStable(groups, func(a, b int) bool { return less(groups[a], groups[b]) })
	}
	return nil
}

func groupOrder(key string, path []any) (func(a, b *aiGroup) bool, *gqlError) {
	field, desc := "", false
	switch {
	case strings.HasSuffix(key, "_DESC"):
		field, desc = strings.TrimSuffix(key, "_DESC"), true
	case strings.HasSuffix(key, "_ASC"):
		field = strings.TrimSuffix(key, "_ASC")
	}
	var less func(a, b *aiGroup) bool
	switch field {
	case "sum_totalNeurons":
		less = func(a, b *aiGroup) bool { return a.neurons < b.neurons }
	case "count":
		less = func(a, b *aiGroup) bool { return a.count < b.count }
	case "modelId":
		less = func(a, b *aiGroup) bool { return a.model < b.model }
	default:
		return nil, gqlFieldError(path, "unsupported orderBy %q (sum_totalNeurons, count or modelId, then _ASC or _DESC)", key)
	}
	if desc {
		return func(a, b *aiGroup) bool { return less(b, a) }, nil
	}
	return less, nil
}

// checkGroupSelection refuses fields a group does not have, before anything is rendered (an
// empty answer is checked too, as a schema-checked query is).
func checkGroupSelection(sel []gqlField, path []any) *gqlError {
	for _, f := range sel {
		p := extend(path, f.key())
		switch f.name {
		case "count":
		case "dimensions", "sum":
			for _, sub := range f.sel {
				if sub.name != groupSubfields[f.name] {
					return gqlFieldError(extend(p, sub.key()), "unknown field %q on type %q", sub.name, f.name)
				}
			}
		default:
			return gqlFieldError(p, "unknown field %q on type \"aiInferenceAdaptiveGroups\"", f.name)
		}
	}
	return nil
}

// groupSubfields is the one field of a group's dimensions and sum objects.
var groupSubfields = map[string]string{"dimensions": "modelId", "sum": "totalNeurons"}

// renderGroups writes the groups with the selected fields, in the query's order.
func renderGroups(groups []*aiGroup, sel []gqlField) []any {
	out := make([]any, 0, len(groups))
	for _, g := range groups {
		obj := gqlObject{}
		for _, f := range sel {
			obj = append(obj, gqlEntry{f.key(), groupField(g, f)})
		}
		out = append(out, obj)
	}
	return out
}

func groupField(g *aiGroup, f gqlField) any {
	if f.name == "count" {
		return g.count
	}
	obj := gqlObject{}
	for _, sub := range f.sel {
		var v any = g.model
		if f.name == "sum" {
			v = g.neurons
		}
		obj = append(obj, gqlEntry{sub.key(), v})
	}
	return obj
}

// extend copies path with more elements, so sibling fields never share a backing array.
func extend(path []any, elems ...any) []any {
	return append(append(make([]any, 0, len(path)+len(elems)), path...), elems...)
}
