package ai

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Handler serves the raw protocol used by the workerd env.AI shim:
//
//	POST /run/<model name with slashes>   body: the inputs (JSON, as the binding sends them)
//	GET  /models[?search=&task=&author=&source=&hide_experimental=&page=&per_page=]
//
// A successful run answers 200 with the output's Content-Type and the bare
// result; a failure answers the Error's status with
// {"errors":[{"code":N,"message":"..."}]}.
func (s *Service) Handler() http.Handler { return s.HandlerWith(nil) }

// UsageFunc is told of every successful run: the request (its headers name the caller), the
// model as requested and what the run spent.
type UsageFunc func(r *http.Request, model string, u Usage)

// HandlerWith is Handler, calling onUsage (when not nil) after every successful run, so the
// caller can keep neuron records.
func (s *Service) HandlerWith(onUsage UsageFunc) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /run/", func(w http.ResponseWriter, r *http.Request) { s.serveRun(w, r, onUsage) })
	mux.HandleFunc("GET /models", s.serveModels)
	return mux
}

func (s *Service) serveRun(w http.ResponseWriter, r *http.Request, onUsage UsageFunc) {
	model := strings.TrimPrefix(r.URL.Path, "/run/")
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxInputBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge, Message: "Request is too large"})
			return
		}
		writeError(w, &Error{Status: http.StatusBadRequest, Code: CodeMissingBody, Message: "Could not read request body"})
		return
	}
	out, err := s.RunRequest(r.Context(), model, r.Header.Get("Content-Type"), body)
	if err != nil {
		writeError(w, asError(err))
		return
	}
	if onUsage != nil {
		onUsage(r, model, out.Usage)
	}
	writeOutput(w, out)
}

// asError maps any Run failure to a Workers AI error; anything that is not
// already an *Error is an internal fault of the stand-in.
func asError(err error) *Error {
	var aiErr *Error
	if errors.As(err, &aiErr) {
		return aiErr
	}
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "Internal error: " + err.Error()}
}

func writeOutput(w http.ResponseWriter, out *Output) {
	body := out.Body
	if out.JSON != nil {
		encoded, err := json.Marshal(out.JSON)
		if err != nil {
			writeError(w, asError(err))
			return
		}
		body = encoded
	}
	w.Header().Set("Content-Type", out.ContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body) // the client going away is not our error to report
}

type errorBody struct {
	Errors []errorItem `json:"errors"`
}

type errorItem struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, e *Error) {
	body, _ := json.Marshal(errorBody{Errors: []errorItem{{Code: e.Code, Message: e.Message}}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}

func (s *Service) serveModels(w http.ResponseWriter, r *http.Request) {
	q, err := ParseSearchQuery(r.URL.Query())
	if err != nil {
		writeError(w, &Error{Status: http.StatusBadRequest, Code: CodeInvalidInput, Message: err.Error()})
		return
	}
	page, total := s.SearchPage(q)
	body, err := json.Marshal(struct {
		Models []Model `json:"models"`
		Total  int     `json:"total"`
	}{page, total})
	if err != nil {
		writeError(w, asError(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}
