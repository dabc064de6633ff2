package localcf

import (
	"net/http"
	"sort"
	"time"

	"github.com/flareform/flareform/internal/lazyre"
)

// maxVectorDimensions is Vectorize's largest index dimension count.
const maxVectorDimensions = 1536

// vectorizeIndex is one Vectorize (v2) index with its vectors, which workers write through
// their vectorize binding (vectorize.go).
type vectorizeIndex struct {
	Name        string                   `json:"name"`
	Description string                   `json:"description"`
	Config      vectorizeConfig          `json:"config"`
	CreatedOn   time.Time                `json:"created_on"`
	ModifiedOn  time.Time                `json:"modified_on"`
	Vectors     map[string]*storedVector `json:"vectors,omitempty"`
	// Mutations counts binding writes; the newest one's id is processedUpToMutation.
	Mutations     int    `json:"mutations,omitempty"`
	LastMutation  string `json:"last_mutation,omitempty"`
	LastMutatedAt string `json:"last_mutated_at,omitempty"`
}

type vectorizeConfig struct {
	Dimensions int    `json:"dimensions"`
	Metric     string `json:"metric"`
}

// storedVector is one vector of an index.
type storedVector struct {
	Values    []float64      `json:"values"`
	Metadata  map[string]any `json:"metadata,omitempty"`
	Namespace string         `json:"namespace,omitempty"`
}

// publicIndex is an index as the API shows it (without its vectors).
type publicIndex struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Config      vectorizeConfig `json:"config"`
	CreatedOn   time.Time       `json:"created_on"`
	ModifiedOn  time.Time       `json:"modified_on"`
}

func (ix *vectorizeIndex) public() publicIndex {
	return publicIndex{Name: ix.Name, Description: ix.Description, Config: ix.Config, CreatedOn: ix.CreatedOn, ModifiedOn: ix.ModifiedOn}
}

var (
	indexNamePattern = lazyre.Regexp{Expr: `^[a-z][a-z0-9-]{0,31}$`}
	vectorMetrics    = map[string]bool{"cosine": true, "euclidean": true, "dot-product": true}
)

func errIndexNotFound(name string) *apiError {
	return newAPIError(http.StatusNotFound, codeResourceNotFound, "Vectorize index %q not found.", name)
}

type createIndexBody struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Config      *struct {
		Dimensions *int   `json:"dimensions"`
		Metric     string `json:"metric"`
	} `json:"config"`
}

// validate checks the body and returns the index config.
func (b createIndexBody) validate() (vectorizeConfig, *apiError) {
	if !indexNamePattern.MatchString(b.Name) {
		return vectorizeConfig{}, errValidation("Index name %q is invalid: 1 to 32 lowercase letters, digits or '-', starting with a letter.", b.Name)
	}
	if b.Config == nil || b.Config.Dimensions == nil {
		return vectorizeConfig{}, errValidation("config.dimensions is required (1 to %d).", maxVectorDimensions)
	}
	if d := *b.Config.Dimensions; d < 1 || d > maxVectorDimensions {
		return vectorizeConfig{}, errValidation("config.dimensions must be between 1 and %d, not %d.", maxVectorDimensions, d)
	}
	if !vectorMetrics[b.Config.Metric] {
		return vectorizeConfig{}, errValidation("config.metric must be cosine, euclidean or dot-product, not %q.", b.Config.Metric)
	}
	return vectorizeConfig{Dimensions: *b.Config.Dimensions, Metric: b.Config.Metric}, nil
}

// createIndex: POST /vectorize/v2/indexes {"name","description?","config":{"dimensions","metric"}}.
func (s *Server) createIndex(c *call) *apiError {
	var body createIndexBody
	if apiErr := decodeJSONBody(c.r, &body); apiErr != nil {
		return apiErr
	}
	cfg, apiErr := body.validate()
	if apiErr != nil {
		return apiErr
	}
	now := s.opts.now().UTC()
	ix := &vectorizeIndex{Name: body.Name, Description: body.Description, Config: cfg, CreatedOn: now, ModifiedOn: now}
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.st.Accounts[c.accountID]
	if a.VectorizeIndexes[ix.Name] != nil {
		return newAPIError(http.StatusConflict, codeResourceExists, "A Vectorize index named %q already exists.", ix.Name)
	}
	if a.VectorizeIndexes == nil {
		a.VectorizeIndexes = map[string]*vectorizeIndex{}
	}
	a.VectorizeIndexes[ix.Name] = ix
	if err := s.persistLocked(); err != nil {
		delete(a.VectorizeIndexes, ix.Name)
		return errInternal(err)
	}
	writeResult(c.w, ix.public())
	return nil
}

func (s *Server) listIndexes(c *call) *apiError {
	s.mu.RLock()
	a := s.st.Accounts[c.accountID]
	out := make([]publicIndex, 0, len(a.VectorizeIndexes))
	for _, ix := range a.VectorizeIndexes {
		out = append(out, ix.public())
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	writeResult(c.w, out)
	return nil
}

func (s *Server) getIndex(c *call) *apiError {
	s.mu.RLock()
	ix := s.st.Accounts[c.accountID].VectorizeIndexes[c.param("index")]
	var pub publicIndex
	if ix != nil {
		pub = ix.public()
	}
	s.mu.RUnlock()
	if ix == nil {
		return errIndexNotFound(c.param("index"))
	}
	writeResult(c.w, pub)
	return nil
}

// deleteIndex removes the index and its vectors. Workers still bound to it keep running; their
// binding calls fail until an index by that name exists again, as on Cloudflare.
func (s *Server) deleteIndex(c *call) *apiError {
	if _, apiErr := deleteAccountEntry(s, c, func(a *account) map[string]*vectorizeIndex { return a.VectorizeIndexes }, c.param("index"), errIndexNotFound); apiErr != nil {
		return apiErr
	}
	writeResult(c.w, nil)
	return nil
}
