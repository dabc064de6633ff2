package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/flareform/flareform/provision/cfapi"
)

// One guarded write: every change flareform makes to a worker goes through a workerWrites,
// which
//
//  1. checks the precondition: the worker still serves what this run read (the same active
//     deployment, by id, and the same versions), or is still absent when it read no script;
//  2. makes the writes, in order (an upload, the workers.dev switch, a tag or settings edit, a
//     secret delete, a deployment, a script delete);
//  3. checks the postcondition from the deployments: this run's deployment is the newest and
//     directly follows the one this run read (a deployment of another run that landed between
//     1 and 2 is put back, and the write fails); a delete left no script (one created again
//     after the delete fails the write); a write that deploys nothing left the deployment as
//     this run read it.
//
// The API has no conditional write, so 1 and 2 are one round trip apart; 3 is what makes that
// gap visible. Only a delete cannot be checked afterwards for what it removed: see
// docs/guarantees.md (Overlap).
//
// guard is the whole cycle for one write (a rollback, a delete, a tag edit). An apply's upload
// opens the cycle with beginWrites, makes its writes (upload, workers.dev switch), smoke-tests,
// marks the version tested, and closes it with checkServesOwn, its postcondition: the smoke
// test runs inside the cycle, so exit 0 vouches for what served during it. A rotation opens one
// cycle per change (rotate_live.go) and closes the run with its overlap check (rotate_overlap.go).

// workerRead is what a run read of a worker: its active deployment and the versions it
// deploys, or that there was no script.
type workerRead struct {
	exists     bool
	deployment string   // id of the active deployment ("" when the API names none)
	served     string   // the version at 100% ("" for a split)
	versions   []string // every version the deployment names
	// splitShares is a split deployment's versions with their shares (nil when one version
	// serves), so that it can be made again.
	splitShares []DeploymentShare
}

// readOfHistory is what a deployment history (newest first, deploymentHistory) says serves.
func readOfHistory(history []pastDeployment) workerRead {
	if len(history) == 0 {
		return workerRead{exists: true}
	}
	h := history[0]
	r := workerRead{exists: true, deployment: h.id, served: h.served, versions: h.versions}
	if h.served == "" {
		r.splitShares = h.shares
	}
	return r
}

// same reports whether now is still what r read.
func (r workerRead) same(now workerRead) bool {
	if r.exists != now.exists {
		return false
	}
	if !r.exists {
		return true
	}
	if r.deployment != "" && now.deployment != "" && r.deployment != now.deployment {
		return false
	}
	if r.versions == nil { // a plan's read: only the serving version is known
		return r.served == now.served && (r.served != "" || len(now.versions) != 1)
	}
	return r.served == now.served && slices.Equal(r.versions, now.versions)
}

func (r workerRead) String() string {
	switch {
	case !r.exists:
		return "no script"
	case r.served == "" && len(r.versions) > 1:
		return fmt.Sprintf("a split deployment of versions %v", r.versions)
	default:
		return "version " + orNone(r.served)
	}
}

// writeEffect is what a write does to what serves, which decides its postcondition.
type writeEffect int

const (
	// deploysVersion deploys guardedWrite.deploys to all traffic (a rollback, a put-back).
	deploysVersion writeEffect = iota
	// deletesScript deletes the script: afterwards there is none.
	deletesScript
	// deploysNothing changes the script (tags, the workers.dev switch) without a deployment:
	// afterwards the same deployment serves.
	deploysNothing
)

// guardedWrite is one write to a worker that must not replace what another run deployed.
type guardedWrite struct {
	name string // the script
	// what the write does, for messages: "roll back to version X", "delete the script".
	what string
	// read is the precondition: what this run read and the worker must still serve.
	read workerRead
	// readJustNow: read comes from this run's previous call to the API (the postcondition
	// check of its own earlier write), so the check before this write is that read.
	readJustNow bool
	effect      writeEffect
	deploys     string // deploysVersion: the version the write deploys to all traffic
	// shares, when set, is the deployment a deploysVersion write makes instead (a canary's
	// split, or a split put back).
	shares []DeploymentShare
	write  func(ctx context.Context) error
}

// guard checks g's precondition, makes its write and checks its postcondition. A changed
// worker, before or after the write, is an error wrapping ErrChanged that says what serves
// now; the write is not made when the precondition fails.
func (e *Engine) guard(ctx context.Context, accountID string, g guardedWrite) error {
	w, err := e.beginWrites(ctx, accountID, g.name, g.read, g.readJustNow, g.what)
	if err != nil {
		if g.effect == deletesScript && errors.Is(err, errScriptGone) {
			return nil // a delete of a script that is gone (another destroy was first): the goal is reached
		}
		return err
	}
	if err := w.do(ctx, g.what, g.write); err != nil {
		return err
	}
	switch g.effect {
	case deletesScript:
		return e.checkGone(ctx, accountID, g)
	case deploysNothing:
		return w.checkStillRead(ctx)
	default:
		return e.checkDeployedAfter(ctx, accountID, g)
	}
}

// errScriptGone is beginWrites' answer when the script this run read is gone.
var errScriptGone = errors.New("the script is gone")

// workerWrites is an open guarded write to one worker: its precondition was checked, its
// writes go through do, and its owner checks the postcondition.
type workerWrites struct {
	e         *Engine
	accountID string
	name      string
	read      workerRead
	written   []string // what was written, in order, for messages
}

