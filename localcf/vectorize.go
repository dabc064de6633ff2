package localcf

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
)

// Limits of the local vectorize binding (Cloudflare's: ids up to 64 bytes, metadata up to
// 10 KiB per vector, topK up to 100).
const (
	maxVectorIDBytes       = 64
	maxVectorMetadataBytes = 10 << 10
	maxVectorsPerCall      = 5000
	maxTopK                = 100
	defaultTopK            = 5
)

// Vectorize binding error codes (local choices; the binding's message carries the reason).
const (
	codeVectorInvalid   = 40012
	codeVectorNoIndex   = 40004
	codeVectorBadQuery  = 40006
	codeVectorInternal  = 40000
	codeVectorBadCallOp = 40001
)

// vectorizeCall is one binding call: the binding's config plus the operation's arguments.
type vectorizeCall struct {
	backendBindingConfig
	Vectors []vectorInput `json:"vectors"`
	Vector  []*float64    `json:"vector"`
	ID      *string       `json:"id"`
	IDs     []string      `json:"ids"`
	Options queryOptions  `json:"options"`
}

type vectorInput struct {
	ID        string         `json:"id"`
	Values    []*float64     `json:"values"`
	Metadata  map[string]any `json:"metadata"`
	Namespace string         `json:"namespace"`
}

type queryOptions struct {
	TopK           *int           `json:"topK"`
	ReturnValues   bool           `json:"returnValues"`
	ReturnMetadata any            `json:"returnMetadata"` // true|false|"none"|"indexed"|"all"
	Namespace      string         `json:"namespace"`
	Filter         map[string]any `json:"filter"`
}

// vectorMatch is one query result.
type vectorMatch struct {
	ID        string         `json:"id"`
	Score     float64        `json:"score"`
	Values    []float64      `json:"values,omitempty"`
	Metadata  map[string]any `json:"metadata,omitempty"`
	Namespace string         `json:"namespace,omitempty"`
}

// vectorizeError is a failed operation: its status, code and message.
type vectorizeError struct {
	status, code int
	message      string
}

