package main

import (
	"bytes"
	"io"
	"strings"

	"github.com/flareform/flareform/provision"
)

// ANSI colours of the plan symbols, as Terraform uses them.
const (
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiRed    = "\x1b[31m"
	ansiReset  = "\x1b[0m"
)

// colorEnabled says whether output to a stream that is (tty) a terminal gets colours: not with
// --no-color, NO_COLOR set to anything (https://no-color.org) or TERM=dumb.
func (o *rootOptions) colorEnabled(tty bool) bool {
	return tty && !o.NoColor && o.Getenv("NO_COLOR") == "" && o.Getenv("TERM") != "dumb"
}

// writePlanText renders plan on w, its symbols coloured when color is true.
func writePlanText(w io.Writer, plan *provision.Plan, color bool) {
	if !color {
		plan.WriteText(w)
		return
	}
	var buf bytes.Buffer
	plan.WriteText(&buf)
	io.WriteString(w, colorPlanSymbols(buf.String()))
}

// colorPlanSymbols colours the leading +, ~ or - of each line (after its indentation):
// green for create, yellow for update, red for delete.
func colorPlanSymbols(text string) string {
	lines := strings.SplitAfter(text, "\n")
	for i, line := range lines {
		body := strings.TrimLeft(line, " ")
		if len(body) < 2 || body[1] != ' ' {
			continue
		}
		var color string
		switch body[0] {
		case '+':
			color = ansiGreen
		case '~':
			color = ansiYellow
		case '-':
			color = ansiRed
		default:
			continue
		}
		indent := line[:len(line)-len(body)]
		lines[i] = indent + color + body[:1] + ansiReset + body[1:]
	}
	return strings.Join(lines, "")
}
