package spec

import (
	"fmt"
	"strconv"

	"github.com/flareform/flareform/internal/lazyre"
)

// Names of what the engine deploys for consumers and usage (docs/consumers.md: the contract
// between the engine and src/lib/auth.js).
const (
	ConsumerSaltBinding  = "FLAREFORM_CONSUMER_SALT"
	ConsumerTableBinding = "FLAREFORM_CONSUMERS"
	UsageBinding         = "USAGE"
	UsageDataset         = "flareform_usage"
	UsageWorkerVar       = "FLAREFORM_WORKER"
	// OwnerConsumer is the name requests with the owner's key are counted under.
	OwnerConsumer = "owner"
	// MaxConsumers bounds a worker's consumers: each one's key fingerprint is recorded in the
	// version's annotation, which holds at most 1000 bytes.
	MaxConsumers = 10
)

var consumerName = lazyre.Regexp{Expr: `^[a-z0-9_-]{1,32}$`}

// ConsumerKeyBinding is the key store's binding name for a consumer's key.
func ConsumerKeyBinding(name string) string { return "consumer:" + name }

// ConsumerLimiter is the ratelimit binding that counts consumers with limit rl.
func ConsumerLimiter(rl RateLimit) string {
	return fmt.Sprintf("%s_%d_%d", RateLimiterBinding, rl.Limit, rl.Period)
}

// consumers reads `consumers:`. Map keys are unique already (the shaper refuses duplicates).
func (l *loader) consumers(w *Worker, v *value) {
	if v == nil || v.null {
		return
	}
	w.Pos["consumers"] = posOf(v.key)
	if w.APIKey == nil && len(v.entries) > 0 {
		l.errorAt(posOf(v.key), "consumers need the worker's own key: the worker has no api_key",
			"add api_key: { from: generate } (the owner's key) to the worker")
	}
	if len(v.entries) > MaxConsumers {
		l.errorAt(posOf(v.key), fmt.Sprintf("%d consumers; a worker has at most %d", len(v.entries), MaxConsumers),
			"give the other callers a worker of their own, or share a consumer")
	}
	for _, e := range sortedEntries(v.entries) {
		if c, ok := l.consumer(w, e); ok {
			w.Consumers = append(w.Consumers, c)
		}
	}
}

// consumer reads one consumer; ok is false when its name is refused.
func (l *loader) consumer(w *Worker, e entry) (Consumer, bool) {
	path := "consumers." + e.name
	pos := posOf(e.val.key)
	w.Pos[path] = pos
	switch {
	case !consumerName.MatchString(e.name):
		l.errorAt(pos, fmt.Sprintf("consumer name %q is not 1 to 32 lowercase letters, digits, '_' and '-'", e.name), "rename it, e.g. mobile or partner_a")
		return Consumer{}, false
	case e.name == OwnerConsumer:
		l.errorAt(pos, fmt.Sprintf("consumer name %q is reserved for the requests made with the worker's api_key", OwnerConsumer), "give the consumer another name")
		return Consumer{}, false
	}
	c := Consumer{Name: e.name, Key: KeySource{Binding: ConsumerKeyBinding(e.name), From: "generate"}}
	c.RateLimit = l.rateLimit(w, e.val.get("rate_limit"), path+".rate_limit")
	l.consumerKey(w, &c, e.val.get("from"), path)
	return c, true
}

// consumerKey reads a consumer's `from:` under the key-source rules of api_key.from.
func (l *loader) consumerKey(w *Worker, c *Consumer, fv *value, path string) {
	w.Pos[path+".from"] = w.Pos[path]
	if fv == nil {
		return
	}
	from, ok := l.str(fv)
	w.Pos[path+".from"] = from.pos
	if !ok || from.s == "generate" {
		return
	}
	kind, ref, ok := l.keySource(from.s)
	if !ok {
		l.errorAt(from.pos, fmt.Sprintf("%s.from %s is not one of generate, env:NAME or file:PATH", path, from.show()),
			"use from: env:PARTNER_KEY or from: file:./secrets/partner.key, or leave from: out to have the key generated")
		return
	}
	c.Key.From, c.Key.Ref = kind, ref
	l.checkKey(w, from, keyUse{path: path + ".from", what: fmt.Sprintf("key of consumer %q", c.Name)}, kind, ref)
}

// usage reads `usage: true|false`.
func (l *loader) usage(w *Worker, v *value) {
	if v == nil || v.null {
		return
	}
	w.Pos["usage"] = posOf(v.node)
	if err := v.node.Decode(&w.Usage); err != nil {
		l.errorAt(posOf(v.node), fmt.Sprintf("usage %s is not true or false", strconv.Quote(v.node.Value)), "write usage: true or usage: false")
	}
}

// claimedBinding is a binding name the engine deploys for a spec feature.
type claimedBinding struct {
	name, path string
	pos        Position
}

// consumerBindings are the bindings consumers and usage add to the worker, so checkBindings
// refuses a var or binding that would collide with them.
func consumerBindings(w *Worker) []claimedBinding {
	var out []claimedBinding
	if len(w.Consumers) > 0 {
		pos := w.Pos["consumers"]
		out = append(out,
			claimedBinding{ConsumerSaltBinding, "consumers (flareform sets " + ConsumerSaltBinding + ")", pos},
			claimedBinding{ConsumerTableBinding, "consumers (flareform sets " + ConsumerTableBinding + ")", pos})
	}
	seen := map[string]bool{}
	for _, c := range w.Consumers {
		if c.RateLimit == nil || c.RateLimit.Period == 0 {
			continue
		}
		if name := ConsumerLimiter(*c.RateLimit); !seen[name] {
			seen[name] = true
			out = append(out, claimedBinding{name, "consumers." + c.Name + ".rate_limit", w.Pos["consumers."+c.Name+".rate_limit"]})
		}
	}
	if w.Usage {
		out = append(out,
			claimedBinding{UsageBinding, "usage (flareform binds " + UsageBinding + ")", w.Pos["usage"]},
			claimedBinding{UsageWorkerVar, "usage (flareform sets " + UsageWorkerVar + ")", w.Pos["usage"]})
	}
	return out
}