func vecErr(status, code int, format string, args ...any) *vectorizeError {
	return &vectorizeError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// serveVectorize runs one env.VECTORIZE operation against the index named by the binding.
func (s *Server) serveVectorize(w http.ResponseWriter, r *http.Request) {
	var call vectorizeCall
	if !readBindingCall(w, r, &call) {
		return
	}
	op := r.PathValue("op")
	var result any
	var vErr *vectorizeError
	switch op {
	case "insert", "upsert":
		result, vErr = s.writeVectors(call, op == "upsert")
	case "deleteByIds":
		result, vErr = s.deleteVectors(call)
	case "query":
		result, vErr = s.queryVectors(call)
	case "getByIds":
		result, vErr = s.getVectors(call)
	case "describe":
		result, vErr = s.describeIndex(call)
	default:
		vErr = vecErr(http.StatusNotFound, codeVectorBadCallOp, "unknown Vectorize operation %q", op)
	}
	if vErr != nil {
		writeBindingError(w, vErr.status, vErr.code, fmt.Sprintf("VECTOR_%s_ERROR: %s", strings.ToUpper(op), vErr.message))
		return
	}
	writeJSON(w, http.StatusOK, result)
}

// index returns the binding's index; the caller holds mu.
func (s *Server) index(call vectorizeCall) (*vectorizeIndex, *vectorizeError) {
	a := s.st.Accounts[call.Account]
	if a == nil || a.VectorizeIndexes[call.Index] == nil {
		return nil, vecErr(http.StatusNotFound, codeVectorNoIndex, "the Vectorize index %q does not exist on this account", call.Index)
	}
	return a.VectorizeIndexes[call.Index], nil
}

// checkValues turns a vector's components into numbers of the index's dimension.
func checkValues(id string, values []*float64, dims int) ([]float64, *vectorizeError) {
	if len(values) != dims {
		return nil, vecErr(http.StatusBadRequest, codeVectorInvalid,
			"invalid vector for id=%q, expected %d dimensions, and got %d dimensions", id, dims, len(values))
	}
	out := make([]float64, dims)
	for i, v := range values {
		if v == nil {
			return nil, vecErr(http.StatusBadRequest, codeVectorInvalid, "invalid vector for id=%q: component %d is not a finite number", id, i)
		}
		out[i] = *v
	}
	return out, nil
}

// checkVectors validates a batch against the index config before anything is written.
func checkVectors(in []vectorInput, dims int) ([]*storedVector, *vectorizeError) {
	if len(in) == 0 || len(in) > maxVectorsPerCall {
		return nil, vecErr(http.StatusBadRequest, codeVectorInvalid, "a batch needs 1 to %d vectors, not %d", maxVectorsPerCall, len(in))
	}
	out := make([]*storedVector, len(in))
	for i, v := range in {
		if v.ID == "" || len(v.ID) > maxVectorIDBytes {
			return nil, vecErr(http.StatusBadRequest, codeVectorInvalid, "vector %d: id must be 1 to %d bytes", i, maxVectorIDBytes)
		}
		values, vErr := checkValues(v.ID, v.Values, dims)
		if vErr != nil {
			return nil, vErr
		}
		if meta, _ := json.Marshal(v.Metadata); len(meta) > maxVectorMetadataBytes {
			return nil, vecErr(http.StatusBadRequest, codeVectorInvalid, "metadata for id=%q is %d bytes, over %d", v.ID, len(meta), maxVectorMetadataBytes)
		}
		out[i] = &storedVector{Values: values, Metadata: v.Metadata, Namespace: v.Namespace}
	}
	return out, nil
}

// mutation is the answer of a write: Vectorize v2's mutationId plus the count and ids of v1.
type mutation struct {
	MutationID string   `json:"mutationId"`
	Count      int      `json:"count"`
	IDs        []string `json:"ids"`
}

// writeVectors inserts (existing ids are left alone, as in Vectorize v2) or upserts a batch,
// then persists the state.
func (s *Server) writeVectors(call vectorizeCall, replace bool) (any, *vectorizeError) {
	return s.withIndexForWrite(call, func(ix *vectorizeIndex) (any, *vectorizeError) {
		vectors, vErr := checkVectors(call.Vectors, ix.Config.Dimensions)
		if vErr != nil {
			return nil, vErr
		}
		changes := map[string]*storedVector{}
		for i, v := range vectors {
			id := call.Vectors[i].ID
			if _, exists := ix.Vectors[id]; exists && !replace {
				continue
			}
			changes[id] = v
		}
		return s.applyVectorChanges(ix, changes)
	})
}

func (s *Server) deleteVectors(call vectorizeCall) (any, *vectorizeError) {
	return s.withIndexForWrite(call, func(ix *vectorizeIndex) (any, *vectorizeError) {
		changes := map[string]*storedVector{}
		for _, id := range call.IDs {
			if _, exists := ix.Vectors[id]; exists {
				changes[id] = nil
			}
		}
		return s.applyVectorChanges(ix, changes)
	})
}

// applyVectorChanges sets (or, for nil, deletes) vectors and persists; a failed save puts the
// index back as it was. The caller holds opMu and mu.
func (s *Server) applyVectorChanges(ix *vectorizeIndex, changes map[string]*storedVector) (any, *vectorizeError) {
	previous := map[string]*storedVector{}
	ids := make([]string, 0, len(changes))
	if ix.Vectors == nil {
		ix.Vectors = map[string]*storedVector{}
	}
	for id, v := range changes {
		previous[id] = ix.Vectors[id]
		if v == nil {
			delete(ix.Vectors, id)
		} else {
			ix.Vectors[id] = v
		}
		ids = append(ids, id)
	}
	sort.Strings(ids)
	oldMutation, oldAt, oldCount := ix.LastMutation, ix.LastMutatedAt, ix.Mutations
	ix.Mutations++
	ix.LastMutation = newUUID()
	ix.LastMutatedAt = s.opts.now().UTC().Format("2006-01-02T15:04:05.000Z")
	if err := s.persistLocked(); err != nil {
		for id, v := range previous {
			if v == nil {
				delete(ix.Vectors, id)
			} else {
				ix.Vectors[id] = v
			}
		}
		ix.LastMutation, ix.LastMutatedAt, ix.Mutations = oldMutation, oldAt, oldCount
		return nil, vecErr(http.StatusInternalServerError, codeVectorInternal, "could not save the index: %v", err)
	}
	return mutation{MutationID: ix.LastMutation, Count: len(ids), IDs: ids}, nil
}

func (s *Server) getVectors(call vectorizeCall) (any, *vectorizeError) {
	return s.withIndex(call, func(ix *vectorizeIndex) (any, *vectorizeError) {
		// In the order asked for; ids the index does not hold are left out. No score here.
		type vectorOnly struct {
			ID        string         `json:"id"`
			Values    []float64      `json:"values"`
			Metadata  map[string]any `json:"metadata,omitempty"`
			Namespace string         `json:"namespace,omitempty"`
		}
		out := []vectorOnly{}
		for _, id := range call.IDs {
			if v := ix.Vectors[id]; v != nil {
				out = append(out, vectorOnly{ID: id, Values: v.Values, Metadata: v.Metadata, Namespace: v.Namespace})
			}
		}
		return out, nil
	})
}

func (s *Server) describeIndex(call vectorizeCall) (any, *vectorizeError) {
	return s.withIndex(call, func(ix *vectorizeIndex) (any, *vectorizeError) {
		return map[string]any{
			"name": ix.Name, "config": ix.Config, "dimensions": ix.Config.Dimensions, "vectorCount": len(ix.Vectors),
			"processedUpToMutation": ix.LastMutation, "processedUpToDatetime": ix.LastMutatedAt,
		}, nil
	})
}

// queryVectors scores every vector of the index against the query (a vector, or the values of
// the vector with the given id) and returns the topK best: highest cosine similarity or dot
// product, smallest euclidean distance. Ties go by id so answers are stable.
func (s *Server) queryVectors(call vectorizeCall) (any, *vectorizeError) {
	return s.withIndex(call, func(ix *vectorizeIndex) (any, *vectorizeError) {
		topK, includeMeta, vErr := call.Options.check()
		if vErr != nil {
			return nil, vErr
		}
		query, vErr := s.queryVector(ix, call)
		if vErr != nil || query == nil {
			return map[string]any{"matches": []vectorMatch{}, "count": 0}, vErr
		}
		matches := []vectorMatch{}
		for id, v := range ix.Vectors {
			if call.Options.Namespace != "" && v.Namespace != call.Options.Namespace {
				continue
			}
			if !matchesFilter(v.Metadata, call.Options.Filter) {
				continue
			}
			m := vectorMatch{ID: id, Score: score(ix.Config.Metric, query, v.Values), Namespace: v.Namespace}
			if call.Options.ReturnValues {
				m.Values = v.Values
			}
			if includeMeta {
				m.Metadata = v.Metadata
			}
			matches = append(matches, m)
		}
		ascending := ix.Config.Metric == "euclidean"
		sort.Slice(matches, func(i, j int) bool {
			if matches[i].Score != matches[j].Score {
				return (matches[i].Score < matches[j].Score) == ascending
			}
			return matches[i].ID < matches[j].ID
		})
		if len(matches) > topK {
			matches = matches[:topK]
		}
		return map[string]any{"matches": matches, "count": len(matches)}, nil
	})
}

// queryVector is the query's values; nil (no error) when queryById names no stored vector.
func (s *Server) queryVector(ix *vectorizeIndex, call vectorizeCall) ([]float64, *vectorizeError) {
	if call.ID != nil {
		if v := ix.Vectors[*call.ID]; v != nil {
			return v.Values, nil
		}
		return nil, nil
	}
	return checkValues("query", call.Vector, ix.Config.Dimensions)
}

// check returns topK and whether metadata is returned.
func (o queryOptions) check() (int, bool, *vectorizeError) {
	topK := defaultTopK
	if o.TopK != nil {
		topK = *o.TopK
	}
	if topK < 1 || topK > maxTopK {
		return 0, false, vecErr(http.StatusBadRequest, codeVectorBadQuery, "topK must be between 1 and %d, not %d", maxTopK, topK)
	}
	switch m := o.ReturnMetadata.(type) {
	case nil:
		return topK, false, nil
	case bool:
		return topK, m, nil
	case string:
		switch m {
		case "none":
			return topK, false, nil
		case "indexed", "all":
			return topK, true, nil
		}
	}
	return 0, false, vecErr(http.StatusBadRequest, codeVectorBadQuery, "returnMetadata must be true, false, \"none\", \"indexed\" or \"all\"")
}

// score rates v against q by the index metric.
func score(metric string, q, v []float64) float64 {
	var dot, qq, vv, dist float64
	for i := range q {
		dot += q[i] * v[i]
		qq += q[i] * q[i]
		vv += v[i] * v[i]
		d := q[i] - v[i]
		dist += d * d
	}
	switch metric {
	case "euclidean":
		return math.Sqrt(dist)
	case "dot-product":
		return dot
	}
	if qq == 0 || vv == 0 {
		return 0
	}
	return dot / (math.Sqrt(qq) * math.Sqrt(vv))
}

// matchesFilter applies a Vectorize metadata filter: each key of filter names a top-level
// metadata field and holds a value (equality) or operators $eq, $ne, $in, $nin, $lt, $lte,
// $gt, $gte. All keys must match.
func matchesFilter(meta, filter map[string]any) bool {
	for field, cond := range filter {
		value, present := meta[field]
		ops, isOps := cond.(map[string]any)
		if !isOps {
			ops = map[string]any{"$eq": cond}
		}
		for op, arg := range ops {
			if !matchesOp(op, value, present, arg) {
				return false
			}
		}
	}
	return true
}

func matchesOp(op string, value any, present bool, arg any) bool {
	switch op {
	case "$eq":
		return present && value == arg
	case "$ne":
		return !present || value != arg
	case "$in", "$nin":
		list, _ := arg.([]any)
		found := false
		for _, item := range list {
			found = found || (present && value == item)
		}
		return found == (op == "$in")
	case "$lt", "$lte", "$gt", "$gte":
		c, ok := compare(value, arg)
		if !present || !ok {
			return false
		}
		return map[string]bool{"$lt": c < 0, "$lte": c <= 0, "$gt": c > 0, "$gte": c >= 0}[op]
	}
	return false
}

// compare orders two numbers or two strings.
func compare(a, b any) (int, bool) {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		if !ok {
			return 0, false
		}
		switch {
		case x < y:
			return -1, true
		case x > y:
			return 1, true
		}
		return 0, true
	case string:
		y, ok := b.(string)
		if !ok {
			return 0, false
		}
		return strings.Compare(x, y), true
	}
	return 0, false
}

// withIndex runs read with the call's index under the read lock.
func (s *Server) withIndex(call vectorizeCall, read func(ix *vectorizeIndex) (any, *vectorizeError)) (any, *vectorizeError) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ix, vErr := s.index(call)
	if vErr != nil {
		return nil, vErr
	}
	return read(ix)
}

// withIndexForWrite runs write with the call's index under opMu and mu, as a state change
// that persists.
func (s *Server) withIndexForWrite(call vectorizeCall, write func(ix *vectorizeIndex) (any, *vectorizeError)) (any, *vectorizeError) {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	ix, vErr := s.index(call)
	if vErr != nil {
		return nil, vErr
	}
	return write(ix)
}
