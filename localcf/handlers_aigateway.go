package localcf

import (
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"time"

	"github.com/flareform/flareform/internal/lazyre"
)

// Error codes of the AI Gateway and Vectorize endpoints. Cloudflare's own codes for these cases
// are not in the references, so these are local choices (docs/local-cloudflare.md); clients
// should rely on the HTTP status.
const (
	codeResourceNotFound = 10006 // 404: no gateway or index by that name
	codeResourceExists   = 10009 // 409: a gateway or index by that name already exists
)

// aiGateway is one AI Gateway (cloudflare-resources.md, "AI Gateway").
type aiGateway struct {
	ID                      string    `json:"id"`
	CacheTTL                int       `json:"cache_ttl"`
	CacheInvalidateOnUpdate bool      `json:"cache_invalidate_on_update"`
	CollectLogs             bool      `json:"collect_logs"`
	RateLimitingInterval    int       `json:"rate_limiting_interval"`
	RateLimitingLimit       int       `json:"rate_limiting_limit"`
	RateLimitingTechnique   string    `json:"rate_limiting_technique"`
	Authentication          bool      `json:"authentication"`
	CreatedAt               time.Time `json:"created_at"`
	ModifiedAt              time.Time `json:"modified_at"`
}

// gatewayFields is a create or update body. Pointers tell an absent field (keep the current
// value, or the default on create) from a zero one.
type gatewayFields struct {
	ID                      *string `json:"id"`
	CacheTTL                *int    `json:"cache_ttl"`
	CacheInvalidateOnUpdate *bool   `json:"cache_invalidate_on_update"`
	CollectLogs             *bool   `json:"collect_logs"`
	RateLimitingInterval    *int    `json:"rate_limiting_interval"`
	RateLimitingLimit       *int    `json:"rate_limiting_limit"`
	RateLimitingTechnique   *string `json:"rate_limiting_technique"`
	Authentication          *bool   `json:"authentication"`
}

var gatewayIDPattern = lazyre.Regexp{Expr: `^[a-z0-9-]{1,64}$`}

// sortedNames lists a JSON object's field names in order, so a refusal names the same field
// every time.
func sortedNames(m map[string]json.RawMessage) []string {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func errGatewayNotFound(id string) *apiError {
	return newAPIError(http.StatusNotFound, codeResourceNotFound, "AI Gateway %q not found.", id)
}

// decodeJSONBody reads a JSON object body; unknown fields are ignored, as Cloudflare's
// gateway API has more settings (logpush, DLP, ...) than the local one keeps.
func decodeJSONBody(r *http.Request, v any) *apiError {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxMetadataBytes))
	if err != nil {
		return newAPIError(http.StatusBadRequest, codeParseBody, "Could not read the request body.")
	}
	if err := json.Unmarshal(data, v); err != nil {
		return newAPIError(http.StatusBadRequest, codeParseBody, "Could not parse the request body as JSON: %v", err)
	}
	return nil
}

// apply validates f and writes it onto g.
func (f gatewayFields) apply(g *aiGateway) *apiError {
	nonNegative := map[string]*int{"cache_ttl": f.CacheTTL, "rate_limiting_interval": f.RateLimitingInterval,
		"rate_limiting_limit": f.RateLimitingLimit}
	for name, v := range nonNegative {
		if v != nil && *v < 0 {
			return errValidation("%s must be zero or a positive number of seconds or requests, not %d.", name, *v)
		}
	}
	if t := f.RateLimitingTechnique; t != nil && *t != "fixed" && *t != "sliding" {
		return errValidation("rate_limiting_technique must be \"fixed\" or \"sliding\", not %q.", *t)
	}
	setInt(&g.CacheTTL, f.CacheTTL)
	setInt(&g.RateLimitingInterval, f.RateLimitingInterval)
	setInt(&g.RateLimitingLimit, f.RateLimitingLimit)
	setBool(&g.CacheInvalidateOnUpdate, f.CacheInvalidateOnUpdate)
	setBool(&g.CollectLogs, f.CollectLogs)
	setBool(&g.Authentication, f.Authentication)
	if f.RateLimitingTechnique != nil {
		g.RateLimitingTechnique = *f.RateLimitingTechnique
	}
	return nil
}

func setInt(dst *int, v *int) {
	if v != nil {
		*dst = *v
	}
}

func setBool(dst *bool, v *bool) {
	if v != nil {
		*dst = *v
	}
}

