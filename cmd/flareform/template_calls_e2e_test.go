package main

// End-to-end checks, through the CLI and --local, of what a user does with each template after
// init: plan twice (the same text), smoke before any deploy, apply (the counts, the call it
// suggests), invoke with --prompt or a file, output WORKER, destroy.

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Two plans of the same state print the same text, with a key shown only in words: the
// pull request's plan can be matched to main's.
func TestTwoPlansOfTheSameStatePrintTheSameText(t *testing.T) {
	_, c := savedPlanCLI(t) // A_KEY holds worker a's env key
	specPath := twoWorkerProject(t, "hello")
	twoPlans := func(stage string) string {
		t.Helper()
		first := c.mustRun(exitChanges, "-f", specPath, "plan", "--detailed-exitcode")
		second := c.mustRun(exitChanges, "-f", specPath, "plan", "--detailed-exitcode")
		if first.stdout != second.stdout {
			t.Errorf("%s: two plans of the same state differ:\n%s\n---\n%s", stage, first.stdout, second.stdout)
		}
		if fp := regexp.MustCompile(`\bfp\b|g?[0-9a-f]{32}`).FindString(first.stdout); fp != "" {
			t.Errorf("%s: the plan shows a fingerprint (%q):\n%s", stage, fp, first.stdout)
		}
		return first.stdout
	}
	if out := twoPlans("new"); !strings.Contains(out, "+ secrets.API_KEY: (sensitive, new)\n") {
		t.Errorf("the plan does not show the new key as (sensitive, new):\n%s", out)
	}
	c.mustRun(exitOK, "-f", specPath, "apply", "--auto-approve")
	c.env["A_KEY"] = "saved-plan-key-changed-0123456789abcdef"
	if out := twoPlans("changed"); !strings.Contains(out, "~ secrets.API_KEY: (sensitive) -> (sensitive, changed") {
		t.Errorf("the plan does not show the changed key as (sensitive) -> (sensitive, changed…):\n%s", out)
	}
}

// A semantic-search project: smoke before any deploy fails at once saying so; apply counts the
// index with the worker, as the plan does ("2 to create", "2 created"), and suggests the calls
// a search worker takes; invoke stores and finds a document; output WORKER [--raw]; destroy
// counts the index too.
func TestSemanticSearchFromInitToDestroy(t *testing.T) {
	c := newCLI(t, map[string]string{})
	specPath := initTemplate(t, c, "semantic-search", "search")
	f := []string{"-f", specPath, "--local"}

	start := time.Now()
	r := c.run(append(f, "smoke")...)
	took := time.Since(start)
	out := r.stdout + r.stderr
	if r.code != exitError || took > 5*time.Second || !strings.Contains(out, "not deployed") || !strings.Contains(out, "flareform apply") ||
		strings.Contains(out, "key") {
		t.Errorf("smoke before any deploy: exit %d after %s, want 1 at once saying it is not deployed (and nothing of a key):\n%s", r.code, took, out)
	}

	if r := c.mustRun(exitChanges, append(f, "plan", "--detailed-exitcode")...); !strings.Contains(r.stdout, "Plan: 2 to create,") {
		t.Fatalf("plan:\n%s", r.stdout)
	}
	r = c.mustRun(exitOK, append(f, "apply", "--auto-approve")...)
	for _, want := range []string{
		"Apply complete! Resources: 2 created, 0 updated, 0 destroyed.",
		"flareform invoke -f " + specPath + " --local search --path /documents --data '{",
		"flareform invoke -f " + specPath + " --local search --prompt ",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("apply output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "answer.png") {
		t.Errorf("apply suggests the text-to-image call for a search worker:\n%s", r.stdout)
	}

	c.mustRun(exitOK, append(f, "invoke", "search", "--path", "/documents", "--data", `{"id": "cats", "text": "Cats purr when they are content."}`)...)
	r = c.mustRun(exitOK, append(f, "invoke", "search", "--prompt", "which animal purrs?")...)
	var found struct{ Matches []struct{ ID string } }
	if err := json.Unmarshal([]byte(r.stdout), &found); err != nil || len(found.Matches) == 0 || found.Matches[0].ID != "cats" {
		t.Errorf("invoke --prompt on a search worker: %v\n%s", err, r.stdout)
	}

	r = c.mustRun(exitOK, append(f, "output", "search", "--raw")...)
	if !regexp.MustCompile(`^https://search\.[a-z0-9-]+\.workers\.dev\n$`).MatchString(r.stdout) {
		t.Errorf("output search --raw: %q, want the URL alone", r.stdout)
	}
	r = c.mustRun(exitOK, append(f, "output", "search")...)
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[1], "search") {
		t.Errorf("output search: %q, want the header and search's row", r.stdout)
	}
	if r := c.run(append(f, "output", "nope")...); r.code != exitError || !strings.Contains(r.stderr, `no worker "nope"`) {
		t.Errorf("output nope: exit %d\n%s", r.code, r.stderr)
	}
	if r := c.run(append(f, "output", "--raw")...); r.code != exitError || !strings.Contains(r.stderr, "WORKER --raw") {
		t.Errorf("output --raw without a worker: exit %d\n%s", r.code, r.stderr)
	}

	r = c.mustRun(exitOK, append(f, "destroy", "--auto-approve")...)
	if !strings.Contains(r.stdout, "Destroy complete! Resources: 0 created, 0 updated, 2 destroyed.") {
		t.Errorf("destroy output:\n%s", r.stdout)
	}
	if r := c.run(append(f, "output", "search", "--raw")...); r.code != exitError || r.stdout != "" || !strings.Contains(r.stderr, "not deployed") {
		t.Errorf("output --raw of a destroyed worker: exit %d %q\n%s", r.code, r.stdout, r.stderr)
	}
}

