package cfapi

import (
	"context"
	"fmt"
	"github.com/flareform/flareform/internal/textwait"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cloudflare/cloudflare-go/v6/option"
)

// Cloudflare's client API limit: 1200 requests per 5 minutes per token.
const (
	DefaultRateLimit  = 1200
	DefaultRateWindow = 5 * time.Minute
)

// pacer keeps the client under the API's rate limit by waiting before a request would cross
// it, instead of crossing it and retrying: once over, Cloudflare refuses every call of the
// token for the next five minutes. It keeps two views and obeys the stricter:
//   - the server's: the quota left (r) and seconds to reset (t) of the latest Ratelimit
//     header, minus the requests sent since, with Ratelimit-Policy giving the quota (q) and
//     window (w);
//   - its own: a sliding log of this process's requests, held to the quota per window, for
//     an API that sends no such header.
//
// Until the first answer arrives at most firstBurst requests are in flight: a run's first
// reads (account, scripts, models, each worker) go out at once, while a run that starts with
// little quota left still learns that before it sends more.
type pacer struct {
	now   func() time.Time
	sleep func(context.Context, time.Duration) error
	logf  func(format string, args ...any)

	mu        sync.Mutex
	limit     int
	window    time.Duration
	sent      []time.Time   // this process's requests inside the window, oldest first
	inflight  int           // requests sent and not answered yet
	answered  chan struct{} // closed by the first answer
	remaining int           // server quota left after its latest answer, minus sends since; -1 unknown
	resetAt   time.Time     // when the server's window resets
	// blockedUntil is when a 429's Retry-After ends: the server refuses everything until then.
	blockedUntil time.Time
	// maxBlock is the longest block worth waiting out; a longer one fails the request at once,
	// as the retrier does with a long Retry-After.
	maxBlock time.Duration
	logged   time.Time // resetAt of the last wait logged, so one wait is logged once
	// longestTrip is the longest round trip of this run's requests (see noteTrip).
	longestTrip time.Duration
}

func newPacer(limit int, window, maxBlock time.Duration, logf func(string, ...any)) *pacer {
	return &pacer{
		now: time.Now, sleep: textwait.Sleep, logf: logf, maxBlock: maxBlock,
		limit: limit, window: window, answered: make(chan struct{}), remaining: -1,
	}
}

func (p *pacer) middleware(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	if err := p.acquire(req.Context()); err != nil {
		return nil, err
	}
	sent := p.now()
	res, err := next(req)
	p.noteTrip(p.now().Sub(sent))
	p.observe(res)
	return res, err
}

// noteTrip remembers the longest round trip so far. A request is counted by the server when
// it arrives, up to a round trip after the pacer logged it, so the pacer's log keeps every
// request that long past the window: a request that reached the server late must not leave
// the log early, or the server sees more than the budget within one window (a 300-worker run
// did, 1209 per 5 minutes, when its first burst arrived slowly and its next one quickly).
func (p *pacer) noteTrip(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.longestTrip = max(p.longestTrip, d)
}

