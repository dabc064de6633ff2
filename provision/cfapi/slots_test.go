package cfapi

import (
	"context"
	"runtime"
	"testing"
)

// waitQueued yields until n requests wait for a slot.
func waitQueued(s *requestSlots, n int) {
	for {
		s.mu.Lock()
		queued := len(s.waiting)
		s.mu.Unlock()
		if queued >= n {
			return
		}
		runtime.Gosched()
	}
}

// A later step of a worker that started earlier (its workers.dev switch after its upload) gets
// the next free slot before the first request of a worker that started after it, though that
// one has waited longer: a first-come-first-served limit would serve the upload first.
func TestRequestSlotsServeEarlierWorkersFirst(t *testing.T) {
	s := newRequestSlots(1)
	ctx := context.Background()
	earlier := s.startWorker(ctx)
	later := s.startWorker(ctx)
	// The earlier worker's upload holds the slot; the later worker's upload queues first.
	if first := firstServed(t, s, earlier, later, earlier, "later worker's upload", "earlier worker's next step"); first != "earlier worker's next step" {
		t.Errorf("the freed slot went to the %s, want the earlier worker's next step", first)
	}
}

// Requests outside any worker (the account reads) go before every worker's.
func TestRequestSlotsServeAccountRequestsFirst(t *testing.T) {
	s := newRequestSlots(1)
	ctx := context.Background()
	worker := s.startWorker(ctx)
	if first := firstServed(t, s, ctx, worker, ctx, "worker", "account"); first != "account" {
		t.Errorf("the freed slot went to the %s request, want the account's", first)
	}
}

// firstServed takes s's only slot for holder, queues a request of queuedFirst and then one of
// queuedSecond (named firstName and secondName), frees the slot and says whose request got it.
func firstServed(t *testing.T, s *requestSlots, holder, queuedFirst, queuedSecond context.Context, firstName, secondName string) string {
	t.Helper()
	if err := s.acquire(holder); err != nil {
		t.Fatal(err)
	}
	order := make(chan string, 2)
	queue := func(ctx context.Context, name string) {
		if s.acquire(ctx) == nil {
			order <- name
			s.release()
		}
	}
	go queue(queuedFirst, firstName)
	waitQueued(s, 1)
	go queue(queuedSecond, secondName)
	waitQueued(s, 2)
	s.release()
	first := <-order
	<-order
	return first
}

// A request whose context ends while it waits leaves the queue and takes no slot with it.
func TestRequestSlotsCancelledWaiterFreesItsPlace(t *testing.T) {
	s := newRequestSlots(1)
	if err := s.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.acquire(ctx) }()
	waitQueued(s, 1)
	cancel()
	if err := <-done; err == nil {
		t.Fatal("acquire after cancel: nil error")
	}
	s.release()
	if err := s.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.free != 0 || len(s.waiting) != 0 {
		t.Errorf("after the slot was taken again: %d free, %d waiting; want 0 and 0", s.free, len(s.waiting))
	}
}

// At most n requests hold a slot at once, however many wait.
func TestRequestSlotsBoundInFlight(t *testing.T) {
	s := newRequestSlots(3)
	ctx := context.Background()
	for range 3 {
		if err := s.acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan struct{}, 5)
	for range 5 {
		go func() {
			if s.acquire(s.startWorker(ctx)) == nil {
				got <- struct{}{}
			}
		}()
	}
	waitQueued(s, 5)
	s.release()
	<-got
	s.mu.Lock()
	waiting := len(s.waiting)
	s.mu.Unlock()
	if waiting != 4 {
		t.Errorf("one release let %d waiters in, want 1", 5-waiting)
	}
	for range 6 {
		s.release()
	}
	for range 4 {
		<-got
	}
}
