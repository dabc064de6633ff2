// Package provision is flareform's engine: it reads the live state of a spec's Workers from the
// Cloudflare API, diffs it against the spec (no state file), applies exactly that plan, smoke
// tests the result over workers.dev, and destroys or reports the Workers on request.
//
// The engine reaches Cloudflare only through an API base URL, with the client and handles of
// provision/cfapi; it knows nothing about the local Cloudflare beyond its documented
// /__localcf/info admin endpoint.
package provision

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/flareform/flareform/bundler"
	"github.com/flareform/flareform/provision/cfapi"
)

// DefaultAPIBaseURL is Cloudflare's production API.
const DefaultAPIBaseURL = "https://api.cloudflare.com/client/v4"

// DefaultConcurrency is how many API requests are in flight at once. Measured (make bench's
// fleets, go run ./bench -only-fleets, 300 workers against the null API stub at 50ms per call,
// budget lifted, 2 rounds each, on a shared 2-core machine): 8: 9.6 s, 16: 9.2-12.3 s,
// 32: 9.4-11.2 s, 64: 9.8 s, for latency floors of 6.6-8.1 s: no setting beat the others
// beyond the noise, since the client's CPU bounds the run (Argon2id key fingerprints were 70%
// of its CPU samples). With that cost taken out, 16 keeps the stub busy: 117 round trips for
// 1802 calls (1802/16 = 113), 6.07 s = 1.04x the floor, and 64 in flight took as many round
// trips (116: client and stub share the CPU). Beyond 1200 calls per 5 minutes the pacer, not
// the slots, sets the pace anyway.
const DefaultConcurrency = 16

const (
	defaultMaxRetries = 4
	defaultSmokeWait  = 20 * time.Second
)

// Config says which account to manage and how to reach the API.
type Config struct {
	APIBaseURL     string // default https://api.cloudflare.com/client/v4
	APIToken       string
	AccountID      string       // used when the spec has none
	WorkersDevAddr string       // optional: dial this address for *.workers.dev (local Cloudflare)
	HTTPClient     *http.Client // used for API calls; smoke requests clone its settings
	Log            io.Writer    // progress lines for stderr; never secrets
	// Concurrency is how many API requests may be in flight at once; default 16. Workers are
	// handled workersPerRequestSlot times as many at once, so smoke tests and waits for the
	// API overlap instead of holding a request slot.
	Concurrency int
	// MaxRetries bounds retries per API call on 429/5xx/network errors; default 4, negative
	// for none.
	MaxRetries int

	// Getenv resolves `api_key: {from: env}` sources; default os.Getenv.
	Getenv func(string) string
	// SmokeWait bounds how long smoke tests wait for a deploy to propagate; default 20s.
	SmokeWait time.Duration
	// MaxRetryAfter is the longest Retry-After the engine waits out; a longer one (Cloudflare
	// blocks a token for five minutes after its rate limit) fails at once. Default 60s.
	MaxRetryAfter time.Duration
	// RateLimit and RateWindow are the API budget the engine paces itself to: requests per
	// window per token, default 1200 per 5 minutes (Cloudflare's). The API's Ratelimit-Policy
	// header, when sent, overrides both. RateLimit < 0 turns pacing off.
	RateLimit  int
	RateWindow time.Duration

	// Adopt names existing scripts that flareform did not deploy (no `flareform` tag) which
	// this run may take over (`apply --adopt NAME`); plan refuses any other such script.
	Adopt []string
	// VersionCacheDir holds the annotations of versions this machine has read or uploaded
	// (versioncache.go); "" (or "off") for none. ConfigFromEnv sets the user's,
	// $XDG_CACHE_HOME/flareform/versions, from its environment.
	VersionCacheDir string
	// BundleCacheDir keeps bundles between runs (bundler.Cache); "" for none. ConfigFromEnv
	// sets the user's, $XDG_CACHE_HOME/flareform/bundles, from its environment.
	BundleCacheDir string
	// OnWorkerDone, when set, is called each time apply has finished with a worker it changed
	// (from the worker's goroutine: it must be safe for concurrent use and quick).
	OnWorkerDone func(WorkerDone)

	// Targets restricts plans to these workers (--target, by key or script name) and the
	// gateways and indexes they use; empty: every worker of the spec.
	Targets []string
	// Canary, between 1 and 99, makes plans deploy each changed worker's new version beside
	// the serving one at this share of the traffic (apply --canary); 0 deploys at 100%.
	Canary float64
	// Data is what plans do with a storage object flareform created, that they delete, and
	// that holds data (--delete-data, --keep-data; kind_storage.go). Default: refuse.
	Data DataPolicy

	// Now is the engine's clock for dates the API gives (a model's planned_deprecation_date);
	// default time.Now.
	Now func() time.Time
}

