package view

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/flareform/flareform/provision"
)

// Versions writes `flareform versions`: a table of the worker's versions, newest first, with
// the share of traffic each gets now, whether flareform made it and how its smoke test went;
// then its deployments, newest first, the one serving marked with *. With color, what serves
// is green and a smoke test not known to have passed is yellow.
//
// Messages come from whoever made the version (any tool, any person), so they are cut to one
// line of at most messageWidth characters with control characters replaced: a message cannot
// break the table or send escape sequences to the terminal. --json has them whole.
func Versions(w io.Writer, h *provision.History, color bool) {
	if len(h.Versions) == 0 {
		fmt.Fprintf(w, "%s has no versions.\n", h.Worker)
	} else {
		fmt.Fprintf(w, "Versions of %s, newest first:\n", h.Worker)
		writeTable(w, []string{"VERSION", "#", "CREATED", "SOURCE", "TRAFFIC", "FLAREFORM", "MESSAGE"}, versionRows(h.Versions), color)
	}
	fmt.Fprintln(w)
	if len(h.Deployments) == 0 {
		fmt.Fprintf(w, "%s has no deployments.\n", h.Worker)
		return
	}
	fmt.Fprintln(w, "Deployments, newest first (* serves now):")
	writeTable(w, []string{"", "CREATED", "VERSIONS", "SOURCE", "MESSAGE"}, deploymentRows(h.Deployments), color)
}

// messageWidth is the most characters of a message the tables show.
const messageWidth = 72

func versionRows(versions []provision.HistoryVersion) [][]cell {
	rows := make([][]cell, 0, len(versions))
	for _, v := range versions {
		traffic := cell{text: "-"}
		if v.Percentage > 0 {
			traffic = cell{text: percent(v.Percentage), color: ansiGreen}
		}
		rows = append(rows, []cell{
			{text: v.ID}, {text: strconv.Itoa(v.Number)}, {text: created(v.Created)}, {text: orDash(v.Source)},
			traffic, flareformCell(v), {text: oneLine(v.Message, messageWidth)},
		})
	}
	return rows
}

// flareformCell says whether flareform made the version and what its smoke test came to.
func flareformCell(v provision.HistoryVersion) cell {
	switch {
	case !v.Flareform && v.Smoke == "":
		return cell{text: "no"}
	case v.Smoke == provision.SmokePassed:
		return cell{text: "yes, smoke passed"}
	case v.Smoke == provision.SmokePending:
		return cell{text: "yes, smoke pending", color: ansiYellow}
	}
	return cell{text: "yes"}
}

func deploymentRows(deps []provision.HistoryDeployment) [][]cell {
	rows := make([][]cell, 0, len(deps))
	for _, d := range deps {
		shares := make([]string, 0, len(d.Versions))
		for _, v := range d.Versions {
			shares = append(shares, percent(v.Percentage)+" "+v.VersionID)
		}
		marker, versions := cell{}, cell{text: strings.Join(shares, ", ")}
		if d.Active {
			marker, versions.color = cell{text: "*", color: ansiGreen}, ansiGreen
		}
		source := orDash(d.Source)
		if d.TriggeredBy != "" {
			source += "/" + d.TriggeredBy
		}
		rows = append(rows, []cell{marker, {text: created(d.Created)}, versions,
			{text: oneLine(source, messageWidth)}, {text: oneLine(d.Message, messageWidth)}})
	}
	return rows
}

// cell is one table cell: its text and, when coloured, its colour.
type cell struct{ text, color string }

// writeTable writes header and rows in columns two spaces apart. The columns are padded by
// their text's width, not its bytes, and colour codes wrap only the text, so a coloured table
// lines up as a plain one does. The last column is not padded: no trailing spaces.
func writeTable(w io.Writer, header []string, rows [][]cell, color bool) {
	all := make([][]cell, 0, len(rows)+1)
	head := make([]cell, len(header))
	for i, h := range header {
		head[i] = cell{text: h}
	}
	all = append(all, head)
	all = append(all, rows...)
	widths := make([]int, len(header))
	for _, row := range all {
		for i, c := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(c.text))
		}
	}
	for _, row := range all {
		var line strings.Builder
		for i, c := range row {
			text := c.text
			if color && c.color != "" {
				text = c.color + text + ansiReset
			}
			line.WriteString(text)
			if i < len(row)-1 {
				line.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c.text)+2))
			}
		}
		fmt.Fprintln(w, strings.TrimRight(line.String(), " "))
	}
}

// created is a creation time in UTC to the second, "-" when the API gave none.
func created(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// oneLine is s on one line, control and format characters (newlines, tabs, escape sequences,
// bidi overrides) replaced by spaces, cut to at most width characters with "…" where it was cut.
func oneLine(s string, width int) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) // Cf: bidi overrides
	}), " ")
	if utf8.RuneCountInString(s) <= width {
		return s
	}
	runes := []rune(s)
	return strings.TrimRight(string(runes[:width-1]), " ") + "…"
}
