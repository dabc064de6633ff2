// Package localcf is a local Cloudflare: the v4 API for Workers (scripts, versions, deployments,
// secrets, settings, workers.dev subdomains, zones and Workers custom domains, tokens, Workers
// AI) with Cloudflare's wire formats and error codes, and a data plane that runs every deployed
// version in workerd and serves it on workers.dev and on its custom domains.
//
// Choices where Cloudflare's behaviour is not documented (see docs/design/design.md and the reference):
//   - a script created over the API starts with workers.dev disabled ({"enabled":false}); clients
//     (wrangler, flareform) always set the state they want;
//   - where the references leave a behaviour UNCONFIRMED, the strictest reading unless a quirk
//     switch (Options.Quirks, quirks.go) selects the other one;
//   - auth: missing/unknown/wrong-account token on an account resource is 403 code 10000; a
//     malformed Authorization header is 400 code 6003 with error_chain 6111; on /user/tokens/verify
//     a missing header is 400/1001 and an unknown token 401/1000;
//   - unknown routes are 400 with codes 7003 and 7000; a known route with another method is 405 code 7001.
//
// Not Cloudflare's: the admin endpoints (/__localcf/*) take an account's token, every listener
// answers only loopback Host headers (DNS rebinding), and listen addresses beyond loopback need
// Options.AllowRemote (docs/local-cloudflare.md, "Who can reach it").
package localcf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/flareform/flareform/internal/flock"
	"github.com/flareform/flareform/localcf/ai"
	"github.com/flareform/flareform/localcf/faults"
	"github.com/flareform/flareform/localcf/workerd"
)

// FaultRule is one injected fault (see package faults).
type FaultRule = faults.Rule

// Options configures a local Cloudflare.
type Options struct {
	StateDir       string        // "" = memory only
	Addr           string        // API listen address, default 127.0.0.1:0
	WorkersDevAddr string        // data plane listen address, default 127.0.0.1:0
	WorkerdBinary  string        // default workerd.FindBinary()
	MaxScriptBytes int           // 10027 above this; default 10 MiB
	MaxVars        int           // env vars + secrets per script (10055 above); default 64
	RateLimit      int           // requests per RateWindow per token; 0 = 1200, negative = no limit
	RateWindow     time.Duration // default 5m
	Faults         []FaultRule
	FaultSeed      int64
	Log            io.Writer // human log; nil = discard
	// TrafficSeed seeds the data plane's choice of version in a split deployment (A 90% /
	// B 10%), per script: the same seed and the same requests pick the same versions. The
	// zero value is a seed like any other.
	TrafficSeed int64
	// Zones are zone names ("example.com") the default account holds once started, for Workers
	// custom domains; each is added unless the account holds it already (AddZone).
	Zones []string
	// AllowRemote permits Addr or WorkersDevAddr beyond loopback (Start refuses them otherwise)
	// and then also accepts IP-address Host headers, which DNS rebinding cannot forge.
	AllowRemote bool

	// Quirks: readings of behaviour the references leave UNCONFIRMED. The zero value is the
	// strictest reading of each (quirks.go, docs/local-cloudflare.md); SetQuirks and the admin
	// endpoint /__localcf/quirks change them while running.
	Quirks Quirks

	now func() time.Time // clock for tests; nil = time.Now
	// startGate, when set, runs before every workerd start with the script's name; tests hold
	// one start open with it to see what the server does meanwhile. An error fails the start.
	startGate func(ctx context.Context, script string) error
}

