package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/flareform/flareform/localcf"
	"github.com/flareform/flareform/localcf/faults"
)

// nullAPI is the null API stub: an in-process HTTP server that answers the calls of a first
// `flareform apply --no-smoke` at once, after a fixed latency, keeping only what later calls of
// the same run read back (each script's versions and deployments). Nothing is validated and no
// worker runs, so a fleet's wall time is flareform's own cost plus the latency it waits on.
// It limits the rate with the local Cloudflare's own limiter (localcf/faults): by default
// rateLimit requests per rateWindow per token in a fixed window from the token's first request,
// Ratelimit and Ratelimit-Policy headers on every answer, and 429 with Retry-After until the
// window ends. setBudget changes the budget for the runs that follow (flareform learns it from
// Ratelimit-Policy), so a fleet bound by the budget can wait out short windows instead of 5 min.
type nullAPI struct {
	latency time.Duration
	srv     *http.Server
	addr    string

	mu      sync.Mutex
	limited http.Handler           // the API behind the rate limiter
	scripts map[string]*stubScript // account/name -> script
	records []localcf.RequestRecord
	// history is every record taken while the budget was Cloudflare's, for the whole run's
	// check against that budget; runs under another budget are checked against their own.
	history    []localcf.RequestRecord
	realBudget bool
	// deploymentID makes the upload's answer name the new version (`deployment_id`, as
	// wrangler reads it); without it the answer has only the SDK's documented fields, the
	// local Cloudflare's strict reading.
	deploymentID bool
}

type stubScript struct {
	versions map[string]string // version id -> its workers/message annotation
	order    []string          // version ids, oldest first
	served   string            // the version at 100%
	created  time.Time
}

func startNullAPI(latency time.Duration) (*nullAPI, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("null API stub: %w", err)
	}
	s := newNullAPI(latency)
	s.addr = ln.Addr().String()
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln) //nolint:errcheck // ends with Close
	return s, nil
}

func newNullAPI(latency time.Duration) *nullAPI {
	s := &nullAPI{latency: latency, scripts: map[string]*stubScript{}}
	s.setBudget(rateLimit, rateWindow)
	return s
}

// setDeploymentID picks the reading of the upload's answer for the runs that follow.
func (s *nullAPI) setDeploymentID(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deploymentID = on
}

// setBudget makes the stub allow limit requests per window per token from now on.
func (s *nullAPI) setBudget(limit int, window time.Duration) {
	limited := faults.NewLimiter(limit, window).Middleware(http.HandlerFunc(s.serveAPI))
	s.mu.Lock()
	s.limited, s.realBudget = limited, limit == rateLimit && window == rateWindow
	s.mu.Unlock()
}

func (s *nullAPI) baseURL() string { return "http://" + s.addr + "/client/v4" }

func (s *nullAPI) Close() error { return s.srv.Close() }

// take returns the records since the last take and moves them to the history.
func (s *nullAPI) take() []localcf.RequestRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	recs := s.records
	s.records = nil
	if s.realBudget {
		s.history = append(s.history, recs...)
	}
	return recs
}

// ServeHTTP waits the latency, then lets the limiter answer or pass the call on, and logs it.
func (s *nullAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	defer func() {
		token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		s.log(localcf.RequestRecord{Time: start.UTC(), Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
			Status: rec.status, DurationMS: float64(time.Since(start).Microseconds()) / 1000, TokenFP: tokenFP(token)})
	}()
	select {
	case <-time.After(s.latency):
	case <-r.Context().Done():
		rec.status = 499 // the client went away
		return
	}
	s.mu.Lock()
	limited := s.limited
	s.mu.Unlock()
	limited.ServeHTTP(rec, r)
}

// statusRecorder remembers the status an answer was sent with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

// serveAPI answers one call that the limiter let through.
func (s *nullAPI) serveAPI(w http.ResponseWriter, r *http.Request) {
	result, code, err := s.answer(r)
	switch {
	case errors.Is(err, errNoScript):
		writeEnvelope(w, http.StatusNotFound, nil, 10007, "This Worker does not exist on your account.")
	case err != nil:
		writeEnvelope(w, http.StatusNotImplemented, nil, 10000, "null API stub: "+err.Error())
	default:
		writeEnvelope(w, code, result, 0, "")
	}
}

func (s *nullAPI) log(rec localcf.RequestRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records = append(s.records, rec)
}

var errNoScript = errors.New("no such script")

