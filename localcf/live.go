package localcf

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/flareform/flareform/localcf/workerd"
)

// liveKey names a script across accounts.
type liveKey struct{ account, script string }

// errNotServing reports that the version a request picked left the active deployment while its
// process was being started; the data plane picks again from the new deployment.
var errNotServing = errors.New("version no longer deployed")

// procRef is a serving workerd process plus the requests currently using it. A replaced process
// is retired only once the last request that picked it has finished, so a swap drops nothing.
type procRef struct {
	proc      *workerd.Process
	versionID string
	users     int
	retired   bool
}

// startFlight is one lazy start in progress: concurrent first requests for a version wait for
// it instead of starting workerd again.
type startFlight struct {
	done chan struct{}
	err  error
}

// liveWorker is the serving state of one script: a process per version of its active deployment
// (at most two), started at the deployment's commit (its main version) or on a version's first
// request (the others, and every version after a restart).
type liveWorker struct {
	// installMu orders a lazy start's "is this version still deployed?" check and its insert
	// against deployment installs, so a version a newer deployment dropped is never left running.
	installMu sync.Mutex
	procs     map[string]*procRef     // by version id; guarded by liveSet.mu
	flights   map[string]*startFlight // by version id; guarded by liveSet.mu
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
		w = &liveWorker{procs: map[string]*procRef{}, flights: map[string]*startFlight{}}
		l.workers[k] = w
	}
	return w
}

// tryAcquire returns the process serving versionID, counting the caller as a user.
func (l *liveSet) tryAcquire(w *liveWorker, versionID string) *procRef {
	l.mu.Lock()
	defer l.mu.Unlock()
	return w.use(versionID)
}

// use counts a user of versionID's process; the caller holds liveSet.mu.
func (w *liveWorker) use(versionID string) *procRef {
	ref := w.procs[versionID]
	if ref != nil {
		ref.users++
	}
	return ref
}

// acquireOrJoin returns versionID's process, or else the start in progress for it (leader false),
// or else a new start the caller must run and finish (leader true).
func (l *liveSet) acquireOrJoin(w *liveWorker, versionID string) (ref *procRef, f *startFlight, leader bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ref := w.use(versionID); ref != nil {
		return ref, nil, false
	}
	if f := w.flights[versionID]; f != nil {
		return nil, f, false
	}
	f = &startFlight{done: make(chan struct{})}
	w.flights[versionID] = f
	return nil, f, true
}

// acquire returns a process serving v, starting one when none does (a version of a split
// deployment on its first request, after a restart from persisted state, or after a crash).
// Concurrent first requests share one start. deployed reports whether v is still in k's active
// deployment; a process started for a version that no longer is gets stopped, and acquire
// answers errNotServing.
func (l *liveSet) acquire(ctx context.Context, k liveKey, v *version, deployed func() bool) (*procRef, error) {
	w := l.worker(k)
	ref, f, leader := l.acquireOrJoin(w, v.ID)
	if ref != nil {
		return ref, nil
	}
	if leader {
		f.err = l.startInto(ctx, k, w, v, deployed)
		l.mu.Lock()
		delete(w.flights, v.ID)
		l.mu.Unlock()
		close(f.done)
	} else {
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if f.err != nil {
		return nil, f.err
	}
	if ref := l.tryAcquire(w, v.ID); ref != nil {
		return ref, nil
	}
	return nil, errNotServing
}

// startInto starts v and adds its process to w, unless v left the active deployment meanwhile.
func (l *liveSet) startInto(ctx context.Context, k liveKey, w *liveWorker, v *version, deployed func() bool) error {
	proc, _, err := l.start(ctx, k, v)
	if err != nil {
		return err
	}
	w.installMu.Lock()
	defer w.installMu.Unlock()
	if !deployed() {
		proc.Close()
		return nil
	}
	l.swap(k, w, &procRef{proc: proc, versionID: v.ID}, nil)
	return nil
}

// install applies a committed deployment of k: proc (may be nil) becomes the process of version
// mainID, replacing any process that version had, and the processes of versions not in
// deployed are retired once their requests finish.
func (l *liveSet) install(k liveKey, deployed []string, mainID string, proc *workerd.Process) {
	w := l.worker(k)
	w.installMu.Lock()
	defer w.installMu.Unlock()
	var ref *procRef
	if proc != nil {
		ref = &procRef{proc: proc, versionID: mainID}
	}
	if deployed == nil {
		deployed = []string{} // nil means "keep the others" to swap
	}
	l.swap(k, w, ref, deployed)
}

// swap adds ref (may be nil) as w's process of its version and retires the process it replaces,
// plus, when keep is not nil, those of versions not in keep. When w is no longer k's entry (the
// script was deleted meanwhile) or the set is closed, the new process is stopped instead.
func (l *liveSet) swap(k liveKey, w *liveWorker, ref *procRef, keep []string) {
	l.mu.Lock()
	if l.closed || l.workers[k] != w {
		l.mu.Unlock()
		if ref != nil {
			ref.proc.Close()
		}
		return
	}
	var idle []*procRef
	for id, old := range w.procs {
		replaced := ref != nil && id == ref.versionID
		if replaced || (keep != nil && !slices.Contains(keep, id)) {
			delete(w.procs, id)
			if l.markRetired(old) {
				idle = append(idle, old)
			}
		}
	}
	if ref != nil {
		w.procs[ref.versionID] = ref
	}
	l.mu.Unlock()
	for _, old := range idle {
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
	var idle []*procRef
	if w != nil {
		for id, old := range w.procs {
			delete(w.procs, id)
			if l.markRetired(old) {
				idle = append(idle, old)
			}
		}
	}
	l.mu.Unlock()
	for _, old := range idle {
		old.proc.Retire()
	}
}

// serving lists the version ids k has a process for (tests, and the retirement check).
func (l *liveSet) serving(k liveKey) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ids []string
	if w := l.workers[k]; w != nil {
		for id := range w.procs {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// closeAll stops every process at once (server shutdown).
func (l *liveSet) closeAll() {
	l.mu.Lock()
	l.closed = true
	var procs []*workerd.Process
	for k, w := range l.workers {
		for id, ref := range w.procs {
			procs = append(procs, ref.proc)
			delete(w.procs, id)
		}
		delete(l.workers, k)
	}
	l.mu.Unlock()
	for _, p := range procs {
		p.Close()
	}
}
