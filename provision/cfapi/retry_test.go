package cfapi

import (
	"net/http"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		name   string
		header http.Header
		want   time.Duration
	}{
		{"seconds", http.Header{"Retry-After": {"3"}}, 3 * time.Second},
		{"milliseconds win", http.Header{"Retry-After-Ms": {"250"}, "Retry-After": {"3"}}, 250 * time.Millisecond},
		{"http date", http.Header{"Retry-After": {now.Add(7 * time.Second).Format(http.TimeFormat)}}, 7 * time.Second},
		{"date in the past", http.Header{"Retry-After": {now.Add(-time.Minute).Format(http.TimeFormat)}}, 0},
		{"garbage", http.Header{"Retry-After": {"soon"}}, 0},
		{"absent", http.Header{}, 0},
	}
	for _, c := range cases {
		if got := parseRetryAfter(c.header, now); got != c.want {
			t.Errorf("%s: parseRetryAfter = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestRetryDelayHonoursRetryAfterAndJitters(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 50 {
		d := retryDelay(1, 2*time.Second)
		if d < 2*time.Second || d >= 2*time.Second+250*time.Millisecond {
			t.Fatalf("retryDelay with Retry-After 2s = %v, want within [2s, 2.25s)", d)
		}
		seen[d] = true
	}
	if len(seen) < 2 {
		t.Errorf("retryDelay gave the same delay 50 times; want jitter")
	}
	for attempt := 1; attempt <= 10; attempt++ {
		base := min(retryBaseDelay<<(attempt-1), retryMaxDelay)
		d := retryDelay(attempt, 0)
		if d < base/2 || d > base {
			t.Errorf("attempt %d: delay %v outside [%v, %v]", attempt, d, base/2, base)
		}
	}
}

func TestNewAPIError(t *testing.T) {
	cases := []struct {
		body string
		want string
	}{
		{`{"success":false,"errors":[{"code":10007,"message":"This Worker does not exist on your account."}]}`,
			"404 This Worker does not exist on your account. (code 10007)"},
		{`{"success":false,"error":"model not found"}`, "404 model not found"},
		{"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head></html>", "404 HTML error page: 502 Bad Gateway"},
		{"", "404 not found"},
	}
	for _, c := range cases {
		if got := newAPIError(404, []byte(c.body)).Error(); got != c.want {
			t.Errorf("newAPIError(%q) = %q, want %q", c.body, got, c.want)
		}
	}
}
