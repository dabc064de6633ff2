package main

import (
	"testing"
	"time"
)

func TestSummarizeOddEvenAndEmpty(t *testing.T) {
	cases := []struct {
		in   []float64
		want summary
	}{
		{[]float64{5, 1, 3}, summary{N: 3, Median: 3, Min: 1, Max: 5}},
		{[]float64{4, 1, 3, 10}, summary{N: 4, Median: 3.5, Min: 1, Max: 10}},
		{[]float64{7}, summary{N: 1, Median: 7, Min: 7, Max: 7}},
		{nil, summary{}},
	}
	for _, c := range cases {
		if got := summarize(c.in); got != c.want {
			t.Errorf("summarize(%v) = %+v, want %+v", c.in, got, c.want)
		}
	}
}

func TestSummarizeLeavesInputOrder(t *testing.T) {
	in := []float64{3, 1, 2}
	summarize(in)
	if in[0] != 3 || in[1] != 1 || in[2] != 2 {
		t.Fatalf("summarize reordered its input: %v", in)
	}
}

func TestPeakInWindowSlidesOverBursts(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(offsets ...time.Duration) []time.Time {
		var ts []time.Time
		for _, o := range offsets {
			ts = append(ts, t0.Add(o))
		}
		return ts
	}
	w := 5 * time.Minute
	cases := []struct {
		name  string
		times []time.Time
		want  int
	}{
		{"empty", nil, 0},
		{"one", at(0), 1},
		// Two bursts 4 minutes apart fall in one window even though a window starting at the
		// first request of each burst would count them separately after the first ends.
		{"bursts inside one window", at(0, time.Second, 4*time.Minute, 4*time.Minute+time.Second), 4},
		// Exactly one window apart: the first has left when the second arrives.
		{"exactly a window apart", at(0, w), 1},
		{"just inside", at(0, w-time.Nanosecond), 2},
		// Out of order input: the peak is the 6–10 minute stretch, not the lone first request.
		{"unsorted", at(10*time.Minute, 0, 6*time.Minute, 7*time.Minute, 8*time.Minute), 4},
	}
	for _, c := range cases {
		if got := peakInWindow(c.times, w); got != c.want {
			t.Errorf("%s: peakInWindow = %d, want %d", c.name, got, c.want)
		}
	}
}

func TestCriticalPathCountsSequentialRoundTrips(t *testing.T) {
	at := func(ms int) time.Time { return time.Unix(0, 0).Add(time.Duration(ms) * time.Millisecond) }
	call := func(from, to int) span { return span{at(from), at(to)} }
	cases := []struct {
		name  string
		spans []span
		want  int
	}{
		{"none", nil, 0},
		{"one", []span{call(0, 50)}, 1},
		{"three in a row", []span{call(0, 50), call(50, 100), call(101, 150)}, 3},
		{"ten at once", func() []span {
			var s []span
			for range 10 {
				s = append(s, call(0, 50))
			}
			return s
		}(), 1},
		// Two parallel chains of 2, then one call after both: 3 round trips.
		{"fan out and in", []span{call(0, 50), call(0, 60), call(55, 100), call(61, 110), call(120, 170)}, 3},
		{"overlap breaks the chain", []span{call(0, 50), call(40, 90)}, 1},
	}
	for _, c := range cases {
		if got := criticalPath(c.spans); got != c.want {
			t.Errorf("%s: criticalPath = %d, want %d", c.name, got, c.want)
		}
	}
}
