package provision

import (
	"github.com/flareform/flareform/provision/spec"
)

// Rollouts: promote and rollback. Like apply, each is a plan (data the CLI prints and asks to
// confirm) and an execution of exactly that plan. Both move a worker to one version at 100%
// through the guarded write (guard.go): the precondition is what the plan read (a canary's
// split, or the version serving), the postcondition that this run's deployment directly
// followed it. The version is smoke-tested (a canary before, through the version-override
// header; a rollback's target after its deployment), and exit 0 means it passed.

// RolloutKind is what a rollout plan does.
type RolloutKind string

const (
	RolloutPromote  RolloutKind = "promote"
	RolloutRollback RolloutKind = "rollback"
)

// DeploymentShare is one version of a deployment and its share of the traffic.
type DeploymentShare struct {
	VersionID  string  `json:"version_id"`
	Percentage float64 `json:"percentage"`
}

// RolloutPlan is a promote or rollback before it runs.
type RolloutPlan struct {
	Kind      RolloutKind   `json:"kind"`
	AccountID string        `json:"account_id"`
	Workers   []RolloutStep `json:"workers"`

	subdomain string // the account's workers.dev subdomain, for the smoke tests
}

// RolloutStep is what a rollout does to one worker.
type RolloutStep struct {
	Key  string `json:"key"`  // the worker's key in the spec
	Name string `json:"name"` // the script
	// Serving is the active deployment the plan read (newest first in the API's order).
	Serving []DeploymentShare `json:"serving"`
	// Version is the version that serves all traffic after the step.
	Version string `json:"version"`
	Message string `json:"message,omitempty"` // the deployment's workers/message
	// KeyNote says, for a rollback, which API key the target version answers to when it
	// differs from the serving one's (never the key itself).
	KeyNote string `json:"key_note,omitempty"`
	// Forced: a rollback across an API key change, allowed by --force.
	Forced bool `json:"forced,omitempty"`
	// SecretsNote says, for a rollback, which of the spec's other secrets the target version
	// holds other values of, which the rollback restores (never a value; secrets.go).
	SecretsNote string `json:"secrets_note,omitempty"`

	worker   spec.Worker
	read     workerRead
	targetFP string // the target version's key fingerprint ("" unknown)
	handKey  string // the key that opens the target version, when known
}

// RollbackOptions select what PlanRollback rolls back.
type RollbackOptions struct {
	// Workers are the spec keys or script names to roll back; empty means every worker.
	Workers []string
	// To is the version to deploy; "" means the newest earlier deployment at 100% (wrangler's
	// rule). Only with one worker.
	To      string
	Message string
	// Force allows a rollback to a version whose API key differs from the serving one's.
	Force bool
	// KeyCandidates lists keys the caller holds for a worker, to find the one that opens the
	// target version (handed over after a forced rollback) and to smoke-test it.
	KeyCandidates func(w spec.Worker) []string
}

// RolloutOptions are how ApplyRollout runs a rollout plan.
type RolloutOptions struct {
	// Keys are managed keys by worker key or script name, for the smoke test.
	Keys map[string]string
	// KeyCandidates lists keys the caller holds for a worker; the smoke test uses the first
	// whose fingerprint is the version's.
	KeyCandidates func(w spec.Worker) []string
	SmokeOut      string          // dir for smoke response bodies; "" = do not write them
	Stop          <-chan struct{} // closed on Ctrl-C: no new write starts
}

// RolloutResult is what a rollout did.
type RolloutResult struct {
	Kind    RolloutKind           `json:"kind"`
	Workers []RolloutWorkerResult `json:"workers"`
}

// RolloutWorkerResult is what a rollout did to one worker.
type RolloutWorkerResult struct {
	Key     string       `json:"key"`
	Name    string       `json:"name"`
	Version string       `json:"version,omitempty"` // serving all traffic afterwards
	Smoke   *SmokeReport `json:"smoke,omitempty"`
	// PutBack: the step failed after its deployment, and what served before serves again.
	PutBack bool   `json:"put_back,omitempty"`
	Error   string `json:"error,omitempty"`
	KeyNote string `json:"key_note,omitempty"`
	// HandedKey is the key that opens Version after a forced rollback across a key change,
	// when flareform holds it: the CLI hands it over like a generated key, never in JSON.
	HandedKey string `json:"-"`
}
