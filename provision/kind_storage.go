package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/flareform/flareform/provision/cfapi"
	"github.com/flareform/flareform/provision/spec"
)

// Storage kinds: the KV namespaces, R2 buckets and D1 databases a worker binds (`kv:`, `r2:`,
// `d1:`; kind_kv.go, kind_r2.go, kind_d1.go). They are kinds like gateways: plan creates what is
// missing and binds what exists, an existing object flareform did not create is bound and never
// deleted, and workers share one by naming it alike. Created before the upload that binds
// them, deleted after the last worker stops binding them.
//
// Two things set them apart.
//
// Ownership lives on the version, not in script tags: a script may carry only 8 tags, and a
// worker may bind many objects. The version annotation (identity.go, field `own=`) lists the
// storage objects the worker's flareform created, as their ownership tags without the "ff-"
// ("kv-<12 hex>"); plan feeds them to the kind machinery as the worker's tags (kindOwner), so
// decide() and tagOwned work as for gateways. When a split deployment serves, a mark on either
// version counts. A rollback to an older version can drop a mark: then flareform no longer
// takes the object for its own and leaves it alone (it is bound while the spec names it, never
// deleted). Losing a mark can only ever keep an object, never delete one. A rollback can also
// bring back an older version's mark for an object a later run stopped managing: its delete
// still follows the data rule below, so no data is lost without --delete-data.
// The upload that stops binding storage its run deletes next records that (unbound=,
// kind_unbound.go), so a run stopped between that upload and the deletes does not forget them.
//
// No data is ever lost by a plan. An object flareform created that nothing declares any more
// (or that destroy removes) is deleted only when it holds nothing: no key, no object, no table.
// When it holds data, or flareform cannot tell, the plan marks it (holds_data) and apply
// refuses before any write, unless the run chose --delete-data (delete it with its data) or
// --keep-data (leave it as it is; no longer managed). Right before the delete of an object the
// plan found empty, it is read again: data written since makes the delete fail, not happen.

// DataPolicy is what apply and destroy do with a storage object flareform created, that the
// plan deletes, and that holds data (--delete-data, --keep-data).
type DataPolicy string

// Data policies.
const (
	// DataRefuse (no flag): the plan marks the object and apply refuses before any write.
	DataRefuse DataPolicy = ""
	// DataDelete (--delete-data): the object is deleted with its data (an R2 bucket is emptied
	// first, object by object).
	DataDelete DataPolicy = "delete"
	// DataKeep (--keep-data): the object is left as it is, with its data, and flareform stops
	// managing it (the worker's ownership mark is dropped at its next upload).
	DataKeep DataPolicy = "keep"
)

// ErrDataRefused marks a plan that would delete storage holding data without a policy.
var ErrDataRefused = errors.New("the plan deletes storage that holds data")

// storageAPI is what differs between the storage kinds: their API and binding.
type storageAPI interface {
	// kindName is the kind as plans show it ("kv_namespace").
	kindName() string
	// short names the kind in change paths and marks ("kv").
	short() string
	// noun names one object in messages ("namespace").
	noun() string
	bindings(w spec.Worker) []spec.StorageBinding
	// find looks the object up by name: its id ("" when it does not exist) and what the API
	// answered (plain data, digested by saved plans).
	find(ctx context.Context, e *Engine, accountID, name string) (id string, live any, err error)
	// nameOf maps the id a live binding names to the object's name (ok false: unknown).
	nameOf(ctx context.Context, e *Engine, accountID, id string) (name string, ok bool, err error)
	create(ctx context.Context, e *Engine, accountID, name string) (id string, err error)
	// holds reads what the object holds now.
	holds(ctx context.Context, e *Engine, accountID, id string) (dataState, error)
	// emptyOut deletes the object's data before the object itself, for a kind whose delete is
	// refused while it holds data (R2). Kinds whose delete takes the data with it do nothing.
	emptyOut(ctx context.Context, e *Engine, accountID, id string) error
	// deletesWith says how --delete-data deletes it ("deletes it with its data").
	deletesWith() string
	remove(ctx context.Context, e *Engine, accountID, id string) error
	binding(binding, id string) metadataBinding
	// bindingType is the binding's type in upload metadata and settings.
	bindingType() string
	// idOf is the id a live binding names.
	idOf(b bindingJSON) string
	// idByName is the id of an object named name when the name is its id (an R2 bucket), ""
	// when the id is known only once the object exists.
	idByName(name string) string
}

