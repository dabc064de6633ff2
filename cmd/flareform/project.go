package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/flareform/flareform/internal/confined"
	"github.com/flareform/flareform/internal/keysource"
	"github.com/flareform/flareform/provision"
	"github.com/flareform/flareform/provision/keystore"
	"github.com/flareform/flareform/provision/spec"
)

// project is the spec's .flareform directory: the lock that keeps two runs on this machine
// from writing at once, and the key store where apply and rotate-key keep every key they make.
type project struct {
	dir   string
	lock  *keystore.Lock
	store *keystore.Store
}

// projectDir is <spec dir>/.flareform.
func (o *rootOptions) projectDir() (string, error) {
	abs, err := filepath.Abs(o.File)
	if err != nil {
		return "", fmt.Errorf("resolve spec path %s: %w", o.File, err)
	}
	return filepath.Join(filepath.Dir(abs), ".flareform"), nil
}

// openProject takes the project lock for what (e.g. "apply") and opens the key store.
func (o *rootOptions) openProject(what string) (*project, error) {
	dir, err := o.projectDir()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Dir(dir)); err != nil {
		return nil, fmt.Errorf("spec directory: %w", err)
	}
	lock, err := keystore.Acquire(dir, what)
	if err != nil {
		return nil, err
	}
	store, err := keystore.Open(dir)
	if err != nil {
		lock.Release()
		return nil, err
	}
	return &project{dir: dir, lock: lock, store: store}, nil
}

func (p *project) Close() error {
	if p == nil {
		return nil
	}
	return p.lock.Release()
}

// storedActiveKey is w's newest active key in the project's key store ("" when none).
func (o *rootOptions) storedActiveKey(w spec.Worker) string {
	dir, err := o.projectDir()
	if err != nil || w.APIKey == nil {
		return ""
	}
	return keystore.ActiveKey(dir, w.Name, w.APIKey.Binding)
}

// keyLookupHelp is where apply, smoke, invoke and rotate-key look for a worker's key: the same
// paragraph in each command's help, in the order keyCandidates, smokeKeys, invokeKey and
// collectKeys follow (docs/guarantees.md, "Keys").
const keyLookupHelp = `Finding keys: apply, smoke, invoke and rotate-key look for a worker's generated API
key (api_key from: generate) in this order:
  1. --key-file FILE, as apply --key-out writes it (one key, or WORKER=KEY lines)
  2. FLAREFORM_API_KEY_<WORKER>: the worker's script name upper-cased, each - as _
     (image-api: FLAREFORM_API_KEY_IMAGE_API); how CI passes a stored secret back
  3. FLAREFORM_API_KEY, meant for a spec with one worker (every worker tries it)
  4. the project's key store, <spec dir>/.flareform/keys.json (every key apply generates)
apply and rotate-key use the first of these that is the key the worker serves (matched by
fingerprint); smoke and invoke use the first one found. A worker whose spec names its key
(from: env:NAME or file:PATH) uses that source; when apply changes such a key, the old one
(kept valid for api_key.grace) is looked for in 1 to 4. Every key given is checked against
the key rule (one line of 32 to 512 printable ASCII characters, no spaces) and never printed.`

// workerEnvKeys are the keys the environment gives each of workers that has a managed key, by
// worker key: FLAREFORM_API_KEY_<WORKER> (spec.WorkerKeyEnv of its script name), then
// FLAREFORM_API_KEY. Every value set is checked against the key rule; an error names the
// variable, never its value. Two workers whose names give the same variable cannot tell their
// keys apart there: a value set for them is refused.
func workerEnvKeys(getenv func(string) string, workers []spec.Worker) (map[string][]string, error) {
	bare, err := envKey(getenv)
	if err != nil {
		return nil, err
	}
	owners := map[string][]string{}
	for _, w := range workers {
		if w.APIKey != nil {
			owners[spec.WorkerKeyEnv(w.Name)] = append(owners[spec.WorkerKeyEnv(w.Name)], w.Name)
		}
	}
	keys := map[string][]string{}
	for _, w := range workers {
		if w.APIKey == nil {
			continue
		}
		name := spec.WorkerKeyEnv(w.Name)
		if raw := getenv(name); raw != "" {
			if len(owners[name]) > 1 {
				return nil, fmt.Errorf("%s is the key variable of %s alike, so it cannot tell their keys apart; pass their keys with --key-file FILE (WORKER=KEY lines)",
					name, strings.Join(owners[name], " and "))
			}
			key, err := keysource.Normalize(raw)
			if err != nil {
				return nil, fmt.Errorf("%s: %w; %s", name, err, keysource.Fix)
			}
			keys[w.Key] = append(keys[w.Key], key)
		}
		if bare != "" {
			keys[w.Key] = append(keys[w.Key], bare)
		}
	}
	return keys, nil
}

// keyCandidates lists the keys a caller holds for w, in the documented order (keyLookupHelp):
// --key-file, FLAREFORM_API_KEY_<WORKER>, FLAREFORM_API_KEY (envKeys, from workerEnvKeys), then
// the project's key store (active keys, then pending ones). The engine picks the first one
// whose fingerprint is the deployed key's (an env:/file: key is the spec's source; these are
// then the old key a rotation keeps valid).
func (p *project) keyCandidates(fileKeys map[string]string, envKeys map[string][]string) func(w spec.Worker) []string {
	return func(w spec.Worker) []string {
		var out []string
		if k := fileKeys[w.Key]; k != "" {
			out = append(out, k)
		}
		out = append(out, envKeys[w.Key]...)
		if p != nil && w.APIKey != nil {
			entries, err := p.store.Keys(w.Name, w.APIKey.Binding)
			if err == nil {
				for _, e := range entries {
					out = append(out, e.Key)
				}
			}
		}
		return out
	}
}

