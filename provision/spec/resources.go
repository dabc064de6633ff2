package spec

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/flareform/flareform/internal/confined"
	"github.com/flareform/flareform/internal/lazyre"
)

// Names and limits of the account resources a worker can use (Cloudflare's, see
// /work/shared/reference/cloudflare-resources.md).
const (
	RateLimiterBinding      = "RATE_LIMITER"  // the rate_limit binding's fixed name
	AIGatewayVar            = "AI_GATEWAY_ID" // plain_text binding the engine sets from ai.gateway.id
	DefaultVectorizeBinding = "VECTORIZE"
	MaxRateLimit            = 1_000_000
	MaxVectorDimensions     = 1536
	MaxGatewayCacheTTL      = 30 * 24 * 3600 // a month, in seconds
	MaxGatewayPeriod        = 3600
	// MaxSmokeBodyFile bounds smoke.body_file (confined.SmokeBody's cap): a sample image or
	// recording, not a data set.
	MaxSmokeBodyFile        = 10 << 20
	DefaultSmokeMethod      = "POST"
	DefaultSmokeContentType = "application/octet-stream"
)

var (
	gatewayIDPattern  = lazyre.Regexp{Expr: `^[a-z0-9-]{1,64}$`}
	indexNamePattern  = lazyre.Regexp{Expr: `^[a-z][a-z0-9-]{0,31}$`}
	mimePrefixPattern = lazyre.Regexp{Expr: `^[a-z0-9][a-z0-9!#$&^_.+-]*/$`}
	// VectorMetrics are the distance metrics a Vectorize index can use.
	VectorMetrics = []string{"cosine", "euclidean", "dot-product"}
	// rateLimitPeriods are the only periods Workers rate limiting accepts, in seconds.
	rateLimitPeriods = []int{10, 60}
	smokeMethods     = []string{"POST", "PUT", "PATCH"}
)

// intField reads a whole number at path, checking it lies in [lo, hi].
func (l *loader) intField(w *Worker, block *value, name, path string, lo, hi int, fix string) (int, bool) {
	v := block.get(name)
	if v == nil {
		w.Pos[path] = posOf(block.key)
		return 0, false
	}
	w.Pos[path] = posOf(v.node)
	var n int
	if err := v.node.Decode(&n); err != nil || n < lo || n > hi {
		l.errorAt(posOf(v.node), fmt.Sprintf("%s %s is not a whole number from %d to %d", path, v.node.Value, lo, hi), fix)
		return 0, false
	}
	return n, true
}

// rateLimit reads a {limit, period} block at path ("rate_limit", "ai.gateway.rate_limit").
// Workers rate limiting knows only 10 and 60 second periods; a gateway takes any up to an hour.
func (l *loader) rateLimit(w *Worker, v *value, path string) *RateLimit {
	if v == nil || v.null {
		return nil
	}
	w.Pos[path] = posOf(v.key)
	rl := &RateLimit{}
	if v.get("limit") == nil {
		l.errorAt(posOf(v.key), path+" has no limit", "add limit: 100 (requests per period)")
	}
	rl.Limit, _ = l.intField(w, v, "limit", path+".limit", 1, MaxRateLimit, "write how many requests a caller may make per period, e.g. limit: 100")
	pv := v.get("period")
	if pv == nil {
		w.Pos[path+".period"] = posOf(v.key)
		l.errorAt(posOf(v.key), path+" has no period", "add period: 60 (seconds; 10 or 60)")
		return rl
	}
	w.Pos[path+".period"] = posOf(pv.node)
	var period int
	if err := pv.node.Decode(&period); err != nil {
		l.errorAt(posOf(pv.node), fmt.Sprintf("%s.period %s is not a whole number of seconds", path, pv.node.Value), "write period: 60 or period: 10")
		return rl
	}
	workerLimit := path == "rate_limit" || strings.HasPrefix(path, "consumers.")
	if workerLimit && !slices.Contains(rateLimitPeriods, period) {
		l.errorAt(posOf(pv.node), fmt.Sprintf("%s.period %d is not supported: Workers rate limiting counts over 10 or 60 seconds", path, period),
			"write period: 10 or period: 60 (and scale limit to match)")
		return rl
	}
	if !workerLimit && (period < 1 || period > MaxGatewayPeriod) {
		l.errorAt(posOf(pv.node), fmt.Sprintf("%s.period %d is not from 1 to %d seconds", path, period, MaxGatewayPeriod), "write e.g. period: 60")
		return rl
	}
	rl.Period = period
	return rl
}

