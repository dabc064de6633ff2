package view

import "strings"

// ANSI colours of the plan symbols, as Terraform uses them.
const (
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiRed    = "\x1b[31m"
	ansiReset  = "\x1b[0m"
)

// colorSymbols colours the leading +, ~ or - of each line (after its indentation) that a space
// follows: green for create, yellow for update, red for delete. "-/+" (replace) stays plain. A
// line led by "! " (a plan deleting data, --delete-data) is red as a whole.
func colorSymbols(text string) string {
	lines := strings.SplitAfter(text, "\n")
	for i, line := range lines {
		body := strings.TrimLeft(line, " ")
		if len(body) < 2 || body[1] != ' ' {
			continue
		}
		var color string
		switch body[0] {
		case '!':
			indent := line[:len(line)-len(body)]
			text := strings.TrimSuffix(body, "\n")
			lines[i] = indent + ansiRed + text + ansiReset + body[len(text):]
			continue
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
