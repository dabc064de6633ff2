package cfapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// Tail is one live-log session of a script (POST …/workers/scripts/{name}/tails): its id,
// the WebSocket URL that streams its events (subprotocol trace-v1) and when it expires.
type Tail struct {
	ID        string `json:"id"`
	URL       string `json:"url"`
	ExpiresAt string `json:"expires_at"`
}

// TailFilter is one item of a tail's filters, sent in the create call's body; exactly one
// field is set (cloudflare-operations.md §2.2).
type TailFilter struct {
	SamplingRate  *float64          `json:"sampling_rate,omitempty"`
	Outcome       []string          `json:"outcome,omitempty"`
	Method        []string          `json:"method,omitempty"`
	Header        *TailHeaderFilter `json:"header,omitempty"`
	ClientIP      []string          `json:"client_ip,omitempty"`
	Query         *string           `json:"query,omitempty"`
	ScriptVersion *string           `json:"scriptVersion,omitempty"`
}

// TailHeaderFilter matches a request header by name and, when Query is set, value.
type TailHeaderFilter struct {
	Key   string  `json:"key"`
	Query *string `json:"query,omitempty"`
}

func (s Script) tailsPath() string {
	return fmt.Sprintf("accounts/%s/workers/scripts/%s/tails", url.PathEscape(s.accountID), url.PathEscape(s.name))
}

// CreateTail opens a tail session with filters (none: every event).
func (s Script) CreateTail(ctx context.Context, filters []TailFilter) (*Tail, error) {
	if filters == nil {
		filters = []TailFilter{} // the API wants the list even when it is empty
	}
	var t Tail
	if err := s.c.Call(ctx, http.MethodPost, s.tailsPath(), map[string]any{"filters": filters}, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// ListTails lists the script's open tail sessions.
func (s Script) ListTails(ctx context.Context) ([]Tail, error) {
	var out []Tail
	if err := s.c.Call(ctx, http.MethodGet, s.tailsPath(), nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteTail ends the tail session id; its socket closes.
func (s Script) DeleteTail(ctx context.Context, id string) error {
	return s.c.Call(ctx, http.MethodDelete, s.tailsPath()+"/"+url.PathEscape(id), nil, nil)
}
