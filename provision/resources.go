package provision

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/flareform/flareform/provision/spec"
)

// Kinds of resources a plan holds. Workers are the main kind; gateways and indexes are account
// resources that workers use, so apply creates them before the workers and deletes them after.
const (
	KindAIGateway      = "ai_gateway"
	KindVectorizeIndex = "vectorize_index"
	KindWorker         = "worker"
)

// ActionReplace deletes a resource and creates it again: the only way to change a Vectorize
// index's dimensions or metric. Its vectors are lost, so apply needs --allow-replace.
const ActionReplace Action = "replace"

// ResourcePlan is one resource change. Plan.Resources lists them in the order apply works:
// gateways and indexes to create or update, then workers, then gateways and indexes to delete.
type ResourcePlan struct {
	Kind    string   `json:"kind"`
	Name    string   `json:"name"`
	Action  Action   `json:"action"`
	Changes []Change `json:"changes"`
	// Destructive: applying loses data (a replaced or deleted index's vectors).
	Destructive bool `json:"destructive,omitempty"`
	// Note explains a resource left as it is, e.g. one flareform did not create.
	Note string `json:"note,omitempty"`

	res        accountResource // nil for workers (Plan.Workers carries their state)
	ownedAfter bool            // flareform's once applied: created now, or created before and kept
}

// accountResource is a gateway or index apply can write: each kind applies itself.
type accountResource interface {
	create(ctx context.Context, e *Engine, accountID string) error
	update(ctx context.Context, e *Engine, accountID string) error
	remove(ctx context.Context, e *Engine, accountID string) error
}

// Ownership tags: a worker that uses a gateway or index flareform created carries the tag of
// that resource, `ff-gw-<12 hex>` or `ff-vx-<12 hex>` (SHA-256 of the kind and the name). Only
// resources whose tag one of the project's workers carries are ever updated or deleted.
const (
	gatewayTagPrefix = "ff-gw-"
	indexTagPrefix   = "ff-vx-"
)

func ownershipTag(kind, name string) string {
	sum := sha256.Sum256([]byte("flareform-owned-v1\x00" + kind + "\x00" + name))
	prefix := gatewayTagPrefix
	if kind == KindVectorizeIndex {
		prefix = indexTagPrefix
	}
	return prefix + hex.EncodeToString(sum[:6])
}

func isOwnershipTag(t string) bool {
	return strings.HasPrefix(t, gatewayTagPrefix) || strings.HasPrefix(t, indexTagPrefix)
}

// resourceRef names one gateway or index.
type resourceRef struct{ kind, name string }

func (r resourceRef) tag() string { return ownershipTag(r.kind, r.name) }

// workerRefs lists the gateway and index a spec worker uses.
func workerRefs(w spec.Worker) []resourceRef {
	var refs []resourceRef
	if w.AI != nil && w.AI.Gateway != nil {
		refs = append(refs, resourceRef{KindAIGateway, w.AI.Gateway.ID})
	}
	if w.Vectorize != nil {
		refs = append(refs, resourceRef{KindVectorizeIndex, w.Vectorize.Index})
	}
	return refs
}

// liveRefs lists the gateway (its AI_GATEWAY_ID variable) and indexes a live worker uses.
func liveRefs(live *liveWorker) []resourceRef {
	var refs []resourceRef
	if live == nil {
		return nil
	}
	if id := live.vars[spec.AIGatewayVar]; id != "" {
		refs = append(refs, resourceRef{KindAIGateway, id})
	}
	for _, name := range sortedKeys(live.vectorize) {
		refs = append(refs, resourceRef{KindVectorizeIndex, live.vectorize[name]})
	}
	return refs
}

// desiredResources are the gateways and indexes the spec declares. Workers may share one; the
// spec loader has checked they declare it alike.
type desiredResources struct {
	gateways map[string]*spec.AIGateway
	indexes  map[string]*spec.VectorizeIndex
}

func collectDesired(s *spec.Spec) desiredResources {
	d := desiredResources{gateways: map[string]*spec.AIGateway{}, indexes: map[string]*spec.VectorizeIndex{}}
	for _, w := range s.Workers {
		if w.AI != nil && w.AI.Gateway != nil {
			d.gateways[w.AI.Gateway.ID] = w.AI.Gateway
		}
		if w.Vectorize != nil {
			d.indexes[w.Vectorize.Index] = w.Vectorize
		}
	}
	return d
}

