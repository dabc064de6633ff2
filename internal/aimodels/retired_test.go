package aimodels

import (
	"testing"
	"time"
)

func TestSnapshotHoldsTheEighteenModelsOfMay2026(t *testing.T) {
	if n := len(RetiredModels()); n != 18 {
		t.Fatalf("%d retired models, want the changelog's 18", n)
	}
	seen := map[string]bool{}
	for _, r := range RetiredModels() {
		if seen[r.Name] {
			t.Errorf("%s listed twice", r.Name)
		}
		seen[r.Name] = true
		if r.Replacement == "" || r.Replacement == r.Name {
			t.Errorf("%s has no replacement", r.Name)
		}
		if _, retired := LookupRetired(r.Replacement); retired {
			t.Errorf("%s is replaced by %s, itself retired", r.Name, r.Replacement)
		}
	}
	r, ok := LookupRetired("@cf/meta/llama-3.1-8b-instruct")
	if !ok || r.Replacement != "@cf/meta/llama-3.1-8b-instruct-fast" || !r.SameShape {
		t.Errorf("llama-3.1-8b-instruct: %+v, %v", r, ok)
	}
	if _, ok := LookupRetired("@cf/meta/llama-3.1-8b-instruct-fast"); ok {
		t.Error("the -fast variant stays active")
	}
}

func TestPastDate(t *testing.T) {
	day := time.Date(2026, 5, 30, 0, 0, 0, 0, time.UTC)
	if PastDate("2026-05-30", day.Add(-time.Second)) || !PastDate("2026-05-30", day) || PastDate("bad", day) {
		t.Error("PastDate is wrong around the date")
	}
}
