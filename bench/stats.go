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
