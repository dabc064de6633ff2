package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flareform/flareform/cmd/flareform/view"
	"github.com/flareform/flareform/internal/keysource"
	"github.com/flareform/flareform/provision"
	"github.com/flareform/flareform/provision/keystore"
	"github.com/flareform/flareform/provision/spec"
)

type rotateOptions struct {
	*rootOptions
	Grace      time.Duration
	KeyOut     string
	From       string
	KeyFile    string
	OldKeyFile string
	Finish     bool
	Revoke     bool
	// DropPrevious starts a rotation while one is in progress, cutting the previous key off.
	DropPrevious bool
	// Consumer rotates that consumer's key instead of the owner's (cmd_rotate_consumer.go).
	Consumer string
}

func newRotateKeyCmd(root *rootOptions) *cobra.Command {
	opts := &rotateOptions{rootOptions: root}
	cmd := &cobra.Command{
		Use:   "rotate-key WORKER",
		Short: "Rotate a worker's API key without breaking clients that hold the old one",
		Long: `Deploy a new API key while the old one keeps working for a grace window, verify both over
workers.dev, then hand the new key over: on stdout (once, and nothing else goes there), into
--key-out (mode 0600), or in the --json result. The worker itself rejects the old key once the
window ends, even if no command ever runs again.

  --finish         end the window now: the old key gets 401 (verified)
  --revoke         for a leaked key: new key, and every other key dies at once (verified)
  --drop-previous  rotate although a rotation is in progress: its previous key dies at once

One rotation at a time: while the previous key of a rotation is still accepted, a new rotation
would replace it and cut its window short, so rotate-key refuses before changing anything and
says when the window ends. End it with --finish first, use --revoke for a leaked key, or pass
--drop-previous to rotate now and cut the previous key off (the output says so).

Interrupted runs are safe to repeat: the live worker records where the last run stopped. With
--key-out, a re-run finds the key already handed over in that file and completes; a key that
was deployed but never handed over is replaced, while the old key stays valid.

A rotation sends the old key itself as API_KEY_PREVIOUS (the API may not copy a secret under
another name), so it needs it: --old-key-file, or one of the places below, or the --key-out
file, matched by fingerprint. Without it, rotate-key stops before changing anything and asks
for --old-key-file. The current key --finish checks comes from --from, --key-file,
FLAREFORM_API_KEY_<WORKER>, FLAREFORM_API_KEY or the --key-out file (else, for an env:/file:
key, the spec's source).

--consumer NAME rotates one consumer's key the same way (docs/rotation.md, "Consumers"): the
consumer table is written again in one change, with the old key's mac kept as prev_mac until
the window ends; every other key stays. The new key is generated, or the consumer's env:/file:
source when the spec names one; it is handed over as <worker>/<consumer>=KEY in --key-out.
The table's other entries need the keys flareform holds: the key store, --key-file lines
<worker>/<consumer>=KEY, FLAREFORM_API_KEY_<WORKER>__<CONSUMER>, the spec's sources.

` + keyLookupHelp,
		Example: `  flareform rotate-key image-api --key-out ~/.config/image-api.key
  flareform rotate-key image-api --finish --key-file ~/.config/image-api.key
  flareform rotate-key image-api --revoke --from env:NEW_IMAGE_API_KEY --json
  flareform rotate-key image-api --consumer mobile --key-out ~/.config/image-api.keys`,
		Args:              workerArg("rotate-key"),
		ValidArgsFunction: completeWorkers(root),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRotateKey(cmd.Context(), opts, args[0])
		},
	}
	f := cmd.Flags()
	f.DurationVar(&opts.Grace, "grace", provision.DefaultGrace, "how long the old key keeps working")
	f.StringVar(&opts.KeyOut, "key-out", "", "write the new key to `FILE` (mode 0600) instead of stdout")
	f.StringVar(&opts.From, "from", "", "use the key from `SOURCE` instead of generating one: env:NAME or file:PATH")
	f.StringVar(&opts.KeyFile, "key-file", "", "`FILE` holding the current key (checked by --finish)")
	f.StringVar(&opts.OldKeyFile, "old-key-file", "", "`FILE` holding the key being retired: kept valid for the grace window, and checked")
	f.BoolVar(&opts.Finish, "finish", false, "end the grace window now and verify the old key is refused")
	f.BoolVar(&opts.Revoke, "revoke", false, "leaked key: new key, old keys refused at once, no grace window")
	f.BoolVar(&opts.DropPrevious, "drop-previous", false, "rotate even while a rotation is in progress: its previous key is refused at once")
	f.StringVar(&opts.Consumer, "consumer", "", "rotate the key of consumer `NAME` (docs/consumers.md) instead of the owner's; the other keys stay")
	cmd.MarkFlagsMutuallyExclusive("finish", "revoke")
	cmd.MarkFlagsMutuallyExclusive("drop-previous", "finish")
	cmd.MarkFlagsMutuallyExclusive("drop-previous", "revoke")
	cmd.MarkFlagsMutuallyExclusive("finish", "grace")
	cmd.MarkFlagsMutuallyExclusive("revoke", "grace")
	return cmd
}

