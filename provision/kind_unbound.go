package provision

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/flareform/flareform/provision/cfapi"
)

// Storage the plan deletes after an upload has stopped binding it.
//
// A storage object the spec drops is deleted after the worker's upload that stops binding it,
// and that upload also drops its ownership mark (the object is no longer declared). A run
// killed between the two would leave the object with neither binding nor mark: the next plan
// finds storage only through the live worker's bindings and marks (storageKind.managed), so it
// would say "No changes", and the delete the user asked for would never happen.
//
// So that upload records, in its annotation, unbound=<version id>/<16 hex>: the version it
// replaces (the one whose bindings the plan read) and, as a bit mask over that version's own=
// list, the objects it bound and marked that the plan deletes after the upload. The field has a
// fixed size, counted in worstIdentity. A later plan of the worker, when a serving version
// (either version of a split) carries the field, reads the named version's bindings and marks
// and takes each object the mask selects, that the version bound and marked and that still
// exists with the same id (KV namespace id, D1 uuid, R2 bucket name), as the worker's own
// (pendingSet.owner): the kind machinery then deletes it under the data rule when the spec does
// not declare it, or binds it and writes its mark again when the spec declares it again.
//
// Once nothing is pending, later uploads no longer write the field. One that must still carry
// pending deletes (an upload of a re-run that deletes them after it) names the same version
// again, with the mask of those it still deletes. An object left by --keep-data (or by a
// canary whose stable version binds it) is no longer recorded: its worker uploads a version
// without it. A rollback to a version without the field only makes flareform leave the
// objects alone; one to a version with it brings back what it recorded, whose delete still
// follows the data rule (as a rollback bringing back a mark does, kind_storage.go).

// unboundField is the annotation field's name.
const unboundField = "unbound"

// maxUnboundVersionLen is the longest version id the field records (a UUID, as the API gives
// them): the field's size is fixed so that the annotation budget (identity_budget.go) holds.
const maxUnboundVersionLen = 36

// maxUnboundMarks is how many of a version's own= marks the mask covers (a version's
// annotation holds fewer: each mark takes 16 of its 1000 bytes).
const maxUnboundMarks = 64

// unboundValue is the field's value: the version and the mask of its own= marks pending.
func unboundValue(version string, mask uint64) string {
	return version + "/" + fmt.Sprintf("%016x", mask)
}

// parseUnbound reads the field's value; ok is false for one flareform cannot read.
func parseUnbound(v string) (version string, mask uint64, ok bool) {
	version, hex, found := strings.Cut(v, "/")
	if !found || version == "" || len(hex) != 16 {
		return "", 0, false
	}
	mask, err := strconv.ParseUint(hex, 16, 64)
	return version, mask, err == nil && mask != 0
}

// pendingSet is what one unbound= field records as read back: the objects still pending.
type pendingSet struct {
	version string // the version that bound and marked them
	// objects are those that version bound and marked, the mask selects, and that exist with
	// the id it bound.
	objects []pendingObject
	// owner gives the kind machinery the version's bindings and, as tags, the marks of the
	// objects above only.
	owner kindOwner
}

// pendingObject is one object a pendingSet records.
type pendingObject struct {
	ref objectRef
	id  string // as the version bound it
	bit int    // its index in the version's own= list
}

// readPending reads the versions the unbound= fields of worker name's serving version(s) name
// (fields), and what of their storage is pending. A version deleted since, or one that is not
// flareform's, records nothing: what it bound is left alone.
func (e *Engine) readPending(ctx context.Context, accountID, name string, fields []string) ([]pendingSet, error) {
	var out []pendingSet
	for _, f := range fields {
		version, mask, ok := parseUnbound(f)
		if !ok || slices.ContainsFunc(out, func(ps pendingSet) bool { return ps.version == version }) {
			continue
		}
		settings, err := e.api.Script(accountID, name).VersionSettings(ctx, version)
		if cfapi.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("plan %s: read version %s, whose storage a later version unbound: %w", name, version, err)
		}
		msg, found, err := e.versionMessageOf(ctx, accountID, name, version)
		if err != nil {
			return nil, fmt.Errorf("plan %s: read version %s: %w", name, version, err)
		}
		id, ok := parseIdentity(msg)
		if !found || !ok {
			continue
		}
		bound := liveFromSettings(settings)
		ps := pendingSet{version: version, owner: kindOwner{name: name, live: bound}}
		for _, a := range storageKinds {
			k := storageKind{a}
			m := bound.storage.bound[a.short()]
			for _, b := range sortedKeys(m) {
				// nameOf maps the id the version bound: an object deleted since (or created
				// again under its name, with another id) is not found, so not taken.
				objName, ok, err := a.nameOf(ctx, e, accountID, m[b])
				if err != nil {
					return nil, fmt.Errorf("plan %s: %w", name, err)
				}
				if !ok {
					continue
				}
				tag := k.ownerTag(objName)
				bit := slices.Index(id.Own, strings.TrimPrefix(tag, markTagPrefix))
				if bit < 0 || bit >= maxUnboundMarks || mask&(1<<bit) == 0 {
					continue
				}
				ps.owner.tags = append(ps.owner.tags, tag)
				ps.objects = append(ps.objects, pendingObject{ref: objectRef{k.name(), objName}, id: m[b], bit: bit})
			}
		}
		if len(ps.objects) > 0 {
			out = append(out, ps)
		}
	}
	return out, nil
}