// storageKinds is every storage API, in the order the kinds registry lists them.
var storageKinds = []storageAPI{kvAPI{}, r2API{}, d1API{}}

// storageKind is the accountKind of one storage API.
type storageKind struct{ api storageAPI }

func (k storageKind) name() string       { return k.api.kindName() }
func (k storageKind) afterWorkers() bool { return false }
func (k storageKind) tagPrefix() string  { return "ff-" + k.api.short() + "-" }
func (k storageKind) ownsTag(t string) bool {
	return strings.HasPrefix(t, k.tagPrefix())
}
func (k storageKind) ownerTag(name string) string {
	return ownershipTag(k.tagPrefix(), k.name(), name)
}

// inVersion: this kind's ownership marks live in the version annotation, not in script tags.
func (storageKind) inVersion() {}

// versionOwned is a kind whose ownership marks are recorded on the version (identity `own=`).
type versionOwned interface{ inVersion() }

func (k storageKind) declared(w spec.Worker) map[string]any {
	out := map[string]any{}
	for _, b := range k.api.bindings(w) {
		out[b.Name] = b
	}
	return out
}

// managed: the objects a live worker binds whose mark it carries. It calls the API (to map a
// binding's id to its name) only when an owner carries a mark of this kind.
func (k storageKind) managed(ctx context.Context, e *Engine, accountID string, owners []kindOwner) ([]string, error) {
	if !slices.ContainsFunc(owners, func(o kindOwner) bool { return slices.ContainsFunc(o.tags, k.ownsTag) }) {
		return nil, nil
	}
	var errs []error
	names := tagOwned(k, owners, func(live *liveWorker) []string {
		var out []string
		bound := live.storage.bound[k.api.short()]
		for _, b := range sortedKeys(bound) {
			name, ok, err := k.api.nameOf(ctx, e, accountID, bound[b])
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				out = append(out, name)
			}
		}
		return out
	})
	return names, errors.Join(errs...)
}

func (k storageKind) read(ctx context.Context, e *Engine, accountID, name string, want any) (accountObject, error) {
	o := &storageObject{api: k.api, name: name, want: want != nil}
	id, live, err := k.api.find(ctx, e, accountID, name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", k.api.noun(), err)
	}
	o.id, o.have = id, live
	return o, nil
}

// storageObject is one KV namespace, R2 bucket or D1 database: what exists, and whether the
// spec wants it.
type storageObject struct {
	api  storageAPI
	name string
	want bool
	// id is the namespace id, bucket name or database uuid; "" until it exists. A create
	// fills it in before the uploads that bind it.
	id   string
	have any // as the API answered; nil: it does not exist
	// deleteData: the plan deletes it with its data (--delete-data).
	deleteData bool
}

func (o *storageObject) live() any      { return o.have }
func (o *storageObject) replaces() bool { return false }

// diff: flareform manages no setting of a storage object, only that it exists.
func (o *storageObject) diff() []Change {
	if !o.want || o.have != nil {
		return nil
	}
	return []Change{{Path: o.api.kindName(), Op: OpAdd, New: o.name}}
}

func (o *storageObject) create(ctx context.Context, e *Engine, accountID string) error {
	id, err := o.api.create(ctx, e, accountID, o.name)
	if err != nil {
		// Another run (or a person) may have created it since the plan read the account: it
		// is then not flareform's to claim, and the next plan binds it as it is.
		if found, _, ferr := o.api.find(ctx, e, accountID, o.name); ferr == nil && found != "" {
			return fmt.Errorf("create %s %s: it was created by another party since the plan read the account (%w); run plan again: it binds the existing one and never deletes it", o.api.noun(), o.name, err)
		}
		return fmt.Errorf("create %s %s: %w", o.api.noun(), o.name, err)
	}
	o.id = id
	return nil
}

func (o *storageObject) update(context.Context, *Engine, string) error { return nil }

