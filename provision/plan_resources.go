package provision

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/flareform/flareform/provision/spec"
)

// diffRateLimit compares the RATE_LIMITER binding. The live binding's namespace_id is kept (a new
// one would start a new counter); ns is used only for a worker that has no binding yet.
func diffRateLimit(d *desiredWorker, live *liveWorker, ns string, add func(Change)) {
	have, exists := live.rateLimits[spec.RateLimiterBinding]
	want := d.worker.RateLimit
	path := "rate_limit"
	switch {
	case want == nil && exists:
		add(Change{Path: path, Op: OpRemove, Old: have.String()})
	case want == nil:
	case exists:
		d.rateLimitNS = have.namespaceID
		next := liveRateLimit{namespaceID: have.namespaceID, limit: want.Limit, period: want.Period}
		if have != next {
			add(Change{Path: path, Op: OpChange, Old: have.String(), New: next.String()})
		}
	default:
		d.rateLimitNS = ns
		add(Change{Path: path, Op: OpAdd, New: liveRateLimit{namespaceID: ns, limit: want.Limit, period: want.Period}.String()})
	}
	diffConsumerLimiters(d.worker, live, add)
	for _, name := range sortedKeys(live.rateLimits) {
		// Only RATE_LIMITER and the consumers' limiters are flareform's.
		if name != spec.RateLimiterBinding && !isConsumerLimiter(name) {
			add(Change{Path: "bindings." + name, Op: OpRemove, Old: "ratelimit"})
		}
	}
}

// diffVectorize compares the vectorize binding (binding name -> index name).
func diffVectorize(w spec.Worker, live *liveWorker, add func(Change)) {
	want := map[string]string{}
	if w.Vectorize != nil {
		want[w.Vectorize.Binding] = w.Vectorize.Index
	}
	for _, name := range sortedKeys(want) {
		path := "vectorize." + name
		switch old, ok := live.vectorize[name]; {
		case !ok:
			add(Change{Path: path, Op: OpAdd, New: want[name]})
		case old != want[name]:
			add(Change{Path: path, Op: OpChange, Old: old, New: want[name]})
		}
	}
	for _, name := range sortedKeys(live.vectorize) {
		if _, ok := want[name]; !ok {
			add(Change{Path: "vectorize." + name, Op: OpRemove, Old: live.vectorize[name]})
		}
	}
}

// resourceBindings are the ratelimit and vectorize bindings an upload sends.
func resourceBindings(d *desiredWorker) []metadataBinding {
	var out []metadataBinding
	if rl := d.worker.RateLimit; rl != nil {
		out = append(out, rateLimitBinding(spec.RateLimiterBinding, d.rateLimitNS, rl.Limit, rl.Period))
	}
	if x := d.worker.Vectorize; x != nil {
		out = append(out, vectorizeBinding(x.Binding, x.Index))
	}
	out = append(out, storageBindings(d)...)
	return append(out, consumerBindings(d, d.applied)...)
}

// planAccountResources plans the account objects (kind.go) of a plan: those the spec declares
// and those the project's live workers use (so an object dropped from the spec is deleted when
// flareform manages it), then records ownership on the workers and orders p.Resources.
func (e *Engine) planAccountResources(ctx context.Context, s *spec.Spec, p *Plan, existing map[string][]string, project string) error {
	ctx = withStorageCache(ctx) // the account's KV and D1 lists, read once for this plan
	if err := e.readSplitMarks(ctx, p.AccountID, p); err != nil {
		return err
	}
	// Storage an upload unbound that its run meant to delete next (kind_unbound.go).
	owners, err := e.pendingOwners(ctx, p.AccountID, p)
	if err != nil {
		return err
	}
	for _, wp := range p.Workers {
		if wp.live != nil && wp.live.exists {
			owners = append(owners, kindOwner{name: wp.Name, tags: ownerTagsWithMarks(wp.live.tags, wp.live), live: wp.live})
			continue
		}
		if wp.Action != ActionDelete {
			continue
		}
		// A project worker the spec no longer names, which used objects flareform manages.
		o, pending, err := e.removedOwner(ctx, p.AccountID, wp, existing[wp.Name])
		if err != nil {
			return err
		}
		if o != nil {
			owners = append(owners, *o)
		}
		owners = append(owners, pending...)
	}
	var resources []ResourcePlan
	if kindsInvolved(s, owners) {
		var err error
		if resources, err = e.planKinds(ctx, s, p.AccountID, owners, false); err != nil {
			return err
		}
		resources = withoutSkippedResources(resources, s, p.skippedWorkers, false)
	}
	// The bindings first: a worker they make upload may deploy a canary, which decides
	// whether a storage object it stops binding can go (applyDataRule).
	if err := e.planStorageBindings(ctx, p, resources); err != nil {
		return err
	}
	if err := e.applyDataRule(ctx, p.AccountID, p, resources); err != nil {
		return err
	}
	recordOwnership(p, resources)
	e.planUnbound(p, resources)
	p.Resources = orderResources(p, resources)
	return nil
}

// removedOwner is a worker the plan deletes as an owner of account objects: with its bindings
// when its script tags or its serving version's marks say it used objects flareform manages;
// nil when it used none. pending are the owners of the storage its serving version recorded
// as unbound and still to be deleted (kind_unbound.go).
func (e *Engine) removedOwner(ctx context.Context, accountID string, wp WorkerPlan, tags []string) (o *kindOwner, pending []kindOwner, err error) {
	marks, unbound, err := e.deletedWorkerMarks(ctx, accountID, wp)
	if err != nil {
		return nil, nil, fmt.Errorf("plan %s: %w", wp.Name, err)
	}
	sets, err := e.readPending(ctx, accountID, wp.Name, unbound)
	if err != nil {
		return nil, nil, err
	}
	for _, ps := range sets {
		pending = append(pending, ps.owner)
	}
	o = &kindOwner{name: wp.Name, tags: append(slices.Clone(tags), marks...)}
	if !slices.ContainsFunc(o.tags, isOwnershipTag) {
		return nil, pending, nil
	}
	if o.live, err = e.removedWorkerLive(ctx, accountID, wp.Name); err != nil {
		return nil, nil, err
	}
	return o, pending, nil
}

// planDestroyResources adds the account objects destroy removes: those the spec declares or
// the project's removed workers used, when flareform manages them.
func (e *Engine) planDestroyResources(ctx context.Context, s *spec.Spec, p *Plan, scripts map[string][]string) error {
	ctx = withStorageCache(ctx) // the account's KV and D1 lists, read once for this plan
	var owners []kindOwner
	for _, wp := range p.Workers {
		if wp.Action != ActionDelete {
			continue
		}
		o, pending, err := e.removedOwner(ctx, p.AccountID, wp, scripts[wp.Name])
		if err != nil {
			return err
		}
		if o == nil {
			o = &kindOwner{name: wp.Name, tags: scripts[wp.Name]}
		}
		owners = append(owners, *o)
		owners = append(owners, pending...)
	}
	if !kindsInvolved(s, owners) {
		p.Resources = orderResources(p, nil)
		return nil
	}
	resources, err := e.planKinds(ctx, s, p.AccountID, owners, true)
	if err != nil {
		return err
	}
	resources = withoutSkippedResources(resources, s, p.skippedWorkers, true)
	if err := e.applyDataRule(ctx, p.AccountID, p, resources); err != nil {
		return err
	}
	p.Resources = orderResources(p, resources)
	return nil
}

// removedWorkerLive reads the bindings of a worker the plan deletes: which objects it uses.
func (e *Engine) removedWorkerLive(ctx context.Context, accountID, name string) (*liveWorker, error) {
	settings, err := e.getSettings(ctx, accountID, name)
	if err != nil {
		return nil, fmt.Errorf("plan %s: %w", name, err)
	}
	if settings == nil {
		return nil, nil
	}
	return liveFromSettings(settings), nil
}

// recordOwnership gives every worker the ownership tags of the objects it uses that are
// flareform's after apply (created now or before), so later plans know what they may change
// or delete: script tags, and for storage marks in the version's annotation (kind_storage.go).
// A worker whose tags or marks must change is uploaded even when nothing else changed.
func recordOwnership(p *Plan, resources []ResourcePlan) {
	ownedAfter := map[objectRef]bool{}
	for _, r := range resources {
		if r.ownedAfter {
			ownedAfter[objectRef{r.Kind, r.Name}] = true
		}
	}
	for i := range p.Workers {
		wp := &p.Workers[i]
		d := wp.desired
		if d == nil {
			continue
		}
		want := ownerTagsOf(d.worker, ownedAfter)
		d.tags = append(d.tags, slices.DeleteFunc(slices.Clone(want), isVersionMark)...)
		d.ownMarks = marksOf(want)
		var have []string
		if wp.live != nil {
			have = slices.DeleteFunc(slices.Clone(wp.live.tags), func(t string) bool { return !isOwnershipTag(t) })
			have = append(have, wp.live.storage.marks...)
			slices.Sort(have)
			have = slices.Compact(have)
		}
		if wp.live == nil || !wp.live.exists || sameStrings(sortedCopy(have), sortedCopy(want)) {
			continue
		}
		wp.Changes = append(wp.Changes, Change{Path: "ownership", Op: OpChange, Old: strings.Join(have, ","), New: strings.Join(want, ",")})
		d.upload = true
		if wp.Action == ActionNoOp {
			wp.Action = ActionUpdate
		}
	}
}

// orderResources orders the account objects as apply works through them: those that come
// before the workers, then those that follow them (ResourcePlan.comesAfterWorkers). Workers
// are in Plan.Workers only.
func orderResources(p *Plan, resources []ResourcePlan) []ResourcePlan {
	out := []ResourcePlan{}
	for _, after := range []bool{false, true} {
		for _, r := range resources {
			if r.comesAfterWorkers(p.Destroy) == after {
				out = append(out, r)
			}
		}
	}
	return out
}

// comesAfterWorkers: an object a worker uses (gateway, index) is created before the workers
// and deleted after they stop using it; one that needs its worker (a custom domain) the other
// way round. On destroy, only objects that need their worker go first.
func (r ResourcePlan) comesAfterWorkers(destroy bool) bool {
	deletes := destroy || r.Action == ActionDelete
	return r.afterWorkers != deletes
}

// NeedsReplace lists the resources apply would replace (losing their data); apply refuses
// them without ApplyOptions.AllowReplace.
func (p *Plan) NeedsReplace() []string {
	var out []string
	for _, r := range p.Resources {
		if r.Action == ActionReplace {
			out = append(out, r.Kind+" "+r.Name)
		}
	}
	return out
}

// Step is one entry of a plan in the order apply works through it: an account object or a
// worker (exactly one of Resource and Worker is set).
type Step struct {
	Resource *ResourcePlan
	Worker   *WorkerPlan
}

// Steps lists p in apply order: the objects that precede the workers, the workers, the
// objects that follow them. The plan holds each once; this is a view of it.
func (p *Plan) Steps() []Step {
	var out []Step
	for _, after := range []bool{false, true} {
		if after {
			for i := range p.Workers {
				out = append(out, Step{Worker: &p.Workers[i]})
			}
		}
		for i := range p.Resources {
			if p.Resources[i].comesAfterWorkers(p.Destroy) == after {
				out = append(out, Step{Resource: &p.Resources[i]})
			}
		}
	}
	return out
}
