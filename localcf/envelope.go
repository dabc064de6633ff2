package localcf

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// apiMessage is one entry of the envelope's errors or messages arrays.
type apiMessage struct {
	Code       int          `json:"code"`
	Message    string       `json:"message"`
	Type       *string      `json:"type,omitempty"`
	ErrorChain []apiMessage `json:"error_chain,omitempty"`
}

// envelope is Cloudflare's standard v4 response body.
type envelope struct {
	Success    bool         `json:"success"`
	Errors     []apiMessage `json:"errors"`
	Messages   []apiMessage `json:"messages"`
	Result     any          `json:"result"`
	ResultInfo any          `json:"result_info,omitempty"`
}

// pageInfo is the page-based result_info form.
type pageInfo struct {
	Page       int `json:"page"`
	PerPage    int `json:"per_page"`
	Count      int `json:"count"`
	TotalCount int `json:"total_count"`
	TotalPages int `json:"total_pages"`
}

// apiError is a Cloudflare API failure: the HTTP status plus the envelope errors. Handlers return
// it and the router renders it, so every failure path produces the same envelope.
type apiError struct {
	Status int
	Errors []apiMessage
}

func (e *apiError) Error() string {
	if len(e.Errors) == 0 {
		return fmt.Sprintf("HTTP %d", e.Status)
	}
	return fmt.Sprintf("HTTP %d: %d %s", e.Status, e.Errors[0].Code, e.Errors[0].Message)
}

func newAPIError(status, code int, format string, args ...any) *apiError {
	return &apiError{Status: status, Errors: []apiMessage{{Code: code, Message: fmt.Sprintf(format, args...)}}}
}

// Cloudflare error codes used by the server (cloudflare-api.md §9.1).
const (
	codeAuthError        = 10000
	codeUnsupportedType  = 10001
	codeScriptNotFound   = 10007
	codeInvalidName      = 10016
	codeValidation       = 10021
	codeParseBody        = 10026
	codeScriptTooLarge   = 10027
	codeSubdomainTaken   = 10031
	codeSubdomainFree    = 10032
	codeBindingNoName    = 10052
	codeBindingNameInUse = 10053
	codeVarTooLarge      = 10054
	codeTooManyVars      = 10055
	codeServiceNotFound  = 10090
	codeNotDeployed      = 10215
	codeInvalidToken     = 1000
	codeMissingAuth      = 1001
	codeBadHeaders       = 6003
	codeBadAuthFormat    = 6111
	codeNoRoute          = 7000
	codeMethodNotAllowed = 7001
	codeCouldNotRoute    = 7003
)

func errScriptNotFound() *apiError {
	return newAPIError(http.StatusNotFound, codeScriptNotFound, "This Worker does not exist on your account.")
}

func errValidation(format string, args ...any) *apiError {
	return newAPIError(http.StatusBadRequest, codeValidation, format, args...)
}

func errAuth() *apiError {
	return newAPIError(http.StatusForbidden, codeAuthError, "Authentication error")
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	data, err := json.Marshal(body)
	if err != nil {
		status = http.StatusInternalServerError
		data = []byte(`{"success":false,"errors":[{"code":10002,"message":"internal error encoding the response"}],"messages":[],"result":null}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

func writeResult(w http.ResponseWriter, result any) {
	writeJSON(w, http.StatusOK, envelope{Success: true, Errors: []apiMessage{}, Messages: []apiMessage{}, Result: result})
}

func writeResultInfo(w http.ResponseWriter, result, info any) {
	writeJSON(w, http.StatusOK, envelope{Success: true, Errors: []apiMessage{}, Messages: []apiMessage{}, Result: result, ResultInfo: info})
}

func writeAPIError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.Status, envelope{Success: false, Errors: e.Errors, Messages: []apiMessage{}, Result: nil})
}
