package provision

import (
	"context"
	"testing"

	"github.com/flareform/flareform/provision/cfapi"
)

// forEach gives every worker its own turn, after every request outside a worker.
func TestForEachGivesEachWorkerATurn(t *testing.T) {
	e, err := New(Config{APIToken: "t"})
	if err != nil {
		t.Fatal(err)
	}
	turns := make([]int64, 40)
	e.forEach(context.Background(), len(turns), func(ctx context.Context, i int) { turns[i] = cfapi.WorkerTurn(ctx) })
	seen := map[int64]bool{}
	for i, turn := range turns {
		if turn <= cfapi.WorkerTurn(context.Background()) || seen[turn] {
			t.Errorf("worker %d: turn %d, want a turn of its own after 0", i, turn)
		}
		seen[turn] = true
	}
}