// rotateJSON is the --json result; APIKey is set only when it is the hand-over.
type rotateJSON struct {
	*provision.RotateResult
	APIKey string `json:"api_key,omitempty"`
}

func runRotateKey(ctx context.Context, opts *rotateOptions, workerArg string) (err error) {
	mode := provision.RotateStart
	switch {
	case opts.Finish:
		mode = provision.RotateFinish
	case opts.Revoke:
		mode = provision.RotateRevoke
	}
	if mode == provision.RotateFinish && opts.KeyOut != "" {
		return errors.New("--key-out has nothing to write with --finish: no new key is made")
	}
	if mode == provision.RotateStart && opts.Grace < minGrace {
		return fmt.Errorf("--grace %s is shorter than %s: clients need time to switch keys; use --revoke to end the old key at once", opts.Grace, minGrace)
	}
	sess, err := opts.openLockedSession(ctx, "rotate-key")
	if err != nil {
		return err
	}
	defer closeSession(sess, &err)
	w, err := findSpecWorker(sess.Spec, workerArg)
	if err != nil {
		return err
	}
	if opts.Consumer != "" {
		return runRotateConsumer(ctx, opts, sess, w, mode)
	}
	specKeyed := w.APIKey != nil && w.APIKey.From != "generate"
	if specKeyed && mode != provision.RotateFinish {
		// --finish only removes the previous key, which apply never sets back: it is how an
		// apply refused during a rotation of such a key gets going again.
		return fmt.Errorf("worker %s takes its key from %s:%s in the spec, so a rotation here would be undone by the next apply; "+
			"change the key at its source and run `flareform apply`, which rotates it with a grace window (api_key.grace)", w.Name, w.APIKey.From, w.APIKey.Ref)
	}
	keys, err := opts.collectKeys(w)
	if err != nil {
		return err
	}
	store := sess.Project.store
	keys.known = append(keys.known, storedKeys(store, w.Name)...)
	h := &rotateHandover{opts: opts, workerKey: w.Key, fromCaller: keys.from != ""}
	if opts.KeyOut != "" && mode != provision.RotateFinish {
		// Checked now, so an unwritable path fails before a key exists that could be lost. The
		// file's key for this worker is the one being rotated: replacing it is the point.
		if h.out, err = prepareKeyOut(opts.KeyOut, true, []string{w.Key}, keyedWorkers(sess.Spec)); err != nil {
			return err
		}
	}
	ropts := provision.RotateOptions{
		AccountID: sess.Spec.AccountID,
		Name:      w.Name,
		Mode:      mode,
		Grace:     opts.Grace,
		NewKey:    keys.from,
		OldKey:    keys.old,
		KnownKeys: keys.known,
		Smoke:     w.Smoke,
		// Refused without it while a rotation is in progress (provision.RotationInProgressError).
		DropPrevious: opts.DropPrevious,
		// The templates check the key before the per-key rate limit: a 429 means accepted.
		RateLimited: w.RateLimit != nil,
		// A key the store still holds as pending while the worker serves it with no pending
		// tag was handed over by a run that died before recording it: that rotation completed.
		DoneKeys:  append([]string{keys.keyOut}, pendingStoredKeys(store, w.Name)...),
		RecordKey: func(key string) error { return store.AddPending(w.Name, provision.RotationKeyBinding, key) },
	}
	if mode == provision.RotateFinish {
		ropts.NewKey = keys.current()
		if ropts.NewKey == "" && specKeyed {
			// The spec's source holds the key the worker serves (when apply has run since).
			if k, kerr := keysource.Resolve(w.APIKey.From, w.APIKey.Ref, opts.Getenv); kerr == nil {
				ropts.NewKey = k
			}
		}
	} else {
		ropts.Handover = h.handOver
	}
	res, rotErr := sess.Engine.RotateKey(ctx, ropts)
	if rotErr == nil && res != nil && res.Action == rotateActionAlreadyRotated && h.key == "" &&
		res.NewKey != "" && res.NewKey != keys.keyOut && !h.fromCaller {
		// The completed rotation's key is known here only from the key store (its run died
		// before recording it): hand it over again, where this run was asked to.
		if err := h.handOver(ctx, res.NewKey, res); err != nil {
			return err
		}
	}
	if res != nil && rotErr == nil && !specKeyed { // the key store holds generated keys only
		if err := recordRotation(store, w.Name, mode, res, keys, h.key); err != nil {
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

// rotateKeys are the keys the caller gave or holds.
type rotateKeys struct {
	from   string   // --from
	old    string   // --old-key-file
	known  []string // --key-out file, --key-file, FLAREFORM_API_KEY_<WORKER>, FLAREFORM_API_KEY
	keyOut string   // the --key-out file's current content
	file   string   // --key-file
	env    []string // FLAREFORM_API_KEY_<WORKER>, FLAREFORM_API_KEY (workerEnvKeys)
}

// current is the best guess at the worker's current key, for --finish.
func (k rotateKeys) current() string {
	for _, v := range append([]string{k.from, k.file}, append(k.env, k.keyOut)...) {
		if v != "" {
			return v
		}
	}
	return ""
}

// minGrace is the shortest --grace: a shorter window cannot be what anyone meant.
const minGrace = time.Minute

// storedKeys are the project key store's keys for the worker's API_KEY.
func storedKeys(store interface {
	Keys(script, binding string) ([]keystore.Entry, error)
}, name string) []string {
	entries, err := store.Keys(name, provision.RotationKeyBinding)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Key)
	}
	return out
}

// rotateActionAlreadyRotated is provision's action for a re-run of a completed rotation.
const rotateActionAlreadyRotated = "already-rotated"

// pendingStoredKeys are the key store's pending keys for the worker's API_KEY.
func pendingStoredKeys(store *keystore.Store, name string) []string {
	entries, err := store.Keys(name, provision.RotationKeyBinding)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if e.State == keystore.Pending {
			out = append(out, e.Key)
		}
	}
	return out
}

