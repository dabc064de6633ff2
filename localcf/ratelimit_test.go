package localcf

import (
	"testing"
	"time"
)

// TestFixedWindowsRollOverOnTheClock: a fixed window allows limit calls, then refuses until the
// next window, which starts on the period boundary.
func TestFixedWindowsRollOverOnTheClock(t *testing.T) {
	l := newWindowLimiter()
	base := time.Date(2026, 1, 1, 12, 0, 50, 0, time.UTC)
	for i := 0; i < 2; i++ {
		if !l.allowFixed("k", 2, time.Minute, base) {
			t.Fatalf("call %d refused within the limit", i+1)
		}
	}
	if l.allowFixed("k", 2, time.Minute, base.Add(9*time.Second)) {
		t.Fatal("third call in the same minute allowed")
	}
	if !l.allowFixed("other", 2, time.Minute, base) {
		t.Fatal("another key shares the counter")
	}
	if !l.allowFixed("k", 2, time.Minute, base.Add(10*time.Second)) {
		t.Fatal("first call of the next minute refused")
	}
}

// TestSlidingWindowForgetsOldCalls: a sliding window counts only the last period.
func TestSlidingWindowForgetsOldCalls(t *testing.T) {
	l := newWindowLimiter()
	base := time.Date(2026, 1, 1, 12, 0, 50, 0, time.UTC)
	if !l.allowSliding("g", 1, time.Minute, base) {
		t.Fatal("first call refused")
	}
	if l.allowSliding("g", 1, time.Minute, base.Add(30*time.Second)) {
		t.Fatal("second call within the minute allowed (a fixed window would have rolled over)")
	}
	if !l.allowSliding("g", 1, time.Minute, base.Add(61*time.Second)) {
		t.Fatal("call a minute after the first refused")
	}
}

// TestGatewayCacheExpiresAndStaysBounded: answers expire with their TTL and the cache never
// holds more than maxCachedAnswers.
func TestGatewayCacheExpiresAndStaysBounded(t *testing.T) {
	c := newGatewayCache()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.put("a", cachedOutput{body: []byte("A")}, now, time.Minute)
	if got, ok := c.get("a", now.Add(59*time.Second)); !ok || string(got.body) != "A" {
		t.Fatalf("fresh answer: %q %v", got.body, ok)
	}
	if _, ok := c.get("a", now.Add(time.Minute)); ok {
		t.Fatal("answer served after its TTL")
	}
	for i := 0; i < 3*maxCachedAnswers; i++ {
		c.put(string(rune('a'+i%26))+time.Duration(i).String(), cachedOutput{}, now, time.Hour)
	}
	if n := len(c.answers); n > maxCachedAnswers {
		t.Fatalf("cache holds %d answers, bound is %d", n, maxCachedAnswers)
	}
}