// gateway reads `ai.gateway`: the AI Gateway the worker's AI calls go through.
func (l *loader) gateway(w *Worker, v *value) *AIGateway {
	if v == nil || v.null {
		return nil
	}
	w.Pos["ai.gateway"] = posOf(v.key)
	g := &AIGateway{}
	iv := v.get("id")
	if iv == nil {
		w.Pos["ai.gateway.id"] = posOf(v.key)
		l.errorAt(posOf(v.key), "ai.gateway has no id", "add id: my-gateway (lowercase letters, digits and '-')")
		return g
	}
	id, ok := l.str(iv)
	w.Pos["ai.gateway.id"] = id.pos
	if ok {
		g.ID = id.s
		if !gatewayIDPattern.MatchString(id.s) {
			l.errorAt(id.pos, fmt.Sprintf("ai.gateway.id %s must be 1 to 64 lowercase letters, digits and '-'", id.show()),
				fmt.Sprintf("use e.g. %q", suggestGatewayID(id.s)))
		}
	}
	if ttl, ok := l.intField(w, v, "cache_ttl", "ai.gateway.cache_ttl", 0, MaxGatewayCacheTTL, "write the cache lifetime in seconds, e.g. cache_ttl: 3600 (0: no cache)"); ok {
		g.CacheTTL = ttl
	}
	g.RateLimit = l.rateLimit(w, v.get("rate_limit"), "ai.gateway.rate_limit")
	if cv := v.get("collect_logs"); cv != nil {
		w.Pos["ai.gateway.collect_logs"] = posOf(cv.node)
		_ = cv.node.Decode(&g.CollectLogs) // the shaper has checked it is a YAML boolean
	}
	return g
}

// suggestGatewayID turns an invalid gateway id into a valid one to suggest. A script name may
// hold '_', a gateway id may not, so underscores become dashes first.
func suggestGatewayID(id string) string {
	return SuggestWorkerName(strings.ReplaceAll(id, "_", "-"))
}

// vectorize reads the `vectorize` block: the index the worker binds.
func (l *loader) vectorize(w *Worker, v *value) {
	if v == nil || v.null {
		return
	}
	w.Pos["vectorize"] = posOf(v.key)
	vx := &VectorizeIndex{Binding: l.binding(w, v, "vectorize.binding", DefaultVectorizeBinding)}
	w.Vectorize = vx
	if iv := v.get("index"); iv == nil {
		w.Pos["vectorize.index"] = posOf(v.key)
		l.errorAt(posOf(v.key), "vectorize has no index", "add index: docs (the Vectorize index name)")
	} else if name, ok := l.str(iv); ok {
		w.Pos["vectorize.index"] = name.pos
		vx.Index = name.s
		if !indexNamePattern.MatchString(name.s) {
			l.errorAt(name.pos, fmt.Sprintf("vectorize.index %s must be 1 to 32 lowercase letters, digits and '-', starting with a letter", name.show()), "use e.g. index: docs")
		}
	}
	dimsFix := fmt.Sprintf("use the embedding model's size: 384 (bge-small), 768 (bge-base) or 1024 (bge-large); at most %d", MaxVectorDimensions)
	if v.get("dimensions") == nil {
		w.Pos["vectorize.dimensions"] = posOf(v.key)
		l.errorAt(posOf(v.key), "vectorize has no dimensions", "add dimensions: 768 ("+dimsFix+")")
	} else if n, ok := l.intField(w, v, "dimensions", "vectorize.dimensions", 1, MaxVectorDimensions, dimsFix); ok {
		vx.Dimensions = n
	}
	mv := v.get("metric")
	if mv == nil {
		w.Pos["vectorize.metric"] = posOf(v.key)
		l.errorAt(posOf(v.key), "vectorize has no metric", "add metric: cosine (or euclidean, dot-product)")
		return
	}
	m, ok := l.str(mv)
	w.Pos["vectorize.metric"] = m.pos
	if !ok {
		return
	}
	vx.Metric = m.s
	if !slices.Contains(VectorMetrics, m.s) {
		fix := "use one of " + strings.Join(VectorMetrics, ", ")
		if best := closest(m.s, VectorMetrics); best != "" {
			fix = fmt.Sprintf("did you mean %q? (%s)", best, fix)
		}
		l.errorAt(m.pos, fmt.Sprintf("vectorize.metric %s is not a Vectorize metric", m.show()), fix)
	}
}