// invoke fits the templates that take bytes or chat: a WAV to speech-to-text prints {text}, an
// image with a question to image-to-text prints {description}, a chat answer prints as text on
// a terminal and streams as the same flowing text. apply suggests each one's own call.
func TestInvokeFitsTheTemplates(t *testing.T) {
	for _, tc := range []struct {
		template, name, hint string
		check                func(t *testing.T, c *cli, f []string, dir string)
	}{
		{"speech-to-text", "transcribe", "--data @speech.wav", func(t *testing.T, c *cli, f []string, dir string) {
			r := c.mustRun(exitOK, append(f, "invoke", "transcribe", "--data", "@"+filepath.Join(dir, "smoke", "silence.wav"))...)
			var got struct{ Text *string }
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got.Text == nil {
				t.Errorf("invoke with a WAV: %v, want {text}:\n%s", err, r.stdout)
			}
		}},
		{"image-to-text", "describe", "--data @photo.png --prompt", func(t *testing.T, c *cli, f []string, dir string) {
			r := c.mustRun(exitOK, append(f, "invoke", "describe", "--data", "@"+filepath.Join(dir, "smoke", "gradient.png"), "--prompt", "What is this?")...)
			var got struct{ Description string }
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got.Description == "" {
				t.Errorf("invoke with a PNG and a question: %v, want {description}:\n%s", err, r.stdout)
			}
		}},
		{"chat", "chat", `--prompt "Tell me a joke." --stream`, func(t *testing.T, c *cli, f []string, _ string) {
			c.stdoutTTY = true
			defer func() { c.stdoutTTY = false }()
			text := c.mustRun(exitOK, append(f, "invoke", "chat", "--prompt", "Say hello.")...).stdout
			if strings.HasPrefix(text, "{") || strings.Count(text, "\n") != 1 {
				t.Errorf("a chat answer on a terminal: %q, want its text on one line", text)
			}
			if streamed := c.mustRun(exitOK, append(f, "invoke", "chat", "--prompt", "Say hello.", "--stream")...).stdout; streamed != text {
				t.Errorf("a streamed chat: %q, want the same flowing text %q", streamed, text)
			}
			var raw struct{ Body struct{ Response string } }
			r := c.mustRun(exitOK, append(f, "invoke", "chat", "--prompt", "Say hello.", "--json")...)
			if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil || raw.Body.Response+"\n" != text {
				t.Errorf("--json: %v, want the raw answer {response: %q}:\n%s", err, text, r.stdout)
			}
		}},
	} {
		t.Run(tc.template, func(t *testing.T) {
			t.Parallel()
			c := newCLI(t, map[string]string{})
			specPath := initTemplate(t, c, tc.template, tc.name)
			f := []string{"-f", specPath, "--local"}
			r := c.mustRun(exitOK, append(f, "apply", "--auto-approve")...)
			if want := "--local " + tc.name + " " + tc.hint; !strings.Contains(r.stdout, want) || strings.Contains(r.stdout, "answer.png") {
				t.Errorf("apply suggests, want %q and no text-to-image call:\n%s", want, r.stdout)
			}
			tc.check(t, c, f, filepath.Dir(specPath))
		})
	}
}

// After a failed apply nothing is suggested: the error is what to act on.
func TestNoInvokeHintAfterAFailedApply(t *testing.T) {
	c := newCLI(t, map[string]string{})
	specPath := initProject(t, c, "images")
	editFile(t, specPath, "expect: image/", "expect: application/json") // the smoke test fails
	r := c.run("-f", specPath, "--local", "apply", "--auto-approve")
	if r.code != exitError || !strings.Contains(r.stdout, "Apply failed") {
		t.Fatalf("apply with a failing smoke test: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, "flareform invoke") || strings.Contains(r.stdout, "To call the workers") {
		t.Errorf("a failed apply suggests a call:\n%s", r.stdout)
	}
}