// recoveredKey is a key an interrupted run deployed and recorded as pending.
type recoveredKey struct {
	WorkerKey, Name, Fingerprint, Key string
}

// reconcilePending settles keys that an interrupted run recorded as pending: the one the live
// worker serves (by fingerprint) becomes active and is handed over again; the ones that never
// landed are dropped. It says which on log.
func (p *project) reconcilePending(plan *provision.Plan, s *spec.Spec, log io.Writer) ([]recoveredKey, error) {
	var recovered []recoveredKey
	for i := range plan.Workers {
		wp := &plan.Workers[i]
		got, err := p.reconcileConsumers(wp, s, log)
		if err != nil {
			return nil, err
		}
		recovered = append(recovered, got...)
		binding, fp := wp.LiveKey()
		if binding == "" {
			continue
		}
		entries, err := p.store.Keys(wp.Name, binding)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e.State != keystore.Pending {
				continue
			}
			switch {
			case fp != "" && provision.KeyMatches(wp.Name, binding, e.Key, fp):
				if err := p.store.Promote(wp.Name, binding, e.Key, activeKeys(entries)...); err != nil {
					return nil, err
				}
				fmt.Fprintf(log, "%s: recovered key fp %s that an interrupted run deployed; it is kept in %s\n", wp.Name, fp, p.store.Path())
				recovered = append(recovered, recoveredKey{WorkerKey: wp.Key, Name: wp.Name, Fingerprint: fp, Key: e.Key})
			case fp != "" || wp.Action == provision.ActionCreate:
				// The worker serves another key (or none exists): this one never landed.
				if err := p.store.Remove(wp.Name, binding, e.Key); err != nil {
					return nil, err
				}
				fmt.Fprintf(log, "%s: discarded a key an interrupted run generated but never deployed\n", wp.Name)
			}
		}
	}
	return recovered, nil
}

// reconcileConsumers settles the pending consumer keys and salt of one worker the same way:
// the one the serving version records is promoted (a consumer key is handed over again, the
// salt never leaves the key store), the others never landed and are dropped. A worker whose
// consumer table flareform did not record keeps them: nothing can be told.
func (p *project) reconcileConsumers(wp *provision.WorkerPlan, s *spec.Spec, log io.Writer) ([]recoveredKey, error) {
	live := wp.LiveConsumerKeys()
	if live == nil && wp.Action != provision.ActionCreate {
		return nil, nil
	}
	var recovered []recoveredKey
	for _, binding := range consumerStoreBindings(wp, s, live) {
		entries, err := p.store.Keys(wp.Name, binding)
		if err != nil {
			return nil, err
		}
		fp, fpBinding := live[binding], binding
		if binding == provision.ConsumerSaltStoreBinding {
			fpBinding = spec.ConsumerSaltBinding
		}
		for _, e := range entries {
			if e.State != keystore.Pending {
				continue
			}
			if fp == "" || !provision.KeyMatches(wp.Name, fpBinding, e.Key, fp) {
				if err := p.store.Remove(wp.Name, binding, e.Key); err != nil {
					return nil, err
				}
				fmt.Fprintf(log, "%s: discarded a %s an interrupted run generated but never deployed\n", wp.Name, consumerWhat(binding))
				continue
			}
			if err := p.store.Promote(wp.Name, binding, e.Key, activeKeys(entries)...); err != nil {
				return nil, err
			}
			fmt.Fprintf(log, "%s: recovered the %s (fp %s) that an interrupted run deployed; it is kept in %s\n", wp.Name, consumerWhat(binding), fp, p.store.Path())
			if name, ok := strings.CutPrefix(binding, "consumer:"); ok {
				recovered = append(recovered, recoveredKey{WorkerKey: consumerLine(wp.Key, name), Name: wp.Name, Fingerprint: fp, Key: e.Key})
			}
		}
	}
	return recovered, nil
}

// consumerStoreBindings are the key store bindings of a worker's consumer secrets: the salt,
// and each consumer of the spec or of the live table.
func consumerStoreBindings(wp *provision.WorkerPlan, s *spec.Spec, live map[string]string) []string {
	set := map[string]bool{provision.ConsumerSaltStoreBinding: true}
	for b := range live {
		set[b] = true
	}
	for _, w := range s.Workers {
		if w.Name != wp.Name {
			continue
		}
		for _, c := range w.Consumers {
			set[spec.ConsumerKeyBinding(c.Name)] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// consumerWhat names a consumer secret in messages (never its value).
func consumerWhat(binding string) string {
	if name, ok := strings.CutPrefix(binding, "consumer:"); ok {
		return "key of consumer " + name
	}
	return "consumer salt"
}

func activeKeys(entries []keystore.Entry) []string {
	var out []string
	for _, e := range entries {
		if e.State == keystore.Active {
			out = append(out, e.Key)
		}
	}
	return out
}

// relPath shows path relative to the working directory when that is shorter.
func relPath(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	if rel, err := filepath.Rel(wd, path); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return path
}

// refusedFile is a file flareform refused to read or write, for the user: what (a flag, or
// what the file is for), then the path and the rule, then, for a refusal of package confined,
// how to fix it. No file content is ever part of it.
func refusedFile(what string, err error) error {
	var ce *confined.Error
	if errors.As(err, &ce) && ce.Fix != "" && !strings.HasSuffix(err.Error(), ce.Fix) {
		return fmt.Errorf("%s: %w; %s", what, err, ce.Fix)
	}
	return fmt.Errorf("%s: %w", what, err)
}
