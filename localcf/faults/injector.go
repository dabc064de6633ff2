package faults

import (
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Injector injects the faults its rules describe. Decisions are repeatable: the same rules,
// seed and sequence of requests give the same faults, because every random draw comes from one
// seeded source, in request order, under a mutex.
type Injector struct {
	mu    sync.Mutex
	seed  int64
	rng   *rand.Rand
	rules []ruleState
}

// ruleState is a rule plus how often it has matched and fired since the last Set.
type ruleState struct {
	rule    Rule
	valid   bool
	matched int
	fired   int
}

// decision is what the Injector does to one request: wait, then fault (nil = pass it on).
type decision struct {
	latency time.Duration
	fault   *Rule
}

// New returns an Injector with the given rules and seed (see Set).
func New(rules []Rule, seed int64) *Injector {
	i := &Injector{}
	i.Set(rules, seed)
	return i
}

// Set replaces the rules, resets every rule's counters and reseeds the random source. Rules
// should pass Validate first (ParseRules and ValidateRules do that); an invalid rule never fires.
func (i *Injector) Set(rules []Rule, seed int64) {
	states := make([]ruleState, len(rules))
	for n, r := range rules {
		states[n] = ruleState{rule: r, valid: r.Validate() == nil}
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.rules = states
	i.seed = seed
	i.rng = newRand(seed)
}

// Rules returns a copy of the current rules and the seed they were set with.
func (i *Injector) Rules() (rules []Rule, seed int64) {
	i.mu.Lock()
	defer i.mu.Unlock()
	rules = make([]Rule, len(i.rules))
	for n, s := range i.rules {
		rules[n] = s.rule
	}
	return rules, i.seed
}

func newRand(seed int64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15))
}

// Middleware applies the rules to every request before next sees it, so a faulted request
// never changes any state behind it. Injected responses carry the X-Localcf-Fault header.
func (i *Injector) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := i.decide(r)
		if d.latency > 0 && !sleep(r, d.latency) {
			// The client gave up (or the server is shutting down) while we were waiting.
			// Abort rather than let net/http send an empty 200 that never reached next.
			panic(http.ErrAbortHandler)
		}
		if d.fault == nil {
			next.ServeHTTP(w, r)
			return
		}
		injectFault(w, *d.fault)
	})
}

// decide walks the rules in order. Each matching rule counts the match, then fires unless it is
// still skipping, has used up its Count, or loses its probability draw. Latency rules add up
// and evaluation continues; the first non-latency rule that fires ends it.
func (i *Injector) decide(r *http.Request) decision {
	i.mu.Lock()
	defer i.mu.Unlock()
	var d decision
	for n := range i.rules {
		s := &i.rules[n]
		if !s.valid || !s.matches(r) {
			continue
		}
		if !s.fire(i.rng) {
			continue
		}
		if s.rule.Kind == KindLatency {
			d.latency += time.Duration(s.rule.LatencyMS) * time.Millisecond
			continue
		}
		fault := s.rule
		d.fault = &fault
		break
	}
	return d
}

func (s *ruleState) matches(r *http.Request) bool {
	if s.rule.Method != "" && !strings.EqualFold(s.rule.Method, r.Method) {
		return false
	}
	return matchGlob(s.rule.Path, r.URL.Path)
}

// fire counts a match and reports whether the rule fires for it. The random source is drawn
// from only when the probability is below 1, so always-firing rules do not shift the sequence.
func (s *ruleState) fire(rng *rand.Rand) bool {
	s.matched++
	if s.matched <= s.rule.Skip {
		return false
	}
	if s.rule.Count > 0 && s.fired >= s.rule.Count {
		return false
	}
	if p := s.rule.Probability; p > 0 && p < 1 && rng.Float64() >= p {
		return false
	}
	s.fired++
	return true
}

// sleep waits for d, or until the request's context ends; it reports whether it waited fully.
func sleep(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

func injectFault(w http.ResponseWriter, rule Rule) {
	if rule.Kind == KindDrop {
		dropConnection(w)
		return
	}
	w.Header().Set(FaultHeader, rule.Kind)
	switch rule.Kind {
	case KindTooManyRequests:
		retryAfter := rule.RetryAfter
		if retryAfter == 0 {
			retryAfter = 1
		}
		writeRateLimited(w, retryAfter)
	case KindInternalError:
		writeEnvelopeError(w, http.StatusInternalServerError, CodeInternalError, messageInternalError)
	case KindBadGateway:
		writeEdgeErrorPage(w, http.StatusBadGateway)
	case KindServiceUnavailable:
		writeEdgeErrorPage(w, http.StatusServiceUnavailable)
	}
}

// dropConnection closes the client connection without writing a response, so the client sees
// EOF or a reset. When the connection cannot be hijacked (HTTP/2, or a wrapping ResponseWriter
// without Unwrap), aborting the handler has the same effect: net/http drops the stream.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tcp, ok := conn.(interface{ SetLinger(int) error }); ok {
		_ = tcp.SetLinger(0) // reset instead of a graceful FIN, like a crashed edge
	}
	_ = conn.Close()
}
