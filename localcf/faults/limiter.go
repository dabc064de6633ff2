package faults

import (
	"crypto/sha256"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Cloudflare's client API limit: 1200 requests per 5 minutes per token.
const (
	DefaultRateLimit  = 1200
	DefaultRateWindow = 5 * time.Minute
)

// Limiter enforces Cloudflare's client API rate limit with a fixed window per caller. A caller's
// window opens with its first request and lasts the window length. Within it the caller has
// limit requests; the next one and every later one until the window ends get 429 / code 971
// with Retry-After (Cloudflare blocks all calls for the rest of the period). Each caller is
// keyed by the Authorization header, else X-Auth-Key, else client IP.
type Limiter struct {
	limit  int
	window time.Duration

	mu      sync.Mutex
	now     func() time.Time
	callers map[[sha256.Size]byte]*callerWindow
}

type callerWindow struct {
	start time.Time
	used  int // requests counted in this window, including refused ones
}

// sweepThreshold is how many callers may be tracked before expired windows are swept out.
const sweepThreshold = 1024

// NewLimiter returns a Limiter allowing limit requests per window per caller. limit <= 0
// disables it; window <= 0 means DefaultRateWindow.
func NewLimiter(limit int, window time.Duration) *Limiter {
	if window <= 0 {
		window = DefaultRateWindow
	}
	return &Limiter{limit: limit, window: window, now: time.Now, callers: map[[sha256.Size]byte]*callerWindow{}}
}

// SetClock replaces the clock, for tests.
func (l *Limiter) SetClock(now func() time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.now = now
}

// Middleware counts every request and refuses those over the limit before next sees them.
// Every response carries the Ratelimit and Ratelimit-Policy headers.
func (l *Limiter) Middleware(next http.Handler) http.Handler {
	if l.limit <= 0 {
		return next
	}
	policy := fmt.Sprintf(`"default";q=%d;w=%d`, l.limit, ceilSeconds(l.window))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		allowed, remaining, reset := l.take(callerKey(r))
		w.Header().Set("Ratelimit", fmt.Sprintf(`"default";r=%d;t=%d`, remaining, ceilSeconds(reset)))
		w.Header().Set("Ratelimit-Policy", policy)
		if !allowed {
			writeRateLimited(w, max(1, ceilSeconds(reset)))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// take counts one request for key and reports whether it is allowed, how many requests remain
// in the window afterwards (never negative) and how long until the window resets.
func (l *Limiter) take(key [sha256.Size]byte) (allowed bool, remaining int, reset time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	cw := l.callers[key]
	if cw == nil || !now.Before(cw.start.Add(l.window)) {
		if len(l.callers) >= sweepThreshold {
			l.sweep(now)
		}
		cw = &callerWindow{start: now}
		l.callers[key] = cw
	}
	if cw.used < math.MaxInt {
		cw.used++
	}
	return cw.used <= l.limit, max(0, l.limit-cw.used), cw.start.Add(l.window).Sub(now)
}

// sweep forgets callers whose window has ended, so the map does not grow without bound.
func (l *Limiter) sweep(now time.Time) {
	for key, cw := range l.callers {
		if !now.Before(cw.start.Add(l.window)) {
			delete(l.callers, key)
		}
	}
}

// callerKey identifies who is calling. Only a hash of the credential is kept, so the Limiter
// never holds API tokens in memory longer than the request does.
func callerKey(r *http.Request) [sha256.Size]byte {
	id := "ip:" + clientIP(r)
	if v := r.Header.Get("Authorization"); v != "" {
		id = "authorization:" + v
	} else if v := r.Header.Get("X-Auth-Key"); v != "" {
		id = "x-auth-key:" + v
	}
	return sha256.Sum256([]byte(id))
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// ceilSeconds rounds d up to whole seconds, as Retry-After and the Ratelimit t= value do.
func ceilSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}

// String describes the limit for logs, e.g. "1200 requests per 5m0s".
func (l *Limiter) String() string {
	if l.limit <= 0 {
		return "no rate limit"
	}
	return strconv.Itoa(l.limit) + " requests per " + l.window.String()
}
