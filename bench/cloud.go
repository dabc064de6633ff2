package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/flareform/flareform/localcf"
)

// rateWindow is Cloudflare's client API rate limit window, the local Cloudflare's default.
const (
	rateWindow = 5 * time.Minute
	rateLimit  = 1200
)

// cloud is the one local Cloudflare of a benchmark run. It keeps every request record, since
// each measured run empties the server's log to count only its own calls.
type cloud struct {
	srv     *localcf.Server
	history []localcf.RequestRecord
}

func startCloud(ctx context.Context) (*cloud, error) {
	srv, err := localcf.Start(ctx, localcf.Options{}) // memory state, default rate limit
	if err != nil {
		return nil, fmt.Errorf("start the local Cloudflare: %w", err)
	}
	return &cloud{srv: srv}, nil
}

// take returns the records since the last take, keeps them in the history and empties the
// server's log. Runs are sequential and a child's requests are logged before their responses
// complete, so after a child exits every call it made is there.
func (c *cloud) take() []localcf.RequestRecord {
	recs := c.srv.Requests()
	c.srv.ResetRequests()
	c.history = append(c.history, recs...)
	return recs
}

func (c *cloud) Close() error { return c.srv.Close() }

// injectLatency makes the local Cloudflare wait d before answering any API call, or no
// longer wait when d is 0.
func (c *cloud) injectLatency(d time.Duration) {
	var rules []localcf.FaultRule
	if d > 0 {
		rules = []localcf.FaultRule{{Kind: "latency", Path: "*", LatencyMS: int(d / time.Millisecond)}}
	}
	c.srv.SetFaults(rules, 1)
}

// callStats summarises the API calls of one run.
type callStats struct {
	Calls, Writes int
	Throttled     int // 429 answers
	// Critical is the longest chain of calls each starting after the last ended (criticalPath).
	Critical int
	// PeakPerToken is the most calls of one token inside any rate window of the run.
	PeakPerToken int
}

func statsOf(recs []localcf.RequestRecord) callStats { return statsIn(recs, rateWindow) }

// statsIn summarises recs, counting the peak per token inside windows of window.
func statsIn(recs []localcf.RequestRecord, window time.Duration) callStats {
	var s callStats
	for _, r := range recs {
		s.Calls++
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			s.Writes++
		}
		if r.Status == http.StatusTooManyRequests {
			s.Throttled++
		}
	}
	s.Critical = criticalPath(spansOf(recs))
	for _, peak := range tokenPeaks(recs, window) {
		s.PeakPerToken = max(s.PeakPerToken, peak)
	}
	return s
}

// spansOf turns request records into server-side spans.
func spansOf(recs []localcf.RequestRecord) []span {
	out := make([]span, 0, len(recs))
	for _, r := range recs {
		out = append(out, span{start: r.Time, end: r.Time.Add(time.Duration(r.DurationMS * float64(time.Millisecond)))})
	}
	return out
}

// tokenPeaks is, per token fingerprint, the most requests inside any rate window.
func tokenPeaks(recs []localcf.RequestRecord, window time.Duration) map[string]int {
	byToken := map[string][]time.Time{}
	for _, r := range recs {
		byToken[r.TokenFP] = append(byToken[r.TokenFP], r.Time)
	}
	peaks := map[string]int{}
	for fp, times := range byToken {
		peaks[fp] = peakInWindow(times, window)
	}
	return peaks
}
