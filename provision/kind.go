package provision

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/flareform/flareform/provision/spec"
)

// Kinds. An account object with a life of its own (an AI Gateway, a Vectorize index, a KV
// namespace, an R2 bucket, a D1 database, a custom domain) is a kind: its spec block, read,
// diff, create, update, delete, ordering and rendering notes live in its own file
// (kind_<name>.go; the storage kinds share kind_storage.go), and it is registered in kinds
// below. Planning, ownership, --target and apply treat every kind alike through accountKind:
// nothing outside a kind's file names it. (Binding families inside the worker's single upload, such as AI, vars,
// the API key, the rate limit and the vectorize binding, are facets of the worker: plan.go's
// diff functions.)

// kinds is the registry, in the order plans list them.
var kinds = []accountKind{
	gatewayKind{},
	vectorizeKind{},
	storageKind{kvAPI{}},
	storageKind{r2API{}},
	storageKind{d1API{}},
	domainKind{},
}

// accountKind is one kind of account object.
type accountKind interface {
	// name is the kind as plans and results show it ("ai_gateway").
	name() string
	// declared is what spec worker w declares of this kind: object name -> its spec block.
	// Workers may share an object; the spec loader has checked they declare it alike.
	declared(w spec.Worker) map[string]any
	// managed lists the objects the project's workers (owners) use now that flareform manages:
	// those a plan must read even when the spec no longer declares them, so they are deleted.
	// It calls the API only when an owner carries this kind's tags.
	managed(ctx context.Context, e *Engine, accountID string, owners []kindOwner) ([]string, error)
	// ownerTag is the tag a worker carries for an object of this kind flareform manages: it
	// is what allows updating and deleting it.
	ownerTag(name string) string
	// ownsTag reports whether t is one of this kind's ownership tags.
	ownsTag(t string) bool
	// read reads one object; want is the spec block (nil: the spec does not declare it).
	read(ctx context.Context, e *Engine, accountID, name string, want any) (accountObject, error)
	// afterWorkers: the kind's creates and updates follow the workers' uploads (a custom
	// domain needs its worker), and its deletes precede them. Otherwise the other way round (a
	// worker's upload binds the gateway or index, which goes only once no worker uses it).
	afterWorkers() bool
}

// accountObject is one object of a kind as read, with what the spec wants of it.
type accountObject interface {
	// live is the object as the API answered it (nil: it does not exist); plain data, which
	// saved plans digest to find a stale plan.
	live() any
	// diff lists the settings flareform manages that differ (all of them for a new object).
	diff() []Change
	// replaces: a change cannot be made in place; the object is deleted and created again,
	// losing what it holds.
	replaces() bool
	create(ctx context.Context, e *Engine, accountID string) error
	update(ctx context.Context, e *Engine, accountID string) error
	remove(ctx context.Context, e *Engine, accountID string) error
}

// objectRefuser is an object that may refuse the plan before any write: one flareform did not
// create and will not change, which the spec needs changed.
type objectRefuser interface {
	refuse(s *spec.Spec, owned bool) error
}

// objectNoter is an object whose delete or replacement loses data the plan names.
type objectNoter interface {
	deleteNote() string
	replaceNote() string
}

// hostKind is a kind that gives a worker hostnames of its own (custom domains): the worker's
// smoke test goes there when it has no workers.dev URL.
type hostKind interface {
	hosts(w spec.Worker) []string
}

// localKind is a kind the local Cloudflare must be prepared for before a plan (the zones custom
// domains live in): PrepareLocal asks it.
type localKind interface {
	prepareLocal(ctx context.Context, e *Engine, s *spec.Spec) error
}

// smokeHost is the hostname a worker's smoke test and URL use: its workers.dev host, else the
// first hostname a kind gives it; "" when it has none.
func smokeHost(w spec.Worker, subdomain string) string {
	if w.WorkersDev && subdomain != "" {
		return w.Name + "." + subdomain + ".workers.dev"
	}
	for _, k := range kinds {
		if h, ok := k.(hostKind); ok {
			if hosts := h.hosts(w); len(hosts) > 0 {
				return hosts[0]
			}
		}
	}
	return ""
}

// PrepareLocal readies the local Cloudflare behind the engine's API for s (`--local` only:
// the zones its custom domains need). Against Cloudflare an account's zones are the user's.
func (e *Engine) PrepareLocal(ctx context.Context, s *spec.Spec) error {
	for _, k := range kinds {
		if l, ok := k.(localKind); ok {
			if err := l.prepareLocal(ctx, e, s); err != nil {
				return fmt.Errorf("prepare the local Cloudflare for %s: %w", k.name(), err)
			}
		}
	}
	return nil
}

// kindOwner is one of the project's workers that may use objects of a kind.
type kindOwner struct {
	name string
	tags []string
	live *liveWorker // its bindings; nil when unknown
}

// kindByName finds a registered kind.
func kindByName(name string) accountKind {
	for _, k := range kinds {
		if k.name() == name {
			return k
		}
	}
	return nil
}

// ownershipTag is the tag of a hashed object name: prefix and 12 hex of SHA-256 of the kind
// and the name, which fits any tag charset and length limit.
func ownershipTag(prefix, kind, name string) string {
	sum := sha256.Sum256([]byte("flareform-owned-v1\x00" + kind + "\x00" + name))
	return prefix + hex.EncodeToString(sum[:6])
}