// ConfigFromEnv reads CLOUDFLARE_API_TOKEN, CLOUDFLARE_ACCOUNT_ID, CLOUDFLARE_API_BASE_URL (or
// CF_API_BASE_URL) and FLAREFORM_WORKERS_DEV_ADDR, and places the version and bundle caches in
// the user cache directory getenv gives (XDG_CACHE_HOME, else HOME/.cache on Linux; none
// without either): every path comes from getenv, never from the process's environment.
func ConfigFromEnv(getenv func(string) string) Config {
	return Config{
		APIBaseURL:      apiBaseURLFromEnv(getenv),
		APIToken:        getenv("CLOUDFLARE_API_TOKEN"),
		AccountID:       getenv("CLOUDFLARE_ACCOUNT_ID"),
		WorkersDevAddr:  getenv("FLAREFORM_WORKERS_DEV_ADDR"),
		Getenv:          getenv,
		VersionCacheDir: UserVersionCacheDir(getenv),
		BundleCacheDir:  bundler.UserCacheDir(getenv),
	}
}

// apiBaseURLFromEnv reads the API base URL the way wrangler does: CLOUDFLARE_API_BASE_URL, else
// its deprecated alias CF_API_BASE_URL, so a shell set up for wrangler points flareform at the
// same API.
func apiBaseURLFromEnv(getenv func(string) string) string {
	if u := getenv("CLOUDFLARE_API_BASE_URL"); u != "" {
		return u
	}
	return getenv("CF_API_BASE_URL")
}

// APIError is a failed Cloudflare API call (cfapi.APIError): the engine's errors wrap it, so a
// caller finds it with errors.As.
type APIError = cfapi.APIError

// Engine plans and applies specs against one Cloudflare API.
type Engine struct {
	cfg Config
	// api is the Cloudflare API: every call to it goes through its handles (cfapi.Script,
	// cfapi.Account) or its JSON client (Call), behind its retrier, in-flight limit and pacer.
	api *cfapi.Client
	// httpClient carries smoke requests and the local Cloudflare discovery call.
	httpClient *http.Client

	logMu sync.Mutex

	fingerprints *fingerprinter

	devAddrOnce sync.Once
	// storedKeys is the project's key store plans read (UseKeyStore); nil: keyLookup finds it.
	storedKeys KeyLookup
	devAddr    string

	versions *versionCache
	// bundles is the on-disk bundle cache, nil for none (Config.BundleCacheDir).
	bundles *bundler.Cache
	// runID marks the versions this engine creates (their annotation), so a run can tell its
	// own version from one another run deployed meanwhile.
	runID string

	// models is what the Workers AI catalog said about each model this engine looked up.
	models modelCache
	// secretEdits are the versions this engine's secret deletes deployed (secrets.go).
	secretEdits secretEditLog
}

