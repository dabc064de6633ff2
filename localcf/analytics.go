package localcf

import (
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/flareform/flareform/localcf/ai"
)

// Workers Analytics Engine (cloudflare-operations.md §3): env.<BINDING>.writeDataPoint() in
// workerd (workerd/bindings_shim.js) posts each point to the binding backend's
// /analytics/write, which stores it durably; POST /accounts/{id}/analytics_engine/sql reads
// the points back (analytics_sql.go). Workers AI calls leave neuron records the GraphQL
// Analytics API answers from (graphql.go). Both live in JSON-lines files of the state dir.

const (
	analyticsFile = "analytics.jsonl"
	neuronsFile   = "neurons.jsonl"
)

// Data point limits, from the current limits page (reference 3.2). workerd's own binding
// checks the same fields with the same messages, but with an older 5120-byte blob total.
const (
	aeMaxMembers    = 20
	aeMaxIndexBytes = 96
	aeMaxBlobBytes  = 16 * 1024
)

// aeRetention is how long points stay queryable (reference 3.2: three months).
const aeRetention = 92 * 24 * time.Hour

// dataPoint is one stored point. Blobs and doubles hold blob1.. and double1.. in order; a
// column past their end is "" or 0.
type dataPoint struct {
	Account        string    `json:"account"`
	Dataset        string    `json:"dataset"`
	Timestamp      time.Time `json:"timestamp"`
	SampleInterval int       `json:"_sample_interval"`
	Index1         string    `json:"index1"`
	Blobs          []string  `json:"blobs,omitempty"`
	Doubles        []float64 `json:"doubles,omitempty"`
}

// neuronRecord is one Workers AI call's estimated spend (ai.Usage).
type neuronRecord struct {
	Account      string    `json:"account"`
	Model        string    `json:"model"`
	Time         time.Time `json:"time"`
	Neurons      float64   `json:"neurons"`
	InputTokens  int       `json:"input_tokens"`
	OutputTokens int       `json:"output_tokens"`
}

// usageStores are the data point and neuron logs, opened on first use (under the state
// lock, which Start takes before anything can call them).
type usageStores struct {
	once    sync.Once
	points  *appendLog[dataPoint]
	neurons *appendLog[neuronRecord]
	err     error
}

func (s *Server) usageLogs() (*appendLog[dataPoint], *appendLog[neuronRecord], error) {
	u := &s.usage
	u.once.Do(func() {
		pointsPath, neuronsPath := "", ""
		if dir := s.opts.StateDir; dir != "" {
			pointsPath, neuronsPath = filepath.Join(dir, analyticsFile), filepath.Join(dir, neuronsFile)
		}
		if u.points, u.err = openAppendLog[dataPoint](pointsPath); u.err != nil {
			return
		}
		u.neurons, u.err = openAppendLog[neuronRecord](neuronsPath)
	})
	if u.err != nil {
		return nil, nil, fmt.Errorf("open the usage logs: %w", u.err)
	}
	return u.points, u.neurons, nil
}

// analyticsWrite is the shim's call: the binding's config plus the point's fields, blobs and
// indexes as strings (ArrayBuffers decoded as UTF-8) and nulls kept in place.
type analyticsWrite struct {
	Account string     `json:"account"`
	Dataset string     `json:"dataset"`
	Indexes []*string  `json:"indexes"`
	Blobs   []*string  `json:"blobs"`
	Doubles []*float64 `json:"doubles"`
}

// codeAnalyticsRefused answers a point over a limit (the shim throws before sending one, so
// this is a point that bypassed it). A local choice.
const codeAnalyticsRefused = 10002

// serveAnalyticsWrite stores one data point; a point over a limit is dropped and logged.
func (s *Server) serveAnalyticsWrite(w http.ResponseWriter, r *http.Request) {
	var call analyticsWrite
	if !readBindingCall(w, r, &call) {
		return
	}
	p, err := call.point(s.opts.now().UTC())
	if err != nil {
		fmt.Fprintf(s.opts.Log, "localcf: analytics: dropped a data point for dataset %q: %v\n", call.Dataset, err)
		writeBindingError(w, http.StatusBadRequest, codeAnalyticsRefused, err.Error())
		return
	}
	points, _, err := s.usageLogs()
	if err == nil {
		err = points.add(p)
	}
	if err != nil {
		fmt.Fprintf(s.opts.Log, "localcf: analytics: could not store a data point: %v\n", err)
		writeBindingError(w, http.StatusInternalServerError, codeBindingBadCall, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

// point checks the limits in workerd's order and words (api/analytics-engine-impl.h), and
// builds the stored point.
func (c analyticsWrite) point(now time.Time) (dataPoint, error) {
	p := dataPoint{Account: c.Account, Dataset: c.Dataset, Timestamp: now, SampleInterval: 1}
	if c.Account == "" || c.Dataset == "" {
		return p, errors.New("writeDataPoint(): the binding has no account or dataset")
	}
	if len(c.Indexes) > 1 {
		return p, errors.New("writeDataPoint(): Maximum of 1 indexes supported.")
	}
	if len(c.Indexes) == 1 && c.Indexes[0] != nil {
		if len(*c.Indexes[0]) > aeMaxIndexBytes {
			return p, fmt.Errorf("writeDataPoint(): Size of indexes[0] exceeds %d bytes).", aeMaxIndexBytes)
		}
		p.Index1 = *c.Indexes[0]
	}
	if len(c.Blobs) > aeMaxMembers {
		return p, fmt.Errorf("writeDataPoint(): Maximum of %d blobs supported.", aeMaxMembers)
	}
	total := 0
	for _, b := range c.Blobs {
		v := ""
		if b != nil {
			v = *b
		}
		if total += len(v); total > aeMaxBlobBytes {
			return p, fmt.Errorf("writeDataPoint(): Cumulative size of blobs exceeds %d bytes).", aeMaxBlobBytes)
		}
		p.Blobs = append(p.Blobs, v)
	}
	if len(c.Doubles) > aeMaxMembers {
		return p, fmt.Errorf("writeDataPoint(): Maximum of %d doubles supported.", aeMaxMembers)
	}
	for _, d := range c.Doubles {
		v := 0.0
		if d != nil {
			v = *d
		}
		p.Doubles = append(p.Doubles, v)
	}
	return p, nil
}

// recordNeurons keeps one AI call's estimated spend for the GraphQL Analytics API. A failure to
// store is logged, not returned: the call itself succeeded.
func (s *Server) recordNeurons(accountID, model string, u ai.Usage) {
	_, neurons, err := s.usageLogs()
	if err == nil {
		err = neurons.add(neuronRecord{Account: accountID, Model: model, Time: s.opts.now().UTC(),
			Neurons: u.Neurons, InputTokens: u.InputTokens, OutputTokens: u.OutputTokens})
	}
	if err != nil {
		fmt.Fprintf(s.opts.Log, "localcf: could not record the neurons of a %s call: %v\n", model, err)
	}
}