// isOwnershipTag reports whether t is any kind's ownership tag.
func isOwnershipTag(t string) bool {
	return slices.ContainsFunc(kinds, func(k accountKind) bool { return k.ownsTag(t) })
}

// objectRef names one object of a kind.
type objectRef struct{ kind, name string }

// declaredRefs lists the objects spec worker w declares, of every kind.
func declaredRefs(w spec.Worker) []objectRef {
	var out []objectRef
	for _, k := range kinds {
		for _, name := range sortedKeys(k.declared(w)) {
			out = append(out, objectRef{k.name(), name})
		}
	}
	return out
}

// planKinds decides every object the spec declares or the project's workers (owners) use and
// flareform manages. With destroy, declared objects are deleted too, when flareform manages them.
func (e *Engine) planKinds(ctx context.Context, s *spec.Spec, accountID string, owners []kindOwner, destroy bool) ([]ResourcePlan, error) {
	ownerTags := map[string]bool{}
	for _, o := range owners {
		for _, t := range o.tags {
			ownerTags[t] = true
		}
	}
	var out []ResourcePlan
	var errs []error
	for _, k := range kinds {
		want := map[string]any{}
		declaredBy := map[string]string{} // object -> the worker declaring it (the last, if shared)
		for _, w := range s.Workers {
			for name, block := range k.declared(w) {
				want[name], declaredBy[name] = block, w.Name
			}
		}
		managed, err := k.managed(ctx, e, accountID, owners)
		if err != nil {
			errs = append(errs, fmt.Errorf("plan %s: %w", k.name(), err))
			continue
		}
		names := map[string]bool{}
		for name := range want {
			names[name] = true
		}
		for _, name := range managed {
			names[name] = true
		}
		for _, name := range slices.Sorted(maps.Keys(names)) {
			obj, err := k.read(ctx, e, accountID, name, want[name])
			if err != nil {
				errs = append(errs, fmt.Errorf("plan %s %s: %w", k.name(), name, err))
				continue
			}
			owned := ownerTags[k.ownerTag(name)]
			if r, ok := obj.(objectRefuser); ok && !destroy {
				if err := r.refuse(s, owned); err != nil {
					errs = append(errs, err)
					continue
				}
			}
			if rp := decide(k, name, obj, want[name] != nil, destroy, owned); rp != nil {
				if k.afterWorkers() {
					rp.worker = declaredBy[name]
				}
				out = append(out, *rp)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// decide is the ownership rule shared by every kind: create what is missing, update or replace
// only what flareform manages, delete only what it manages and nothing uses any more, and use
// everything else as it is.
func decide(k accountKind, name string, obj accountObject, declared, destroy, owned bool) *ResourcePlan {
	rp := &ResourcePlan{Kind: k.name(), Name: name, Action: ActionNoOp, obj: obj, afterWorkers: k.afterWorkers()}
	wanted := declared && !destroy
	exists := obj.live() != nil
	switch {
	case wanted && !exists:
		rp.Action = ActionCreate
		rp.Changes = obj.diff()
	case wanted && !owned:
		rp.Note = "exists and was not created by flareform: used as it is, never changed or deleted"
	case wanted:
		if changes := obj.diff(); len(changes) > 0 {
			rp.Action, rp.Changes = ActionUpdate, changes
			if obj.replaces() {
				rp.Action, rp.Destructive = ActionReplace, true
				rp.Note = "this change cannot be made in place: it is deleted and created again"
				if n, ok := obj.(objectNoter); ok {
					rp.Note = n.replaceNote()
				}
			}
		}
	case !exists:
		return nil // gone already: nothing to delete
	case owned:
		rp.Action = ActionDelete
		rp.Changes = []Change{{Path: k.name(), Op: OpRemove, Old: name}}
		if n, ok := obj.(objectNoter); ok {
			rp.Destructive, rp.Note = true, n.deleteNote()
		}
	case declared: // destroy of an object someone else created
		rp.Note = "not created by flareform: left as it is"
	default: // a live worker used it, but it is not flareform's
		return nil
	}
	rp.ownedAfter = (owned && rp.Action != ActionDelete && !destroy) || rp.Action == ActionCreate
	return rp
}

// kindsInvolved reports whether any object is involved: a plan without them makes no extra
// API call.
func kindsInvolved(s *spec.Spec, owners []kindOwner) bool {
	for _, w := range s.Workers {
		if len(declaredRefs(w)) > 0 {
			return true
		}
	}
	for _, o := range owners {
		if slices.ContainsFunc(o.tags, isOwnershipTag) {
			return true
		}
	}
	return false
}

// ownerTagsOf lists the ownership tags worker w carries after apply: those of the objects it
// declares that flareform manages once applied (ownedAfter), once each.
func ownerTagsOf(w spec.Worker, ownedAfter map[objectRef]bool) []string {
	var out []string
	for _, ref := range declaredRefs(w) {
		if !ownedAfter[ref] {
			continue
		}
		if t := kindByName(ref.kind).ownerTag(ref.name); !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// tagOwned is the managed() of kinds whose objects a live worker names in its bindings (used):
// every object an owner uses whose ownership tag it carries.
func tagOwned(k accountKind, owners []kindOwner, used func(*liveWorker) []string) []string {
	var out []string
	for _, o := range owners {
		if o.live == nil {
			continue
		}
		for _, name := range used(o.live) {
			if slices.Contains(o.tags, k.ownerTag(name)) && !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	return out
}
