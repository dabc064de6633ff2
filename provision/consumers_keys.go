package provision

import (
	"context"
	"fmt"
	"time"

	"github.com/flareform/flareform/provision/keystore"
	"github.com/flareform/flareform/provision/spec"
)

// KeyInfo is one key of a worker as `flareform keys` shows it: whose it is, its fingerprint
// (never the key), its rate limit, its state and when flareform made it.
type KeyInfo struct {
	Consumer    string `json:"consumer"` // "owner" for the worker's api_key
	Fingerprint string `json:"fingerprint,omitempty"`
	Limit       string `json:"limit,omitempty"` // "3/60s"; "" when the worker's own limit counts it
	// State is active, "rotating until <RFC 3339>" (the owner's previous key is still accepted),
	// or pending (in the spec or the key store, not deployed yet).
	State   string `json:"state"`
	Created string `json:"created,omitempty"` // when the key store recorded it (RFC 3339)
}

// WorkerKeys reads the keys worker (its key or script name) serves now: the owner's and each
// consumer's, from the serving version's annotation, completed by the key store (held).
func (e *Engine) WorkerKeys(ctx context.Context, s *spec.Spec, worker string, held KeyLookup) ([]KeyInfo, error) {
	targeted, _, err := TargetWorkers(s, []string{worker})
	if err != nil {
		return nil, err
	}
	w := targeted.Workers[0]
	if w.APIKey == nil {
		return nil, fmt.Errorf("worker %s has no api_key, so it has no keys", w.Name)
	}
	accountID, err := e.accountID(s.AccountID)
	if err != nil {
		return nil, err
	}
	live, err := e.readLive(ctx, accountID, w.Name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", w.Name, err)
	}
	owner := KeyInfo{Consumer: spec.OwnerConsumer, State: keyState(live.exists && live.keyFingerprints[w.APIKey.Binding] != "")}
	owner.Fingerprint = live.keyFingerprints[w.APIKey.Binding]
	if until := live.reservedVars[RotationExpiresBinding]; live.previousKey && until != "" {
		owner.State = "rotating until " + until
	}
	if rl := w.RateLimit; rl != nil {
		owner.Limit = limitText(*rl)
	}
	owner.Created = createdOf(e, held, w.Name, w.APIKey.Binding, owner.Fingerprint)
	out := []KeyInfo{owner}
	for _, c := range w.Consumers {
		fp := live.consumerFPs[c.Name]
		k := KeyInfo{Consumer: c.Name, Fingerprint: fp, State: keyState(fp != ""), Created: createdOf(e, held, w.Name, c.Key.Binding, fp)}
		if _, until, ok := parseConsumerPrev(live.consumerPrev[c.Name]); ok && fp != "" && !RotationExpired(until, time.Now()) {
			k.State = "rotating until " + until // rotate-key --consumer: its previous key still works
		}
		if c.RateLimit != nil {
			k.Limit = limitText(*c.RateLimit)
		}
		out = append(out, k)
	}
	return out, nil
}

func keyState(deployed bool) string {
	if deployed {
		return keystore.Active
	}
	return keystore.Pending
}

func limitText(rl spec.RateLimit) string { return fmt.Sprintf("%d/%ds", rl.Limit, rl.Period) }

// createdOf is when the key store recorded the key whose fingerprint is fp ("" when it holds
// none: an env:/file: key, or a key made on another machine).
func createdOf(e *Engine, held KeyLookup, script, binding, fp string) string {
	if held == nil || fp == "" {
		return ""
	}
	entries, err := held.Keys(script, binding)
	if err != nil {
		return ""
	}
	for _, en := range entries {
		if e.fingerprints.matches(fp, script, binding, en.Key) {
			return en.Written.UTC().Format(time.RFC3339)
		}
	}
	return ""
}

// LiveConsumerKeys are the fingerprints the serving version records for the worker's consumer
// secrets, by key store binding: "consumer:<name>" per consumer and ConsumerSaltStoreBinding for
// the salt. Nil when the worker serves no consumer table flareform recorded (or the plan was
// read back from a file): then nothing can be told about a pending consumer key.
func (w *WorkerPlan) LiveConsumerKeys() map[string]string {
	if w.live == nil || w.live.consumerTableFP == "" {
		return nil
	}
	out := map[string]string{}
	for name, fp := range w.live.consumerFPs {
		out[spec.ConsumerKeyBinding(name)] = fp
	}
	if w.live.consumerSaltFP != "" {
		out[ConsumerSaltStoreBinding] = w.live.consumerSaltFP
	}
	return out
}