// beginWrites checks the precondition of writes to the worker name: it still serves read.
// With readJustNow the caller's own last call made read, so it is not read again.
func (e *Engine) beginWrites(ctx context.Context, accountID, name string, read workerRead, readJustNow bool, what string) (*workerWrites, error) {
	w := &workerWrites{e: e, accountID: accountID, name: name, read: read}
	if readJustNow {
		return w, nil
	}
	now, err := e.readWorker(ctx, accountID, name)
	if err != nil {
		return nil, fmt.Errorf("check before %s: %w", what, err)
	}
	if read.exists && !now.exists {
		return nil, fmt.Errorf("%w: %w", errScriptGone, changedError(name, fmt.Sprintf("the script is gone, this run read %s: another run deleted it, so this run did not %s", read, what)))
	}
	if !read.same(now) {
		return nil, changedError(name, fmt.Sprintf("%s serves now, this run read %s: another run deployed meanwhile, so this run did not %s", now, read, what))
	}
	return w, nil
}

// do makes one write of the open guarded write.
func (w *workerWrites) do(ctx context.Context, what string, write func(ctx context.Context) error) error {
	if err := write(ctx); err != nil {
		return err
	}
	w.written = append(w.written, what)
	return nil
}

// checkStillRead is the postcondition of writes that deploy nothing: the deployment this run
// read still serves.
func (w *workerWrites) checkStillRead(ctx context.Context) error {
	now, err := w.e.readWorker(ctx, w.accountID, w.name)
	if err != nil {
		return fmt.Errorf("check after %s: %w", w.last(), err)
	}
	if !w.read.same(now) {
		return changedError(w.name, fmt.Sprintf("%s serves now, deployed by another run while this run made its change (%s)", now, w.last()))
	}
	return nil
}

func (w *workerWrites) last() string {
	if len(w.written) == 0 {
		return "no write"
	}
	return w.written[len(w.written)-1]
}

// readWorker reads the worker's deployments: what serves now, or that there is no script.
func (e *Engine) readWorker(ctx context.Context, accountID, name string) (workerRead, error) {
	history, err := e.deploymentHistory(ctx, accountID, name)
	if err != nil {
		if cfapi.IsNotFound(err) {
			return workerRead{}, nil
		}
		return workerRead{}, err
	}
	return readOfHistory(history), nil
}

// checkGone is a delete's postcondition: no script is left. A script there again was created
// by another run after the delete (an upload that was on its way), so the caller must not
// report the worker as gone.
func (e *Engine) checkGone(ctx context.Context, accountID string, g guardedWrite) error {
	now, err := e.readWorker(ctx, accountID, g.name)
	if err != nil {
		return fmt.Errorf("check after %s: %w", g.what, err)
	}
	if now.exists {
		return changedError(g.name, fmt.Sprintf("this run deleted the script, then another run created it again (%s serves now): it is not gone", now))
	}
	return nil
}

// checkDeployedAfter is a deploy's postcondition: the deployment g made (g.shares, else
// g.deploys at 100%) is the newest, and it directly followed the one this run read. A
// deployment of another run between the two was replaced by this write; it is made again, so
// that run's result stays true, and the write fails.
func (e *Engine) checkDeployedAfter(ctx context.Context, accountID string, g guardedWrite) error {
	want := g.shares
	if want == nil {
		want = []DeploymentShare{{VersionID: g.deploys, Percentage: 100}}
	}
	history, err := e.deploymentHistory(ctx, accountID, g.name)
	if err != nil {
		return fmt.Errorf("check after %s: %w", g.what, err)
	}
	if len(history) == 0 || !slices.Equal(history[0].shares, want) {
		now := readOfHistory(history)
		return changedError(g.name, fmt.Sprintf("%s serves now, deployed by another run after this run's %s", now, g.what))
	}
	for _, d := range history[1:] {
		if g.read.deployedAs(d) {
			return nil
		}
		if slices.Equal(d.shares, want) {
			continue // this write again: a retried request whose first answer was lost
		}
		if err := e.api.Script(accountID, g.name).Deploy(ctx, toAPIShares(d.shares), "flareform: redeploy what another run deployed while this run wrote", true); err != nil {
			return changedError(g.name, fmt.Sprintf("%s was deployed between this run's check and its %s, and deploying it again failed: %v", readOfHistory([]pastDeployment{d}), g.what, err))
		}
		return changedError(g.name, fmt.Sprintf("another run deployed %s between this run's check and its %s; it serves again", readOfHistory([]pastDeployment{d}), g.what))
	}
	return nil
}

// deployedAs reports whether d is the deployment r read.
func (r workerRead) deployedAs(d pastDeployment) bool {
	switch {
	case r.deployment != "":
		return d.id == r.deployment
	case r.versions != nil:
		return d.served == r.served && slices.Equal(d.versions, r.versions)
	default:
		return d.served == r.served
	}
}

// toAPIShares is shares as the API client takes them.
func toAPIShares(shares []DeploymentShare) []cfapi.DeploymentVersion {
	out := make([]cfapi.DeploymentVersion, len(shares))
	for i, s := range shares {
		out[i] = cfapi.DeploymentVersion{VersionID: s.VersionID, Percentage: s.Percentage}
	}
	return out
}

// readDeleted reads what serves on every worker p deletes, all at once: the precondition of
// each delete. A destroy plan otherwise reads only the script list, which says nothing about
// a deployment another run makes after it.
func (e *Engine) readDeleted(ctx context.Context, p *Plan) error {
	var idx []int
	for i, wp := range p.Workers {
		if wp.Action == ActionDelete {
			idx = append(idx, i)
		}
	}
	errs := make([]error, len(idx))
	e.forEach(ctx, len(idx), func(ctx context.Context, n int) {
		wp := &p.Workers[idx[n]]
		read, err := e.readWorker(ctx, p.AccountID, wp.Name)
		if err != nil {
			errs[n] = fmt.Errorf("plan delete %s: %w", wp.Name, err)
			return
		}
		wp.deleteRead = &read
	})
	return errors.Join(errs...)
}
