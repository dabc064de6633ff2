package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"

	"github.com/flareform/flareform/localcf"
	"github.com/flareform/flareform/localcf/workerd"
	"github.com/flareform/flareform/provision"
	"github.com/flareform/flareform/provision/spec"
)

// Environment variables flareform reads for credentials (the same names wrangler uses).
const (
	envAPIToken       = "CLOUDFLARE_API_TOKEN"
	envAccountID      = "CLOUDFLARE_ACCOUNT_ID"
	envAPIBaseURL     = "CLOUDFLARE_API_BASE_URL"
	envWorkersDevAddr = "FLAREFORM_WORKERS_DEV_ADDR"
	envAPIKey         = "FLAREFORM_API_KEY"
)

// session is everything a command that talks to Cloudflare needs: the loaded spec, an engine
// pointed at the right API and, with --local, the embedded server behind that API.
type session struct {
	Spec   *spec.Spec
	Engine *provision.Engine
	local  *localcf.Server
	// Project is the locked project directory of a command that writes (nil for readers).
	Project *project
	// getenv is the environment the engine was built from (with --local: the local
	// Cloudflare's endpoint, token, account and workers.dev address).
	getenv func(string) string
	// log is the engine's log; see logSink.
	log *logSink
	// check verifies the API token alongside the command's first reads (nil with --local,
	// whose token is the local Cloudflare's own); explain reports what it found.
	check *provision.TokenCheck
}

// Close stops the embedded local Cloudflare, if any (and with it every workerd it started),
// then releases the project lock.
func (s *session) Close() error {
	var err error
	s.check.Stop()
	if s.Engine != nil {
		// First: connections the engine holds open would keep the local server's shutdown
		// waiting for its grace period.
		s.Engine.Close()
	}
	if s.local != nil {
		if cerr := s.local.Close(); cerr != nil {
			err = fmt.Errorf("stop local Cloudflare: %w", cerr)
		}
	}
	return errors.Join(err, s.Project.Close())
}

// openLockedSession is openSession for a command that writes (what: "apply", "destroy",
// "rotate-key"): it also takes the project lock, so two runs on this machine never overlap.
func (o *rootOptions) openLockedSession(ctx context.Context, what string) (*session, error) {
	return o.open(ctx, what)
}

// openSession loads the spec and builds an engine. With --local it also starts the embedded
// local Cloudflare and makes its endpoint, token and account look like the environment, so the
// spec's ${CLOUDFLARE_ACCOUNT_ID} expands to the local account. Without --local a missing token
// is an error here, before any API call.
func (o *rootOptions) openSession(ctx context.Context) (*session, error) {
	return o.open(ctx, "")
}

// open is openSession, taking the project lock for lockFor unless it is "". Nothing is written
// before the spec loads: a spec that does not (a wrong -f, a YAML error) leaves no .flareform
// directory, lock or local state behind. So the spec is loaded first; with --local, whose
// account is known only once the local Cloudflare runs, it is checked with a stand-in account
// first and loaded for real after the start.
func (o *rootOptions) open(ctx context.Context, lockFor string) (_ *session, err error) {
	if o.Parallelism < 1 {
		return nil, fmt.Errorf("--parallelism %d: want at least 1 API request in flight", o.Parallelism)
	}
	var s *spec.Spec
	if o.Local {
		if _, err := spec.Load(o.File, o.Env, localPreflightEnv(o.Getenv)); err != nil {
			return nil, err
		}
	} else {
		if err := requireToken(o.Getenv); err != nil {
			return nil, err
		}
		if s, err = spec.Load(o.File, o.Env, o.Getenv); err != nil {
			return nil, err
		}
	}
	sess := &session{}
	defer func() {
		if err != nil {
			err = errors.Join(err, sess.Close())
		}
	}()
	if lockFor != "" {
		if sess.Project, err = o.openProject(lockFor); err != nil {
			return nil, err
		}
	}
	getenv := o.Getenv
	if o.Local {
		if getenv, err = o.localSession(ctx, sess); err != nil {
			return nil, err
		}
		if err := requireToken(getenv); err != nil {
			return nil, err
		}
		if s, err = spec.Load(o.File, o.Env, getenv); err != nil {
			return nil, err
		}
		o.useLocalAccount(s, getenv(envAccountID))
	}
	sess.getenv = getenv
	sess.Spec = s
	cfg := provision.ConfigFromEnv(getenv)
	cfg.Concurrency = o.Parallelism
	cfg.Adopt = o.Adopt
	cfg.Targets = o.Targets
	cfg.Canary = o.Canary
	if cfg.Data, err = o.dataPolicy(); err != nil {
		return nil, err
	}
	sess.log = &logSink{w: o.IO.ErrOut}
	cfg.Log = sess.log
	cfg.OnWorkerDone = sess.log.workerDone
	eng, err := provision.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("set up engine: %w", err)
	}
	sess.Engine = eng
	if o.Local {
		if err := eng.PrepareLocal(ctx, s); err != nil {
			return nil, err
		}
	} else {
		// One request about the token and account, sent alongside the command's first reads
		// (not before them: it adds no round trip); when those fail, explain tells why.
		sess.check = eng.StartTokenCheck(ctx, s.AccountID)
	}
	return sess, nil
}

