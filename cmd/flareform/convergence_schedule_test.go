package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/flareform/flareform/localcf"
	"github.com/flareform/flareform/localcf/faults"
)

// engineMaxRetries is the engine's default number of retries per API call; a burst of more
// than engineMaxRetries+1 faults on one call makes that call, and the command, fail.
const engineMaxRetries = 4

// faultSchedule is the faults one convergence schedule injects into one command.
type faultSchedule struct {
	Index    int
	Scenario int // index into the scenario list
	Step     int // API call position (0-based) where the main burst starts
	Rules    []faults.Rule
	Seed     int64 // seed of the local Cloudflare's fault injector
	// Long is true when the main burst outlasts the engine's retries: the call at Step is then
	// meant to fail for good, so the run exercises "fail clearly, then the re-run converges".
	Long bool
}

// burstKinds are the kinds a burst is drawn from; latency never fails a call.
var burstKinds = []string{
	faults.KindTooManyRequests, faults.KindInternalError, faults.KindBadGateway,
	faults.KindServiceUnavailable, faults.KindDrop, faults.KindLatency,
}

// failingKinds are the kinds that make a call fail (and be retried).
var failingKinds = burstKinds[:len(burstKinds)-1]

// scheduleRand is schedule i's own random source: any schedule can be re-run alone from
// (seed, i), whatever ran before it.
func scheduleRand(seed int64, i int) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), uint64(i)*0x9e3779b97f4a7c15+1))
}

// makeSchedule derives schedule i. calls[s] is how many API calls scenario s's command makes
// without faults. Scenarios are taken in turn and, within a scenario, the burst start walks
// through every call position, so enough schedules hit every call of every command. Every
// third schedule has a burst longer than the retries; the others draw their burst length.
func makeSchedule(seed int64, i int, calls []int) faultSchedule {
	rng := scheduleRand(seed, i)
	s := faultSchedule{Index: i, Scenario: i % len(calls), Seed: int64(rng.Uint64() >> 1)}
	round := i / len(calls)
	n := max(calls[s.Scenario], 1)
	s.Step = int((uint64(round) + uint64(seed)) % uint64(n))

	s.Long = i%3 == 2 || rng.IntN(6) == 0
	main := faults.Rule{Skip: s.Step}
	if s.Long {
		main.Kind = failingKinds[rng.IntN(len(failingKinds))]
		main.Count = engineMaxRetries + 1 + rng.IntN(3) // 5..7 faults in a row
	} else {
		main.Kind = burstKinds[rng.IntN(len(burstKinds))]
		main.Count = 1 + rng.IntN(engineMaxRetries-1) // 1..3: the retries absorb them
	}
	setKindOptions(&main, rng)
	s.Rules = append(s.Rules, main)

	// A second, short burst later in the same command: faults at two steps.
	if rng.IntN(4) == 0 && n > 1 {
		second := faults.Rule{Skip: s.Step + 1 + rng.IntN(n), Count: 1 + rng.IntN(2)}
		second.Kind = burstKinds[rng.IntN(len(burstKinds))]
		setKindOptions(&second, rng)
		s.Rules = append(s.Rules, second)
	}
	// Low-probability background noise on every call.
	if rng.IntN(2) == 0 {
		noise := faults.Rule{Kind: burstKinds[rng.IntN(len(burstKinds))], Probability: 0.02 + 0.06*rng.Float64()}
		setKindOptions(&noise, rng)
		s.Rules = append(s.Rules, noise)
	}
	return s
}

// setKindOptions fills the options a kind needs: 429 asks to wait one second, latency waits
// 50-300 ms.
func setKindOptions(r *faults.Rule, rng *rand.Rand) {
	switch r.Kind {
	case faults.KindTooManyRequests:
		r.RetryAfter = 1
	case faults.KindLatency:
		r.LatencyMS = 50 + rng.IntN(251)
	}
}

