package provision

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/flareform/flareform/internal/confined"
	"github.com/flareform/flareform/provision/spec"
)

// SavedPlanVersion is the format of a saved plan file (`plan --out`); a file of another
// version is refused, never guessed at.
const SavedPlanVersion = 1

// ErrStalePlan: a saved plan no longer matches the spec or the live account; apply refused it
// before any write.
var ErrStalePlan = errors.New("the plan is stale")

// SavedPlan is the file `plan --out` writes and `apply FILE` applies (docs/saved-plans.md).
// It holds no secret: keys are described by their source and fingerprint, never by value.
// Apply rebuilds the desired state from the same spec and key sources, re-reads the account and
// applies only when everything the plan read, and the plan itself, is unchanged.
type SavedPlan struct {
	Version int `json:"version"`
	// SpecFile is the spec's absolute path; SpecDigest the SHA-256 of its bytes.
	SpecFile   string   `json:"spec_file"`
	SpecDigest string   `json:"spec_digest"`
	Env        string   `json:"env,omitempty"`
	Targets    []string `json:"targets,omitempty"`
	Adopt      []string `json:"adopt,omitempty"`
	// Canary is plan --canary: apply FILE deploys at the same percent (0: no canary).
	Canary float64 `json:"canary,omitempty"`
	// Data is plan --delete-data ("delete") or --keep-data ("keep"): apply FILE plans again
	// with the same choice, and refuses another (kind_storage.go).
	Data DataPolicy `json:"data,omitempty"`
	// Read is what the plan was computed from.
	Read PlanInputs `json:"read"`
	Plan *Plan      `json:"plan"`
}

// PlanInputs is everything a plan read: apply compares it with a fresh read.
type PlanInputs struct {
	AccountID string `json:"account_id"`
	// WorkersDevSubdomain is the account's workers.dev subdomain ("" when it had none).
	WorkersDevSubdomain string           `json:"workers_dev_subdomain"`
	Workers             []WorkerInputs   `json:"workers"`
	Resources           []ResourceInputs `json:"resources"`
}

// WorkerInputs is what the plan read and built for one worker.
type WorkerInputs struct {
	Name   string `json:"name"`
	Exists bool   `json:"exists"`
	// ServingVersionID is the version serving all traffic ("" when none or split).
	ServingVersionID string `json:"serving_version_id,omitempty"`
	// SettingsDigest is a SHA-256 over the live tags, bindings and settings the plan read.
	SettingsDigest string `json:"settings_digest,omitempty"`
	// BundleHash is the hash of the code the plan bundled.
	BundleHash string        `json:"bundle_hash,omitempty"`
	Key        *KeyReference `json:"key,omitempty"`
	// Secrets are the worker's secrets besides the key (secrets.go): sources and fingerprints.
	Secrets []KeyReference `json:"secrets,omitempty"`
}

// KeyReference says where a worker's managed key comes from, never what it is.
type KeyReference struct {
	Binding string `json:"binding"`
	// Source is "generate" (apply makes a new key when the worker has none), "env:NAME" or
	// "file:PATH".
	Source string `json:"source"`
	// Fingerprint is the fingerprint of the key the env/file source held at plan time.
	Fingerprint string `json:"fingerprint,omitempty"`
}

// ResourceInputs is one AI Gateway or Vectorize index as the plan read it.
type ResourceInputs struct {
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Exists bool   `json:"exists"`
	Digest string `json:"digest,omitempty"` // SHA-256 of its live settings
}

// NewSavedPlan records p, computed from s, for `apply FILE`.
func NewSavedPlan(p *Plan, s *spec.Spec, targets, adopt []string) (*SavedPlan, error) {
	file, err := filepath.Abs(s.File)
	if err != nil {
		return nil, fmt.Errorf("saved plan: %w", err)
	}
	digest, err := SpecDigest(file)
	if err != nil {
		return nil, err
	}
	return &SavedPlan{Version: SavedPlanVersion, SpecFile: file, SpecDigest: digest, Env: s.Env,
		Targets: targets, Adopt: adopt, Read: p.inputs(), Plan: p}, nil
}

// SpecDigest is the SHA-256 of the spec file's bytes. The spec is read under the rules of
// package confined (a regular file outside /proc, /sys and /dev, at most confined.Spec.Limit
// bytes).
func SpecDigest(path string) (string, error) {
	b, err := confined.ReadFile(path, confined.Spec, nil)
	if err != nil {
		return "", fmt.Errorf("read spec: %w", withFix(err))
	}
	return digestBytes(b), nil
}

