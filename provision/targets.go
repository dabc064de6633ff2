package provision

import (
	"fmt"
	"slices"
	"strings"

	"github.com/flareform/flareform/provision/spec"
)

// TargetWorkers restricts s to the workers targets names (by key under `workers:` or by
// script name), for --target. It returns a copy of s holding only those workers and the
// workers left out. No targets: s itself, nothing skipped. A target the spec does not name is
// an error: a typo must not turn into a plan that silently does nothing.
func TargetWorkers(s *spec.Spec, targets []string) (*spec.Spec, []spec.Worker, error) {
	if len(targets) == 0 {
		return s, nil, nil
	}
	var unknown []string
	for _, t := range targets {
		if !slices.ContainsFunc(s.Workers, func(w spec.Worker) bool { return isTarget(w, []string{t}) }) {
			unknown = append(unknown, t)
		}
	}
	if len(unknown) > 0 {
		return nil, nil, fmt.Errorf("--target %s: no such worker in %s (workers: %s)", strings.Join(unknown, ", "), s.File, workerNames(s))
	}
	targeted := *s
	targeted.Workers = nil
	var skipped []spec.Worker
	for _, w := range s.Workers {
		if isTarget(w, targets) {
			targeted.Workers = append(targeted.Workers, w)
		} else {
			skipped = append(skipped, w)
		}
	}
	return &targeted, skipped, nil
}

func isTarget(w spec.Worker, targets []string) bool {
	return slices.Contains(targets, w.Key) || slices.Contains(targets, w.Name)
}

// withoutSkippedResources leaves out of a targeted plan the gateways and indexes a skipped
// worker uses: apply must not delete or replace what an untargeted worker still needs. In an
// apply plan a resource that a targeted worker declares stays (the spec declares it alike
// everywhere); in a destroy plan every resource a skipped worker uses stays as it is.
func withoutSkippedResources(resources []ResourcePlan, targeted *spec.Spec, skipped []spec.Worker, destroy bool) []ResourcePlan {
	if len(skipped) == 0 {
		return resources
	}
	usedBySkipped := map[objectRef]bool{}
	for _, w := range skipped {
		for _, ref := range declaredRefs(w) {
			usedBySkipped[ref] = true
		}
	}
	declared := map[objectRef]bool{}
	for _, w := range targeted.Workers {
		for _, ref := range declaredRefs(w) {
			declared[ref] = true
		}
	}
	return slices.DeleteFunc(resources, func(r ResourcePlan) bool {
		ref := objectRef{r.Kind, r.Name}
		return usedBySkipped[ref] && (destroy || !declared[ref])
	})
}

// skippedNames are the script names of the workers a targeted plan leaves out.
func skippedNames(skipped []spec.Worker) []string {
	var out []string
	for _, w := range skipped {
		out = append(out, w.Name)
	}
	return out
}