// pendingOwners are the owners the pending sets of p's live workers give the kind machinery
// (read here, kept on the live worker for planUnbound).
func (e *Engine) pendingOwners(ctx context.Context, accountID string, p *Plan) ([]kindOwner, error) {
	var owners []kindOwner
	for _, wp := range p.Workers {
		if wp.live == nil || !wp.live.exists || len(wp.live.storage.unbound) == 0 {
			continue
		}
		sets, err := e.readPending(ctx, accountID, wp.Name, wp.live.storage.unbound)
		if err != nil {
			return nil, err
		}
		wp.live.storage.pending = sets
		for _, ps := range sets {
			owners = append(owners, ps.owner)
		}
	}
	return owners, nil
}

// planUnbound decides, once the data rule is applied, the unbound= field each worker's upload
// writes: the version it replaces and the objects that version bound and marked that the plan
// deletes after the upload; else, for a worker whose serving version carries the field, the
// same version and those of its pending objects the plan still deletes. A pending object the
// plan leaves (--keep-data, or a canary's stable version binds it) is no longer recorded: its
// worker uploads a version without it.
func (e *Engine) planUnbound(p *Plan, resources []ResourcePlan) {
	deleted := map[objectRef]*storageObject{}
	left := map[objectRef]bool{} // exists, the spec does not declare it, and the plan keeps it
	for _, r := range resources {
		o, ok := r.obj.(*storageObject)
		switch {
		case !ok:
		case r.Action == ActionDelete:
			deleted[objectRef{r.Kind, r.Name}] = o
		case !o.want && o.have != nil:
			left[objectRef{r.Kind, r.Name}] = true
		}
	}
	for i := range p.Workers {
		wp := &p.Workers[i]
		d := wp.desired
		if d == nil || wp.live == nil || !wp.live.exists {
			continue
		}
		st := &wp.live.storage
		var mask uint64
		for _, ref := range sortedRefs(deleted) {
			o := deleted[ref]
			if !slices.Contains(mapValues(st.bound[o.api.short()]), o.id) {
				continue
			}
			bit := slices.Index(st.own, strings.TrimPrefix(storageKind{o.api}.ownerTag(ref.name), markTagPrefix))
			if bit >= 0 && bit < maxUnboundMarks {
				mask |= 1 << bit
			}
		}
		if mask != 0 && st.version != "" && len(st.version) <= maxUnboundVersionLen {
			d.unbound = unboundValue(st.version, mask)
		}
		var stops []string
		for _, ps := range st.pending {
			var carried uint64
			for _, po := range ps.objects {
				if o := deleted[po.ref]; o != nil && o.id == po.id {
					carried |= 1 << po.bit
				} else if left[po.ref] {
					stops = append(stops, po.ref.kind+" "+po.ref.name)
				}
			}
			// One field: what this upload unbinds comes first; older pending deletes of
			// another version are then not recorded (kept, never deleted, if this run stops).
			if d.unbound == "" && carried != 0 && len(ps.version) <= maxUnboundVersionLen {
				d.unbound = unboundValue(ps.version, carried)
			}
		}
		if len(stops) > 0 && !d.upload {
			// The serving version still records them as pending: only a new version stops that.
			wp.Changes = append(wp.Changes, Change{Path: "ownership", Op: OpRemove, Old: "pending delete of " + strings.Join(stops, ", ")})
			e.uploadLate(wp)
		}
	}
}

// sortedRefs is m's keys in order (kind, then name).
func sortedRefs[V any](m map[objectRef]V) []objectRef {
	out := make([]objectRef, 0, len(m))
	for ref := range m {
		out = append(out, ref)
	}
	slices.SortFunc(out, func(a, b objectRef) int {
		if c := strings.Compare(a.kind, b.kind); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	return out
}
