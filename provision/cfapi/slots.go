package cfapi

import (
	"container/heap"
	"context"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/cloudflare/cloudflare-go/v6/option"
)

// requestSlots lets at most n API requests be in flight at once and, when all are taken, gives
// the next free slot to the waiting request of the worker that started first. A worker that
// has already uploaded (its workers.dev switch, post-upload checks) thus goes before the first
// request of a worker that started after it, instead of queueing behind every upload of a
// fleet: each started worker finishes soon after it starts, and the run's last workers are not
// all left waiting for their last steps at once. Requests outside a worker (account reads)
// carry no turn and go first.
//
// It sits inside the retrier, so a request waiting to retry does not hold a slot.
type requestSlots struct {
	turns atomic.Int64 // hands out worker turns, in start order

	mu      sync.Mutex
	free    int
	waiting waitQueue
	arrived int64 // ties between equal turns go first come, first served
}

func newRequestSlots(n int) *requestSlots {
	return &requestSlots{free: n}
}

// workerTurnKey marks a context with the turn of the worker whose requests it carries.
type workerTurnKey struct{}

// startWorker returns ctx marked with a new turn, later than every turn before it.
func (s *requestSlots) startWorker(ctx context.Context) context.Context {
	return context.WithValue(ctx, workerTurnKey{}, s.turns.Add(1))
}

// turnOf is the worker turn of ctx; 0 (before every worker) for requests outside a worker.
func turnOf(ctx context.Context) int64 {
	turn, _ := ctx.Value(workerTurnKey{}).(int64)
	return turn
}

func (s *requestSlots) middleware(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	if err := s.acquire(req.Context()); err != nil {
		return nil, err
	}
	defer s.release()
	return next(req)
}

// acquire takes a slot, waiting in turn order while none is free.
func (s *requestSlots) acquire(ctx context.Context) error {
	s.mu.Lock()
	if s.free > 0 && len(s.waiting) == 0 {
		s.free--
		s.mu.Unlock()
		return nil
	}
	s.arrived++
	w := &slotWaiter{turn: turnOf(ctx), arrival: s.arrived, granted: make(chan struct{})}
	heap.Push(&s.waiting, w)
	s.mu.Unlock()
	select {
	case <-w.granted:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		defer s.mu.Unlock()
		if w.index < 0 { // granted meanwhile: hand the slot on
			s.releaseLocked()
		} else {
			heap.Remove(&s.waiting, w.index)
		}
		return ctx.Err()
	}
}

func (s *requestSlots) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseLocked()
}

// releaseLocked gives the freed slot to the first waiter in turn order, or keeps it free.
func (s *requestSlots) releaseLocked() {
	if len(s.waiting) == 0 {
		s.free++
		return
	}
	w := heap.Pop(&s.waiting).(*slotWaiter)
	close(w.granted)
}

type slotWaiter struct {
	turn, arrival int64
	index         int // in the heap; -1 once granted
	granted       chan struct{}
}

// waitQueue is a min-heap of waiters by (turn, arrival).
type waitQueue []*slotWaiter

func (q waitQueue) Len() int { return len(q) }
func (q waitQueue) Less(i, j int) bool {
	if q[i].turn != q[j].turn {
		return q[i].turn < q[j].turn
	}
	return q[i].arrival < q[j].arrival
}
func (q waitQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *waitQueue) Push(x any) {
	w := x.(*slotWaiter)
	w.index = len(*q)
	*q = append(*q, w)
}
func (q *waitQueue) Pop() any {
	old := *q
	w := old[len(old)-1]
	old[len(old)-1] = nil
	w.index = -1
	*q = old[:len(old)-1]
	return w
}