// planResources decides every gateway and index the spec declares or the project's live workers
// use (refs). owned holds the ownership tags of the project's workers. With destroy, declared
// resources are deleted too, when flareform created them.
func (e *Engine) planResources(ctx context.Context, s *spec.Spec, accountID string, refs []resourceRef, owned map[string]bool, destroy bool) ([]ResourcePlan, error) {
	want := collectDesired(s)
	candidates := map[resourceRef]bool{}
	for name := range want.gateways {
		candidates[resourceRef{KindAIGateway, name}] = true
	}
	for name := range want.indexes {
		candidates[resourceRef{KindVectorizeIndex, name}] = true
	}
	for _, r := range refs {
		if owned[r.tag()] { // a resource flareform did not create is never deleted: no need to read it
			candidates[r] = true
		}
	}
	ordered := slices.SortedFunc(maps.Keys(candidates), func(a, b resourceRef) int {
		return strings.Compare(a.kind+"/"+a.name, b.kind+"/"+b.name)
	})

	var out []ResourcePlan
	var errs []error
	for _, ref := range ordered {
		rp, err := e.planResource(ctx, s, accountID, ref, want, owned[ref.tag()], destroy)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if rp != nil {
			out = append(out, *rp)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// planResource reads one resource and decides what to do with it (nil: not part of the plan).
func (e *Engine) planResource(ctx context.Context, s *spec.Spec, accountID string, ref resourceRef, want desiredResources, owned, destroy bool) (*ResourcePlan, error) {
	switch ref.kind {
	case KindAIGateway:
		g := &gatewayResource{id: ref.name, want: want.gateways[ref.name]}
		if err := g.read(ctx, e, accountID); err != nil {
			return nil, fmt.Errorf("plan %s %s: %w", ref.kind, ref.name, err)
		}
		return decide(ref, g, g.live != nil, g.want != nil, destroy, owned, g.diff), nil
	case KindVectorizeIndex:
		x := &indexResource{name: ref.name, want: want.indexes[ref.name]}
		if err := x.read(ctx, e, accountID); err != nil {
			return nil, fmt.Errorf("plan %s %s: %w", ref.kind, ref.name, err)
		}
		rp := decide(ref, x, x.live != nil, x.want != nil, destroy, owned, x.diff)
		if rp != nil && rp.Action == ActionNoOp && !owned && x.live != nil && x.want != nil && !destroy && len(x.diff()) > 0 {
			// Not flareform's to replace, and the worker would write vectors it cannot hold.
			w := workerUsingIndex(s, ref.name)
			return nil, specError(s, w, "vectorize.dimensions",
				fmt.Sprintf("index %q exists with %d dimensions and metric %s, and flareform did not create it, so it will not replace it", ref.name, x.live.Config.Dimensions, x.live.Config.Metric),
				"match the index's dimensions and metric, or name another index (flareform creates it)")
		}
		if rp != nil && (rp.Action == ActionReplace || rp.Action == ActionDelete) {
			rp.Destructive = true
		}
		return rp, nil
	}
	return nil, fmt.Errorf("unknown resource kind %q", ref.kind)
}

// decide is the ownership rule shared by every kind: create what is missing, update or replace
// only what flareform created, delete only what it created and nothing uses any more, and use
// everything else as it is.
func decide(ref resourceRef, res accountResource, exists, declared, destroy, owned bool, diff func() []Change) *ResourcePlan {
	rp := &ResourcePlan{Kind: ref.kind, Name: ref.name, Action: ActionNoOp, res: res}
	wanted := declared && !destroy
	switch {
	case wanted && !exists:
		rp.Action = ActionCreate
		rp.Changes = diff()
	case wanted && !owned:
		rp.Note = "exists and was not created by flareform: used as it is, never changed or deleted"
	case wanted:
		if changes := diff(); len(changes) > 0 {
			rp.Action, rp.Changes = ActionUpdate, changes
			if ref.kind == KindVectorizeIndex {
				rp.Action = ActionReplace
				rp.Note = "dimensions and metric cannot change in place: the index is deleted and created again, and its vectors are lost"
			}
		}
	case !exists:
		return nil // gone already: nothing to delete
	case owned:
		rp.Action = ActionDelete
		rp.Changes = []Change{{Path: ref.kind, Op: OpRemove, Old: ref.name}}
	case declared: // destroy of a resource someone else created
		rp.Note = "not created by flareform: left as it is"
	default: // a live worker used it, but it is not flareform's
		return nil
	}
	rp.ownedAfter = (owned && rp.Action != ActionDelete && !destroy) || rp.Action == ActionCreate
	return rp
}

func workerUsingIndex(s *spec.Spec, index string) spec.Worker {
	for _, w := range s.Workers {
		if w.Vectorize != nil && w.Vectorize.Index == index {
			return w
		}
	}
	return s.Workers[0]
}

// rateLimitNamespaces picks the namespace_id of every spec worker's RATE_LIMITER binding that
// has none live yet: a stable positive integer derived from the account, script and binding,
// distinct among the spec's workers. The live binding's id always wins (plan keeps it), so a
// counter is never reset by a redeploy.
func rateLimitNamespaces(accountID string, workers []spec.Worker) map[string]string {
	out := map[string]string{}
	used := map[uint64]bool{}
	for _, w := range workers {
		if w.RateLimit == nil {
			continue
		}
		sum := sha256.Sum256([]byte(accountID + "/" + w.Name + "/" + spec.RateLimiterBinding))
		n := 1000 + binary.BigEndian.Uint64(sum[:8])%1_000_000_000
		for used[n] {
			n++
		}
		used[n] = true
		out[w.Name] = fmt.Sprint(n)
	}
	return out
}

// rawCall makes one API request through the engine's own JSON client (with the engine's
// middlewares) and decodes the envelope's result into out (nil: ignore the answer).
func (e *Engine) rawCall(ctx context.Context, method, path string, body any, out any) error {
	var params []byte
	if body != nil {
		js, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		params = js
	}
	raw, err := e.raw.call(ctx, method, path, params)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	var env struct {
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	if err := json.Unmarshal(env.Result, out); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}
