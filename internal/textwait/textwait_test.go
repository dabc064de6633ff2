package textwait

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSnippet(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"  hello \n", 10, "hello"},
		{"a\x00b\x7fc", 10, "a.b.c"},
		{"abcdefgh", 3, "abc…"},
	} {
		if got := Snippet([]byte(tc.in), tc.max); got != tc.want {
			t.Errorf("Snippet(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

func TestSleepEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep on a cancelled context: %v, want context.Canceled", err)
	}
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("Sleep: %v", err)
	}
}
