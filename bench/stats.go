package main

import (
	"slices"
	"sort"
	"time"
)

// summary describes one measured quantity over the rounds of a benchmark.
type summary struct {
	N                int
	Median, Min, Max float64
}

// summarize returns the median and the min–max spread of xs; the median of an even count is
// the mean of the two middle values. An empty input gives a zero summary with N = 0.
func summarize(xs []float64) summary {
	if len(xs) == 0 {
		return summary{}
	}
	sorted := slices.Clone(xs)
	sort.Float64s(sorted)
	n := len(sorted)
	median := sorted[n/2]
	if n%2 == 0 {
		median = (sorted[n/2-1] + sorted[n/2]) / 2
	}
	return summary{N: n, Median: median, Min: sorted[0], Max: sorted[n-1]}
}

// peakInWindow is the largest number of events inside any interval of length window (events
// exactly window apart are in different intervals). It is at least what a fixed-window rate
// limiter that opens at any event could have counted, so it bounds every such limiter.
func peakInWindow(times []time.Time, window time.Duration) int {
	sorted := slices.Clone(times)
	slices.SortFunc(sorted, func(a, b time.Time) int { return a.Compare(b) })
	peak, start := 0, 0
	for end := range sorted {
		for sorted[end].Sub(sorted[start]) >= window {
			start++
		}
		peak = max(peak, end-start+1)
	}
	return peak
}

// span is one request's start and end on the server.
type span struct{ start, end time.Time }

// criticalPath is the longest chain of calls in which each starts after the one before it
// ended: the sequential round trips the run waited on. With a fixed latency injected on every
// call it is what that latency multiplies, however many calls ran beside the chain.
func criticalPath(spans []span) int {
	sorted := slices.Clone(spans)
	slices.SortFunc(sorted, func(a, b span) int { return a.end.Compare(b.end) })
	// depth[i] is the longest chain ending with sorted[i]; a chain only links to calls that
	// ended before sorted[i] started, which all come earlier in end order. Quadratic, which a
	// few thousand calls of one run afford.
	depth := make([]int, len(sorted))
	best := 0
	for i, s := range sorted {
		d := 0
		for j := i - 1; j >= 0; j-- {
			if !sorted[j].end.After(s.start) {
				d = max(d, depth[j])
			}
		}
		depth[i] = d + 1
		best = max(best, depth[i])
	}
	return best
}
