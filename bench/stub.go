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
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flareform/flareform/localcf"
)

// nullAPI is the null API stub: an in-process HTTP server that answers the calls of a first
// `flareform apply --no-smoke` at once, after a fixed latency, keeping only what later calls of
// the same run read back (each script's versions and deployments). Nothing is validated and no
// worker runs, so a fleet's wall time is flareform's own cost plus the latency it waits on.
// Like Cloudflare it allows rateLimit requests per rateWindow per token (a fixed window from
// the token's first request) and answers 429 beyond; it sends no Ratelimit headers (neither
// does the local Cloudflare), so flareform paces itself by its own count.
type nullAPI struct {
	latency time.Duration
	srv     *http.Server
	addr    string

	mu      sync.Mutex
	scripts map[string]*stubScript // account/name -> script
	windows map[string]*tokenWindow
	records []localcf.RequestRecord
	history []localcf.RequestRecord // every record taken, for the whole run's rate budget
}

type stubScript struct {
	versions map[string]string // version id -> its workers/message annotation
	served   string            // the version at 100%
	created  time.Time
}

type tokenWindow struct {
	start time.Time
	count int
}

func startNullAPI(latency time.Duration) (*nullAPI, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("null API stub: %w", err)
	}
	s := &nullAPI{latency: latency, addr: ln.Addr().String(),
		scripts: map[string]*stubScript{}, windows: map[string]*tokenWindow{}}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln) //nolint:errcheck // ends with Close
	return s, nil
}

func (s *nullAPI) baseURL() string { return "http://" + s.addr + "/client/v4" }

func (s *nullAPI) Close() error { return s.srv.Close() }

// take returns the records since the last take and moves them to the history.
func (s *nullAPI) take() []localcf.RequestRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	recs := s.records
	s.records = nil
	s.history = append(s.history, recs...)
	return recs
}

func (s *nullAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	status := http.StatusOK
	defer func() {
		s.log(localcf.RequestRecord{Time: start.UTC(), Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
			Status: status, DurationMS: float64(time.Since(start).Microseconds()) / 1000, TokenFP: tokenFP(token)})
	}()
	select {
	case <-time.After(s.latency):
	case <-r.Context().Done():
		status = 499
		return
	}
	if !s.admit(token, start) {
		status = http.StatusTooManyRequests
		w.Header().Set("Retry-After", strconv.Itoa(int(rateWindow.Seconds())))
		writeEnvelope(w, status, nil, 971, "Please wait and consider throttling your request speed")
		return
	}
	result, code, err := s.answer(r)
	switch {
	case errors.Is(err, errNoScript):
		status = http.StatusNotFound
		writeEnvelope(w, status, nil, 10007, "This Worker does not exist on your account.")
	case err != nil:
		status = http.StatusNotImplemented
		writeEnvelope(w, status, nil, 10000, "null API stub: "+err.Error())
	default:
		status = code
		writeEnvelope(w, status, result, 0, "")
	}
}

func (s *nullAPI) log(rec localcf.RequestRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records = append(s.records, rec)
}

// admit counts the request against its token's window.
func (s *nullAPI) admit(token string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	win := s.windows[token]
	if win == nil || now.Sub(win.start) >= rateWindow {
		win = &tokenWindow{start: now}
		s.windows[token] = win
	}
	win.count++
	return win.count <= rateLimit
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
	_, name, _ := strings.Cut(key, "/")
	return map[string]any{"id": name, "etag": id, "created_on": sc.created, "modified_on": time.Now().UTC()}, http.StatusOK, nil
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
