// Package textwait holds two small helpers the engine and its API client share: a context-aware
// sleep and the printable start of a response body for error messages.
package textwait

import (
	"bytes"
	"context"
	"strings"
	"time"
)

// Sleep waits d, or until ctx ends (then it returns ctx's error).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Snippet is the start of body as printable text (at most max bytes, control characters as
// '.', "…" when cut), for error messages.
func Snippet(body []byte, max int) string {
	body = bytes.TrimSpace(body)
	truncated := len(body) > max
	if truncated {
		body = body[:max]
	}
	s := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return '.'
		}
		return r
	}, string(body))
	if truncated {
		s += "…"
	}
	return s
}