// smokeRequestBody reads the authorised request: its method and exactly one body source.
func (l *loader) smokeRequestBody(w *Worker, sm *Smoke, v *value, blockPos Position) {
	sm.Method = DefaultSmokeMethod
	if m := l.smokeString(w, v, "method", blockPos, false); m != nil {
		if !slices.Contains(smokeMethods, m.s) {
			l.errorAt(m.pos, fmt.Sprintf("smoke.method %s is not one of %s", m.show(), strings.Join(smokeMethods, ", ")), "write method: POST (the checks also send a GET, expecting method_status)")
		} else {
			sm.Method = m.s
		}
	}
	var given []string
	for _, name := range []string{"prompt", "body", "body_file"} {
		if v.get(name) != nil {
			given = append(given, name)
		}
	}
	switch len(given) {
	case 0:
		w.Pos["smoke.prompt"] = blockPos
		l.errorAt(blockPos, "smoke has no prompt, body or body_file", `add prompt: "a cute robot cooking breakfast" (sent as {"prompt": ...}), body: {...} (sent as JSON) or body_file: ./sample.wav (sent raw)`)
	case 1:
	default:
		second := v.get(given[1])
		l.errorAt(posOf(second.key), fmt.Sprintf("smoke has both %s and %s", given[0], given[1]), "keep one: the smoke request has one body")
	}
	if p := l.smokeString(w, v, "prompt", blockPos, false); p != nil {
		if strings.TrimSpace(p.s) == "" {
			l.errorAt(p.pos, "smoke.prompt is empty", `write a short prompt, e.g. prompt: "a cute robot cooking breakfast"`)
		}
		sm.Prompt = p.s
	}
	if bv := v.get("body"); bv != nil && !bv.null {
		sm.Body = l.smokeJSONBody(w, bv)
	}
	if f := l.smokeString(w, v, "body_file", blockPos, false); f != nil {
		if sm.BodyFile = l.smokeBodyFile(f); sm.BodyFile != "" {
			sm.BodyFileRoot = l.tree.Root
		}
	}
	sm.ContentType = ""
	if ct := l.smokeString(w, v, "content_type", blockPos, false); ct != nil {
		switch {
		case v.get("body_file") == nil:
			l.errorAt(ct.pos, "smoke.content_type applies only to body_file", "remove it (prompt and body are sent as application/json), or add body_file:")
		case !mimePattern.MatchString(ct.s):
			l.errorAt(ct.pos, fmt.Sprintf("smoke.content_type %s is not a MIME type", ct.show()), "use e.g. audio/wav or image/png")
		default:
			sm.ContentType = ct.s
		}
	}
	if sm.BodyFile != "" && sm.ContentType == "" {
		sm.ContentType = DefaultSmokeContentType
	}
}

// smokeJSONBody turns `smoke.body` into the JSON the smoke test sends. It is data: ${VAR} is
// not expanded in it.
func (l *loader) smokeJSONBody(w *Worker, v *value) []byte {
	w.Pos["smoke.body"] = posOf(v.node)
	var data any
	if err := v.node.Decode(&data); err != nil {
		l.errorAt(posOf(v.node), fmt.Sprintf("smoke.body cannot be read: %v", err), "write it as a YAML mapping, e.g. body: { text: hello }")
		return nil
	}
	out, err := json.Marshal(data)
	if err != nil {
		l.errorAt(posOf(v.node), "smoke.body cannot be sent as JSON: "+err.Error(), "use string keys and plain values (no binary, no non-string keys)")
		return nil
	}
	return out
}