// recordRotation brings the key store up to date after a rotation that succeeded: the new
// key is active; the old one stays while its window is open and goes once it is closed.
func recordRotation(store *keystore.Store, name string, mode provision.RotateMode, res *provision.RotateResult, keys rotateKeys, newKey string) error {
	current := newKey
	if current == "" {
		current = keys.current()
	}
	if current == "" || !provision.KeyMatches(name, provision.RotationKeyBinding, current, res.KeyFingerprint) {
		// The store cannot tell which key is live; leave it as it is (pending keys are settled
		// by the next run).
		return nil
	}
	var keep []string
	if mode == provision.RotateStart && res.PreviousFingerprint != "" {
		for _, k := range append(storedKeys(store, name), keys.known...) {
			if provision.KeyMatches(name, provision.RotationKeyBinding, k, res.PreviousFingerprint) {
				keep = append(keep, k)
			}
		}
	}
	if err := store.Promote(name, provision.RotationKeyBinding, current, keep...); err != nil {
		return fmt.Errorf("record the new key of %s: %w", name, err)
	}
	return nil
}

func (o *rotateOptions) collectKeys(w spec.Worker) (rotateKeys, error) {
	workerKey := w.Key
	var k rotateKeys
	var err error
	if o.From != "" {
		if k.from, err = resolveFrom(o.From, o.Getenv); err != nil {
			return k, err
		}
	}
	if o.OldKeyFile != "" {
		if k.old, err = readSingleKey("--old-key-file", o.OldKeyFile); err != nil {
			return k, err
		}
	}
	if o.KeyFile != "" {
		if k.file, err = readSingleKey("--key-file", o.KeyFile); err != nil {
			return k, err
		}
	}
	if o.KeyOut != "" {
		content, err := readKeyOut(o.KeyOut)
		if err != nil {
			return k, err
		}
		// An existing --key-out file holds the current key, or the key an interrupted run
		// already handed over; the engine tells which by fingerprint.
		if keys, perr := parseKeyFile(content, []string{workerKey}); perr == nil && keys[workerKey] != "" {
			if k.keyOut, err = keysource.Normalize(keys[workerKey]); err != nil {
				k.keyOut = ""
			}
		}
	}
	envKeys, err := workerEnvKeys(o.Getenv, []spec.Worker{w})
	if err != nil {
		return k, err
	}
	k.env = envKeys[workerKey]
	for _, v := range append([]string{k.keyOut, k.file}, k.env...) {
		if v != "" {
			k.known = append(k.known, v)
		}
	}
	return k, nil
}

// readKeyOut reads an existing --key-out file: it holds the current key, or the key an
// interrupted run already handed over (the engine tells which by fingerprint). A path that is
// not a regular file (/dev/zero, a FIFO) is refused before anything is read; content that is
// parsed by the caller per worker.
func readKeyOut(path string) (string, error) {
	if err := keysource.CheckWritable(path); err != nil {
		return "", fmt.Errorf("--key-out %w", err)
	}
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	content, err := keysource.ReadFile(path, maxKeyFileBytes)
	if err != nil {
		return "", fmt.Errorf("read --key-out %w", err)
	}
	return string(content), nil
}