// useLocalAccount makes the local Cloudflare's account (local) the run's account when the
// spec names another one (a literal account_id): with --local every account id stands for the
// local account, which is the only one there. A note says so.
func (o *rootOptions) useLocalAccount(s *spec.Spec, local string) {
	if s.AccountID == "" || s.AccountID == local || local == "" {
		return
	}
	fmt.Fprintf(o.IO.ErrOut, "Note: --local uses the local Cloudflare's account %s in place of the spec's account_id %s.\n", local, s.AccountID)
	s.AccountID = local
}

// requireToken refuses to go on without an API token, before any API call.
func requireToken(getenv func(string) string) error {
	if provision.ConfigFromEnv(getenv).APIToken != "" {
		return nil
	}
	return fmt.Errorf("%s is not set; create an API token (Workers Scripts:Edit, Workers AI:Read) "+
		"and export %s=<token>, or add --local to use the local Cloudflare", envAPIToken, envAPIToken)
}

// localPreflightEnv is the environment a --local command checks its spec with before starting
// the local Cloudflare: the local server's endpoint, token and account stand in as
// placeholders, as they will replace the user's when it runs.
func localPreflightEnv(getenv func(string) string) func(string) string {
	return localInfoEnv(localInfo{
		APIBaseURL:     "http://127.0.0.1:0/client/v4",
		APIToken:       "local-cloudflare-placeholder-token",
		AccountID:      placeholderAccountID,
		WorkersDevAddr: "127.0.0.1:0",
	}, getenv)
}

// localSession points the session at the local Cloudflare: the `flareform local` serving
// this project when one runs (so both see one state), else an embedded one for this command.
func (o *rootOptions) localSession(ctx context.Context, sess *session) (func(string) string, error) {
	if info, running := o.runningLocal(ctx); running {
		return localInfoEnv(info, o.Getenv), nil
	}
	srv, err := o.startLocal(ctx)
	if err != nil {
		return nil, err
	}
	sess.local = srv
	return localInfoEnv(localInfoOf(srv), o.Getenv), nil
}

// localStateDir is where --local keeps the local Cloudflare's state: next to the spec, so
// plan, apply, smoke and destroy of the same project all see the same account.
func (o *rootOptions) localStateDir() (string, error) {
	abs, err := filepath.Abs(o.File)
	if err != nil {
		return "", fmt.Errorf("resolve spec path %s: %w", o.File, err)
	}
	return filepath.Join(filepath.Dir(abs), ".flareform", "local"), nil
}

// startLocal starts the embedded local Cloudflare for one command.
func (o *rootOptions) startLocal(ctx context.Context) (*localcf.Server, error) {
	stateDir, err := o.localStateDir()
	if err != nil {
		return nil, err
	}
	binary, err := workerd.FinderFromEnv(o.Getenv).FindOrInstall(ctx, o.IO.ErrOut)
	if err != nil {
		return nil, fmt.Errorf("--local needs workerd: %w", err)
	}
	rules, seed, err := faultsFromEnv(o.Getenv)
	if err != nil {
		return nil, err
	}
	quirks, err := quirksFromEnv(o.Getenv, nil)
	if err != nil {
		return nil, err
	}
	srv, err := localcf.Start(ctx, localcf.Options{StateDir: stateDir, WorkerdBinary: binary, Log: io.Discard,
		Faults: rules, FaultSeed: seed, Quirks: quirks})
	if err != nil {
		return nil, fmt.Errorf("start local Cloudflare in %s: %w", stateDir, err)
	}
	return srv, nil
}

// explain puts a failure that came from the API in plain words with its fix: the token check's
// finding when it found the token unusable or the API unreachable (that one message replaces
// the reads' own errors, however many failed; an API that went away later keeps the step that
// met it), or the likely fix for errors whose cause is the credentials rather than the spec:
// Cloudflare answers 401/403 both for a bad token and for an account the token cannot reach.
func (s *session) explain(err error) error {
	if err == nil {
		return nil
	}
	if finding := s.check.Finding(err); finding != nil {
		return finding
	}
	var apiErr *provision.APIError
	if !errors.As(err, &apiErr) {
		return err
	}
	if apiErr.Status != http.StatusUnauthorized && apiErr.Status != http.StatusForbidden {
		return err
	}
	account := s.Spec.AccountID
	if account == "" {
		account = s.getenv(envAccountID)
	}
	if s.check.Accepted() {
		return fmt.Errorf("%w\nCloudflare accepts %s, but the token may not do this in account %s: give it Workers Scripts:Edit and "+
			"Workers AI:Read on that account, or fix the account id (the spec's account_id or %s)", err, envAPIToken, account, envAccountID)
	}
	return fmt.Errorf("%w\nCheck that %s is valid and has access to account %s (set by the spec's account_id or %s)",
		err, envAPIToken, account, envAccountID)
}