func (o *Options) applyDefaults() {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.WorkersDevAddr == "" {
		o.WorkersDevAddr = "127.0.0.1:0"
	}
	if o.MaxScriptBytes <= 0 {
		o.MaxScriptBytes = 10 << 20
	}
	if o.MaxVars <= 0 {
		o.MaxVars = 64
	}
	if o.RateLimit == 0 {
		o.RateLimit = faults.DefaultRateLimit // a negative limit turns the limiter off
	}
	if o.RateWindow <= 0 {
		o.RateWindow = 5 * time.Minute
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.now == nil {
		o.now = time.Now
	}
}

// Server is a running local Cloudflare.
type Server struct {
	opts   Options
	ctx    context.Context // lives until Close; workerd processes are started under it
	cancel context.CancelFunc

	sealer *sealer
	blobs  *blobStore
	ai     *ai.Service
	faults *faults.Injector
	reqlog *requestLog
	// bindingLog records calls through the ai, ratelimit and vectorize bindings (memory only).
	bindingLog *requestLog
	// limiter counts ratelimit binding calls and AI Gateway requests; gatewayCache holds
	// AI Gateway answers. Both are memory only, like Cloudflare's per-location counters.
	limiter      *windowLimiter
	gatewayCache *gatewayCache
	// tails are the open tail sessions and their socket listener (tail.go); memory only.
	tails tailHub
	// usage holds Analytics Engine data points and Workers AI neuron records (analytics.go),
	// durable in the state dir, opened on first use.
	usage usageStores
	// d1 holds the open D1 databases (d1.go); each is a SQLite file in the state dir.
	d1 d1Store
	// storageStores hold KV namespaces and R2 buckets with their data (kvstore.go), durable
	// in the state dir, opened on first use.
	storageStores storageStores

	// opMu serialises state changes. It is never held while workerd starts: a change that
	// needs a new process is prepared under it, started without it, and committed under it
	// only if its script has not changed meanwhile (startedChange, change.go).
	opMu sync.Mutex
	// mu guards st and tokens for readers (API GETs, the data plane).
	mu     sync.RWMutex
	st     *state
	tokens map[string]string // token hash -> account id

	live  *liveSet
	split *splitter // picks the version of a split deployment per request

	quirkMu sync.RWMutex
	quirks  Quirks

	apiLn, devLn, aiLn       net.Listener
	apiSrv, devSrv, aiSrv    *http.Server
	closeOnce                sync.Once
	closeErr                 error
	apiBase, devAddr, aiAddr string
	stateLock                *flock.Lock // on StateDir; nil for a memory-only server
}

// Start loads (or creates) state, then serves the API, the workers.dev data plane and the
// internal Workers AI endpoint until Close.
func Start(ctx context.Context, opts Options) (*Server, error) {
	opts.applyDefaults()
	if err := CheckListenAddrs(opts.AllowRemote, opts.Addr, opts.WorkersDevAddr); err != nil {
		return nil, fmt.Errorf("localcf: %w (Options.AllowRemote)", err)
	}
	if opts.WorkerdBinary == "" {
		bin, err := workerd.FindBinary()
		if err != nil {
			return nil, fmt.Errorf("localcf: find workerd (set Options.WorkerdBinary or FLAREFORM_WORKERD, or run npm ci): %w", err)
		}
		opts.WorkerdBinary = bin
	}
	s := &Server{opts: opts, ai: ai.NewService(), faults: faults.New(opts.Faults, opts.FaultSeed), tokens: map[string]string{},
		quirks: opts.Quirks, bindingLog: &requestLog{}, limiter: newWindowLimiter(), gatewayCache: newGatewayCache()}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if err := s.loadState(); err != nil {
		s.cancel()
		s.stateLock.Release()
		return nil, err
	}
	if err := s.addStartZones(); err != nil {
		s.cancel()
		s.reqlog.close()
		s.stateLock.Release()
		return nil, err
	}
	s.live = newLiveSet(s.startVersion)
	s.split = newSplitter(opts.TrafficSeed)
	if err := s.listen(); err != nil {
		s.Close()
		return nil, err
	}
	fmt.Fprintf(opts.Log, "localcf: API %s, workers.dev %s, account %s, subdomain %s\n", s.apiBase, s.devAddr, s.AccountID(), s.Subdomain())
	if names := opts.Quirks.Names(); len(names) > 0 {
		fmt.Fprintf(opts.Log, "localcf: lenient readings (quirks): %s\n", strings.Join(names, ", "))
	}
	return s, nil
}

// loadState opens the state dir (seal key, blobs, state.json, request log) and makes sure a
// default account exists.
func (s *Server) loadState() error {
	dir := s.opts.StateDir
	key := randomKey()
	if dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("localcf: create state dir: %w", err)
		}
		var err error
		if s.stateLock, err = lockStateDir(dir); err != nil {
			return fmt.Errorf("localcf: %w", err)
		}
		if key, err = loadOrCreateSealKey(dir); err != nil {
			return fmt.Errorf("localcf: %w", err)
		}
	}
	var err error
	if s.sealer, err = newSealer(key); err != nil {
		return fmt.Errorf("localcf: %w", err)
	}
	if s.blobs, err = newBlobStore(dir); err != nil {
		return fmt.Errorf("localcf: %w", err)
	}
	if s.st, err = loadState(dir); err != nil {
		return fmt.Errorf("localcf: %w", err)
	}
	logPath := ""
	if dir != "" {
		logPath = filepath.Join(dir, requestsFile)
	}
	if s.reqlog, err = newRequestLog(logPath); err != nil {
		return fmt.Errorf("localcf: %w", err)
	}
	for id, a := range s.st.Accounts {
		s.tokens[a.Token.Hash] = id
		for _, t := range a.Tokens {
			s.tokens[t.Hash] = id
		}
	}
	if s.st.Accounts[s.st.DefaultAccount] == nil {
		id, _, err := s.addAccount("local-"+randomHex(3), "Local Account")
		if err != nil {
			return fmt.Errorf("localcf: create the default account: %w", err)
		}
		s.st.DefaultAccount = id
		if err := s.persist(); err != nil {
			return fmt.Errorf("localcf: %w", err)
		}
	}
	return nil
}

