package provision

import (
	"math"
	"time"
)

// WorkerDone is what apply reports each time it has finished with a worker that it changed,
// so a caller can show how far a fleet's apply has come.
type WorkerDone struct {
	Key, Name string
	Action    Action
	Failed    bool
}

// workerDone tells Config.OnWorkerDone that apply has finished with wp (err: it failed).
// No-op workers are not reported: apply does nothing for them.
func (e *Engine) workerDone(wp *WorkerPlan, err error) {
	if e.cfg.OnWorkerDone == nil || wp.Action == ActionNoOp {
		return
	}
	e.cfg.OnWorkerDone(WorkerDone{Key: wp.Key, Name: wp.Name, Action: wp.Action, Failed: err != nil})
}

// apiCallsPerChange is about how many API calls apply makes for one change of a plan, by
// action: the one place apply's call count per worker is written down, for the estimate shown
// before a fleet's apply. A worker's create is its upload, workers.dev switch and the checks
// that its own version serves: when the upload's answer does not name the new version, the
// newest version and its annotation, then the deployments (5; 3 when it does name it: the
// estimate takes the larger). An update is the same without the switch; an apply whose plan
// has aged reads the worker once more before uploading. Gateways and indexes take one call per
// change, two for a replace. A worker's delete is a guarded write (guard.go): the deployments
// read before it, the delete, and the read after it that finds no script (3). provision's TestFleetReadsOnlyScriptsThatExist counts a create's
// calls. Change these when apply's calls change.
var apiCallsPerChange = map[string]map[Action]int{
	"worker":   {ActionCreate: 5, ActionUpdate: 4, ActionDelete: 3},
	"resource": {ActionCreate: 1, ActionUpdate: 1, ActionReplace: 2, ActionDelete: 1},
}

// ApplyEstimate says how long the API's rate budget makes an apply wait.
type ApplyEstimate struct {
	Calls  int           // about how many API calls the apply makes
	Limit  int           // the budget: Limit requests per Window (0: pacing is off)
	Window time.Duration //
	// Available is what is left of the budget's current window after the plan's reads.
	Available int
	// Wait is about how long the apply must wait for the budget to refill; 0 when the calls
	// fit what is left.
	Wait time.Duration
}

// Binds reports whether the budget, not the API's answers, sets how long the apply takes.
func (a ApplyEstimate) Binds() bool { return a.Wait > 0 }

// EstimateCalls is about how many API calls applying p makes (apiCallsPerChange).
func (p *Plan) EstimateCalls() int {
	calls := 0
	for _, rp := range p.Resources {
		kind := "resource"
		if rp.Kind == "worker" {
			kind = "worker"
		}
		calls += apiCallsPerChange[kind][rp.Action]
	}
	if len(p.Resources) == 0 { // a plan made without resources lists only its workers
		for _, wp := range p.Workers {
			calls += apiCallsPerChange["worker"][wp.Action]
		}
	}
	return calls
}

// EstimateApply says whether applying p will wait for the API's rate budget and about how
// long, from the budget the engine learned while planning (the API's Ratelimit headers, else
// its configuration) and what the plan already spent of it.
func (e *Engine) EstimateApply(p *Plan) ApplyEstimate {
	est := ApplyEstimate{Calls: p.EstimateCalls()}
	budget, ok := e.api.Budget()
	if !ok {
		return est
	}
	est.Limit, est.Window, est.Available = budget.Limit, budget.Window, budget.Available
	if est.Calls <= est.Available || est.Limit <= 0 {
		return est
	}
	// The rest needs whole windows: the current one must end, then one more per Limit calls
	// beyond the first.
	beyond := est.Calls - est.Available
	windows := int(math.Ceil(float64(beyond) / float64(est.Limit)))
	est.Wait = budget.ResetIn + time.Duration(windows-1)*est.Window
	return est
}
