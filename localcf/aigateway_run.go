package localcf

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flareform/flareform/localcf/ai"
)

// AI Gateway errors as the AI binding throws them. Cloudflare's codes for these are not in the
// references; these are local choices (docs/local-cloudflare.md).
const (
	codeGatewayUnknown     = 2001
	codeGatewayRateLimited = 2003
)

// serveGatewayRun is env.AI.run(model, inputs, {gateway: {id, skipCache, cacheTtl}}): the
// gateway must exist in the worker's account; its rate limit applies; an identical request
// (same model and inputs) within the cache TTL is answered from the gateway's cache.
// cf-aig-cache-status says HIT or MISS, and cf-aig-log-id names the call.
func (s *Server) serveGatewayRun(w http.ResponseWriter, r *http.Request) {
	account, id := r.Header.Get(headerAccount), r.Header.Get(headerGatewayID)
	model := strings.TrimPrefix(r.URL.Path, "/run/")
	w.Header().Set(headerLogID, strings.ReplaceAll(newUUID(), "-", ""))
	g, ok := s.gateway(account, id)
	if !ok {
		writeBindingError(w, http.StatusBadRequest, codeGatewayUnknown,
			fmt.Sprintf("AiError: AI Gateway %q does not exist on this account; create it first (POST /ai-gateway/gateways).", id))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, ai.MaxInputBytes))
	if err != nil {
		writeBindingError(w, http.StatusRequestEntityTooLarge, ai.CodeTooLarge, "Request is too large")
		return
	}
	now := s.opts.now()
	if !s.gatewayAllows(account, g, now) {
		w.Header().Set(headerCacheStatus, "MISS")
		writeBindingError(w, http.StatusTooManyRequests, codeGatewayRateLimited,
			fmt.Sprintf("AiError: rate limited by AI Gateway %q (%d requests per %d s).", id, g.RateLimitingLimit, g.RateLimitingInterval))
		return
	}
	ttl, useCache := gatewayCacheTTL(g, r.Header)
	key := gatewayCacheKey(account, g, model, body)
	if useCache {
		if hit, ok := s.gatewayCache.get(key, now); ok {
			writeCachedOutput(w, hit, "HIT")
			return
		}
	}
	out, err := s.ai.Run(r.Context(), model, body)
	if err != nil {
		w.Header().Set(headerCacheStatus, "MISS")
		var aiErr *ai.Error
		if !errors.As(err, &aiErr) {
			aiErr = &ai.Error{Status: http.StatusInternalServerError, Code: ai.CodeInternal, Message: "Internal error: " + err.Error()}
		}
		writeBindingError(w, aiErr.Status, aiErr.Code, aiErr.Message)
		return
	}
	s.recordNeurons(account, model, out.Usage) // a cache hit spends none
	entry, err := encodeOutput(out)
	if err != nil {
		writeBindingError(w, http.StatusInternalServerError, ai.CodeInternal, "Internal error: "+err.Error())
		return
	}
	if useCache {
		s.gatewayCache.put(key, entry, now, ttl)
	}
	writeCachedOutput(w, entry, "MISS")
}

// gateway returns a copy of the account's gateway.
func (s *Server) gateway(accountID, id string) (aiGateway, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a := s.st.Accounts[accountID]
	if a == nil || a.AIGateways[id] == nil {
		return aiGateway{}, false
	}
	return *a.AIGateways[id], true
}

// gatewayAllows applies the gateway's rate_limiting_* settings (off while limit or interval is 0).
func (s *Server) gatewayAllows(accountID string, g aiGateway, now time.Time) bool {
	if g.RateLimitingLimit <= 0 || g.RateLimitingInterval <= 0 {
		return true
	}
	key := "gateway\x00" + accountID + "\x00" + g.ID
	period := time.Duration(g.RateLimitingInterval) * time.Second
	if g.RateLimitingTechnique == "sliding" {
		return s.limiter.allowSliding(key, g.RateLimitingLimit, period, now)
	}
	return s.limiter.allowFixed(key, g.RateLimitingLimit, period, now)
}

// gatewayCacheTTL is the request's cacheTtl when given, else the gateway's cache_ttl; a TTL of
// zero or skipCache turns the cache off for the request.
func gatewayCacheTTL(g aiGateway, h http.Header) (time.Duration, bool) {
	if h.Get(headerSkipCache) == "true" {
		return 0, false
	}
	ttl := g.CacheTTL
	if v, err := strconv.Atoi(h.Get(headerCacheTTL)); err == nil && v >= 0 {
		ttl = v
	}
	return time.Duration(ttl) * time.Second, ttl > 0
}

// gatewayCacheKey names a request in the cache: the gateway incarnation (a re-created gateway
// starts empty; with cache_invalidate_on_update, so does an updated one), the model and inputs.
func gatewayCacheKey(accountID string, g aiGateway, model string, body []byte) string {
	h := sha256.New()
	generation := g.CreatedAt.UnixNano()
	if g.CacheInvalidateOnUpdate {
		generation = g.ModifiedAt.UnixNano()
	}
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%s\x00", accountID, g.ID, generation, model)
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// cachedOutput is an AI answer as the binding receives it.
type cachedOutput struct {
	contentType string
	body        []byte
	expires     time.Time
}

func encodeOutput(out *ai.Output) (cachedOutput, error) {
	if out.JSON == nil {
		return cachedOutput{contentType: out.ContentType, body: out.Body}, nil
	}
	data, err := json.Marshal(out.JSON)
	if err != nil {
		return cachedOutput{}, fmt.Errorf("encode AI output: %w", err)
	}
	return cachedOutput{contentType: out.ContentType, body: data}, nil
}

func writeCachedOutput(w http.ResponseWriter, out cachedOutput, status string) {
	w.Header().Set(headerCacheStatus, status)
	w.Header().Set("Content-Type", out.contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(out.body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out.body)
}

// gatewayCache holds AI answers until their TTL ends. It is bounded: past maxCachedAnswers,
// expired answers go first, then arbitrary ones (a cache may always miss).
type gatewayCache struct {
	mu      sync.Mutex
	answers map[string]cachedOutput
}

const maxCachedAnswers = 256

func newGatewayCache() *gatewayCache { return &gatewayCache{answers: map[string]cachedOutput{}} }

func (c *gatewayCache) get(key string, now time.Time) (cachedOutput, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out, ok := c.answers[key]
	if !ok || !now.Before(out.expires) {
		delete(c.answers, key)
		return cachedOutput{}, false
	}
	return out, true
}

func (c *gatewayCache) put(key string, out cachedOutput, now time.Time, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.answers) >= maxCachedAnswers {
		c.evict(now)
	}
	out.expires = now.Add(ttl)
	c.answers[key] = out
}

// evict makes room: expired answers, or else any one. Caller holds mu.
func (c *gatewayCache) evict(now time.Time) {
	for k, out := range c.answers {
		if !now.Before(out.expires) {
			delete(c.answers, k)
		}
	}
	for k := range c.answers {
		if len(c.answers) < maxCachedAnswers {
			return
		}
		delete(c.answers, k)
	}
}