// remove deletes the object itself. Apply deletes a storage object through
// deleteGuardingData (a dataGuarded object), which calls it last.
func (o *storageObject) remove(ctx context.Context, e *Engine, accountID string) error {
	if o.id == "" {
		return nil // never existed or already gone: nothing to delete
	}
	if err := o.api.remove(ctx, e, accountID, o.id); err != nil {
		return fmt.Errorf("delete %s %s: %w", o.api.noun(), o.name, err)
	}
	return nil
}

func (o *storageObject) what() string      { return o.api.noun() + " " + o.name }
func (o *storageObject) deletesData() bool { return o.deleteData }

func (o *storageObject) dataNow(ctx context.Context, e *Engine, accountID string) (dataState, error) {
	if o.id == "" {
		return dataState{}, nil
	}
	return o.api.holds(ctx, e, accountID, o.id)
}

func (o *storageObject) emptyOut(ctx context.Context, e *Engine, accountID string) error {
	if o.id == "" {
		return nil
	}
	return o.api.emptyOut(ctx, e, accountID, o.id)
}

// dataGuarded is an object that holds data: apply deletes it through deleteGuardingData.
type dataGuarded interface {
	accountObject
	// what names it in messages ("KV namespace app-cache").
	what() string
	// deletesData: the plan deletes it with its data (--delete-data).
	deletesData() bool
	// dataNow reads what it holds now.
	dataNow(ctx context.Context, e *Engine, accountID string) (dataState, error)
	// emptyOut deletes its data where its delete would be refused while it holds any.
	emptyOut(ctx context.Context, e *Engine, accountID string) error
}

// dataState is what a storage object holds.
type dataState struct {
	// holds: it holds data, or flareform cannot tell (unknown).
	holds   bool
	unknown bool
	// what it holds, for notes: "3 keys", "10+ objects", "2 tables (8192 bytes)".
	what string
}

func (d dataState) describe() string {
	switch {
	case d.unknown:
		return "may hold data (" + d.what + "): treated as holding data"
	case d.holds:
		return "holds " + d.what
	}
	return "empty"
}

// countText is n items of a list read with limit: "3 keys", "10+ keys" when the page was full.
func countText(n, limit int, one, many string) string {
	word := many
	if n == 1 {
		word = one
	}
	if n >= limit {
		return fmt.Sprintf("%d+ %s", n, many)
	}
	return fmt.Sprintf("%d %s", n, word)
}

// deleteGuardingData is the guarded write of a storage delete: right before it, what the object
// holds is read again; an object the plan found empty that holds data now (another run or a
// worker wrote since) is not deleted, and the apply fails saying why. With --delete-data the
// object's data goes first where its delete would be refused (an R2 bucket, object by object).
// The API has no conditional delete: data written between this read and the delete (one round
// trip) goes with it, as docs/guarantees.md says. beforeDelete, when set, is checked last, right
// before the delete (checkWorkersAsLeft: no other run deployed a worker that may bind it again).
func (e *Engine) deleteGuardingData(ctx context.Context, accountID string, o dataGuarded, beforeDelete func(context.Context) error) error {
	if !o.deletesData() {
		now, err := o.dataNow(ctx, e, accountID)
		if err != nil {
			return fmt.Errorf("check %s before deleting it: %w", o.what(), err)
		}
		if now.holds {
			return fmt.Errorf("%s %s now, after the plan found it empty (written since), so this run did not delete it; "+
				"run plan again, then apply with --delete-data to delete it with its data, or --keep-data to leave it", o.what(), now.describe())
		}
	} else {
		if beforeDelete != nil { // and before its data goes (emptying a bucket takes many calls)
			if err := beforeDelete(ctx); err != nil {
				return err
			}
		}
		if err := o.emptyOut(ctx, e, accountID); err != nil {
			return fmt.Errorf("empty %s before deleting it: %w", o.what(), err)
		}
	}
	if beforeDelete != nil {
		if err := beforeDelete(ctx); err != nil {
			return err
		}
	}
	return o.remove(ctx, e, accountID)
}

