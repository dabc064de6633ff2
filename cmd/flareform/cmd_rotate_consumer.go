package main

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/flareform/flareform/internal/keysource"
	"github.com/flareform/flareform/provision"
	"github.com/flareform/flareform/provision/keystore"
	"github.com/flareform/flareform/provision/spec"
)

// runRotateConsumer is `rotate-key WORKER --consumer NAME`: the engine rewrites the consumer
// table in one guarded change; this collects the keys the table needs, records the new key in
// the key store before that change and hands it over as <worker>/<consumer>=KEY.
func runRotateConsumer(ctx context.Context, opts *rotateOptions, sess *session, w spec.Worker, mode provision.RotateMode) error {
	c, err := specConsumer(w, opts.Consumer)
	if err != nil {
		return err
	}
	keys, err := opts.consumerKeys(w, c)
	if err != nil {
		return err
	}
	store := sess.Project.store
	line := consumerLine(w.Key, c.Name)
	h := &rotateHandover{opts: opts, workerKey: line, fromCaller: keys.from != ""}
	if opts.KeyOut != "" && mode != provision.RotateFinish {
		if h.out, err = prepareKeyOut(opts.KeyOut, true, []string{line}, keyedWorkers(sess.Spec)); err != nil {
			return err
		}
	}
	binding := spec.ConsumerKeyBinding(c.Name)
	ropts := provision.RotateOptions{
		AccountID: sess.Spec.AccountID, Name: w.Name, Mode: mode, Grace: opts.Grace,
		NewKey: keys.from, OldKey: keys.old, KnownKeys: keys.known, Smoke: w.Smoke,
		DropPrevious: opts.DropPrevious, Consumer: c.Name, Held: store, ConsumerKeys: keys.others,
	}
	if c.Key.From == "generate" {
		// The key store holds generated keys only (an env:/file: key stays at its source).
		ropts.RecordKey = func(key string) error { return store.AddPending(w.Name, binding, key) }
	}
	if mode != provision.RotateFinish {
		ropts.Handover = h.handOver
	}
	res, rotErr := sess.Engine.RotateKey(ctx, ropts)
	if res != nil && rotErr == nil && c.Key.From == "generate" {
		if err := recordConsumerRotation(store, w.Name, binding, mode, res, keys); err != nil {
			return err
		}
	}
	if res != nil && !h.printedJSON {
		if err := opts.report(res); err != nil {
			return errors.Join(rotErr, err)
		}
	}
	return sess.explain(rotErr)
}

// specConsumer is the worker's consumer name; --consumer with flags that make no sense for
// it are refused before anything is read.
func specConsumer(w spec.Worker, name string) (spec.Consumer, error) {
	var names []string
	for _, c := range w.Consumers {
		if c.Name == name {
			return c, nil
		}
		names = append(names, c.Name)
	}
	if len(names) == 0 {
		return spec.Consumer{}, fmt.Errorf("worker %s has no consumers in the spec (docs/consumers.md)", w.Key)
	}
	return spec.Consumer{}, fmt.Errorf("worker %s has no consumer %q (consumers: %v)", w.Key, name, names)
}

// consumerRotateKeys are the keys a consumer rotation uses.
type consumerRotateKeys struct {
	from   string              // the new key: --from, or the spec's env:/file: source
	old    string              // --old-key-file
	known  []string            // the --key-out and --key-file lines of this consumer
	others map[string][]string // every consumer's keys the caller holds, by name
}

// consumerKeys collects them: the spec's sources, --key-file and --key-out lines
// <worker>/<consumer>=KEY (FLAREFORM_API_KEY_<WORKER>__<CONSUMER> the engine reads itself).
func (o *rotateOptions) consumerKeys(w spec.Worker, c spec.Consumer) (consumerRotateKeys, error) {
	k := consumerRotateKeys{others: map[string][]string{}}
	var err error
	switch {
	case o.From != "" && c.Key.From != "generate":
		return k, fmt.Errorf("consumer %s takes its key from %s:%s in the spec; change the key there and run rotate-key without --from", c.Name, c.Key.From, c.Key.Ref)
	case o.From != "":
		if k.from, err = resolveFrom(o.From, o.Getenv); err != nil {
			return k, err
		}
	}
	if o.OldKeyFile != "" {
		if k.old, err = readSingleKey("--old-key-file", o.OldKeyFile); err != nil {
			return k, err
		}
	}
	for _, sc := range w.Consumers {
		if sc.Key.From == "generate" {
			continue
		}
		key, rerr := keysource.Resolve(sc.Key.From, sc.Key.Ref, o.Getenv)
		switch {
		case rerr == nil:
			k.others[sc.Name] = append(k.others[sc.Name], key)
		case sc.Name == c.Name && !o.Finish:
			return k, fmt.Errorf("consumers.%s: %w; %s", sc.Name, rerr, keySourceFix(rerr))
		}
		if sc.Name == c.Name && !o.Finish {
			k.from = key // the source's key is the new one
		}
	}
	for _, path := range []string{o.KeyFile, o.KeyOut} {
		lines, err := consumerKeyLines(path, w.Key)
		if err != nil {
			return k, err
		}
		for name, key := range lines {
			k.others[name] = append(k.others[name], key)
			if name == c.Name {
				k.known = append(k.known, key)
			}
		}
	}
	return k, nil
}

// consumerKeyLines are the <worker>/<consumer>=KEY lines of a key file for workerKey; none when
// path is "" or the file does not exist yet (a --key-out file is made by this run).
func consumerKeyLines(path, workerKey string) (map[string]string, error) {
	if path == "" {
		return nil, nil
	}
	content, err := readKeyOut(path)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for name, raw := range parseConsumerKeys(content)[workerKey] {
		if key, err := keysource.Normalize(raw); err == nil {
			out[name] = key
		}
	}
	return out, nil
}

// recordConsumerRotation brings the key store up to date after a consumer rotation that
// succeeded: the new key active, the old one kept while its window is open (an apply that
// writes the table again needs it for prev_mac), dropped after finish or revoke.
func recordConsumerRotation(store *keystore.Store, script, binding string, mode provision.RotateMode, res *provision.RotateResult, keys consumerRotateKeys) error {
	current := res.NewKey
	if current == "" || !provision.KeyMatches(script, binding, current, res.KeyFingerprint) {
		return nil // finish: the current key stays as the store has it
	}
	var keep []string
	if mode == provision.RotateStart && res.PreviousFingerprint != "" {
		entries, _ := store.Keys(script, binding)
		cands := append(slices.Clone(keys.known), keys.old)
		for _, e := range entries {
			cands = append(cands, e.Key)
		}
		for _, k := range cands {
			if k != "" && provision.KeyMatches(script, binding, k, res.PreviousFingerprint) {
				keep = append(keep, k)
			}
		}
	}
	if err := store.Promote(script, binding, current, keep...); err != nil {
		return fmt.Errorf("record the new key of %s: %w", binding, err)
	}
	return nil
}