// createGateway: POST /ai-gateway/gateways. Only id is required; other settings default to
// no cache, logs on, no rate limit, fixed windows.
func (s *Server) createGateway(c *call) *apiError {
	var f gatewayFields
	if apiErr := decodeJSONBody(c.r, &f); apiErr != nil {
		return apiErr
	}
	if f.ID == nil || !gatewayIDPattern.MatchString(*f.ID) {
		return errValidation("A gateway id is required: 1 to 64 lowercase letters, digits or '-'.")
	}
	now := s.opts.now().UTC()
	g := &aiGateway{ID: *f.ID, CollectLogs: true, RateLimitingTechnique: "fixed", CreatedAt: now, ModifiedAt: now}
	if apiErr := f.apply(g); apiErr != nil {
		return apiErr
	}
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.st.Accounts[c.accountID]
	if a.AIGateways[g.ID] != nil {
		return newAPIError(http.StatusConflict, codeResourceExists, "An AI Gateway with id %q already exists.", g.ID)
	}
	if a.AIGateways == nil {
		a.AIGateways = map[string]*aiGateway{}
	}
	a.AIGateways[g.ID] = g
	if err := s.persistLocked(); err != nil {
		delete(a.AIGateways, g.ID)
		return errInternal(err)
	}
	writeResult(c.w, g)
	return nil
}

func (s *Server) listGateways(c *call) *apiError {
	s.mu.RLock()
	a := s.st.Accounts[c.accountID]
	out := make([]aiGateway, 0, len(a.AIGateways))
	for _, g := range a.AIGateways {
		out = append(out, *g)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	page, perPage := pageParams(c.r, 20)
	writeResultInfo(c.w, out, pageInfo{Page: page, PerPage: perPage, Count: len(out), TotalCount: len(out), TotalPages: 1})
	return nil
}

func (s *Server) getGateway(c *call) *apiError {
	s.mu.RLock()
	g := s.st.Accounts[c.accountID].AIGateways[c.param("gateway")]
	var copied aiGateway
	if g != nil {
		copied = *g
	}
	s.mu.RUnlock()
	if g == nil {
		return errGatewayNotFound(c.param("gateway"))
	}
	writeResult(c.w, copied)
	return nil
}

// gatewayUpdateFields are the fields of the AI Gateway update schema (cloudflare-go v6
// AIGatewayUpdateParams). It has no `id`: the path names the gateway.
var gatewayUpdateFields = map[string]bool{
	"cache_invalidate_on_update": true, "cache_ttl": true, "collect_logs": true, "rate_limiting_interval": true,
	"rate_limiting_limit": true, "authentication": true, "dlp": true, "log_management": true,
	"log_management_strategy": true, "logpush": true, "logpush_public_key": true, "otel": true,
	"rate_limiting_technique": true, "retry_backoff": true, "retry_delay": true, "retry_max_attempts": true,
	"store_id": true, "stripe": true, "workers_ai_billing_mode": true, "zdr": true,
}

// updateGateway: PUT /ai-gateway/gateways/{id}. Fields the body leaves out keep their value,
// so a client may send only what changed. Whether the API ignores a field outside the update
// schema (an `id` matching the path, as a create body has it) is UNCONFIRMED: strictly it is
// refused (10021); with quirk gateway_update_accepts_id it is ignored, and an id must match the
// path.
func (s *Server) updateGateway(c *call) *apiError {
	data, err := io.ReadAll(io.LimitReader(c.r.Body, maxMetadataBytes))
	if err != nil {
		return newAPIError(http.StatusBadRequest, codeParseBody, "Could not read the request body.")
	}
	var f gatewayFields
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return newAPIError(http.StatusBadRequest, codeParseBody, "Could not parse the request body as JSON: %v", err)
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return newAPIError(http.StatusBadRequest, codeParseBody, "Could not parse the request body as JSON: %v", err)
	}
	id := c.param("gateway")
	if !s.Quirks().GatewayUpdateAcceptsID {
		for _, name := range sortedNames(raw) {
			if !gatewayUpdateFields[name] {
				return errValidation("Unknown field %q: the gateway update takes no such field (the path names the gateway).", name)
			}
		}
	}
	if f.ID != nil && *f.ID != id {
		return errValidation("The gateway id in the body (%q) does not match the one in the path (%q).", *f.ID, id)
	}
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.st.Accounts[c.accountID]
	g := a.AIGateways[id]
	if g == nil {
		return errGatewayNotFound(id)
	}
	updated := *g
	if apiErr := f.apply(&updated); apiErr != nil {
		return apiErr
	}
	updated.ModifiedAt = s.opts.now().UTC()
	a.AIGateways[id] = &updated
	if err := s.persistLocked(); err != nil {
		a.AIGateways[id] = g
		return errInternal(err)
	}
	writeResult(c.w, updated)
	return nil
}

// deleteGateway answers with the deleted gateway, as Cloudflare does.
func (s *Server) deleteGateway(c *call) *apiError {
	g, apiErr := deleteAccountEntry(s, c, func(a *account) map[string]*aiGateway { return a.AIGateways }, c.param("gateway"), errGatewayNotFound)
	if apiErr != nil {
		return apiErr
	}
	writeResult(c.w, g)
	return nil
}