// applyDataRule reads what every storage object the plan deletes holds and applies the data
// policy: an empty one is deleted; one that holds data (or may) is marked holds_data and, by
// policy, refused (apply stops before any write), deleted with its data, or kept.
func (e *Engine) applyDataRule(ctx context.Context, accountID string, p *Plan, resources []ResourcePlan) error {
	var errs []error
	for i := range resources {
		rp := &resources[i]
		o, ok := rp.obj.(*storageObject)
		if !ok || rp.Action != ActionDelete {
			continue
		}
		if w := splitKeepsBinding(p, o); w != "" {
			// The version serving beside the canary still binds it: a delete would break it.
			rp.Action, rp.Changes = ActionNoOp, nil
			rp.Note = fmt.Sprintf("still bound by the version of %s that keeps serving beside the canary: left as it is (no longer managed)", w)
			rp.ownedAfter = false
			continue
		}
		state, err := o.api.holds(ctx, e, accountID, o.id)
		if err != nil {
			errs = append(errs, fmt.Errorf("plan %s %s: read what it holds: %w", rp.Kind, rp.Name, err))
			continue
		}
		if !state.holds {
			rp.Note = "empty: deleted (read again right before the delete: data written since stops it)"
			continue
		}
		rp.HoldsData = true
		switch e.cfg.Data {
		case DataDelete:
			o.deleteData, rp.DeleteData, rp.Destructive = true, true, true
			rp.Note = fmt.Sprintf("%s: --delete-data %s", state.describe(), o.api.deletesWith())
		case DataKeep:
			rp.Action, rp.Changes = ActionNoOp, nil
			rp.Note = fmt.Sprintf("%s: left as it is with its data (--keep-data); flareform no longer manages it", state.describe())
		default:
			rp.Destructive = true
			rp.Note = fmt.Sprintf("%s: apply refuses to delete it; --delete-data deletes it with its data, --keep-data leaves it as it is (no longer managed)", state.describe())
		}
	}
	return errors.Join(errs...)
}

// splitKeepsBinding names a worker of p that deploys a canary beside a version that binds o
// (the version the plan read), "" when none does.
func splitKeepsBinding(p *Plan, o *storageObject) string {
	for _, wp := range p.Workers {
		d := wp.desired
		if d == nil || d.canary == nil || d.canary.Percent >= 100 || wp.live == nil {
			continue
		}
		if slices.Contains(mapValues(wp.live.storage.bound[o.api.short()]), o.id) {
			return wp.Name
		}
	}
	return ""
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, m[k])
	}
	return out
}

// DataRefused lists the storage objects p deletes that hold data (or may) without a data
// policy: apply refuses such a plan before any write.
func (p *Plan) DataRefused() []string {
	var out []string
	for _, r := range p.Resources {
		if r.HoldsData && r.Action == ActionDelete && !r.DeleteData {
			out = append(out, fmt.Sprintf("%s %s (%s)", r.Kind, r.Name, strings.SplitN(r.Note, ":", 2)[0]))
		}
	}
	return out
}

// DataRefusedError is the refusal of a plan that deletes storage holding data.
func DataRefusedError(held []string, command string) error {
	return fmt.Errorf("%w: %s; nothing was changed. Run %s --delete-data to delete them with their data (an R2 bucket is emptied first), "+
		"or %s --keep-data to leave them as they are (flareform stops managing them)", ErrDataRefused, strings.Join(held, ", "), command, command)
}

// liveStorage is a live worker's storage bindings and the ownership marks of the version(s)
// that serve.
type liveStorage struct {
	// bound maps kind (short) -> binding name -> id (namespace id, bucket name, database uuid).
	bound map[string]map[string]string
	// marks are the ownership marks (tags) the serving version's annotation records.
	marks []string
	// version is the version whose bindings bound describes (the one serving, or a split's
	// canary), and own its own= list as written (the index of unbound='s mask).
	version string
	own     []string
	// unbound are the unbound= fields of the serving version(s), and pending what they
	// record as read by the plan (kind_unbound.go).
	unbound []string
	pending []pendingSet
}

// bindingJSON is a live binding's JSON, for the fields cfapi does not type.
type bindingJSON struct {
	NamespaceID string `json:"namespace_id"`
	BucketName  string `json:"bucket_name"`
	ID          string `json:"id"`
	DatabaseID  string `json:"database_id"`
}

// storageBindingKind is the storage API of a binding type; nil for other bindings.
func storageBindingKind(typ string) storageAPI {
	for _, a := range storageKinds {
		if a.bindingType() == typ {
			return a
		}
	}
	return nil
}

