package faults

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// Cloudflare error codes written by this package.
const (
	CodeRateLimited   = 971   // "Please wait and consider throttling your request speed"
	CodeInternalError = 10002 // "Unexpected internal server error"
)

const (
	messageRateLimited   = "Please wait and consider throttling your request speed"
	messageInternalError = "Unexpected internal server error"
)

// FaultHeader marks responses made up by the Injector, so tests can tell them from real errors.
const FaultHeader = "X-Localcf-Fault"

type apiError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type envelope struct {
	Success  bool       `json:"success"`
	Errors   []apiError `json:"errors"`
	Messages []any      `json:"messages"`
	Result   any        `json:"result"`
}

// writeEnvelopeError answers with Cloudflare's standard failure envelope.
func writeEnvelopeError(w http.ResponseWriter, status, code int, message string) {
	body, err := json.Marshal(envelope{Errors: []apiError{{Code: code, Message: message}}, Messages: []any{}})
	if err != nil {
		panic(fmt.Sprintf("marshal constant envelope: %v", err)) // cannot happen: fixed types
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body) // the client may be gone; nothing useful to do about it
}

// writeRateLimited answers 429 / code 971 with Retry-After, as Cloudflare does when throttling.
func writeRateLimited(w http.ResponseWriter, retryAfterSeconds int) {
	w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	writeEnvelopeError(w, http.StatusTooManyRequests, CodeRateLimited, messageRateLimited)
}

// writeEdgeErrorPage answers like Cloudflare's edge when the origin behind it fails: an HTML
// page, not a JSON envelope. Clients must not assume every API error is JSON, and must retry.
func writeEdgeErrorPage(w http.ResponseWriter, status int) {
	title := fmt.Sprintf("%d %s", status, http.StatusText(status))
	page := fmt.Sprintf("<!DOCTYPE html>\n<html><head><title>%s</title></head>\n<body><h1>%s</h1><p>cloudflare</p></body></html>\n", title, title)
	w.Header().Set("Content-Type", "text/html; charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(page)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(page))
}
