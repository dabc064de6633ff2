package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/flareform/flareform/internal/textwait"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flareform/flareform/internal/confined"
	"github.com/flareform/flareform/provision/spec"
)

// SmokeReport is the outcome of the smoke test of one worker.
type SmokeReport struct {
	Key    string       `json:"key"`
	Name   string       `json:"name"`
	URL    string       `json:"url"`
	Passed bool         `json:"passed"`
	Checks []SmokeCheck `json:"checks"`
	// OutputPath is where the authorised response body was written, when it was.
	OutputPath string `json:"output_path,omitempty"`
	Error      string `json:"error,omitempty"` // the first failed check
}

// SmokeCheck is one request of a smoke test.
type SmokeCheck struct {
	Name        string `json:"name"` // "authorized", "unauthorized", "method"
	Passed      bool   `json:"passed"`
	Skipped     string `json:"skipped,omitempty"` // why the check did not run
	Status      int    `json:"status,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	Detail      string `json:"detail,omitempty"`
	// keyMissing: the check needs the worker's key and none was found. It could not run, so
	// the smoke test did not pass: exit 0 must never rest on a check that was not made.
	keyMissing bool
}

const maxSmokeBody = 32 << 20

// Smoke runs the smoke tests of every worker in s that has one, with keys (by worker key, or
// by script name) for the authorised request. It makes two API calls at once: the account
// subdomain, and the script list, which tells a worker that was never deployed (or was
// destroyed): its test fails at once as not deployed, instead of waiting out Config.SmokeWait
// for a deploy that is not coming and blaming a missing key.
func (e *Engine) Smoke(ctx context.Context, s *spec.Spec, keys map[string]string, outDir string) ([]SmokeReport, error) {
	accountID, err := e.accountID(s.AccountID)
	if err != nil {
		return nil, err
	}
	var (
		scripts   map[string][]string
		listErr   error
		listed    = make(chan struct{})
		subdomain string
	)
	go func() { defer close(listed); scripts, listErr = e.scriptNames(ctx, accountID) }()
	subdomain, err = e.accountSubdomain(ctx, accountID)
	<-listed
	if err != nil {
		return nil, fmt.Errorf("smoke: %w", err)
	}
	if listErr != nil {
		// The list only speeds up a failure: without it every worker is tested as before.
		e.logf("smoke: could not tell which workers are deployed: %v", listErr)
		scripts = nil
	}
	var reports []SmokeReport
	var errs []error
	for _, w := range s.Workers {
		if w.Smoke == nil {
			continue
		}
		if _, deployed := scripts[w.Name]; scripts != nil && !deployed {
			report := notDeployedReport(w, subdomain)
			errs = append(errs, fmt.Errorf("smoke %s: %s", w.Name, report.Error))
			reports = append(reports, report)
			continue
		}
		key := e.smokeKey(w, keys)
		report := e.smokeEveryVersion(ctx, accountID, w, subdomain, key, outDir)
		if !report.Passed {
			errs = append(errs, fmt.Errorf("smoke %s: %s", w.Name, report.Error))
		}
		reports = append(reports, report)
	}
	return reports, errors.Join(errs...)
}

// smokeEveryVersion smoke-tests the worker; while a split deployment (a canary) serves, it
// tests each of its versions through the version-override header, since a request without it
// reaches one of them by chance: a broken canary would pass nine runs in ten at 10%.
func (e *Engine) smokeEveryVersion(ctx context.Context, accountID string, w spec.Worker, subdomain, key, outDir string) SmokeReport {
	shares, err := e.activeShares(ctx, accountID, w.Name)
	if err != nil || len(shares) < 2 {
		if err != nil {
			e.logf("smoke %s: could not read its deployment (%v); testing whichever version answers", w.Name, err)
		}
		return e.smokeWorker(ctx, w, subdomain, key, outDir)
	}
	var report SmokeReport
	for _, sh := range shares {
		report = e.smokeWorker(withVersionOverride(ctx, w.Name, sh.VersionID), w, subdomain, key, outDir)
		if !report.Passed {
			report.Error = fmt.Sprintf("version %s (%s of the traffic): %s", sh.VersionID, percentText(sh.Percentage), report.Error)
			return report
		}
	}
	return report
}

// notDeployedReport is the smoke report of a worker whose script does not exist: no check ran.
func notDeployedReport(w spec.Worker, subdomain string) SmokeReport {
	r := SmokeReport{Key: w.Key, Name: w.Name, Checks: []SmokeCheck{},
		Error: fmt.Sprintf("not deployed: the account has no script %s; run `flareform apply` first", w.Name)}
	if host := smokeHost(w, subdomain); host != "" {
		r.URL = "https://" + host + withSmokeDefaults(*w.Smoke).Path
	}
	return r
}

// smokeKey finds the key for w: given by the caller, else from its env/file source.
func (e *Engine) smokeKey(w spec.Worker, keys map[string]string) string {
	if k := keys[w.Key]; k != "" {
		return k
	}
	if k := keys[w.Name]; k != "" {
		return k
	}
	if w.APIKey != nil && w.APIKey.From != keyFromGenerate {
		if k, err := resolveKey(w.APIKey, e.cfg.Getenv); err == nil {
			return k
		}
	}
	return ""
}

// smokeWorker checks the deployed worker over its workers.dev URL, else its first custom
// domain (smokeHost). It waits (bounded by
// Config.SmokeWait) for the deploy to propagate: a 404/5xx or a refused connection is retried,
// a wrong answer is not.
func (e *Engine) smokeWorker(ctx context.Context, w spec.Worker, subdomain, key, outDir string) SmokeReport {
	report := SmokeReport{Key: w.Key, Name: w.Name}
	host := smokeHost(w, subdomain)
	switch {
	case host == "" && w.WorkersDev:
		report.Error = "the account has no workers.dev subdomain"
		return report
	case host == "":
		report.Error = "workers_dev is off and the worker has no domain, so there is no URL to test"
		return report
	}
	sm := withSmokeDefaults(*w.Smoke)
	report.URL = "https://" + host + sm.Path
	target, err := e.smokeTarget(ctx, host, sm.Path)
	if err != nil {
		report.Error = err.Error()
		return report
	}
	e.logf("%s: smoke testing %s", w.Name, report.URL)
	checks := []func() SmokeCheck{
		func() SmokeCheck {
			return e.checkAuthorized(ctx, target, host, sm, key, w.APIKey != nil, w.Name, outDir, &report)
		},
		func() SmokeCheck { return e.checkUnauthorized(ctx, target, host, sm, w.APIKey != nil) },
		func() SmokeCheck { return e.checkMethod(ctx, target, host, sm) },
	}
	// The checks are independent requests, so they run at once: the smoke test then costs one
	// image generation rather than the sum of three round trips. Only checkAuthorized writes to
	// report (OutputPath), and nothing reads it until all are done.
	report.Checks = make([]SmokeCheck, len(checks))
	var wg sync.WaitGroup
	for i, run := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			report.Checks[i] = run()
		}()
	}
	wg.Wait()
	for _, c := range report.Checks {
		switch {
		case c.Passed || report.Error != "":
		case c.keyMissing:
			report.Error = missingSmokeKey(w)
		case c.Skipped == "":
			report.Error = fmt.Sprintf("%s check: %s", c.Name, c.Detail)
		}
	}
	report.Passed = report.Error == ""
	return report
}

// missingSmokeKey says why a worker's smoke test failed for want of its key, where the key is
// looked for (the order apply uses too; docs/guarantees.md, "Keys") and how to pass it.
func missingSmokeKey(w spec.Worker) string {
	binding, fix := "", "pass it with --key-file FILE or FLAREFORM_API_KEY, or rotate to a new one with `flareform rotate-key "+w.Key+" --revoke`"
	if w.APIKey != nil {
		binding = w.APIKey.Binding
		if w.APIKey.From != keyFromGenerate {
			fix = fmt.Sprintf("make the spec's source (%s:%s) hold the deployed key", w.APIKey.From, w.APIKey.Ref)
		}
	}
	return fmt.Sprintf("no key for %s (%s), so the smoke test could not check the authorised answer and did not pass. "+
		"The key is looked for in --key-file, FLAREFORM_API_KEY, the spec's env:/file: source, then the project's key store "+
		"(.flareform/keys.json); %s", w.Name, binding, fix)
}

func withSmokeDefaults(sm spec.Smoke) spec.Smoke {
	if sm.Path == "" {
		sm.Path = "/"
	}
	if sm.Status == 0 {
		sm.Status = http.StatusOK
	}
	if sm.UnauthorizedStatus == 0 {
		sm.UnauthorizedStatus = http.StatusUnauthorized
	}
	if sm.MethodStatus == 0 {
		sm.MethodStatus = http.StatusMethodNotAllowed
	}
	return sm
}

// smokeTarget is the URL requests go to: the real https URL, or plain HTTP to the local
// Cloudflare's data plane, which routes by the Host header.
func (e *Engine) smokeTarget(ctx context.Context, host, path string) (string, error) {
	if addr := e.workersDevAddr(ctx); addr != "" {
		return "http://" + addr + path, nil
	}
	return "https://" + host + path, nil
}

// workersDevAddr is Config.WorkersDevAddr or, when the API is on loopback, the data plane
// address the local Cloudflare announces at /__localcf/info. It is looked up once.
func (e *Engine) workersDevAddr(ctx context.Context) string {
	e.devAddrOnce.Do(func() {
		e.devAddr = e.cfg.WorkersDevAddr
		if e.devAddr == "" {
			e.devAddr = e.discoverWorkersDevAddr(ctx)
		}
	})
	return e.devAddr
}

func (e *Engine) discoverWorkersDevAddr(ctx context.Context) string {
	u, err := url.Parse(e.cfg.APIBaseURL)
	if err != nil || !isLoopback(u.Hostname()) {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.Scheme+"://"+u.Host+"/__localcf/info", nil)
	if err != nil {
		return ""
	}
	// The admin endpoints take the same token as the API (they would hand it out otherwise).
	req.Header.Set("Authorization", "Bearer "+e.cfg.APIToken)
	res, err := e.httpClient.Do(req)
	if err != nil {
		return ""
	}
	defer res.Body.Close()
	var info struct {
		WorkersDevAddr string `json:"workers_dev_addr"`
	}
	if res.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&info) != nil {
		return ""
	}
	return info.WorkersDevAddr
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (e *Engine) checkAuthorized(ctx context.Context, target, host string, sm spec.Smoke, key string, needsKey bool, name, outDir string, report *SmokeReport) SmokeCheck {
	c := SmokeCheck{Name: "authorized"}
	if needsKey && key == "" {
		// A key generated by an earlier apply cannot be read back from Cloudflare.
		c.Skipped = "key unknown: none was found for this worker, so the authorised request could not run"
		c.keyMissing = true
		return c
	}
	req, err := smokeRequestBody(sm)
	if err != nil {
		c.Detail = err.Error()
		return c
	}
	req.key = key
	res, err := e.smokeRequest(ctx, req, target, host)
	if err == nil && res.status == http.StatusTooManyRequests && sm.Status != http.StatusTooManyRequests {
		// The worker's rate limit is used up for this key (clients share it): the check has
		// not seen the answer yet. Wait out the limit once rather than judge (and roll back)
		// code whose answer was never read.
		res, err = e.afterRateLimit(ctx, req, target, host, res)
	}
	if err != nil {
		c.Detail = err.Error()
		return c
	}
	c.Status, c.ContentType = res.status, res.contentType
	if res.status != sm.Status {
		c.Detail = fmt.Sprintf("status %d, want %d; content type %q; body starts %q", res.status, sm.Status, res.contentType, textwait.Snippet(res.body, 80))
		return c
	}
	if err := checkBody(res, sm.Expect, sm.ExpectFields); err != nil {
		c.Detail = err.Error()
		return c
	}
	if outDir != "" {
		path, err := writeSmokeBody(outDir, name, res)
		if err != nil {
			c.Detail = err.Error()
			return c
		}
		report.OutputPath = path
	}
	c.Passed = true
	c.Detail = fmt.Sprintf("%d bytes of %s", len(res.body), res.contentType)
	return c
}

// maxRateLimitWait bounds how long a smoke test waits for a worker's rate limit to reset: the
// longest period a ratelimit binding allows.
const maxRateLimitWait = 61 * time.Second

// afterRateLimit waits for the Retry-After of a rate-limited answer (at most maxRateLimitWait)
// and asks again; a limit that does not say when it resets, or a longer one, is answered as is.
func (e *Engine) afterRateLimit(ctx context.Context, req smokeReq, target, host string, limited *smokeResponse) (*smokeResponse, error) {
	secs, err := strconv.Atoi(strings.TrimSpace(limited.retryAfter))
	wait := time.Duration(secs) * time.Second
	if err != nil || secs < 0 || wait > maxRateLimitWait {
		return limited, nil
	}
	e.logf("%s: rate limited (429); waiting %s for the limit to reset before checking the answer", host, wait)
	if err := textwait.Sleep(ctx, wait+200*time.Millisecond); err != nil {
		return nil, err
	}
	return e.smokeRequest(ctx, req, target, host)
}

// checkBody verifies the content type (expect may be a prefix such as image/) and that the
// body is what it claims to be: a whole PNG or JPEG, valid JSON with the expected fields, or
// an event stream that ends with data: [DONE].
func checkBody(res *smokeResponse, expect string, fields []string) error {
	mediaType, _, _ := mime.ParseMediaType(res.contentType)
	mediaType = strings.ToLower(mediaType)
	if !matchesExpect(mediaType, expect) {
		return fmt.Errorf("content type %q, want %q; body starts %q", res.contentType, expect, textwait.Snippet(res.body, 80))
	}
	switch {
	case mediaType == "image/png":
		if err := checkPNG(res.body); err != nil {
			return fmt.Errorf("body is not a valid PNG (%d bytes): %v", len(res.body), err)
		}
	case mediaType == "image/jpeg":
		if err := checkJPEG(res.body); err != nil {
			return fmt.Errorf("body is not a valid JPEG (%d bytes): %v", len(res.body), err)
		}
	case expect == "image/":
		return fmt.Errorf("content type %q: want a PNG or JPEG image", res.contentType)
	case mediaType == "application/json" || strings.HasSuffix(mediaType, "+json"):
		return checkJSONFields(res.body, fields)
	case mediaType == "text/event-stream":
		return checkEventStream(res.body)
	}
	return nil
}

// matchesExpect compares a media type with smoke.expect: equal, or under a prefix like image/.
func matchesExpect(mediaType, expect string) bool {
	expect = strings.ToLower(expect)
	if strings.HasSuffix(expect, "/") {
		return strings.HasPrefix(mediaType, expect)
	}
	return expect == "" || mediaType == expect
}

// checkJSONFields checks the body is JSON and, when fields are listed, an object holding each.
func checkJSONFields(body []byte, fields []string) error {
	if !json.Valid(body) {
		return fmt.Errorf("body is not valid JSON; starts %q", textwait.Snippet(body, 80))
	}
	if len(fields) == 0 {
		return nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return fmt.Errorf("body is not a JSON object; starts %q", textwait.Snippet(body, 80))
	}
	var missing []string
	for _, f := range fields {
		if _, ok := obj[f]; !ok {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("JSON answer lacks field(s) %s; starts %q", strings.Join(missing, ", "), textwait.Snippet(body, 80))
	}
	return nil
}

// checkEventStream checks a server-sent event stream as Workers AI streams text: at least one
// data: event, and data: [DONE] as the last one (a stream cut short has no [DONE]).
func checkEventStream(body []byte) error {
	var data []string
	for _, line := range strings.Split(strings.ReplaceAll(string(body), "\r\n", "\n"), "\n") {
		if v, ok := strings.CutPrefix(line, "data:"); ok {
			data = append(data, strings.TrimSpace(v))
		}
	}
	switch {
	case len(data) == 0:
		return fmt.Errorf("event stream has no data: events; starts %q", textwait.Snippet(body, 80))
	case data[len(data)-1] != "[DONE]":
		return fmt.Errorf("event stream does not end with data: [DONE] (%d events; cut short?)", len(data))
	case len(data) == 1:
		return errors.New("event stream holds only data: [DONE], no content")
	}
	return nil
}

func (e *Engine) checkUnauthorized(ctx context.Context, target, host string, sm spec.Smoke, hasKey bool) SmokeCheck {
	c := SmokeCheck{Name: "unauthorized"}
	if !hasKey {
		c.Skipped = "the worker has no managed key"
		return c
	}
	req, err := smokeRequestBody(sm)
	if err != nil {
		c.Detail = err.Error()
		return c
	}
	return e.expectStatus(ctx, c, req, target, host, sm.UnauthorizedStatus)
}

func (e *Engine) checkMethod(ctx context.Context, target, host string, sm spec.Smoke) SmokeCheck {
	return e.expectStatus(ctx, SmokeCheck{Name: "method"}, smokeReq{method: http.MethodGet}, target, host, sm.MethodStatus)
}

func (e *Engine) expectStatus(ctx context.Context, c SmokeCheck, req smokeReq, target, host string, want int) SmokeCheck {
	method := req.method
	res, err := e.smokeRequest(ctx, req, target, host)
	if err != nil {
		c.Detail = err.Error()
		return c
	}
	c.Status, c.ContentType = res.status, res.contentType
	if res.status != want {
		c.Detail = fmt.Sprintf("%s without key: status %d, want %d; body starts %q", method, res.status, want, textwait.Snippet(res.body, 80))
		return c
	}
	c.Passed = true
	return c
}

type smokeResponse struct {
	status      int
	contentType string
	retryAfter  string // Retry-After, set on a rate-limited answer
	body        []byte
}

// smokeReq is one smoke request: method, body and its content type, and the key ("" for none).
type smokeReq struct {
	method, contentType, key string
	body                     []byte
}

// smokeRequestBody builds the request smoke.prompt, smoke.body or smoke.body_file describes.
func smokeRequestBody(sm spec.Smoke) (smokeReq, error) {
	req := smokeReq{method: sm.Method, contentType: "application/json"}
	if req.method == "" {
		req.method = http.MethodPost
	}
	switch {
	case sm.BodyFile != "":
		// Read under the loader's rules again: the file may have changed since (replaced by a
		// link to /proc/self/environ or out of the project), and its bytes go to a URL.
		var tree *confined.Tree
		if sm.BodyFileRoot != "" {
			tree = &confined.Tree{Root: sm.BodyFileRoot}
		}
		data, err := confined.ReadFile(sm.BodyFile, confined.SmokeBody, tree)
		if err != nil {
			return req, fmt.Errorf("read smoke.body_file: %w", err)
		}
		req.body, req.contentType = data, sm.ContentType
		if req.contentType == "" {
			req.contentType = spec.DefaultSmokeContentType
		}
	case sm.Body != nil:
		req.body = sm.Body
	default:
		req.body, _ = json.Marshal(map[string]string{"prompt": sm.Prompt})
	}
	return req, nil
}

// smokeRequest sends one request, retrying while the deploy has not propagated yet. The key
// only ever goes into the Authorization header; errors never include it.
func (e *Engine) smokeRequest(ctx context.Context, req smokeReq, target, host string) (*smokeResponse, error) {
	method := req.method
	deadline := time.Now().Add(e.cfg.SmokeWait)
	var lastErr error
	for attempt := 1; ; attempt++ {
		res, err := e.smokeOnce(ctx, req, target, host)
		switch {
		case err != nil:
			lastErr = err
		case res.status == http.StatusNotFound || res.status >= 500:
			lastErr = fmt.Errorf("%s: status %d; body starts %q", method, res.status, textwait.Snippet(res.body, 80))
		default:
			return res, nil
		}
		delay := min(100*time.Millisecond<<min(attempt-1, 5), 2*time.Second)
		if time.Now().Add(delay).After(deadline) || ctx.Err() != nil {
			if res != nil {
				return res, nil // a real answer, just not the wanted one: let the check judge it
			}
			return nil, fmt.Errorf("not reachable after %s: %w", e.cfg.SmokeWait, lastErr)
		}
		if err := textwait.Sleep(ctx, delay); err != nil {
			return nil, err
		}
	}
}

func (e *Engine) smokeOnce(ctx context.Context, r smokeReq, target, host string) (*smokeResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	method, key, body := r.method, r.key, r.body
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Host = host
	if body != nil {
		req.Header.Set("Content-Type", r.contentType)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if o := versionOverride(ctx); o != "" {
		req.Header.Set(versionOverrideHeader, o)
	}
	res, err := e.httpClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is known to the caller; the error is what matters
		}
		return nil, fmt.Errorf("%s %s: %w", method, host, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, maxSmokeBody))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read body: %w", method, host, err)
	}
	return &smokeResponse{status: res.StatusCode, contentType: res.Header.Get("Content-Type"), retryAfter: res.Header.Get("Retry-After"), body: data}, nil
}

// writeSmokeBody saves the authorised answer as <dir>/<name>.<ext>.
func writeSmokeBody(dir, name string, res *smokeResponse) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("smoke output dir: %w", err)
	}
	path := filepath.Join(dir, name+"."+extension(res.contentType))
	if err := os.WriteFile(path, res.body, 0o644); err != nil {
		return "", fmt.Errorf("write smoke output: %w", err)
	}
	return path, nil
}

func extension(contentType string) string {
	mediaType, _, _ := mime.ParseMediaType(contentType)
	switch mediaType {
	case "image/png":
		return "png"
	case "image/jpeg":
		return "jpg"
	case "application/json":
		return "json"
	case "text/plain":
		return "txt"
	case "text/event-stream":
		return "sse"
	default:
		return "bin"
	}
}
