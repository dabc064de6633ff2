package localcf

import (
	"net/http"
	"sync"
	"time"
)

// windowLimiter counts calls per key in fixed windows (Cloudflare's ratelimit binding and AI
// Gateway "fixed") or a sliding window (AI Gateway "sliding"). Counts live in memory only:
// Cloudflare's are per location and eventually consistent, nothing a restart must keep.
type windowLimiter struct {
	mu      sync.Mutex
	windows map[string]*callWindow
}

type callWindow struct {
	start  time.Time     // fixed: start of the current window
	count  int           // fixed: calls counted in it
	period time.Duration // for pruning
	hits   []time.Time   // sliding: accepted calls within the last period
}

// maxLimiterKeys triggers pruning of windows that ended.
const maxLimiterKeys = 4096

func newWindowLimiter() *windowLimiter { return &windowLimiter{windows: map[string]*callWindow{}} }

// allowFixed counts a call and reports whether it is within limit in the window of length
// period that holds now. Windows are aligned to the clock (a 60 s window starts on the minute).
func (l *windowLimiter) allowFixed(key string, limit int, period time.Duration, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prune(now)
	start := now.Truncate(period)
	w := l.windows[key]
	if w == nil || !w.start.Equal(start) {
		w = &callWindow{start: start, period: period}
		l.windows[key] = w
	}
	if w.count >= limit {
		return false
	}
	w.count++
	return true
}

// allowSliding reports whether fewer than limit calls were accepted in the period before now.
func (l *windowLimiter) allowSliding(key string, limit int, period time.Duration, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prune(now)
	w := l.windows[key]
	if w == nil {
		w = &callWindow{period: period}
		l.windows[key] = w
	}
	kept := w.hits[:0]
	for _, t := range w.hits {
		if now.Sub(t) < period {
			kept = append(kept, t)
		}
	}
	w.hits = kept
	if len(w.hits) >= limit {
		return false
	}
	w.hits = append(w.hits, now)
	return true
}

// prune drops windows that can no longer limit anything, once there are many. Caller holds mu.
func (l *windowLimiter) prune(now time.Time) {
	if len(l.windows) < maxLimiterKeys {
		return
	}
	for k, w := range l.windows {
		last := w.start
		if n := len(w.hits); n > 0 {
			last = w.hits[n-1]
		}
		if now.Sub(last) >= w.period {
			delete(l.windows, k)
		}
	}
}

// serveRateLimit answers env.RATE_LIMITER.limit({key}) with {success}: counters are per
// (account, namespace_id, key), so bindings sharing a namespace_id share a counter.
func (s *Server) serveRateLimit(w http.ResponseWriter, r *http.Request) {
	var call struct {
		backendBindingConfig
		Key string `json:"key"`
	}
	if !readBindingCall(w, r, &call) {
		return
	}
	if call.Limit <= 0 || (call.Period != 10 && call.Period != 60) || call.Key == "" {
		writeBindingError(w, http.StatusBadRequest, codeBindingBadCall, "ratelimit call needs a key, a limit above zero and a period of 10 or 60")
		return
	}
	key := "ratelimit\x00" + call.Account + "\x00" + call.NamespaceID + "\x00" + call.Key
	ok := s.limiter.allowFixed(key, call.Limit, time.Duration(call.Period)*time.Second, s.opts.now())
	writeJSON(w, http.StatusOK, map[string]bool{"success": ok})
}
