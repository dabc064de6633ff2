package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
)

// convergenceReport is the JSON the fault-convergence suite writes
// (go test ./cmd/flareform -run '^TestFaultConvergence$' -args -convergence.report=PATH).
type convergenceReport struct {
	Seed              int64                        `json:"seed"`
	Schedules         int                          `json:"schedules"`
	ConvergedFirstRun int                          `json:"converged_first_run"`
	ConvergedOnRerun  int                          `json:"converged_on_rerun"`
	Failed            int                          `json:"failed"`
	FaultsInjected    int                          `json:"faults_injected"`
	ByCommand         map[string]convergenceCounts `json:"by_command"`
	DurationSeconds   float64                      `json:"duration_seconds"`
	// Optional: distinct (scenario, API call) points where a fault burst started, of all.
	StepsCovered int `json:"steps_covered"`
	StepsTotal   int `json:"steps_total"`
}

type convergenceCounts struct {
	Schedules         int `json:"schedules"`
	ConvergedFirstRun int `json:"converged_first_run"`
	ConvergedOnRerun  int `json:"converged_on_rerun"`
	Failed            int `json:"failed"`
}

// loadConvergence reads the suite's report; a missing file is (nil, nil): the suite has not
// run (or does not exist yet).
func loadConvergence(path string) (*convergenceReport, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the convergence report: %w", err)
	}
	var c convergenceReport
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("parse the convergence report %s: %w", path, err)
	}
	return &c, nil
}

func (r *report) renderConvergence(w io.Writer) {
	fmt.Fprintf(w, "### Fault convergence\n\n")
	c := r.Convergence
	if c == nil {
		fmt.Fprintf(w, "No report at `%s`: the fault-convergence suite did not run or wrote nothing.\n\n", r.ConvergencePath)
		return
	}
	fmt.Fprintf(w, "Random fault schedules (seed %d) against flareform commands: %d faults injected in %.0f s.\n"+
		"A run converges when the command, or at worst its re-run without faults, leaves the live state\n"+
		"matching the spec and every handed-over key working; [fault-convergence.md](fault-convergence.md)\n"+
		"says what a schedule is and what is checked.", c.Seed, c.FaultsInjected, c.DurationSeconds)
	if c.StepsTotal > 0 {
		fmt.Fprintf(w, " Fault bursts started at %d of the %d API calls of the scenarios.", c.StepsCovered, c.StepsTotal)
	}
	fmt.Fprintf(w, "\n\n")
	t := table{header: []string{"command", "schedules", "converged on first run", "converged on re-run", "failed"}}
	commands := make([]string, 0, len(c.ByCommand))
	for name := range c.ByCommand {
		commands = append(commands, name)
	}
	slices.Sort(commands)
	for _, name := range commands {
		n := c.ByCommand[name]
		t.add(name, fmt.Sprint(n.Schedules), fmt.Sprint(n.ConvergedFirstRun), fmt.Sprint(n.ConvergedOnRerun), fmt.Sprint(n.Failed))
	}
	t.add("**all**", fmt.Sprint(c.Schedules), fmt.Sprint(c.ConvergedFirstRun), fmt.Sprint(c.ConvergedOnRerun), fmt.Sprint(c.Failed))
	t.render(w)
}