// addStorage records a live storage binding; false for a binding of another type.
func (live *liveWorker) addStorage(b cfapi.Binding) bool {
	a := storageBindingKind(b.Type)
	if a == nil {
		return false
	}
	var raw bindingJSON
	_ = json.Unmarshal([]byte(b.JSON), &raw) // unreadable: no id, which diffs as changed
	if raw.NamespaceID == "" {
		raw.NamespaceID = b.NamespaceID
	}
	if live.storage.bound == nil {
		live.storage.bound = map[string]map[string]string{}
	}
	if live.storage.bound[a.short()] == nil {
		live.storage.bound[a.short()] = map[string]string{}
	}
	live.storage.bound[a.short()][b.Name] = a.idOf(raw)
	return true
}

// Marks in the annotation are the ownership tags without their "ff-" ("kv-<12 hex>").
const markTagPrefix = "ff-"

// marksOf are the annotation marks of tags (those of version-owned kinds only).
func marksOf(tags []string) []string {
	var out []string
	for _, t := range tags {
		if isVersionMark(t) {
			out = append(out, strings.TrimPrefix(t, markTagPrefix))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// tagsOfMarks are the ownership tags an annotation's marks stand for; unknown marks are dropped.
func tagsOfMarks(marks []string) []string {
	var out []string
	for _, m := range marks {
		if t := markTagPrefix + m; isVersionMark(t) {
			out = append(out, t)
		}
	}
	return out
}

// isVersionMark reports whether t is the ownership tag of a kind recorded on the version.
func isVersionMark(t string) bool {
	for _, k := range kinds {
		if _, ok := k.(versionOwned); ok && k.ownsTag(t) {
			return true
		}
	}
	return false
}

// ownerTagsWithMarks is an owner's tags for the kind machinery: the script's tags plus the
// marks of the version(s) that serve.
func ownerTagsWithMarks(tags []string, live *liveWorker) []string {
	if live == nil || len(live.storage.marks) == 0 {
		return tags
	}
	return append(slices.Clone(tags), live.storage.marks...)
}

// readSplitMarks adds to each live worker that serves a canary the marks of its stable version
// (the canary's are read with the worker): a mark on either version counts.
func (e *Engine) readSplitMarks(ctx context.Context, accountID string, p *Plan) error {
	for _, wp := range p.Workers {
		if wp.live == nil || wp.live.canary == nil {
			continue
		}
		marks, unbound, err := e.versionMarks(ctx, accountID, wp.Name, []string{wp.live.canary.Stable})
		if err != nil {
			return fmt.Errorf("plan %s: %w", wp.Name, err)
		}
		wp.live.storage.marks = append(wp.live.storage.marks, marks...)
		wp.live.storage.unbound = append(wp.live.storage.unbound, unbound...)
	}
	return nil
}

// versionMarks reads the ownership marks of versions' annotations (as tags), and their
// unbound= fields (kind_unbound.go), from this machine's version cache when it holds them.
func (e *Engine) versionMarks(ctx context.Context, accountID, name string, versions []string) (marks, unbound []string, err error) {
	for _, v := range versions {
		if v == "" {
			continue
		}
		msg, found, err := e.versionMessageOf(ctx, accountID, name, v)
		if err != nil {
			return nil, nil, fmt.Errorf("read version %s: %w", v, err)
		}
		if id, ok := parseIdentity(msg); found && ok {
			marks = append(marks, tagsOfMarks(id.Own)...)
			if id.Unbound != "" {
				unbound = append(unbound, id.Unbound)
			}
		}
	}
	return marks, unbound, nil
}

// deletedWorkerMarks reads the marks and unbound= fields of the version(s) a worker the plan
// deletes serves (readDeleted read its deployments).
func (e *Engine) deletedWorkerMarks(ctx context.Context, accountID string, wp WorkerPlan) (marks, unbound []string, err error) {
	if wp.deleteRead == nil || !wp.deleteRead.exists {
		return nil, nil, nil
	}
	versions := wp.deleteRead.versions
	if len(versions) == 0 {
		versions = []string{wp.deleteRead.served}
	}
	return e.versionMarks(ctx, accountID, wp.Name, versions)
}

// storageBind is one storage binding an upload sends; its id is resolved when the upload is
// built, after the objects this apply creates exist.
type storageBind struct {
	binding string
	obj     *storageObject
}

// storageBindings are the storage bindings of d's upload.
func storageBindings(d *desiredWorker) []metadataBinding {
	var out []metadataBinding
	for _, b := range d.storage {
		out = append(out, b.obj.api.binding(b.binding, b.obj.id))
	}
	return out
}

// planStorageBindings compares every spec worker's storage bindings with the live ones (by the
// bound object's name: a live id is mapped back to its name with the reads the plan made) and
// gives the desired worker the bindings its upload sends. An object this apply creates has its
// id only then: the change says "(id known after apply)".
func (e *Engine) planStorageBindings(ctx context.Context, p *Plan, resources []ResourcePlan) error {
	objects := map[objectRef]*storageObject{}
	for _, r := range resources {
		if o, ok := r.obj.(*storageObject); ok {
			objects[objectRef{r.Kind, r.Name}] = o
		}
	}
	for i := range p.Workers {
		wp := &p.Workers[i]
		d := wp.desired
		if d == nil {
			continue
		}
		var bound map[string]map[string]string
		if wp.live != nil {
			bound = wp.live.storage.bound
		}
		var changes []Change
		for _, a := range storageKinds {
			live := bound[a.short()]
			want := map[string]bool{}
			for _, b := range a.bindings(d.worker) {
				want[b.Binding] = true
				o := objects[objectRef{a.kindName(), b.Name}]
				if o == nil {
					return fmt.Errorf("plan %s: %s %s was not read", wp.Name, a.kindName(), b.Name)
				}
				d.storage = append(d.storage, storageBind{binding: b.Binding, obj: o})
				path := a.short() + "." + b.Binding
				id, newText := o.id, b.Name
				if id == "" {
					id = a.idByName(b.Name)
				}
				if id == "" {
					newText += " (id known after apply)"
				}
				liveID, ok := live[b.Binding]
				switch {
				case !ok:
					changes = append(changes, Change{Path: path, Op: OpAdd, New: newText})
				case id == "" || liveID != id:
					old, err := e.describeBound(ctx, p.AccountID, a, liveID)
					if err != nil {
						return fmt.Errorf("plan %s: %w", wp.Name, err)
					}
					changes = append(changes, Change{Path: path, Op: OpChange, Old: old, New: newText})
				}
			}
			for _, binding := range sortedKeys(live) {
				if want[binding] {
					continue
				}
				old, err := e.describeBound(ctx, p.AccountID, a, live[binding])
				if err != nil {
					return fmt.Errorf("plan %s: %w", wp.Name, err)
				}
				changes = append(changes, Change{Path: a.short() + "." + binding, Op: OpRemove, Old: old})
			}
		}
		if len(changes) > 0 {
			wp.Changes = append(wp.Changes, changes...)
			e.uploadLate(wp)
		}
	}
	return nil
}

// describeBound names the object a live binding's id stands for: its name, or the id when no
// object of that id is known.
func (e *Engine) describeBound(ctx context.Context, accountID string, a storageAPI, id string) (string, error) {
	if id == "" {
		return "(no " + a.noun() + " named)", nil
	}
	name, ok, err := a.nameOf(ctx, e, accountID, id)
	if err != nil {
		return "", err
	}
	if !ok {
		return fmt.Sprintf("(unknown %s %s)", a.noun(), id), nil
	}
	return name, nil
}

// uploadLate makes wp upload after its diff decided it would not (a change found once the
// account objects were planned): the worker is updated, and a canary decision made for no
// upload is made again for one.
func (e *Engine) uploadLate(wp *WorkerPlan) {
	d := wp.desired
	if wp.Action == ActionNoOp {
		wp.Action = ActionUpdate
	}
	if d.upload {
		return
	}
	d.upload = true
	if d.canary == nil && e.cfg.Canary == 0 {
		return
	}
	// diffCanary decided for a worker that uploads nothing (nothing to deploy as a canary, or
	// promote or re-split the live one): decide again, now that it uploads.
	d.canary = nil
	wp.Changes = slices.DeleteFunc(wp.Changes, func(c Change) bool {
		return c.Path == "deployment" || (c.Path == "smoke" && strings.HasPrefix(c.Old, "not passed: canary"))
	})
	if wp.live != nil {
		var added []Change
		if err := diffCanary(d, wp.live, e.cfg.Canary, func(c Change) { added = append(added, c) }); err == nil {
			wp.Changes = append(wp.Changes, added...)
		}
	}
	wp.Canary = d.canary
}

// storageCache holds the account-wide lists a plan reads once (KV namespaces, D1 databases),
// for the plan's duration only: ctx carries it (withStorageCache).
type storageCache struct {
	mu    sync.Mutex
	lists map[string]*storageList
}

// storageList is one kind's objects: name -> id and back.
type storageList struct {
	byName, byID map[string]string
}

type storageCacheKey struct{}

// withStorageCache gives the plan under ctx one storage cache.
func withStorageCache(ctx context.Context) context.Context {
	if _, ok := ctx.Value(storageCacheKey{}).(*storageCache); ok {
		return ctx
	}
	return context.WithValue(ctx, storageCacheKey{}, &storageCache{lists: map[string]*storageList{}})
}

// cachedList is kind's list, loaded once per plan (every call loads it without a cache).
func cachedList(ctx context.Context, kind string, load func() (*storageList, error)) (*storageList, error) {
	c, ok := ctx.Value(storageCacheKey{}).(*storageCache)
	if !ok {
		return load()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.lists[kind]; l != nil {
		return l, nil
	}
	l, err := load()
	if err != nil {
		return nil, err
	}
	c.lists[kind] = l
	return l, nil
}

// listPages reads a paged list (page=, per_page=100) until a page comes back short, decoding
// each item with add. maxPages bounds a list that never ends (an API that ignores page=).
func listPages[T any](ctx context.Context, e *Engine, path string, add func(T)) error {
	const perPage, maxPages = 100, 1000
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	for page := 1; page <= maxPages; page++ {
		var items []T
		if err := e.api.Call(ctx, http.MethodGet, fmt.Sprintf("%s%spage=%d&per_page=%d", path, sep, page, perPage), nil, &items); err != nil {
			return err
		}
		for _, it := range items {
			add(it)
		}
		if len(items) < perPage {
			return nil
		}
	}
	return fmt.Errorf("more than %d pages of %s", maxPages, path)
}

// deletesStorage reports whether p deletes a storage object (after its workers' writes).
func deletesStorage(p *Plan) bool {
	return slices.ContainsFunc(p.Resources, func(rp ResourcePlan) bool {
		_, ok := rp.obj.(*storageObject)
		return ok && rp.Action == ActionDelete
	})
}

// checkWorkersAsLeft checks that every worker p deleted or deployed is still as this run left
// it (res): no script where it deleted one, its own version where it deployed one. Storage is
// deleted after the workers' writes, several calls later (an R2 bucket is emptied object by
// object): another run may have deployed a worker meanwhile that binds the object again. Right
// before each storage delete (when) a changed worker stops the delete; after the last one it
// fails the run, whose exit 0 would otherwise report the worker deleted, or this run's version
// serving, when another run's serves and binds what this run deleted.
func (e *Engine) checkWorkersAsLeft(ctx context.Context, p *Plan, res *Result, when string) error {
	var errs []error
	for i, wp := range p.Workers {
		want := ""
		switch {
		case wp.Action == ActionDelete:
		case (wp.Action == ActionCreate || wp.Action == ActionUpdate) && wp.Canary == nil && i < len(res.Workers) && res.Workers[i].VersionID != "":
			want = res.Workers[i].VersionID
		default:
			continue
		}
		now, err := e.readWorker(ctx, p.AccountID, wp.Name)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("worker %s: check %s: %w", wp.Name, when, err))
		case want == "" && now.exists:
			errs = append(errs, changedError(wp.Name, fmt.Sprintf("this run deleted the script, then another run created it again (%s serves now), %s; it may bind that storage", now, when)))
		case want != "" && (!now.exists || now.served != want):
			errs = append(errs, changedError(wp.Name, fmt.Sprintf("%s serves now, not %s that this run deployed: another run deployed it %s, and it may bind that storage", now, want, when)))
		}
	}
	return errors.Join(errs...)
}
