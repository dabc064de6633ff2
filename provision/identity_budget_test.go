package provision

import (
	"fmt"
	"strings"
	"testing"

	"github.com/flareform/flareform/provision/spec"
)

// budgetWorker is a worker with an API key, n consumers named with nameLen characters, the
// given number of secrets and one KV namespace, R2 bucket and D1 database.
func budgetWorker(consumers, nameLen, secrets int) spec.Worker {
	w := spec.Worker{Key: "api", Name: "api", APIKey: &spec.KeySource{Binding: "API_KEY", From: "generate"},
		Pos: map[string]spec.Position{"key": {Line: 3, Col: 3}}}
	for i := range consumers {
		name := fmt.Sprintf("%0*d", nameLen, i)
		w.Consumers = append(w.Consumers, spec.Consumer{Name: name,
			Key:       spec.KeySource{Binding: spec.ConsumerKeyBinding(name), From: "generate"},
			RateLimit: &spec.RateLimit{Limit: 100, Period: 60}})
	}
	for i := range secrets {
		w.Secrets = append(w.Secrets, spec.KeySource{Binding: fmt.Sprintf("THIRD_PARTY_SECRET_%02d", i), From: "env", Ref: "X"})
	}
	w.KV = []spec.StorageBinding{{Binding: "CACHE", Name: "api-cache"}}
	w.R2 = []spec.StorageBinding{{Binding: "IMAGES", Name: "api-images"}}
	w.D1 = []spec.StorageBinding{{Binding: "DB", Name: "api-db"}}
	return w
}

// The worst case must count every field an upload can write; an upload's real record is never
// longer, so a spec the check accepts is never truncated.
func TestWorstIdentityBoundsTheRealRecord(t *testing.T) {
	w := budgetWorker(2, 6, 3)
	worst := worstIdentity(w)
	if len(worst.Own) != 3 || len(worst.Secrets) != 3 || len(worst.Prev) != 2 || len(worst.Limits) != 2 {
		t.Fatalf("worst identity leaves fields out: %+v", worst)
	}
	back, ok := parseIdentity(worst.message())
	if !ok || len(back.Own) != 3 || len(back.Secrets) != 3 || back.Run == "" || !back.SmokePending {
		t.Fatalf("worst identity does not read back: %+v", back)
	}
}

func TestPlanRefusesAWorkerWhoseRecordOutgrowsTheAnnotation(t *testing.T) {
	s := &spec.Spec{File: "/p/flareform.yaml"}
	fits := budgetWorker(3, 8, 4)
	if err := checkIdentityFits(s, fits); err != nil {
		t.Fatalf("a worker with 3 consumers, 4 secrets and 3 storage objects: %v (%d bytes)", err, len(worstIdentity(fits).message()))
	}
	big := budgetWorker(spec.MaxConsumers, 32, 0)
	err := checkIdentityFits(s, big)
	if err == nil {
		t.Fatalf("10 consumers with 32-character names fit in %d bytes?", len(worstIdentity(big).message()))
	}
	if msg := err.Error(); !strings.Contains(msg, "flareform.yaml:3") || !strings.Contains(msg, "1000") || !strings.Contains(msg, "shorten") {
		t.Fatalf("error does not name the spec line, the limit and the fix: %s", msg)
	}
}
