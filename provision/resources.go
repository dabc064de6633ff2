package provision

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/flareform/flareform/provision/spec"
)

// ActionReplace deletes a resource and creates it again: the only way to change a Vectorize
// index's dimensions or metric. Its vectors are lost, so apply needs --allow-replace.
const ActionReplace Action = "replace"

// ResourcePlan is the plan for one account object of a kind (kind.go). Plan.Resources lists
// them; apply makes each change before or after the workers' (ResourcePlan.AfterWorkers).
type ResourcePlan struct {
	Kind    string   `json:"kind"`
	Name    string   `json:"name"`
	Action  Action   `json:"action"`
	Changes []Change `json:"changes"`
	// Destructive: applying loses data (a replaced or deleted index's vectors).
	Destructive bool `json:"destructive,omitempty"`
	// Note explains a resource left as it is, e.g. one flareform did not create.
	Note string `json:"note,omitempty"`
	// HoldsData: a storage object the plan deletes (or, with --keep-data, leaves) holds data,
	// or flareform cannot tell (kind_storage.go); Note says what. Without DeleteData apply
	// refuses the plan before any write.
	HoldsData bool `json:"holds_data,omitempty"`
	// DeleteData: the plan deletes it with its data (--delete-data).
	DeleteData bool `json:"delete_data,omitempty"`

	obj          accountObject
	afterWorkers bool // the kind's creates and updates follow the workers (and its deletes precede them)
	// worker is, for an object that follows its worker (a custom domain), the worker that
	// declares it: when that worker is uploaded, the object's create or update is a write of
	// the worker's guarded write, before its smoke test (which may go through it).
	worker     string
	ownedAfter bool // flareform's once applied: created now, or created before and kept
}

// rateLimitNamespaces picks the namespace_id of every spec worker's RATE_LIMITER binding that
// has none live yet: a stable positive integer derived from the account, script and binding,
// distinct among the spec's workers. The live binding's id always wins (plan keeps it), so a
// counter is never reset by a redeploy.
func rateLimitNamespaces(accountID string, workers []spec.Worker) map[string]string {
	out := map[string]string{}
	used := map[uint64]bool{}
	for _, w := range workers {
		if w.RateLimit == nil {
			continue
		}
		sum := sha256.Sum256([]byte(accountID + "/" + w.Name + "/" + spec.RateLimiterBinding))
		n := 1000 + binary.BigEndian.Uint64(sum[:8])%1_000_000_000
		for used[n] {
			n++
		}
		used[n] = true
		out[w.Name] = fmt.Sprint(n)
	}
	return out
}
