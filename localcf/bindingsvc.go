package localcf

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/flareform/flareform/localcf/ai"
)

// The binding backend is the internal listener that workerd's ai, ratelimit, vectorize and
// analytics_engine bindings call (workerd/ai_shim.js, workerd/bindings_shim.js). Each binding
// carries a config, set by localcf when it starts the worker, naming its account and target;
// user code never sees it. Protocol: POST /run/<model> (Workers AI, through an AI Gateway when
// the cf-aig-gateway-id header is set; x-localcf-account names the account), POST /ratelimit,
// POST /vectorize/<operation>, POST /analytics/write (one data point).

// Headers of the AI binding's gateway calls (set by the shim from run()'s gateway option).
const (
	headerGatewayID   = "cf-aig-gateway-id"
	headerSkipCache   = "cf-aig-skip-cache"
	headerCacheTTL    = "cf-aig-cache-ttl"
	headerCacheStatus = "cf-aig-cache-status"
	headerLogID       = "cf-aig-log-id"
	headerAccount     = "x-localcf-account"
)

// maxBindingBody bounds a ratelimit or vectorize call (a batch of vectors).
const maxBindingBody = 32 << 20

// backendBindingConfig is the config a backend binding sends with every call.
type backendBindingConfig struct {
	Account     string `json:"account"`
	NamespaceID string `json:"namespace_id,omitempty"` // ratelimit
	Limit       int    `json:"limit,omitempty"`        // ratelimit
	Period      int    `json:"period,omitempty"`       // ratelimit, seconds
	Index       string `json:"index,omitempty"`        // vectorize
	Dataset     string `json:"dataset,omitempty"`      // analytics_engine
}

// backendConfig builds the config of a stored ai, ratelimit, vectorize or analytics_engine
// binding.
func backendConfig(accountID string, b binding) (json.RawMessage, error) {
	cfg := backendBindingConfig{Account: accountID}
	switch b.Type {
	case "kv_namespace", "r2_bucket":
		return storageBindingConfig(accountID, b)
	case "d1":
		return d1BackendConfig(accountID, b)
	case "ratelimit":
		var rl rateLimitConfig
		if err := json.Unmarshal(b.Raw, &rl); err != nil {
			return nil, fmt.Errorf("read ratelimit binding: %w", err)
		}
		cfg.NamespaceID, cfg.Limit, cfg.Period = rl.NamespaceID, rl.Simple.Limit, rl.Simple.Period
	case "vectorize":
		var v struct {
			IndexName string `json:"index_name"`
		}
		if err := json.Unmarshal(b.Raw, &v); err != nil {
			return nil, fmt.Errorf("read vectorize binding: %w", err)
		}
		cfg.Index = v.IndexName
	case "analytics_engine":
		var ae struct {
			Dataset string `json:"dataset"`
		}
		if err := json.Unmarshal(b.Raw, &ae); err != nil {
			return nil, fmt.Errorf("read analytics_engine binding: %w", err)
		}
		cfg.Dataset = ae.Dataset
	}
	return json.Marshal(cfg)
}

// bindingHandler serves the binding backend; every call lands in the binding log.
func (s *Server) bindingHandler() http.Handler {
	aiHandler := s.ai.HandlerWith(func(r *http.Request, model string, u ai.Usage) {
		s.recordNeurons(r.Header.Get(headerAccount), model, u)
	})
	mux := http.NewServeMux()
	mux.HandleFunc("POST /run/", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(headerGatewayID) == "" {
			aiHandler.ServeHTTP(w, r)
			return
		}
		s.serveGatewayRun(w, r)
	})
	mux.Handle("GET /models", aiHandler)
	mux.HandleFunc("POST /ratelimit", s.serveRateLimit)
	mux.HandleFunc("POST /vectorize/{op}", s.serveVectorize)
	mux.HandleFunc("POST /analytics/write", s.serveAnalyticsWrite)
	mux.HandleFunc("POST /kv/{op}", s.serveKV)
	mux.HandleFunc("POST /r2/{op}", s.serveR2)
	mux.HandleFunc("POST /d1/{op}", s.serveD1)
	return s.routeTailEvents(s.logBindingCalls(mux))
}

// logBindingCalls records each binding call with its gateway and cache status. These go to
// their own log, not the API request log, so counts of a client's API calls stay exact.
func (s *Server) logBindingCalls(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		record := RequestRecord{
			Time: start.UTC(), Method: r.Method, Path: r.URL.Path, Status: rec.status,
			DurationMS: float64(time.Since(start).Microseconds()) / 1000,
			Gateway:    r.Header.Get(headerGatewayID), CacheStatus: rec.Header().Get(headerCacheStatus),
		}
		if record.CacheStatus != "" {
			record.ResponseHeaders = map[string]string{headerCacheStatus: record.CacheStatus}
		}
		s.bindingLog.add(record)
	})
}

// BindingCalls returns the log of calls that workers made through their ai, ratelimit and
// vectorize bindings (newest last).
func (s *Server) BindingCalls() []RequestRecord { return s.bindingLog.records() }

// readBindingCall decodes a JSON call body into v, answering 400 itself when it cannot.
func readBindingCall(w http.ResponseWriter, r *http.Request, v any) bool {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBindingBody))
	if err == nil {
		err = json.Unmarshal(data, v)
	}
	if err != nil {
		writeBindingError(w, http.StatusBadRequest, codeBindingBadCall, fmt.Sprintf("could not read the binding call: %v", err))
		return false
	}
	return true
}

// codeBindingBadCall is a malformed call from a shim (a localcf bug, not a user error).
const codeBindingBadCall = 10001

// writeBindingError answers in the form the shims turn into a thrown Error.
func writeBindingError(w http.ResponseWriter, status, code int, message string) {
	writeJSON(w, status, map[string]any{"errors": []apiMessage{{Code: code, Message: message}}})
}