func (s *Server) listen() error {
	var err error
	if s.apiLn, err = net.Listen("tcp", s.opts.Addr); err != nil {
		return fmt.Errorf("localcf: listen for the API on %s: %w", s.opts.Addr, err)
	}
	if s.devLn, err = net.Listen("tcp", s.opts.WorkersDevAddr); err != nil {
		return fmt.Errorf("localcf: listen for workers.dev on %s: %w", s.opts.WorkersDevAddr, err)
	}
	if s.aiLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return fmt.Errorf("localcf: listen for the AI binding: %w", err)
	}
	s.apiBase = "http://" + s.apiLn.Addr().String() + "/client/v4"
	s.devAddr = s.devLn.Addr().String()
	s.aiAddr = s.aiLn.Addr().String()
	s.apiSrv = &http.Server{
		Handler:           guardHost(s.apiHostAllowed, apiListener, s.apiHandler()),
		ReadHeaderTimeout: headerReadTimeout, IdleTimeout: idleTimeout,
	}
	s.devSrv = &http.Server{
		Handler:           guardHost(s.workersDevHostAllowed, workersDevListener, http.HandlerFunc(s.serveWorkersDev)),
		ReadHeaderTimeout: headerReadTimeout, IdleTimeout: idleTimeout,
	}
	s.aiSrv = &http.Server{
		Handler:           guardHost(aiHostAllowed, aiListener, s.bindingHandler()),
		ReadHeaderTimeout: headerReadTimeout, IdleTimeout: idleTimeout,
	}
	go s.serve(s.apiSrv, s.apiLn)
	go s.serve(s.devSrv, s.devLn)
	go s.serve(s.aiSrv, s.aiLn)
	return nil
}

// Connection deadlines. A client that stops sending must not hold a connection (and its
// goroutine and buffers) forever; a 10 MiB upload over loopback takes well under a second.
const (
	headerReadTimeout = 30 * time.Second
	bodyReadTimeout   = 2 * time.Minute // from the handler's start, so injected latency does not count
	idleTimeout       = 2 * time.Minute
)

func (s *Server) serve(srv *http.Server, ln net.Listener) {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(s.opts.Log, "localcf: serve %s: %v\n", ln.Addr(), err)
	}
}

// apiHandler is the API listener's handler: admin endpoints bypass the request log, the rate
// limit and faults; Cloudflare's API goes through all three.
func (s *Server) apiHandler() http.Handler {
	limiter := faults.NewLimiter(s.opts.RateLimit, s.opts.RateWindow)
	cf := s.reqlog.middleware(limiter.Middleware(s.faults.Middleware(withBodyDeadline(http.HandlerFunc(s.routeAPI)))))
	admin := withBodyDeadline(http.HandlerFunc(s.serveAdmin))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isAdminPath(r.URL.Path) {
			admin.ServeHTTP(w, r)
			return
		}
		cf.ServeHTTP(w, r)
	})
}

// withBodyDeadline bounds how long a handler may wait for the request body. It is set per
// request, when the handler starts, rather than as http.Server.ReadTimeout, which would also
// count time the fault injector spends delaying the request on purpose. The deadline is
// lifted once the body is read: net/http cancels a request's context when a read on its
// connection times out, and a handler may legitimately run longer than the body takes.
func withBodyDeadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		// An error means the connection takes no deadlines (e.g. an httptest recorder); the
		// request is then served without one.
		if rc.SetReadDeadline(time.Now().Add(bodyReadTimeout)) == nil {
			r.Body = &deadlineBody{ReadCloser: r.Body, lift: func() { _ = rc.SetReadDeadline(time.Time{}) }}
		}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody lifts the connection's read deadline once the body has been read to its end.
type deadlineBody struct {
	io.ReadCloser
	lift func()
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) && b.lift != nil {
		b.lift()
		b.lift = nil
	}
	return n, err
}

// APIBaseURL is http://127.0.0.1:PORT/client/v4.
func (s *Server) APIBaseURL() string { return s.apiBase }

// WorkersDevAddr is the host:port serving *.workers.dev by Host header.
func (s *Server) WorkersDevAddr() string { return s.devAddr }

// AccountID is the default account's id (32 lowercase hex).
func (s *Server) AccountID() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.st.DefaultAccount
}

// Subdomain is the default account's workers.dev subdomain ("" once deleted over the API).
func (s *Server) Subdomain() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.st.Accounts[s.st.DefaultAccount].Subdomain
}

