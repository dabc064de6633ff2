package localcf

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// RequestRecord is one Cloudflare API call as the request log keeps it: never a body, a token
// or a secret; the token only as a fingerprint.
type RequestRecord struct {
	Time       time.Time `json:"time"`
	Method     string    `json:"method"`
	Path       string    `json:"path"`
	Query      string    `json:"query"`
	Status     int       `json:"status"`
	DurationMS float64   `json:"duration_ms"`
	TokenFP    string    `json:"token_fp"`
	UserAgent  string    `json:"user_agent"`
	ReqBytes   int64     `json:"req_bytes"`
	// Binding calls only (Server.BindingCalls): the AI Gateway a call went through and its
	// cf-aig-cache-status (HIT or MISS), also under response_headers.
	Gateway         string            `json:"gateway,omitempty"`
	CacheStatus     string            `json:"cache_status,omitempty"`
	ResponseHeaders map[string]string `json:"response_headers,omitempty"`
}

// maxLoggedRequests bounds the in-memory log; the file keeps everything.
const maxLoggedRequests = 10000

// requestLog keeps records in memory and appends them as JSON lines to a file.
type requestLog struct {
	mu      sync.Mutex
	entries []RequestRecord
	file    *os.File // nil = memory only
}

func newRequestLog(path string) (*requestLog, error) {
	l := &requestLog{}
	if path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, fmt.Errorf("open request log: %w", err)
		}
		l.file = f
	}
	return l, nil
}

func (l *requestLog) add(rec RequestRecord) {
	line, err := json.Marshal(rec)
	if err != nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.entries) >= maxLoggedRequests {
		l.entries = append(l.entries[:0], l.entries[len(l.entries)/2:]...)
	}
	l.entries = append(l.entries, rec)
	if l.file != nil {
		// One write per line with O_APPEND: a crash can cut the last line, never interleave.
		_, _ = l.file.Write(append(line, '\n'))
	}
}

func (l *requestLog) records() []RequestRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]RequestRecord(nil), l.entries...)
}

func (l *requestLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = nil
}

func (l *requestLog) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file == nil {
		return nil
	}
	err := l.file.Close()
	l.file = nil
	return err
}

// middleware records every request that reaches the Cloudflare API routes (faulted and
// rate-limited ones included, with the status the client saw).
func (l *requestLog) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		counter := &countingReader{r: r.Body}
		if r.Body != nil {
			r.Body = counter
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			l.add(RequestRecord{
				Time:       start.UTC(),
				Method:     r.Method,
				Path:       r.URL.Path,
				Query:      r.URL.RawQuery,
				Status:     rec.status,
				DurationMS: float64(time.Since(start).Microseconds()) / 1000,
				TokenFP:    fingerprint(bearerToken(r)),
				UserAgent:  r.UserAgent(),
				ReqBytes:   counter.n,
			})
		}()
		next.ServeHTTP(rec, r)
	})
}

// bearerToken returns the token of a well-formed "Bearer <token>" header, or the raw value.
func bearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if t, ok := strings.CutPrefix(h, "Bearer "); ok {
		return strings.TrimSpace(t)
	}
	return h
}

type countingReader struct {
	r io.ReadCloser
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) Close() error { return c.r.Close() }

type statusRecorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wroteHeader {
		s.status = code
		s.wroteHeader = true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	s.wroteHeader = true
	return s.ResponseWriter.Write(p)
}

// Flush lets streamed responses (AI server-sent events) through.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer (the drop fault hijacks it).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
