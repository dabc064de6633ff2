// Package spec reads a flareform YAML spec into typed, validated values.
//
// Every value keeps the position it came from, so errors found later (a missing main file,
// a JS syntax error, an unknown model) can still point at the right line of the spec.
package spec

import (
	"time"

	"github.com/flareform/flareform/internal/confined"
)

// Spec is a loaded, expanded and validated spec for one environment.
type Spec struct {
	// File is the path the spec was read from; Dir is the directory relative paths resolve against.
	File string
	Dir  string
	// Root is the root of the project's tree (confined.ProjectTree of File: the nearest folder
	// at or above Dir holding .git, else Dir), a real path. main and smoke.body_file lie in it.
	Root string
	// Env is the environment selected with --env ("" for the base spec).
	Env string
	// Project is the spec's `project:` name ("" when it has none). Every worker flareform
	// deploys records it (with Env), so plan can find workers removed from the spec.
	Project    string
	ProjectPos Position
	// WorkersDevSubdomain is the account's workers.dev subdomain the spec asks for
	// (`workers_dev_subdomain:`); apply registers it when the account has none.
	WorkersDevSubdomain    string
	WorkersDevSubdomainPos Position
	// AccountID is the Cloudflare account (32 hex characters) after ${VAR} expansion.
	AccountID    string
	AccountIDPos Position
	// Workers in the order of their keys (sorted), names already overridden by the environment.
	Workers []Worker
}

// Worker is one Worker the spec manages.
type Worker struct {
	// Key is the worker's key under `workers:`; Name is the script name on Cloudflare
	// (Key unless the environment overrides `name`).
	Key  string
	Name string
	// Main is the absolute path of the entry file that the bundler starts from.
	Main               string
	CompatibilityDate  string
	CompatibilityFlags []string
	AI                 *AIBinding // nil when the worker has no AI binding
	APIKey             *KeySource // nil when the worker has no managed key
	Vars               map[string]string
	RateLimit          *RateLimit      // nil: no RATE_LIMITER binding
	Vectorize          *VectorizeIndex // nil: no Vectorize binding
	WorkersDev         bool
	// Domains are the hostnames the worker is attached to as Workers custom domains.
	Domains []string
	Smoke   *Smoke // nil: no smoke test
	// Consumers are the worker's named callers besides the owner, sorted by name, each with a
	// key and rate limit of its own (docs/consumers.md). They need APIKey.
	Consumers []Consumer
	// Usage: every request writes a data point to the USAGE Analytics Engine dataset.
	Usage bool
	// Secrets are the worker's secrets besides APIKey (`secrets:`), sorted by Binding: each is
	// a secret_text binding whose value comes from the environment or a file (From "env" or
	// "file", under the key-source rules); never generated, never printed.
	Secrets []KeySource
	// KV, R2 and D1 are the storage the worker binds (`kv:`, `r2:`, `d1:`), each sorted by
	// Binding: binding name -> KV namespace title, R2 bucket name, D1 database name. These are
	// account objects (kinds): flareform creates what is missing and never loses their data.
	KV []StorageBinding
	R2 []StorageBinding
	D1 []StorageBinding
	// Pos maps a field path ("main", "vars.MAX_PROMPT_CHARS", "ai.model") to where it was written.
	// Every field that has a value has an entry; a defaulted field points at the enclosing
	// block (or at the worker's key). "key" (and "") is the worker's key under `workers:`, "name" the
	// `name:` override or the key. An environment's override points at the override.
	Pos map[string]Position
}

// AIBinding is the `ai` block: the binding name the worker uses and the model it calls.
type AIBinding struct {
	Binding string
	Model   string
	Gateway *AIGateway // nil: calls go to Workers AI directly
}

// AIGateway is `ai.gateway`: the AI Gateway the worker's AI calls go through. flareform creates
// it when it does not exist and sets the worker's AI_GATEWAY_ID variable to ID.
type AIGateway struct {
	ID string
	// CacheTTL is the gateway's cache lifetime in seconds; 0: no caching.
	CacheTTL    int
	RateLimit   *RateLimit // nil: the gateway does not rate limit
	CollectLogs bool
}

// RateLimit is a limit of Limit requests per Period seconds (10 or 60).
type RateLimit struct {
	Limit  int
	Period int
}

// VectorizeIndex is the `vectorize` block: a Vectorize index bound to the worker.
type VectorizeIndex struct {
	Binding    string // default VECTORIZE
	Index      string // the index name
	Dimensions int    // 1..1536
	Metric     string // cosine, euclidean or dot-product
}

// StorageBinding is one entry of `kv:`, `r2:` or `d1:`: the binding name the worker's code
// uses and the name of the object it binds (a KV namespace title, an R2 bucket name, a D1
// database name). Workers bind one object by naming it alike.
type StorageBinding struct {
	Binding string
	Name    string
}

// KeySource says where the managed API key comes from.
type KeySource struct {
	Binding string // secret binding name, e.g. API_KEY
	From    string // "generate", "env" or "file"
	Ref     string // env var name for "env", absolute path for "file"
	// Grace is how long the previous key keeps working when an env/file key changes and apply
	// rotates it (`api_key.grace`); 0 means the default, 24 h.
	Grace time.Duration
}

// Consumer is one entry of `consumers:`: a caller with its own key and rate limit.
type Consumer struct {
	Name string
	// Key says where the consumer's key comes from; its Binding is the key store's binding
	// name, "consumer:<name>" (ConsumerKeyBinding). From is "generate" when `from:` is absent.
	Key KeySource
	// RateLimit is the consumer's own limit; nil: the worker's RATE_LIMITER (if any) counts it.
	RateLimit *RateLimit
}

// Smoke describes the post-deploy checks against the workers.dev URL.
type Smoke struct {
	Path   string // request path, default "/"
	Method string // method of the authorised and unauthorised requests, default POST
	// The authorised request's body is exactly one of: Prompt, sent as {"prompt": Prompt};
	// Body, JSON; BodyFile, an absolute path whose bytes are sent raw as ContentType.
	Prompt      string
	Body        []byte
	BodyFile    string
	ContentType string // content type of BodyFile, default application/octet-stream
	// BodyFileRoot is the project tree (Spec.Root) BodyFile must lie in, set with BodyFile:
	// the smoke test reads the file again when it sends it, under the same rules.
	BodyFileRoot string
	// Expect is the content type (or prefix, e.g. image/) the authorised answer must have.
	Expect string
	// ExpectFields are top-level fields the JSON answer must hold.
	ExpectFields []string
	// Expected statuses; defaults 200, 401 (no key) and 405 (GET).
	Status             int
	UnauthorizedStatus int
	MethodStatus       int
}

// Position is a place in the spec file (1-based).
type Position struct {
	Line int
	Col  int
}

// NodeCompat reports whether the worker runs with Node.js compatibility, so the bundler must
// leave `node:*` imports to the runtime.
func (w Worker) NodeCompat() bool {
	for _, f := range w.CompatibilityFlags {
		if f == "nodejs_compat" || f == "nodejs_compat_v2" {
			return true
		}
	}
	return false
}

// Tree is the project's tree every file the spec's code reads must lie in: Root as the loader
// found it, or, for a Spec built in code without one, the tree of File.
func (s *Spec) Tree() (*confined.Tree, error) {
	if s.Root != "" {
		return &confined.Tree{Root: s.Root}, nil
	}
	return confined.ProjectTree(s.File)
}
