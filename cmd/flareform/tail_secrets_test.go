package main

import (
	"slices"
	"testing"

	"github.com/flareform/flareform/provision/spec"
)

// tail redacts a worker's `secrets:` values as it does its keys: the ones whose source resolves
// here; one that does not resolve is left out, without failing the tail.
func TestTailRedactsTheWorkersSecrets(t *testing.T) {
	const openAI = "sk-tail-test-0123456789abcdefghijklmnopqrstu"
	env := map[string]string{"OPENAI_KEY": openAI}
	getenv := func(k string) string { return env[k] }
	w := spec.Worker{Name: "images", Secrets: []spec.KeySource{
		{Binding: "OPENAI_KEY", From: "env", Ref: "OPENAI_KEY"},
		{Binding: "UNSET", From: "env", Ref: "NOT_SET_HERE"},
	}}
	got := tailSecrets(&rootOptions{Getenv: getenv}, &session{getenv: getenv}, &w, "images")
	if !slices.Contains(got, openAI) {
		t.Errorf("tail redacts %d values, not the worker's OPENAI_KEY", len(got))
	}
}