// envKey is FLAREFORM_API_KEY when set, checked against the key rule.
func envKey(getenv func(string) string) (string, error) {
	raw := getenv(envAPIKey)
	if raw == "" {
		return "", nil
	}
	key, err := keysource.Normalize(raw)
	if err != nil {
		return "", fmt.Errorf("%s: %w; %s", envAPIKey, err, keysource.Fix)
	}
	return key, nil
}

// resolveFrom reads a --from key source: env:NAME or file:PATH. Errors never show the key. A
// source that is, or holds the value of, the account's credentials (CLOUDFLARE_API_TOKEN...)
// is refused: the worker's key goes to every one of its clients.
func resolveFrom(src string, getenv func(string) string) (string, error) {
	kind, ref, err := keysource.Parse(src)
	if err != nil {
		return "", fmt.Errorf("--from: %w", err)
	}
	credentialFix := "give the worker a separate random key (e.g. the output of `openssl rand -hex 32` in a variable or file of its own), or omit --from to generate one"
	if problem := spec.AccountCredentialKey(kind, ref, "", getenv); problem != "" {
		return "", fmt.Errorf("--from %s: %s; %s", src, problem, credentialFix)
	}
	key, err := keysource.Resolve(kind, ref, getenv)
	if err != nil {
		return "", fmt.Errorf("--from %s: %w; %s (or omit --from to generate one)", src, err, keySourceFix(err))
	}
	if problem := spec.AccountCredentialKey(kind, ref, key, getenv); problem != "" {
		return "", fmt.Errorf("--from %s: %s; %s", src, problem, credentialFix)
	}
	return key, nil
}

// keySourceFix is the fix a keysource error suggests.
func keySourceFix(err error) string {
	var ke *keysource.Error
	if errors.As(err, &ke) {
		return ke.Fix
	}
	return keysource.Fix
}

// readSingleKey reads a file holding one key (a single-worker --key-out file).
func readSingleKey(flag, path string) (string, error) {
	key, err := keysource.ReadKeyFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w; %s", flag, err, keySourceFix(err))
	}
	return key, nil
}

// findSpecWorker picks the worker by its key in the spec or its script name.
func findSpecWorker(s *spec.Spec, arg string) (spec.Worker, error) {
	var names []string
	for _, w := range s.Workers {
		if w.Key == arg || w.Name == arg {
			if w.APIKey != nil && w.APIKey.Binding != provision.RotationKeyBinding {
				return w, fmt.Errorf("worker %s keeps its key in the binding %s, and rotate-key rotates only a key bound as %s "+
					"(the templates' api_key.binding): rename it to %s in the spec and apply, then rotate", arg,
					w.APIKey.Binding, provision.RotationKeyBinding, provision.RotationKeyBinding)
			}
			return w, nil
		}
		names = append(names, w.Key)
	}
	return spec.Worker{}, fmt.Errorf("no worker %q in %s (workers: %s)", arg, s.File, strings.Join(names, ", "))
}

// rotateHandover puts a new key where the user asked for it, exactly once.
type rotateHandover struct {
	opts        *rotateOptions
	workerKey   string
	fromCaller  bool // the key came from --from: the caller has it already
	out         *keyOut
	printedJSON bool
	key         string // the key handed over, once it was
}

func (h *rotateHandover) handOver(_ context.Context, key string, r *provision.RotateResult) error {
	h.key = key
	switch {
	case h.out != nil:
		if err := h.out.Commit([]generatedKey{{WorkerKey: h.workerKey, Key: key}}); err != nil {
			return err
		}
		fmt.Fprintf(h.opts.IO.ErrOut, "New key (fp %s) written to %s\n", r.KeyFingerprint, h.opts.KeyOut)
		return nil
	case h.fromCaller:
		return nil // the caller gave the key; repeating it anywhere would only spread it
	case h.opts.JSON:
		h.printedJSON = true
		return view.JSON(h.opts.IO.Out, rotateJSON{RotateResult: r, APIKey: key})
	default:
		whose := r.Name
		if r.Consumer != "" {
			whose = consumerLine(r.Name, r.Consumer)
		}
		fmt.Fprintf(h.opts.IO.ErrOut, "New API key for %s (fp %s); store it now, it is not shown again:\n", whose, r.KeyFingerprint)
		_, err := fmt.Fprintln(h.opts.IO.Out, key)
		return err
	}
}

// report prints the result: JSON on stdout with --json, else a summary on stderr (stdout is
// reserved for the key).
func (o *rotateOptions) report(r *provision.RotateResult) error {
	if o.JSON {
		return view.JSON(o.IO.Out, rotateJSON{RotateResult: r})
	}
	view.Rotation(o.IO.ErrOut, r)
	return nil
}