func digestBytes(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// withFix adds the fix of a refusal of package confined to its message: the CLI prints errors
// by their message, and every refusal says how to repair it.
func withFix(err error) error {
	var ce *confined.Error
	if errors.As(err, &ce) && ce.Fix != "" {
		return fmt.Errorf("%w; %s", err, ce.Fix)
	}
	return err
}

// WriteSavedPlan writes sp to path, readable by the owner only (0600): it names the account
// and the key sources. The file is replaced whole, never left half written.
func WriteSavedPlan(path string, sp *SavedPlan) error {
	b, err := json.MarshalIndent(sp, "", "  ")
	if err != nil {
		return fmt.Errorf("encode plan: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".flareform-plan-*")
	if err != nil {
		return fmt.Errorf("write plan %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // after the rename: nothing left to remove
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write plan %s: %w", path, err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write plan %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write plan %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write plan %s: %w", path, err)
	}
	return nil
}

// ReadSavedPlan reads a file `plan --out` wrote, under the rules of package confined: a FIFO,
// a device or /proc file is refused, and so is a file larger than confined.SavedPlan.Limit.
// Errors say where the file is not a saved plan, never what it holds.
func ReadSavedPlan(path string) (*SavedPlan, error) {
	b, err := confined.ReadFile(path, confined.SavedPlan, nil)
	if err != nil {
		return nil, fmt.Errorf("read saved plan: %w", withFix(err))
	}
	var sp SavedPlan
	if err := json.Unmarshal(b, &sp); err != nil {
		return nil, fmt.Errorf("%s is not a saved plan (%s); pass a file written by `flareform plan --out FILE`", path, describeJSONError(b, err))
	}
	if sp.Version != SavedPlanVersion || sp.Plan == nil {
		return nil, fmt.Errorf("%s: saved plan version %d, this flareform reads version %d; run plan --out again", path, sp.Version, SavedPlanVersion)
	}
	// What the JSON does not carry but the kind says: where the object goes in apply order.
	for i := range sp.Plan.Resources {
		if k := kindByName(sp.Plan.Resources[i].Kind); k != nil {
			sp.Plan.Resources[i].afterWorkers = k.afterWorkers()
		}
	}
	return &sp, nil
}

// describeJSONError says where and how data is not the JSON of a saved plan, without quoting
// it: the file may be anything (a key file passed by mistake).
func describeJSONError(data []byte, err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		line, col := lineCol(data, syntax.Offset)
		return fmt.Sprintf("not JSON: a syntax error at line %d, column %d", line, col)
	case errors.As(err, &typ) && typ.Field != "":
		line, col := lineCol(data, typ.Offset)
		return fmt.Sprintf("field %s at line %d, column %d is not a %s", typ.Field, line, col, typ.Type)
	case errors.As(err, &typ):
		return "not a JSON object"
	}
	return "not a saved plan's JSON"
}

// lineCol is the 1-based line and column of the byte before offset (where a JSON decoder
// stopped).
func lineCol(data []byte, offset int64) (int, int) {
	at := int(min(max(offset-1, 0), int64(len(data))))
	line, col := 1, 1
	for _, b := range data[:at] {
		if b == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// againFix ends every refusal of a saved plan's spec_file.
const againFix = "run flareform plan --out again"

// isSHA256Hex reports whether s is what spec_digest holds: 64 lower-case hex digits.
func isSHA256Hex(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// CheckSpec checks, before apply writes anything (not even the project lock next to the spec),
// that the plan's spec_file is the spec the plan was made from: an absolute path to a regular
// file that passes the spec rules of package confined, whose SHA-256 is the plan's spec_digest.
// A hand-edited spec_file would otherwise make apply lock, and plan, any directory. A spec that
// changed since the plan was made is stale (ErrStalePlan).
func (sp *SavedPlan) CheckSpec(planPath string) error {
	switch {
	case sp.SpecFile == "":
		return fmt.Errorf("saved plan %s names no spec_file; %s", planPath, againFix)
	case !filepath.IsAbs(sp.SpecFile):
		return fmt.Errorf("saved plan %s: spec_file %s is not an absolute path (plan --out records the spec's absolute path); %s",
			planPath, sp.SpecFile, againFix)
	case !isSHA256Hex(sp.SpecDigest):
		return fmt.Errorf("saved plan %s: spec_digest is not a SHA-256 (64 hex digits); %s", planPath, againFix)
	}
	data, err := confined.ReadFile(sp.SpecFile, confined.Spec, nil)
	if err != nil {
		return fmt.Errorf("saved plan %s: spec_file %w; %s", planPath, err, againFix)
	}
	if digestBytes(data) != sp.SpecDigest {
		return fmt.Errorf("%w: the spec %s is not the one the plan was made from (its SHA-256 differs from the plan's spec_digest: "+
			"the spec changed since, or the plan was edited); run plan again (%s, then apply the new file)", ErrStalePlan, sp.SpecFile, againFix)
	}
	return nil
}

// UseSavedPlan makes this engine's plans reuse the key fingerprints sp showed, for keys that
// still match them, so the fresh plan apply compares (and uploads) is the one the user saw.
func (e *Engine) UseSavedPlan(sp *SavedPlan) {
	for _, w := range sp.Read.Workers {
		if w.Key != nil && w.Key.Fingerprint != "" {
			e.fingerprints.prefer(w.Name, w.Key.Binding, w.Key.Fingerprint)
		}
		e.preferSavedSecrets(w)
	}
}

// StaleReasons compares the saved plan with fresh, the plan computed again from the spec now
// (whose digest is specDigest) and the live account: every difference makes the saved plan
// stale. None: applying fresh does exactly what the saved plan showed.
func (sp *SavedPlan) StaleReasons(fresh *Plan, specDigest string) []string {
	var why []string
	if specDigest != sp.SpecDigest {
		why = append(why, fmt.Sprintf("the spec %s changed", sp.SpecFile))
	}
	why = append(why, compareInputs(sp.Read, fresh.inputs())...)
	if len(why) > 0 {
		return why // the plan differs too, but the cause is what the user needs
	}
	return comparePlans(sp.Plan, fresh)
}

func compareInputs(saved, now PlanInputs) []string {
	var why []string
	if saved.AccountID != now.AccountID {
		why = append(why, fmt.Sprintf("the account is %s, the plan was made for %s", now.AccountID, saved.AccountID))
	}
	if saved.WorkersDevSubdomain != now.WorkersDevSubdomain {
		why = append(why, fmt.Sprintf("the account's workers.dev subdomain is now %q (was %q)", now.WorkersDevSubdomain, saved.WorkersDevSubdomain))
	}
	nowWorkers := map[string]WorkerInputs{}
	for _, w := range now.Workers {
		nowWorkers[w.Name] = w
	}
	for _, was := range saved.Workers {
		is, ok := nowWorkers[was.Name]
		if !ok {
			why = append(why, fmt.Sprintf("worker %s is no longer planned", was.Name))
			continue
		}
		why = append(why, compareWorker(was, is)...)
		delete(nowWorkers, was.Name)
	}
	for _, name := range sortedKeys(nowWorkers) {
		why = append(why, fmt.Sprintf("worker %s is new in the plan", name))
	}
	nowResources := map[string]ResourceInputs{}
	for _, r := range now.Resources {
		nowResources[r.Kind+" "+r.Name] = r
	}
	for _, was := range saved.Resources {
		id := was.Kind + " " + was.Name
		if is, ok := nowResources[id]; !ok || is != was {
			why = append(why, fmt.Sprintf("%s changed on the account", id))
		}
		delete(nowResources, id)
	}
	for _, id := range sortedKeys(nowResources) {
		why = append(why, fmt.Sprintf("%s is new in the plan", id))
	}
	return why
}

func compareWorker(was, is WorkerInputs) []string {
	var why []string
	switch {
	case was.Exists != is.Exists && is.Exists:
		why = append(why, fmt.Sprintf("script %s was created since the plan", was.Name))
	case was.Exists != is.Exists:
		why = append(why, fmt.Sprintf("script %s was deleted since the plan", was.Name))
	case was.ServingVersionID != is.ServingVersionID:
		why = append(why, fmt.Sprintf("script %s serves version %s, the plan read %s", was.Name, orNone(is.ServingVersionID), orNone(was.ServingVersionID)))
	case was.SettingsDigest != is.SettingsDigest:
		why = append(why, fmt.Sprintf("the tags or settings of script %s changed", was.Name))
	}
	if was.BundleHash != is.BundleHash {
		why = append(why, fmt.Sprintf("the code of worker %s changed (bundle %s, the plan has %s)", was.Name, short(is.BundleHash), short(was.BundleHash)))
	}
	if !sameKeyRef(was.Key, is.Key) {
		why = append(why, fmt.Sprintf("the API key of worker %s changed", was.Name))
	}
	return append(why, compareSecretInputs(was, is)...)
}

func sameKeyRef(a, b *KeyReference) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func short(hash string) string {
	if len(hash) > 16 {
		return hash[:16]
	}
	return orNone(hash)
}

// comparePlans compares what two plans would do, resource by resource.
func comparePlans(saved, fresh *Plan) []string {
	var why []string
	if saved.AccountID != fresh.AccountID || saved.Destroy != fresh.Destroy || saved.RegisterSubdomain != fresh.RegisterSubdomain ||
		!slices.Equal(saved.Skipped, fresh.Skipped) {
		why = append(why, "the plan's account, subdomain or targets differ")
	}
	was, is := planEntries(saved), planEntries(fresh)
	for _, id := range sortedKeys(was) {
		if is[id] != was[id] {
			if held := heldSince(saved, fresh, id); held != "" {
				why = append(why, held)
				continue
			}
			why = append(why, fmt.Sprintf("the planned changes to %s differ", id))
		}
	}
	for _, id := range sortedKeys(is) {
		if _, ok := was[id]; !ok {
			why = append(why, fmt.Sprintf("%s is new in the plan", id))
		}
	}
	return why
}

// heldSince says why the plans of the storage object id ("kind name") differ when what it holds
// changed since the saved plan (data written since: the read again of kind_storage.go), "" when
// that is not why.
func heldSince(saved, fresh *Plan, id string) string {
	find := func(p *Plan) *ResourcePlan {
		for i, r := range p.Resources {
			if r.Kind+" "+r.Name == id {
				return &p.Resources[i]
			}
		}
		return nil
	}
	was, is := find(saved), find(fresh)
	if was == nil || is == nil || !is.HoldsData || was.Action != ActionDelete {
		return ""
	}
	now := strings.SplitN(is.Note, ":", 2)[0] // "holds 1 key"
	if !was.HoldsData {
		return fmt.Sprintf("%s %s now, after the saved plan found it empty (written since), so this run did not delete it", id, now)
	}
	if then := strings.SplitN(was.Note, ":", 2)[0]; then != now {
		return fmt.Sprintf("%s %s now; the saved plan found that it %s", id, now, then)
	}
	return ""
}

// planEntries is each resource's plan as JSON, keyed by "kind name".
func planEntries(p *Plan) map[string]string {
	out := map[string]string{}
	for _, r := range p.Resources {
		b, _ := json.Marshal(r) // plain data: cannot fail
		out[r.Kind+" "+r.Name] = string(b)
	}
	for _, w := range p.Workers {
		b, _ := json.Marshal(w)
		out["worker-plan "+w.Name] = string(b) // plans hold no time: a rotation's window is named, not dated
	}
	return out
}

// inputs is what p was computed from.
func (p *Plan) inputs() PlanInputs {
	in := PlanInputs{AccountID: p.AccountID, WorkersDevSubdomain: p.subdomain, Workers: []WorkerInputs{}, Resources: []ResourceInputs{}}
	for _, wp := range p.Workers {
		in.Workers = append(in.Workers, workerInputs(wp))
	}
	for _, r := range p.Resources {
		if r.obj != nil {
			in.Resources = append(in.Resources, resourceInputs(r))
		}
	}
	return in
}

func workerInputs(wp WorkerPlan) WorkerInputs {
	w := WorkerInputs{Name: wp.Name}
	if live := wp.live; live != nil && live.exists {
		w.Exists = true
		w.ServingVersionID = live.versionID
		w.SettingsDigest = digestOf(fmt.Sprintf("%+v", *live))
	}
	if wp.live == nil && wp.Action == ActionDelete {
		w.Exists = true // a removed or destroyed worker: the plan saw it in the script list
	}
	d := wp.desired
	if d == nil {
		return w
	}
	w.BundleHash = d.bundle.Hash
	if src := d.worker.APIKey; src != nil {
		ref := &KeyReference{Binding: src.Binding, Source: src.From}
		if src.From != keyFromGenerate {
			ref.Source = src.From + ":" + src.Ref
			ref.Fingerprint = d.keyFP
		}
		w.Key = ref
	}
	w.Secrets = secretInputs(d)
	return w
}

func resourceInputs(r ResourcePlan) ResourceInputs {
	in := ResourceInputs{Kind: r.Kind, Name: r.Name}
	if live := r.obj.live(); live != nil {
		b, _ := json.Marshal(live) // plain data: cannot fail
		in.Exists, in.Digest = true, digestOf(string(b))
	}
	return in
}

func digestOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// StaleError is the refusal of a stale saved plan.
func StaleError(why []string) error {
	return fmt.Errorf("%w: %s; run plan again", ErrStalePlan, strings.Join(why, "; "))
}
