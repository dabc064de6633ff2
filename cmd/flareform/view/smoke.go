package view

import (
	"fmt"
	"io"
	"strings"

	"github.com/flareform/flareform/provision"
)

// Smoke writes smoke test reports, one block per worker and one line per check.
func Smoke(w io.Writer, reports []provision.SmokeReport) {
	for _, r := range reports {
		writeSmokeReport(w, "", r)
	}
}

// writeSmokeReport prints one worker's smoke test, one line per check, each line indented.
func writeSmokeReport(w io.Writer, indent string, r provision.SmokeReport) {
	verdict := "passed"
	if !r.Passed {
		verdict = "FAILED"
	}
	fmt.Fprintf(w, "%ssmoke %s: %s", indent, r.Name, verdict)
	if r.URL != "" {
		fmt.Fprintf(w, " (%s)", r.URL)
	}
	fmt.Fprintln(w)
	for _, c := range r.Checks {
		fmt.Fprintf(w, "%s  %-12s %s\n", indent, c.Name, describeCheck(c))
	}
	if r.OutputPath != "" {
		fmt.Fprintf(w, "%s  response body saved to %s\n", indent, r.OutputPath)
	}
	if !r.Passed && r.Error != "" {
		fmt.Fprintf(w, "%s  error: %s\n", indent, r.Error)
	}
}

func describeCheck(c provision.SmokeCheck) string {
	if c.Skipped != "" {
		return "skipped: " + c.Skipped
	}
	var parts []string
	if c.Passed {
		parts = append(parts, "ok")
	} else {
		parts = append(parts, "FAILED")
	}
	if c.Status != 0 {
		parts = append(parts, fmt.Sprintf("status %d", c.Status))
	}
	if c.ContentType != "" {
		parts = append(parts, c.ContentType)
	}
	if c.Detail != "" {
		parts = append(parts, c.Detail)
	}
	return strings.Join(parts, ", ")
}