// smokeBodyFile checks `smoke.body_file` names a regular file of at most MaxSmokeBodyFile bytes
// inside the project's tree: its bytes are sent to the deployed worker, so
// `body_file: ~/.aws/credentials` or a link to /proc/self/environ would ship them to a URL.
func (l *loader) smokeBodyFile(f *str) string {
	path := f.s
	if !filepath.IsAbs(path) {
		path = filepath.Join(l.dir, filepath.FromSlash(path))
	}
	// Checked, not read: the smoke test reads it (under the same rules) when it sends it.
	if _, err := confined.Check(path, confined.SmokeBody, l.tree); err != nil {
		fix := confined.SmokeBody.Fix
		var ce *confined.Error
		if errors.As(err, &ce) {
			fix = ce.Fix
		}
		l.errorAt(f.pos, fmt.Sprintf("smoke.body_file %s cannot be used: %v", f.show(), err), fix)
		return ""
	}
	return path
}

// smokeExpectFields reads `smoke.expect_fields`: top-level fields of a JSON answer.
func (l *loader) smokeExpectFields(w *Worker, v *value, expect string) []string {
	if v == nil || v.null {
		return nil
	}
	w.Pos["smoke.expect_fields"] = posOf(v.node)
	if expect != "" && expect != "application/json" && !strings.HasSuffix(expect, "+json") {
		l.errorAt(posOf(v.key), fmt.Sprintf("smoke.expect_fields needs a JSON answer, but expect is %q", expect), "set expect: application/json, or remove expect_fields")
		return nil
	}
	var fields []string
	for _, item := range v.node.Content {
		f, ok := l.str(&value{node: resolveAlias(item)})
		if !ok {
			continue
		}
		if strings.TrimSpace(f.s) == "" || slices.Contains(fields, f.s) {
			l.errorAt(f.pos, fmt.Sprintf("smoke.expect_fields entry %s is empty or listed twice", f.show()), "list each top-level field once, e.g. [response]")
			continue
		}
		fields = append(fields, f.s)
	}
	return fields
}

// checkSharedResources lets workers share a gateway or an index only when they declare it
// alike: flareform creates one resource per name, so two settings cannot both hold.
func (l *loader) checkSharedResources(workers []Worker) {
	gateways, indexes := map[string]Worker{}, map[string]Worker{}
	for _, w := range workers {
		if w.AI != nil && w.AI.Gateway != nil && w.AI.Gateway.ID != "" {
			g := w.AI.Gateway
			if first, ok := gateways[g.ID]; !ok {
				gateways[g.ID] = w
			} else if !sameGateway(first.AI.Gateway, g) {
				l.errorAt(w.Pos["ai.gateway"], fmt.Sprintf("gateway %q is declared with other settings by worker %q (line %d)", g.ID, first.Key, first.Pos["ai.gateway"].Line),
					"give a shared gateway the same cache_ttl, rate_limit and collect_logs in every worker, or use another id")
			}
		}
		if x := w.Vectorize; x != nil && x.Index != "" {
			if first, ok := indexes[x.Index]; !ok {
				indexes[x.Index] = w
			} else if f := first.Vectorize; f.Dimensions != x.Dimensions || f.Metric != x.Metric {
				l.errorAt(w.Pos["vectorize"], fmt.Sprintf("index %q is declared with %d dimensions and metric %s by worker %q (line %d)", x.Index, f.Dimensions, f.Metric, first.Key, first.Pos["vectorize"].Line),
					"give a shared index the same dimensions and metric in every worker, or use another name")
			}
		}
	}
}

func sameGateway(a, b *AIGateway) bool {
	if a.CacheTTL != b.CacheTTL || a.CollectLogs != b.CollectLogs || (a.RateLimit == nil) != (b.RateLimit == nil) {
		return false
	}
	return a.RateLimit == nil || *a.RateLimit == *b.RateLimit
}