// countInjected works out how many faults the injector fired during records, the request log
// of one command run with rules and seed from a reset injector. The log does not say which
// responses were made up (a dropped connection is logged like a 200), so the injector's
// decisions are replayed on the same request sequence: they are deterministic for the same
// rules, seed and request order. It returns the faults fired and, of those, the ones that sent
// an error status, which the caller can compare with the statuses in the log.
func countInjected(rules []faults.Rule, seed int64, records []localcf.RequestRecord) (fired, errorStatuses int) {
	records = slices.Clone(records)
	slices.SortStableFunc(records, func(a, b localcf.RequestRecord) int { return a.Time.Compare(b.Time) })

	// Pass 1 finds the latency faults: with a cancelled request context a firing latency rule
	// aborts the handler at once. Drops become 500s here so that only latency aborts.
	latency := make([]faults.Rule, len(rules))
	for n, r := range rules {
		if r.Kind == faults.KindDrop {
			r.Kind = faults.KindInternalError
		}
		latency[n] = r
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, aborted := range replay(latency, seed, records, cancelled) {
		if aborted.abort {
			fired++
		}
	}
	// Pass 2 finds the other faults: a made-up response carries the fault header, and a drop
	// cannot hijack a recorder, so it aborts the handler. Latency shrinks to 1 ms.
	quick := make([]faults.Rule, len(rules))
	for n, r := range rules {
		if r.Kind == faults.KindLatency {
			r.LatencyMS = 1
		}
		quick[n] = r
	}
	for _, o := range replay(quick, seed, records, context.Background()) {
		switch {
		case o.abort:
			fired++
		case o.fault:
			fired++
			errorStatuses++
		}
	}
	return fired, errorStatuses
}

type replayOutcome struct{ abort, fault bool }

func replay(rules []faults.Rule, seed int64, records []localcf.RequestRecord, ctx context.Context) []replayOutcome {
	handler := faults.New(rules, seed).Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	out := make([]replayOutcome, len(records))
	for n, rec := range records {
		req := httptest.NewRequestWithContext(ctx, rec.Method, "http://127.0.0.1"+rec.Path, nil)
		w := httptest.NewRecorder()
		out[n].abort = serveRecovering(handler, w, req)
		out[n].fault = w.Header().Get(faults.FaultHeader) != ""
	}
	return out
}

// serveRecovering serves req and reports whether the handler aborted (http.ErrAbortHandler).
func serveRecovering(h http.Handler, w http.ResponseWriter, req *http.Request) (aborted bool) {
	defer func() {
		if v := recover(); v != nil {
			err, ok := v.(error)
			if !ok || !errors.Is(err, http.ErrAbortHandler) {
				panic(v)
			}
			aborted = true
		}
	}()
	h.ServeHTTP(w, req)
	return false
}

// errorStatusCount counts the logged responses a fault could have sent (429 and 5xx).
func errorStatusCount(records []localcf.RequestRecord) int {
	n := 0
	for _, r := range records {
		if r.Status == http.StatusTooManyRequests || r.Status >= 500 {
			n++
		}
	}
	return n
}

func TestMakeScheduleIsRepeatableAndCoversEveryStep(t *testing.T) {
	calls := []int{7, 11, 5}
	a, b := makeSchedule(1, 42, calls), makeSchedule(1, 42, calls)
	if faults.FormatRules(a.Rules) != faults.FormatRules(b.Rules) || a.Step != b.Step || a.Seed != b.Seed {
		t.Fatalf("schedule 42 differs between two derivations: %+v vs %+v", a, b)
	}
	if c := makeSchedule(2, 42, calls); faults.FormatRules(c.Rules) == faults.FormatRules(a.Rules) && c.Seed == a.Seed {
		t.Error("another seed gives the same schedule")
	}
	hit := map[[2]int]bool{}
	long := 0
	total := 0
	for _, c := range calls {
		total += c
	}
	for i := range 3 * total {
		s := makeSchedule(1, i, calls)
		if err := faults.ValidateRules(s.Rules); err != nil {
			t.Fatalf("schedule %d: %v", i, err)
		}
		if s.Long {
			long++
			if s.Rules[0].Count < engineMaxRetries+1 || s.Rules[0].Kind == faults.KindLatency {
				t.Errorf("schedule %d is long but its burst %s does not outlast the retries", i, faults.FormatRules(s.Rules[:1]))
			}
		}
		hit[[2]int{s.Scenario, s.Step}] = true
	}
	if len(hit) != total {
		t.Errorf("%d of %d call positions hit", len(hit), total)
	}
	if long < total {
		t.Errorf("only %d of %d schedules have a burst longer than the retries", long, 3*total)
	}
}

func TestCountInjectedReplaysTheInjector(t *testing.T) {
	rules := []faults.Rule{
		{Kind: faults.KindLatency, LatencyMS: 5, Count: 2},
		{Kind: faults.KindDrop, Skip: 1, Count: 1},
		{Kind: faults.KindServiceUnavailable, Skip: 3, Count: 2},
		{Kind: faults.KindInternalError, Probability: 0.3},
	}
	srv := httptest.NewServer(faults.New(rules, 7).Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	})))
	defer srv.Close()
	var records []localcf.RequestRecord
	wantFired, wantErrors := 0, 0
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for n := range 40 {
		path := fmt.Sprintf("/client/v4/x/%d", n)
		res, err := client.Get(srv.URL + path)
		status := http.StatusOK
		switch {
		case err != nil:
			wantFired++ // the drop
		default:
			status = res.StatusCode
			res.Body.Close()
			if res.Header.Get(faults.FaultHeader) != "" {
				wantFired++
				wantErrors++
			}
		}
		records = append(records, localcf.RequestRecord{Time: testTime(n), Method: http.MethodGet, Path: path, Status: status})
	}
	wantFired += 2 // the two latency faults, which leave no trace in the response
	fired, errs := countInjected(rules, 7, records)
	if fired != wantFired || errs != wantErrors || errs != errorStatusCount(records) {
		t.Errorf("countInjected = %d fired, %d error statuses; want %d and %d (log has %d)",
			fired, errs, wantFired, wantErrors, errorStatusCount(records))
	}
}

func testTime(n int) time.Time {
	return time.Unix(1_800_000_000, 0).Add(time.Duration(n) * time.Millisecond)
}