// answer routes /client/v4/accounts/{account}/workers/... to the result of the call.
func (s *nullAPI) answer(r *http.Request) (any, int, error) {
	parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/client/v4/"), "/"), "/")
	if len(parts) < 4 || parts[0] != "accounts" || parts[2] != "workers" {
		return nil, 0, fmt.Errorf("%s %s is not a call it knows", r.Method, r.URL.Path)
	}
	account, rest := parts[1], parts[3:]
	switch {
	case r.Method == http.MethodGet && len(rest) == 1 && rest[0] == "subdomain":
		return map[string]string{"subdomain": "bench"}, http.StatusOK, nil
	case r.Method == http.MethodGet && len(rest) == 1 && rest[0] == "scripts":
		return s.list(account), http.StatusOK, nil
	case len(rest) >= 2 && rest[0] == "scripts":
		return s.scriptCall(r, account+"/"+rest[1], rest[2:])
	}
	return nil, 0, fmt.Errorf("%s %s is not a call it knows", r.Method, r.URL.Path)
}

func (s *nullAPI) list(account string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []map[string]any{}
	for key, sc := range s.scripts {
		if name, ok := strings.CutPrefix(key, account+"/"); ok {
			out = append(out, map[string]any{"id": name, "created_on": sc.created, "modified_on": sc.created})
		}
	}
	return out
}

func (s *nullAPI) scriptCall(r *http.Request, key string, rest []string) (any, int, error) {
	if r.Method == http.MethodPut && len(rest) == 0 {
		return s.upload(r, key)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sc := s.scripts[key]
	if sc == nil {
		return nil, 0, errNoScript
	}
	switch {
	case r.Method == http.MethodPost && len(rest) == 1 && rest[0] == "subdomain":
		return map[string]bool{"enabled": true, "previews_enabled": false}, http.StatusOK, nil
	case r.Method == http.MethodGet && len(rest) == 1 && rest[0] == "deployments":
		return map[string]any{"deployments": []map[string]any{{
			"id": newUUID(), "source": "api", "strategy": "percentage", "created_on": sc.created,
			"versions": []map[string]any{{"version_id": sc.served, "percentage": 100}},
		}}}, http.StatusOK, nil
	case r.Method == http.MethodGet && len(rest) == 1 && rest[0] == "versions":
		items := []map[string]any{}
		for i := len(sc.order) - 1; i >= 0; i-- { // newest first
			items = append(items, map[string]any{"id": sc.order[i], "number": i + 1,
				"metadata": map[string]any{"created_on": sc.created, "source": "api"}})
		}
		return map[string]any{"items": items}, http.StatusOK, nil
	case r.Method == http.MethodGet && len(rest) == 2 && rest[0] == "versions":
		msg, ok := sc.versions[rest[1]]
		if !ok {
			return nil, 0, fmt.Errorf("no version %s", rest[1])
		}
		return map[string]any{"id": rest[1], "number": len(sc.versions),
			"metadata":    map[string]any{"created_on": sc.created, "source": "api"},
			"annotations": map[string]string{"workers/message": msg, "workers/triggered_by": "upload"}}, http.StatusOK, nil
	}
	return nil, 0, fmt.Errorf("%s %s is not a call it knows", r.Method, r.URL.Path)
}

// upload keeps the version's annotation from the metadata part and deploys it.
func (s *nullAPI) upload(r *http.Request, key string) (any, int, error) {
	msg, err := uploadMessage(r)
	if err != nil {
		return nil, 0, err
	}
	id := newUUID()
	s.mu.Lock()
	defer s.mu.Unlock()
	sc := s.scripts[key]
	if sc == nil {
		sc = &stubScript{versions: map[string]string{}, created: time.Now().UTC()}
		s.scripts[key] = sc
	}
	sc.versions[id], sc.served = msg, id
	sc.order = append(sc.order, id)
	_, name, _ := strings.Cut(key, "/")
	answer := map[string]any{"id": name, "etag": id, "created_on": sc.created, "modified_on": time.Now().UTC()}
	if s.deploymentID {
		answer["deployment_id"] = strings.ReplaceAll(id, "-", "") // wrangler's form: no hyphens
	}
	return answer, http.StatusOK, nil
}

func uploadMessage(r *http.Request) (string, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return "", fmt.Errorf("upload: %w", err)
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return "", errors.New("upload: no metadata part")
		}
		if err != nil {
			return "", fmt.Errorf("upload: %w", err)
		}
		if part.FormName() != "metadata" {
			continue
		}
		var meta struct {
			Annotations map[string]string `json:"annotations"`
		}
		if err := json.NewDecoder(part).Decode(&meta); err != nil {
			return "", fmt.Errorf("upload metadata: %w", err)
		}
		return meta.Annotations["workers/message"], nil
	}
}

func writeEnvelope(w http.ResponseWriter, status int, result any, code int, message string) {
	env := map[string]any{"success": code == 0, "errors": []any{}, "messages": []any{}, "result": result}
	if code != 0 {
		env["errors"] = []map[string]any{{"code": code, "message": message}}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(env)
}

func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// tokenFP is a short fingerprint of a token: records never hold the token itself.
func tokenFP(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:8])
}
