package faults

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// stateful stands in for the API behind the middleware: it counts the requests that reach it,
// which is the "state" a faulted request must never change.
type stateful struct{ calls atomic.Int64 }

func (s *stateful) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.calls.Add(1)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"success":true,"errors":[],"messages":[],"result":{}}`))
}

func serve(h http.Handler, method, path string, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	for k, vs := range header {
		req.Header[k] = vs
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

type decodedEnvelope struct {
	Success  *bool      `json:"success"`
	Errors   []apiError `json:"errors"`
	Messages []any      `json:"messages"`
	Result   any        `json:"result"`
}

func decodeEnvelope(t *testing.T, body []byte) decodedEnvelope {
	t.Helper()
	var env decodedEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("body is not a JSON envelope: %v\n%s", err, body)
	}
	if env.Success == nil || *env.Success || env.Messages == nil || env.Result != nil || len(env.Errors) != 1 {
		t.Fatalf("want failure envelope with success false, one error, messages [] and result null; got %s", body)
	}
	return env
}

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }
