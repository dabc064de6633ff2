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
	for _, name := range sortedKeys(live.rateLimits) {
		if name != spec.RateLimiterBinding { // only RATE_LIMITER is flareform's
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
	return out
}

// planAccountResources plans the gateways and indexes of a plan: those the spec declares and
// those the project's live workers use (so a resource dropped from the spec is deleted when
// flareform created it), then records ownership on the workers and orders p.Resources.
func (e *Engine) planAccountResources(ctx context.Context, s *spec.Spec, p *Plan, existing map[string][]string, project string) error {
	owners := map[string][]string{} // owner script -> tags
	var refs []resourceRef
	for _, wp := range p.Workers {
		switch {
		case wp.live != nil && wp.live.exists:
			owners[wp.Name] = wp.live.tags
			refs = append(refs, liveRefs(wp.live)...)
		case wp.Action == ActionDelete && slices.ContainsFunc(existing[wp.Name], isOwnershipTag):
			// A project worker the spec no longer names, which used resources flareform created.
			removed, err := e.removedWorkerRefs(ctx, p.AccountID, wp.Name)
			if err != nil {
				return err
			}
			owners[wp.Name] = existing[wp.Name]
			refs = append(refs, removed...)
		}
	}
	if !planUsesResources(s, refs) {
		p.Resources = orderResources(p, nil)
		return nil
	}
	resources, err := e.planResources(ctx, s, p.AccountID, refs, ownershipTags(owners), false)
	if err != nil {
		return err
	}
	resources = withoutSkippedResources(resources, s, p.skippedWorkers, false)
	recordOwnership(p, resources)
	p.Resources = orderResources(p, resources)
	return nil
}

// planDestroyResources adds the gateways and indexes destroy removes: those the spec declares
// or the project's removed workers used, when flareform created them.
func (e *Engine) planDestroyResources(ctx context.Context, s *spec.Spec, p *Plan, scripts map[string][]string) error {
	owners := map[string][]string{}
	var refs []resourceRef
	inSpec := map[string]bool{}
	for _, w := range s.Workers {
		inSpec[w.Name] = true
	}
	for _, wp := range p.Workers {
		if wp.Action != ActionDelete {
			continue
		}
		owners[wp.Name] = scripts[wp.Name]
		if !inSpec[wp.Name] && slices.ContainsFunc(scripts[wp.Name], isOwnershipTag) {
			removed, err := e.removedWorkerRefs(ctx, p.AccountID, wp.Name)
			if err != nil {
				return err
			}
			refs = append(refs, removed...)
		}
	}
	if !planUsesResources(s, refs) {
		p.Resources = orderResources(p, nil)
		return nil
	}
	resources, err := e.planResources(ctx, s, p.AccountID, refs, ownershipTags(owners), true)
	if err != nil {
		return err
	}
	resources = withoutSkippedResources(resources, s, p.skippedWorkers, true)
	p.Resources = orderResources(p, resources)
	return nil
}

// planUsesResources reports whether any gateway or index is involved: a plan without them
// makes no extra API call.
func planUsesResources(s *spec.Spec, refs []resourceRef) bool {
	if len(refs) > 0 {
		return true
	}
	for _, w := range s.Workers {
		if len(workerRefs(w)) > 0 {
			return true
		}
	}
	return false
}

// removedWorkerRefs reads which gateway and index a worker the spec no longer names uses.
func (e *Engine) removedWorkerRefs(ctx context.Context, accountID, name string) ([]resourceRef, error) {
	settings, err := e.getSettings(ctx, accountID, name)
	if err != nil {
		return nil, fmt.Errorf("plan %s: %w", name, err)
	}
	if settings == nil {
		return nil, nil
	}
	return liveRefs(liveFromSettings(settings)), nil
}

// ownershipTags is the set of ownership tags the owner scripts carry.
func ownershipTags(owners map[string][]string) map[string]bool {
	out := map[string]bool{}
	for _, tags := range owners {
		for _, t := range tags {
			if isOwnershipTag(t) {
				out[t] = true
			}
		}
	}
	return out
}

// recordOwnership gives every worker the ownership tags of the resources it uses that are
// flareform's after apply (created now or before), so later plans know what they may change
// or delete. A worker whose tags must change is uploaded even when nothing else changed.
func recordOwnership(p *Plan, resources []ResourcePlan) {
	ownedAfter := map[string]bool{}
	for _, r := range resources {
		if r.ownedAfter {
			ownedAfter[ownershipTag(r.Kind, r.Name)] = true
		}
	}
	for i := range p.Workers {
		wp := &p.Workers[i]
		d := wp.desired
		if d == nil {
			continue
		}
		var want []string
		for _, ref := range workerRefs(d.worker) {
			if ownedAfter[ref.tag()] {
				want = append(want, ref.tag())
			}
		}
		d.tags = append(d.tags, want...)
		var have []string
		if wp.live != nil {
			have = slices.DeleteFunc(slices.Clone(wp.live.tags), func(t string) bool { return !isOwnershipTag(t) })
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

// orderResources lists every change in apply order: gateways and indexes to create, update or
// keep, the workers, then gateways and indexes to delete (after the workers stop using them).
// A destroy plan lists the workers first.
func orderResources(p *Plan, resources []ResourcePlan) []ResourcePlan {
	out := []ResourcePlan{}
	for _, r := range resources {
		if !r.comesAfterWorkers(p.Destroy) {
			out = append(out, r)
		}
	}
	for _, wp := range p.Workers {
		out = append(out, ResourcePlan{Kind: KindWorker, Name: wp.Name, Action: wp.Action, Changes: wp.Changes})
	}
	for _, r := range resources {
		if r.comesAfterWorkers(p.Destroy) {
			out = append(out, r)
		}
	}
	return out
}

// comesAfterWorkers: deletes wait until the workers stop using the resource.
func (r ResourcePlan) comesAfterWorkers(destroy bool) bool {
	return destroy || r.Action == ActionDelete
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
