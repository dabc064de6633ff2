package view

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/flareform/flareform/provision"
)

// consumerWidth is the most characters of a consumer name the table shows. Names come from the
// data points, which any worker on the account can write, so they are cut like messages are.
const consumerWidth = 40

// Usage writes `flareform usage`: a table per worker of its consumers' requests, refusals
// (401, 429), AI calls and tokens over the window, then the account's neurons today against
// the free allocation and what the excess costs, or why they are unknown. With color, refusals
// and neurons beyond the free allocation are yellow.
func Usage(w io.Writer, r *provision.UsageReport, color bool) {
	fmt.Fprintf(w, "Usage in the last %s (Analytics Engine dataset %s):\n", sinceText(r.Since), provision.UsageDataset)
	for _, wu := range r.Workers {
		fmt.Fprintln(w)
		if len(wu.Consumers) == 0 {
			fmt.Fprintf(w, "%s: no requests recorded.\n", wu.Worker)
			continue
		}
		fmt.Fprintf(w, "%s:\n", wu.Worker)
		writeTable(w, []string{"CONSUMER", "REQUESTS", "401S", "429S", "AI CALLS", "TOKENS"}, usageRows(wu.Consumers), color)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, neuronsLine(r.Neurons, color))
}

func usageRows(consumers []provision.ConsumerUsage) [][]cell {
	rows := make([][]cell, 0, len(consumers))
	for _, c := range consumers {
		name := oneLine(c.Consumer, consumerWidth)
		if name == "" {
			name = "-" // a data point without a consumer
		}
		rows = append(rows, []cell{{text: name}, {text: thousands(c.Requests)},
			warnCount(c.Unauthorized), warnCount(c.RateLimited), {text: thousands(c.AICalls)}, {text: thousands(c.Tokens)}})
	}
	return rows
}

// warnCount is a count of refused requests, yellow when there are any.
func warnCount(n int64) cell {
	if n == 0 {
		return cell{text: "0"}
	}
	return cell{text: thousands(n), color: ansiYellow}
}

// neuronsLine says how many of today's free neurons are used and what the excess costs.
func neuronsLine(n provision.NeuronUsage, color bool) string {
	if n.Today == nil {
		return "Neurons today: unknown (" + n.Unknown + ")"
	}
	today := *n.Today
	line := fmt.Sprintf("Neurons today: %s of %s free (%s)", thousands(roundNeurons(today)),
		thousands(int64(n.FreeDaily)), usedPercent(today, n.FreeDaily))
	excess := n.Excess()
	if excess <= 0 {
		return line
	}
	tail := fmt.Sprintf("excess %s → %s", thousands(roundNeurons(excess)), usd(provision.NeuronCostUSD(excess)))
	if color {
		tail = ansiYellow + tail + ansiReset
	}
	return line + "; " + tail
}

// roundNeurons shows neurons as a whole number: the API may give fractions.
func roundNeurons(f float64) int64 { return int64(math.Round(f)) }

// usedPercent is today's share of the free allocation, whole percent ("<1%" for a little).
func usedPercent(today float64, free int) string {
	if free <= 0 {
		return "no free allocation"
	}
	p := today / float64(free) * 100
	if p > 0 && p < 1 {
		return "<1%"
	}
	return strconv.FormatFloat(math.Round(p), 'f', 0, 64) + "%"
}

// usd writes a price in dollars: cents from a cent up, else the fraction of a cent down to
// a millionth of a dollar (one neuron of excess is $0.000011), so no charge shows as $0.00.
func usd(v float64) string {
	if v >= 0.01 {
		return "$" + strconv.FormatFloat(v, 'f', 2, 64)
	}
	s := strings.TrimRight(strconv.FormatFloat(v, 'f', 6, 64), "0")
	return "$" + strings.TrimSuffix(s, ".")
}

// thousands writes n with commas between groups of three digits: 12,345.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// sinceText writes the window as the user would say it: "24 hours", "7 days", "90 minutes".
func sinceText(d time.Duration) string {
	const day = 24 * time.Hour
	unit := func(n int64, one string) string {
		if n == 1 {
			return one
		}
		return fmt.Sprintf("%d %ss", n, one)
	}
	switch {
	case d >= day && d%day == 0:
		return unit(int64(d/day), "day")
	case d >= time.Hour && d%time.Hour == 0:
		return unit(int64(d/time.Hour), "hour")
	}
	return unit(int64(d/time.Minute), "minute")
}
