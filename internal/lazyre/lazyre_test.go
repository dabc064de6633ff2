package lazyre

import (
	"regexp"
	"sync"
	"testing"
)

var word = Regexp{Expr: `^(\w+)-(\d+)$`}

func TestRegexpMatchesLikeRegexp(t *testing.T) {
	want := regexp.MustCompile(word.Expr)
	for _, s := range []string{"abc-12", "abc", "-1", "x-9 "} {
		if got := word.MatchString(s); got != want.MatchString(s) {
			t.Errorf("MatchString(%q) = %t", s, got)
		}
	}
	if got := word.FindStringSubmatch("abc-12"); len(got) != 3 || got[1] != "abc" || got[2] != "12" {
		t.Errorf("FindStringSubmatch = %q", got)
	}
	if got := (&Regexp{Expr: `\d`}).ReplaceAllString("a1b2", "#"); got != "a#b#" {
		t.Errorf("ReplaceAllString = %q", got)
	}
	if got := (&Regexp{Expr: `(\d)`}).FindAllStringSubmatch("a1b2", -1); len(got) != 2 || got[1][1] != "2" {
		t.Errorf("FindAllStringSubmatch = %q", got)
	}
}

// Every goroutine sees the one compiled expression (run with -race).
func TestRegexpCompilesOnce(t *testing.T) {
	r := &Regexp{Expr: `a+`}
	var wg sync.WaitGroup
	got := make([]*regexp.Regexp, 8)
	for i := range got {
		wg.Add(1)
		go func() { defer wg.Done(); got[i] = r.Regexp() }()
	}
	wg.Wait()
	for _, re := range got {
		if re != got[0] || re == nil {
			t.Fatalf("compiled %p and %p", re, got[0])
		}
	}
}

func TestBadExprPanicsOnFirstUse(t *testing.T) {
	r := &Regexp{Expr: `(`}
	defer func() {
		if recover() == nil {
			t.Error("a bad expression did not panic")
		}
	}()
	r.MatchString("x")
}