// Token is the default account's API token.
func (s *Server) Token() string {
	s.mu.RLock()
	a := s.st.Accounts[s.st.DefaultAccount]
	s.mu.RUnlock()
	token, err := s.sealer.open(a.Token.Sealed)
	if err != nil {
		return "" // unreachable: the seal key and state were loaded together
	}
	return string(token)
}

// AddAccount creates another account with its own token; subdomain "" leaves it without a
// workers.dev subdomain (GET subdomain then answers 10007).
func (s *Server) AddAccount(subdomain string) (accountID, token string, err error) {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	if subdomain != "" {
		if apiErr := s.checkSubdomainName(subdomain, ""); apiErr != nil {
			return "", "", fmt.Errorf("add account: %w", apiErr)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	accountID, token, err = s.addAccount(subdomain, "")
	if err != nil {
		return "", "", err
	}
	if err := s.persistLocked(); err != nil {
		return "", "", err
	}
	return accountID, token, nil
}

// TokenOptions describes a token AddToken makes.
type TokenOptions struct {
	// AccountID is the account the token belongs to; "" for the default account.
	AccountID string
	// AccountOwned makes an account-owned token, as Cloudflare's account API tokens:
	// GET /user/tokens/verify answers 401 code 1000 (Invalid API Token) for it, and only
	// GET /accounts/{id}/tokens/verify of its account verifies it. Otherwise the token is
	// user-owned, like the account's own token, and verifies on both.
	AccountOwned bool
	// Disabled and ExpiresOn (zero: never; in the past: already expired) make a token the API
	// refuses (403, code 10000) and the verify endpoints report as "disabled" or "expired".
	Disabled  bool
	ExpiresOn time.Time
}

// AddToken makes another API token for an account and returns it.
func (s *Server) AddToken(o TokenOptions) (string, error) {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	id := o.AccountID
	if id == "" {
		id = s.st.DefaultAccount
	}
	a := s.st.Accounts[id]
	if a == nil {
		return "", fmt.Errorf("add token: no account %s", id)
	}
	token := newToken()
	rec := &tokenRecord{ID: randomHex(16), Hash: tokenHash(token), Sealed: s.sealer.seal([]byte(token)),
		AccountOwned: o.AccountOwned, Disabled: o.Disabled}
	if !o.ExpiresOn.IsZero() {
		at := o.ExpiresOn.UTC()
		rec.ExpiresOn = &at
	}
	a.Tokens = append(a.Tokens, rec)
	s.tokens[rec.Hash] = id
	if err := s.persistLocked(); err != nil {
		return "", err
	}
	return token, nil
}

// addAccount creates an account; the caller holds mu (or is still single-threaded) and persists.
func (s *Server) addAccount(subdomain, name string) (string, string, error) {
	id := randomHex(16)
	token := newToken()
	if name == "" {
		name = "Account " + id[:8]
	}
	a := &account{
		ID: id, Name: name, Subdomain: subdomain, CreatedOn: s.opts.now().UTC(),
		Token:   tokenRecord{ID: randomHex(16), Hash: tokenHash(token), Sealed: s.sealer.seal([]byte(token))},
		Scripts: map[string]*script{},
	}
	s.st.Accounts[id] = a
	s.tokens[a.Token.Hash] = id
	return id, token, nil
}

// persist saves state; callers hold opMu (the only writers) and not mu.
func (s *Server) persist() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.persistLocked()
}

func (s *Server) persistLocked() error {
	return saveState(s.opts.StateDir, s.st)
}

// SetFaults replaces the injected fault rules.
func (s *Server) SetFaults(rules []FaultRule, seed int64) { s.faults.Set(rules, seed) }

// Requests returns the request log (Cloudflare API calls only, never bodies or secrets).
func (s *Server) Requests() []RequestRecord { return s.reqlog.records() }

// ResetRequests empties the in-memory request log.
func (s *Server) ResetRequests() { s.reqlog.reset() }

// Close stops the listeners and every workerd process.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		var errs []error
		servers := []*http.Server{s.apiSrv, s.devSrv, s.aiSrv}
		for i, ln := range []net.Listener{s.apiLn, s.devLn, s.aiLn} {
			switch {
			case servers[i] != nil:
				// Lingering client connections must not make Close fail or hang: after the
				// grace period they are cut, as a stopping server would.
				if err := servers[i].Shutdown(ctx); err != nil {
					if !errors.Is(err, context.DeadlineExceeded) {
						errs = append(errs, err)
					}
					servers[i].Close()
				}
			case ln != nil: // Start failed before serving on it
				ln.Close()
			}
		}
		if s.live != nil {
			s.live.closeAll()
		}
		errs = append(errs, s.closeD1()) // before the state lock is released
		s.cancel()
		defer s.stateLock.Release() // released last, after the state is written
		if s.reqlog != nil {
			errs = append(errs, s.reqlog.close())
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}
