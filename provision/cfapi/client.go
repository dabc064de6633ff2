// Package cfapi is flareform's side of the Cloudflare API: one Client whose every request goes
// through the same middlewares (the retrier, the in-flight limit, the pacer), with handles for
// the calls the engine makes about one account (Account) and one script (Script). Calls go
// through cloudflare-go v6's typed services where they exist and through the package's own JSON
// client otherwise (Client.Call); either way a failed call is an *APIError, a call that kept
// failing a *RetryError. Nothing here decides what to change: that is the engine's (provision).
package cfapi

import (
	"context"
	"net/http"
	"time"

	"github.com/cloudflare/cloudflare-go/v6/ai"
	"github.com/cloudflare/cloudflare-go/v6/option"
	"github.com/cloudflare/cloudflare-go/v6/workers"
)

// Config says how to reach the API and how to pace and retry. New takes it as given: the
// engine fills in its defaults.
type Config struct {
	BaseURL    string // e.g. https://api.cloudflare.com/client/v4
	Token      string
	HTTPClient *http.Client
	// Concurrency is how many requests may be in flight at once (> 0).
	Concurrency int
	// MaxRetries bounds retries per call on 429/5xx/network errors (0: none).
	MaxRetries int
	// MaxRetryAfter is the longest Retry-After (or 429 block) waited out; a longer one fails the
	// call at once.
	MaxRetryAfter time.Duration
	// RateLimit requests per RateWindow is the budget the client paces itself to until the
	// API's Ratelimit-Policy header says otherwise; RateLimit <= 0 turns pacing off.
	RateLimit  int
	RateWindow time.Duration
	// Logf receives one line per retry and per wait for the rate budget; never secrets.
	Logf func(format string, args ...any)
}

// Client reaches one Cloudflare API with one token. It is safe for concurrent use.
type Client struct {
	workers *workers.WorkerService
	ai      *ai.AIService
	// raw reaches endpoints without an SDK service in use here (AI Gateway, Vectorize v2,
	// custom domains, zones), with the same token, HTTP client and middlewares.
	raw   *apiClient
	slots *requestSlots
	pacer *pacer // nil when pacing is off
}

// New builds the SDK services and the JSON client around one chain of middlewares, outermost
// first: the retrier, the in-flight limit, the pacer.
func New(cfg Config) (*Client, error) {
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	r := &retrier{maxRetries: cfg.MaxRetries, maxRetryAfter: cfg.MaxRetryAfter, logf: logf}
	c := &Client{slots: newRequestSlots(cfg.Concurrency)}
	middlewares := []option.Middleware{r.middleware, c.slots.middleware}
	if cfg.RateLimit > 0 {
		// Inside the retrier, so every attempt, retries included, is paced and counted.
		c.pacer = newPacer(cfg.RateLimit, cfg.RateWindow, cfg.MaxRetryAfter, logf)
		middlewares = append(middlewares, c.pacer.middleware)
	}
	// The services are built directly rather than with cloudflare.NewClient, which would also
	// pick up CLOUDFLARE_API_KEY/EMAIL from the environment and send them alongside the token,
	// and would link the SDK's root package with every service it has into the binary.
	opts := []option.RequestOption{
		option.WithBaseURL(cfg.BaseURL),
		option.WithAPIToken(cfg.Token),
		option.WithHTTPClient(cfg.HTTPClient),
		// The SDK's own retry waits out Retry-After without jitter and gives no summary when
		// it runs out, so it is off and the middleware retries instead.
		option.WithMaxRetries(0),
		option.WithMiddleware(middlewares...),
	}
	c.workers = workers.NewWorkerService(opts...)
	c.ai = ai.NewAIService(opts...)
	raw, err := newAPIClient(cfg.BaseURL, cfg.Token, cfg.HTTPClient, middlewares)
	if err != nil {
		return nil, err
	}
	c.raw = raw
	return c, nil
}

// StartWorker returns ctx marked with a new worker turn, later than every turn before it. When
// every request slot is taken, the next free one goes to the waiting request with the earliest
// turn; requests whose context carries no turn (account-level reads) go first.
func (c *Client) StartWorker(ctx context.Context) context.Context {
	return c.slots.startWorker(ctx)
}

// WorkerTurn is the turn StartWorker gave ctx; 0 (before every worker) for a context that has
// none.
func WorkerTurn(ctx context.Context) int64 { return turnOf(ctx) }

// Budget is what the pacer knows of the API's rate budget: Limit requests per Window, of which
// Available are left in the current window, which ends in ResetIn (a full window when unknown).
type Budget struct {
	Limit     int
	Window    time.Duration
	Available int
	ResetIn   time.Duration
}

// Budget is the rate budget as of now; ok is false when pacing is off.
func (c *Client) Budget() (b Budget, ok bool) {
	if c.pacer == nil {
		return Budget{}, false
	}
	b.Limit, b.Window, b.Available, b.ResetIn = c.pacer.budget()
	return b, true
}
