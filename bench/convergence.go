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
	StoppedClearly    int                          `json:"stopped_clearly"`
	SilentLosses      int                          `json:"silent_losses"`
	FaultsInjected    int                          `json:"faults_injected"`
	ByCommand         map[string]convergenceCounts `json:"by_command"`
	// ByKind: the same counts per kind of schedule (faults, crash, concurrent_writer,
	// concurrent_run); absent
	// in reports from before the crash and concurrent-writer schedules.
	ByKind          map[string]convergenceCounts `json:"by_kind"`
	DurationSeconds float64                      `json:"duration_seconds"`
	// Optional: distinct (scenario, API call) points where a fault burst started, of all.
	StepsCovered int `json:"steps_covered"`
	StepsTotal   int `json:"steps_total"`
}

type convergenceCounts struct {
	Schedules         int `json:"schedules"`
	ConvergedFirstRun int `json:"converged_first_run"`
	ConvergedOnRerun  int `json:"converged_on_rerun"`
	Failed            int `json:"failed"`
	// StoppedClearly: concurrent-writer schedules whose runs all failed with a clear error.
	StoppedClearly int `json:"stopped_clearly"`
	// SilentLosses: schedules where a run exited 0 while a key it promised got 401.
	SilentLosses int `json:"silent_losses"`
}

// kindOrder is the order the kinds of schedule are listed in, with how each is described.
var kindOrder = []struct{ name, label string }{
	{"faults", "API faults (429, 5xx, drops, latency)"},
	{"crash", "crash (SIGKILL at an API call)"},
	{"concurrent_writer", "concurrent writer"},
	{"concurrent_run", "concurrent run (another flareform command)"},
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
	t := table{header: []string{"command", "schedules", "converged on first run", "converged on re-run", "stopped clearly", "failed", "silent losses"}}
	commands := make([]string, 0, len(c.ByCommand))
	for name := range c.ByCommand {
		commands = append(commands, name)
	}
	slices.Sort(commands)
	for _, name := range commands {
		n := c.ByCommand[name]
		t.add(countRow(name, n)...)
	}
	t.add(countRow("**all**", c.total())...)
	t.render(w)
	renderConvergenceKinds(w, c)
}

// renderConvergenceKinds is the table per kind of schedule, with the silent losses: runs that
// exited 0 while a key they promised got 401 (the target is none).
func renderConvergenceKinds(w io.Writer, c *convergenceReport) {
	if len(c.ByKind) == 0 {
		return
	}
	fmt.Fprintf(w, "By kind of schedule. For crash schedules \"first run\" is the first run after the kill;\n"+
		"\"stopped clearly\" counts concurrent-writer schedules whose command and re-run both failed with\n"+
		"a clear error (the other writer had replaced the key), which is truthful.\n\n")
	t := table{header: []string{"kind", "schedules", "converged on first run", "converged on re-run", "stopped clearly", "failed", "silent losses"}}
	for _, k := range kindOrder {
		n, ok := c.ByKind[k.name]
		if !ok {
			continue
		}
		t.add(countRow(k.label, n)...)
	}
	t.add(countRow("**all**", c.total())...)
	t.render(w)
}

// total is the report's overall counts.
func (c *convergenceReport) total() convergenceCounts {
	return convergenceCounts{Schedules: c.Schedules, ConvergedFirstRun: c.ConvergedFirstRun, ConvergedOnRerun: c.ConvergedOnRerun,
		StoppedClearly: c.StoppedClearly, Failed: c.Failed, SilentLosses: c.SilentLosses}
}

// countRow is a table row: label, then the counts in the tables' column order.
func countRow(label string, n convergenceCounts) []string {
	row := []string{label}
	for _, v := range []int{n.Schedules, n.ConvergedFirstRun, n.ConvergedOnRerun, n.StoppedClearly, n.Failed, n.SilentLosses} {
		row = append(row, fmt.Sprint(v))
	}
	return row
}
