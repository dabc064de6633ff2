package localcf

import (
	"context"
	"sync"
	"time"

	"github.com/flareform/flareform/localcf/workerd"
)

// liveKey names a script across accounts.
type liveKey struct{ account, script string }

// procRef is a serving workerd process plus the requests currently using it. A replaced process
// is retired only once the last request that picked it has finished, so a swap drops nothing.
type procRef struct {
	proc      *workerd.Process
	versionID string
	users     int
	retired   bool
}

// liveWorker is the serving state of one script. startMu makes lazy starts single-flight.
type liveWorker struct {
	startMu sync.Mutex
	current *procRef
}

// liveSet holds the workerd processes serving deployed versions.
type liveSet struct {
	start func(ctx context.Context, k liveKey, v *version) (*workerd.Process, time.Duration, error)

	mu      sync.Mutex
	workers map[liveKey]*liveWorker
	closed  bool
}

func newLiveSet(start func(ctx context.Context, k liveKey, v *version) (*workerd.Process, time.Duration, error)) *liveSet {
	return &liveSet{start: start, workers: map[liveKey]*liveWorker{}}
}

func (l *liveSet) worker(k liveKey) *liveWorker {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.workers[k]
	if w == nil {
		w = &liveWorker{}
		l.workers[k] = w
	}
	return w
}

// tryAcquire returns the current process if it serves versionID, counting the caller as a user.
func (l *liveSet) tryAcquire(w *liveWorker, versionID string) *procRef {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ref := w.current; ref != nil && ref.versionID == versionID {
		ref.users++
		return ref
	}
	return nil
}

// acquire returns a process serving v, starting one when none does (after a restart from
// persisted state, or after a crash). Concurrent first requests share one start.
func (l *liveSet) acquire(ctx context.Context, k liveKey, v *version) (*procRef, error) {
	w := l.worker(k)
	if ref := l.tryAcquire(w, v.ID); ref != nil {
		return ref, nil
	}
	w.startMu.Lock()
	defer w.startMu.Unlock()
	if ref := l.tryAcquire(w, v.ID); ref != nil {
		return ref, nil
	}
	proc, _, err := l.start(ctx, k, v)
	if err != nil {
		return nil, err
	}
	l.swap(k, w, &procRef{proc: proc, versionID: v.ID})
	if ref := l.tryAcquire(w, v.ID); ref != nil {
		return ref, nil
	}
	return nil, context.Canceled // replaced in between by a newer deployment; the caller retries
}

// install makes proc the serving process of k (a new deployment) and retires the old one.
func (l *liveSet) install(k liveKey, versionID string, proc *workerd.Process) {
	w := l.worker(k)
	w.startMu.Lock()
	defer w.startMu.Unlock()
	l.swap(k, w, &procRef{proc: proc, versionID: versionID})
}

// swap installs ref as w's serving process. When w is no longer k's entry (the script was
// deleted meanwhile) or the set is closed, the new process is stopped instead.
func (l *liveSet) swap(k liveKey, w *liveWorker, ref *procRef) {
	l.mu.Lock()
	if l.closed || l.workers[k] != w {
		l.mu.Unlock()
		ref.proc.Close()
		return
	}
	old := w.current
	w.current = ref
	retireNow := old != nil && l.markRetired(old)
	l.mu.Unlock()
	if retireNow {
		old.proc.Retire()
	}
}

// markRetired flags ref and reports whether no request uses it any more. Caller holds mu.
func (l *liveSet) markRetired(ref *procRef) bool {
	ref.retired = true
	return ref.users == 0
}

func (l *liveSet) release(ref *procRef) {
	l.mu.Lock()
	ref.users--
	retireNow := ref.retired && ref.users == 0
	l.mu.Unlock()
	if retireNow {
		ref.proc.Retire()
	}
}

// remove stops serving k (script deleted) once in-flight requests finish.
func (l *liveSet) remove(k liveKey) {
	l.mu.Lock()
	w := l.workers[k]
	delete(l.workers, k)
	var old *procRef
	if w != nil {
		old, w.current = w.current, nil
	}
	retireNow := old != nil && l.markRetired(old)
	l.mu.Unlock()
	if retireNow {
		old.proc.Retire()
	}
}

// closeAll stops every process at once (server shutdown).
func (l *liveSet) closeAll() {
	l.mu.Lock()
	l.closed = true
	var procs []*workerd.Process
	for k, w := range l.workers {
		if w.current != nil {
			procs = append(procs, w.current.proc)
			w.current = nil
		}
		delete(l.workers, k)
	}
	l.mu.Unlock()
	for _, p := range procs {
		p.Close()
	}
}