// acquire waits until one more request fits the budget, then counts it as sent.
func (p *pacer) acquire(ctx context.Context) error {
	for {
		p.mu.Lock()
		first, wait := p.delayLocked()
		if !first && wait <= 0 {
			now := p.now()
			p.sent = append(p.sent, now)
			p.inflight++
			if p.remaining > 0 {
				p.remaining--
			}
			p.mu.Unlock()
			return nil
		}
		answered := p.answered
		if blocked := p.blockedUntil.Sub(p.now()); blocked > p.maxBlock {
			p.mu.Unlock()
			return fmt.Errorf("the API refuses this token for another %s (rate limited); try again later", blocked.Round(time.Second))
		}
		p.noteWaitLocked(wait)
		p.mu.Unlock()
		if first {
			select {
			case <-answered:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err := p.sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// firstBurst is how many requests may be in flight before the first answer arrives: enough for
// the reads a plan starts with (the account's two and four for each of up to
// speculativeReadWorkers workers), few enough that an almost spent budget is crossed by little.
const firstBurst = 16

// delayLocked says whether to wait for the first answer, or else how long until a request fits.
func (p *pacer) delayLocked() (awaitFirst bool, wait time.Duration) {
	select {
	case <-p.answered:
	default:
		if p.inflight >= firstBurst {
			return true, 0
		}
	}
	now := p.now()
	cut := 0
	held := p.window + p.longestTrip // see noteTrip
	for cut < len(p.sent) && !p.sent[cut].After(now.Add(-held)) {
		cut++
	}
	p.sent = p.sent[cut:]
	if len(p.sent) >= p.limit {
		wait = p.sent[0].Add(held).Sub(now)
	}
	if p.remaining >= 0 && now.After(p.resetAt) {
		p.remaining = -1 // a new window: the next answer tells the quota
	}
	if p.remaining == 0 {
		wait = max(wait, p.resetAt.Sub(now))
	}
	if p.blockedUntil.After(now) {
		wait = max(wait, p.blockedUntil.Sub(now))
	}
	return false, wait
}

func (p *pacer) noteWaitLocked(wait time.Duration) {
	if wait <= 0 {
		return
	}
	until := p.now().Add(wait).Truncate(time.Second)
	if until.Equal(p.logged) {
		return
	}
	p.logged = until
	p.logf("  API rate budget used up; waiting %s for it to refill (pacing, not retrying)", wait.Round(100*time.Millisecond))
}

// budget is what the pacer knows of the budget now: limit requests per window, how many of
// them are left in the current window and when that window ends (a full window when unknown).
func (p *pacer) budget() (limit int, window time.Duration, available int, resetIn time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delayLocked() // drops requests that left the window and a reset that passed
	now := p.now()
	available = max(p.limit-len(p.sent), 0)
	resetIn = p.window
	if len(p.sent) > 0 {
		resetIn = p.sent[0].Add(p.window + p.longestTrip).Sub(now)
	}
	if p.remaining >= 0 {
		available = min(available, p.remaining)
		resetIn = p.resetAt.Sub(now)
	}
	return p.limit, p.window, available, max(resetIn, 0)
}

// observe reads the rate-limit headers of an answer (res is nil when the request failed).
func (p *pacer) observe(res *http.Response) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inflight--
	select {
	case <-p.answered:
	default:
		close(p.answered)
	}
	if res == nil {
		return
	}
	now := p.now()
	if q, w, ok := parseRatePolicy(res.Header.Get("Ratelimit-Policy")); ok {
		p.limit, p.window = q, w
	}
	if r, t, ok := parseRateLimit(res.Header.Get("Ratelimit")); ok {
		// Requests still in flight may not be counted in r yet: count them as spent.
		left, reset := max(r-p.inflight, 0), now.Add(t)
		// Answers can arrive out of order, so within one window only a lower count is news.
		// A reset later than the known one (beyond t's rounding to seconds) is a new window.
		if p.remaining < 0 || reset.After(p.resetAt.Add(time.Second)) {
			p.remaining, p.resetAt = left, reset
		} else {
			p.remaining = min(p.remaining, left)
		}
	}
	if res.StatusCode == http.StatusTooManyRequests {
		// Refused: nothing goes out until the server says the block ends. Retry-After, not the
		// window's reset, says when that is.
		if wait := parseRetryAfter(res.Header, now); wait > 0 {
			p.blockedUntil = now.Add(wait)
		}
	}
}

// parseRateLimit reads `"default";r=50;t=30` (several comma-separated items: the tightest).
func parseRateLimit(v string) (remaining int, reset time.Duration, ok bool) {
	for _, item := range strings.Split(v, ",") {
		params := rateParams(item)
		r, errR := strconv.Atoi(params["r"])
		t, errT := strconv.Atoi(params["t"])
		if errR != nil || errT != nil || r < 0 || t < 0 {
			continue
		}
		if !ok || r < remaining {
			remaining, reset, ok = r, time.Duration(t)*time.Second, true
		}
	}
	return remaining, reset, ok
}

// parseRatePolicy reads `"default";q=1200;w=300` (several items: the smallest quota).
func parseRatePolicy(v string) (quota int, window time.Duration, ok bool) {
	for _, item := range strings.Split(v, ",") {
		params := rateParams(item)
		q, errQ := strconv.Atoi(params["q"])
		w, errW := strconv.Atoi(params["w"])
		if errQ != nil || errW != nil || q <= 0 || w <= 0 {
			continue
		}
		if !ok || q < quota {
			quota, window, ok = q, time.Duration(w)*time.Second, true
		}
	}
	return quota, window, ok
}

// rateParams splits one structured-field item into its key=value parameters.
func rateParams(item string) map[string]string {
	params := map[string]string{}
	for _, part := range strings.Split(item, ";")[1:] {
		k, v, found := strings.Cut(strings.TrimSpace(part), "=")
		if found {
			params[strings.ToLower(k)] = strings.Trim(v, `"`)
		}
	}
	return params
}
