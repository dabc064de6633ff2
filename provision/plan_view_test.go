package provision

import "testing"

func TestChangesKeyDuringRotation(t *testing.T) {
	keyChange := &desiredWorker{rotateFrom: "v1"} // the plan changes an env/file key
	for _, tt := range []struct {
		name string
		wp   WorkerPlan
		want bool
	}{
		{"key change while a previous key is live", WorkerPlan{desired: keyChange, live: &liveWorker{exists: true, previousKey: true}}, true},
		{"key change without a previous key", WorkerPlan{desired: keyChange, live: &liveWorker{exists: true}}, false},
		{"previous key, key unchanged", WorkerPlan{desired: &desiredWorker{}, live: &liveWorker{exists: true, previousKey: true}}, false},
		{"worker the plan deletes", WorkerPlan{Action: ActionDelete}, false},
		{"plan read back from JSON", WorkerPlan{Action: ActionUpdate, KeyRotationUntil: "2999-01-01T00:00:00Z"}, false},
	} {
		if got := tt.wp.ChangesKeyDuringRotation(); got != tt.want {
			t.Errorf("%s: ChangesKeyDuringRotation = %t, want %t", tt.name, got, tt.want)
		}
	}
}