// New checks cfg, fills in defaults and builds the API clients.
func New(cfg Config) (*Engine, error) {
	if cfg.APIToken == "" {
		return nil, errors.New("no API token: set CLOUDFLARE_API_TOKEN")
	}
	if cfg.APIBaseURL == "" {
		cfg.APIBaseURL = DefaultAPIBaseURL
	}
	if !strings.HasPrefix(cfg.APIBaseURL, "http://") && !strings.HasPrefix(cfg.APIBaseURL, "https://") {
		return nil, fmt.Errorf("API base URL %q: want an http:// or https:// URL", cfg.APIBaseURL)
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 2 * time.Minute, Transport: apiTransport(cfg.Concurrency)}
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = defaultMaxRetries
	}
	if cfg.MaxRetries < 0 {
		cfg.MaxRetries = 0
	}
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SmokeWait <= 0 {
		cfg.SmokeWait = defaultSmokeWait
	}
	if cfg.MaxRetryAfter <= 0 {
		cfg.MaxRetryAfter = 60 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if cfg.RateLimit == 0 {
		cfg.RateLimit = cfapi.DefaultRateLimit
	}
	if cfg.RateWindow <= 0 {
		cfg.RateWindow = cfapi.DefaultRateWindow
	}
	if cfg.VersionCacheDir == "off" {
		cfg.VersionCacheDir = ""
	}
	e := &Engine{cfg: cfg, httpClient: cfg.HTTPClient, runID: newRunID(), fingerprints: newFingerprinter(),
		versions: &versionCache{dir: cfg.VersionCacheDir}}
	if cfg.BundleCacheDir != "" {
		e.bundles = bundler.NewCache(cfg.BundleCacheDir)
	}
	api, err := cfapi.New(cfapi.Config{
		BaseURL:       cfg.APIBaseURL,
		Token:         cfg.APIToken,
		HTTPClient:    cfg.HTTPClient,
		Concurrency:   cfg.Concurrency,
		MaxRetries:    cfg.MaxRetries,
		MaxRetryAfter: cfg.MaxRetryAfter,
		RateLimit:     cfg.RateLimit,
		RateWindow:    cfg.RateWindow,
		Logf:          e.logf,
	})
	if err != nil {
		return nil, err
	}
	e.api = api
	return e, nil
}

// apiTransport keeps a connection per request slot open between requests. Go's default keeps
// two per host, so with more requests in flight every answer beyond two closed its connection
// and the next request dialled (and, against Cloudflare, did a TLS handshake) again.
//
// Connecting gives up after apiDialTimeout: Cloudflare's edge answers a connect in
// milliseconds, so a connect that takes seconds is a network that drops the packets, and the
// API is unreachable (cfapi.Unreachable: not retried).
func apiTransport(concurrency int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: apiDialTimeout, KeepAlive: 30 * time.Second}).DialContext
	t.MaxIdleConnsPerHost = max(concurrency, t.MaxIdleConnsPerHost)
	t.MaxIdleConns = max(concurrency, t.MaxIdleConns)
	return t
}

// apiDialTimeout bounds connecting to the API (apiTransport).
const apiDialTimeout = 5 * time.Second

// Close closes the API connections the engine keeps open between requests (apiTransport).
// Among them may be connections dialled for a request that another connection then served: a
// server sees those as never used and waits for them when it shuts down, which an embedded
// local Cloudflare does as the command ends.
func (e *Engine) Close() {
	e.httpClient.CloseIdleConnections()
}

// logf writes one progress line. Callers never pass secrets.
func (e *Engine) logf(format string, args ...any) {
	e.logMu.Lock()
	defer e.logMu.Unlock()
	fmt.Fprintf(e.cfg.Log, format+"\n", args...)
}

// accountID picks the spec's account, falling back to the configured one.
func (e *Engine) accountID(specAccount string) (string, error) {
	if specAccount != "" {
		return specAccount, nil
	}
	if e.cfg.AccountID != "" {
		return e.cfg.AccountID, nil
	}
	return "", errors.New("no account id: set account_id in the spec or CLOUDFLARE_ACCOUNT_ID")
}

// workersPerRequestSlot is how many workers are handled at once per API request slot. A
// worker spends much of its turn off the API (bundle, smoke test, retry waits), so more
// workers than slots keep the API busy; requests beyond Concurrency queue in the client's
// in-flight limit, the workers that started first (cfapi.Client.StartWorker) served first.
const workersPerRequestSlot = 4

// forEach runs fn for every index in [0,n), a bounded number at once, and waits for all.
func (e *Engine) forEach(ctx context.Context, n int, fn func(ctx context.Context, i int)) {
	sem := make(chan struct{}, e.cfg.Concurrency*workersPerRequestSlot)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				fn(ctx, i) // fn sees the cancelled context and reports it
				return
			}
			defer func() { <-sem }()
			fn(e.api.StartWorker(ctx), i)
		}()
	}
	wg.Wait()
}

// API is the engine's Cloudflare client (its retries, pacing and HTTP client) and the account
// the spec names (specAccount), else the configured one: for commands that talk to one worker
// directly, such as tail.
func (e *Engine) API(specAccount string) (*cfapi.Client, string, error) {
	accountID, err := e.accountID(specAccount)
	if err != nil {
		return nil, "", err
	}
	return e.api, accountID, nil
}
