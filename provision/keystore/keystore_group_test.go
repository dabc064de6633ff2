package keystore

import (
	"fmt"
	"sync"
	"testing"
)

// Pending keys recorded at once by many workers all land, each durable when its call returns.
func TestConcurrentAddPendingAllLand(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 50)
	for i := range errs {
		wg.Go(func() { errs[i] = s.AddPending(fmt.Sprintf("fleet-%d", i), "API_KEY", fmt.Sprintf("key-%d", i)) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("worker %d: %v", i, err)
		}
	}
	for i := range errs {
		keys, err := s.Keys(fmt.Sprintf("fleet-%d", i), "API_KEY")
		if err != nil || len(keys) != 1 || keys[0].Key != fmt.Sprintf("key-%d", i) || keys[0].State != Pending {
			t.Errorf("fleet-%d: %+v %v, want its one pending key", i, keys, err)
		}
	}
}

// PromoteAll makes each key the active one of its binding, as Promote one by one would.
func TestPromoteAll(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"old", "new"} {
		if err := s.AddPending("a", "API_KEY", k); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PromoteAll([]Promotion{{"a", "API_KEY", "new"}, {"b", "API_KEY", "fresh"}}); err != nil {
		t.Fatal(err)
	}
	for script, want := range map[string]string{"a": "new", "b": "fresh"} {
		keys, err := s.Keys(script, "API_KEY")
		if err != nil || len(keys) != 1 || keys[0].Key != want || keys[0].State != Active {
			t.Errorf("%s: %+v %v, want only %q, active", script, keys, err, want)
		}
	}
}
