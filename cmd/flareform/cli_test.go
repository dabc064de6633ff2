package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flareform/flareform/cmd/flareform/view"
	"github.com/flareform/flareform/provision"
)

func TestPlanSymbolsAreColouredOnlyOnATerminalWithoutNoColor(t *testing.T) {
	plan := &provision.Plan{Workers: []provision.WorkerPlan{
		{Key: "a", Name: "a", Action: provision.ActionCreate, Changes: []provision.Change{{Path: "main", Op: provision.OpAdd, New: "x"}}},
		{Key: "b", Name: "b", Action: provision.ActionUpdate, Changes: []provision.Change{{Path: "vars.X", Op: provision.OpRemove, Old: "1"}}},
		{Key: "c", Name: "c", Action: provision.ActionDelete},
	}}
	for _, tt := range []struct {
		name    string
		tty     bool
		noColor bool
		env     map[string]string
		want    bool
	}{
		{"terminal", true, false, nil, true},
		{"pipe", false, false, nil, false},
		{"--no-color", true, true, nil, false},
		{"NO_COLOR", true, false, map[string]string{"NO_COLOR": "1"}, false},
		{"TERM=dumb", true, false, map[string]string{"TERM": "dumb"}, false},
	} {
		opts := &rootOptions{NoColor: tt.noColor, Getenv: func(k string) string { return tt.env[k] }}
		var buf bytes.Buffer
		view.Plan(&buf, plan, opts.colorEnabled(tt.tty))
		out := buf.String()
		// Which colours go where is view's test (TestPlanColoursTheLeadingSymbols).
		if got := strings.Contains(out, "\x1b["); got != tt.want {
			t.Errorf("%s: coloured = %t, want %t:\n%q", tt.name, got, tt.want, out)
		}
	}
}

func TestProgressWithoutATerminalPrintsPlainLines(t *testing.T) {
	var buf bytes.Buffer
	p := startProgress(&buf, false, "Applying")
	fmt.Fprintln(p, "images: uploading")
	p.Stop()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 || lines[0] != "Applying..." || lines[1] != "images: uploading" || !strings.HasPrefix(lines[2], "Applying: done in ") {
		t.Errorf("plain progress = %q", buf.String())
	}
	if strings.ContainsAny(buf.String(), "\r\x1b") {
		t.Errorf("plain progress has terminal control codes: %q", buf.String())
	}
}

func TestProgressOnATerminalKeepsLogLinesAboveTheSpinner(t *testing.T) {
	var buf syncBuffer
	p := startProgress(&buf, true, "Applying")
	fmt.Fprintln(p, "images: uploading")
	p.Stop()
	out := buf.String()
	// The log line starts on a cleared line, the spinner is redrawn after it, and Stop leaves
	// the line cleared.
	if !strings.Contains(out, "\r\x1b[Kimages: uploading\n\r\x1b[K") || !strings.HasSuffix(out, "\r\x1b[K") {
		t.Errorf("terminal progress = %q", out)
	}
	if !strings.Contains(out, "| Applying (") {
		t.Errorf("no spinner in %q", out)
	}
}

func TestApplyShowsProgressWithoutATerminal(t *testing.T) {
	_, env := startStandalone(t)
	c := newCLI(t, env)
	spec := initProject(t, c, "progress")
	r := c.mustRun(0, "apply", "-f", spec, "--auto-approve")
	if !strings.Contains(r.stderr, "Applying...\n") || !strings.Contains(r.stderr, "Applying: done in ") {
		t.Errorf("apply stderr lacks plain progress lines:\n%s", r.stderr)
	}
}

func TestHelpShowsPlaceholdersAndOnlyTheFlagsACommandTakes(t *testing.T) {
	c := newCLI(t, map[string]string{})
	plan := c.mustRun(0, "plan", "--help").stdout
	for _, want := range []string{"--env NAME", "-f, --file FILE", "--parallelism N", "--local", "--no-color", "--json"} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan --help lacks %q:\n%s", want, plan)
		}
	}
	if strings.Contains(plan, "environments ") || strings.Contains(plan, " string ") {
		t.Errorf("plan --help has a placeholder that is not a name:\n%s", plan)
	}
	for _, cmd := range []string{"init", "version"} {
		help := c.mustRun(0, cmd, "--help").stdout
		for _, absent := range []string{"--local", "--parallelism", "--env", "--file"} {
			if strings.Contains(help, absent) {
				t.Errorf("%s --help offers %s, which it does not use", cmd, absent)
			}
		}
	}
	r := c.mustRun(exitError, "init", "--local")
	if !strings.Contains(r.stderr, "unknown flag: --local") {
		t.Errorf("init --local: %s", r.stderr)
	}
	for _, cmd := range []string{"apply", "rotate-key", "local", "init", "invoke", "smoke"} {
		help := c.mustRun(0, cmd, "--help").stdout
		if strings.Contains(help, " string ") {
			t.Errorf("%s --help has a bare 'string' placeholder:\n%s", cmd, help)
		}
	}
}

func TestFriendlyArgumentErrors(t *testing.T) {
	c := newCLI(t, map[string]string{})
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"rotate-key"}, "rotate-key needs the worker's name: flareform rotate-key WORKER"},
		{[]string{"rotate-key", "a", "b"}, "rotate-key takes one worker's name, got 2"},
		{[]string{"invoke"}, "invoke needs the worker's name: flareform invoke WORKER"},
		{[]string{"plan", "extra"}, `plan takes no arguments, got "extra"`},
		{[]string{"init", "a", "b"}, "usage: flareform init [DIR]"},
		{[]string{"deploy"}, `unknown command "deploy"; did you mean apply?`},
		{[]string{"delete"}, "did you mean destroy?"},
	} {
		r := c.mustRun(exitError, tt.args...)
		if !strings.Contains(r.stderr, tt.want) {
			t.Errorf("flareform %s: stderr %q, want %q", strings.Join(tt.args, " "), r.stderr, tt.want)
		}
		if strings.Contains(r.stderr, "arg(s)") {
			t.Errorf("flareform %s: cobra's raw message: %q", strings.Join(tt.args, " "), r.stderr)
		}
	}
}

func TestVersionFlag(t *testing.T) {
	c := newCLI(t, map[string]string{})
	flag := c.mustRun(0, "--version").stdout
	cmd := c.mustRun(0, "version").stdout
	if flag != cmd || !strings.HasPrefix(flag, "flareform ") || !strings.Contains(flag, "workerd") {
		t.Errorf("--version %q, version %q: want the same line", flag, cmd)
	}
}

func TestCompletion(t *testing.T) {
	c := newCLI(t, map[string]string{})
	spec := initProject(t, c, "complete-me")
	appendFile(t, spec, "environments:\n  staging:\n    workers: {}\n  prod:\n    workers: {}\n")
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"__complete", "-f", spec, "invoke", ""}, []string{"complete-me"}},
		{[]string{"__complete", "-f", spec, "rotate-key", ""}, []string{"complete-me"}},
		{[]string{"__complete", "-f", spec, "plan", "--env", ""}, []string{"prod", "staging"}},
		{[]string{"__complete", "init", "--template", ""}, []string{"text-generation", "text-to-image"}},
		{[]string{"__complete", "-f", spec, "apply", "--target", ""}, []string{"complete-me"}},
		{[]string{"__complete", "-f", spec, "plan", "--target", "x", "--target", ""}, []string{"complete-me"}},
	} {
		r := c.mustRun(0, tt.args...)
		for _, want := range tt.want {
			if !strings.Contains(r.stdout, want+"\n") {
				t.Errorf("%s: completions %q lack %q", strings.Join(tt.args, " "), r.stdout, want)
			}
		}
	}
}

func TestJSONAskedBeforeAnUnknownFlagStillGetsJSON(t *testing.T) {
	c := newCLI(t, map[string]string{})
	r := c.mustRun(exitError, "--json", "plan", "--bogus")
	if !strings.HasPrefix(r.stdout, "{") || !strings.Contains(r.stdout, `"message": "unknown flag: --bogus`) {
		t.Errorf("stdout %q", r.stdout)
	}
}

// fakeWorker answers invoke's requests the way a worker would, checking the key.
func fakeWorker(t *testing.T, key string, answer func(w http.ResponseWriter, r *http.Request)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+key {
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		answer(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func invokeOpts(json, tty bool, out string) (*invokeOptions, *bytes.Buffer, *bytes.Buffer) {
	ios, stdout, stderr := TestIOStreams("")
	ios.StdoutTTY = tty
	return &invokeOptions{rootOptions: &rootOptions{IO: ios, JSON: json, Getenv: func(string) string { return "" }}, Output: out}, stdout, stderr
}

func TestInvokeRefusesToPrintBinaryToATerminal(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\nrest")
	addr := fakeWorker(t, "k", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write(png)
	})
	target := invokeRequest{URL: "https://w.example.workers.dev/", Dial: addr}

	opts, stdout, _ := invokeOpts(false, true, "")
	err := callWorker(t.Context(), opts, "w", target, "k", jsonCall(`{}`))
	if err == nil || !strings.Contains(err.Error(), "-o FILE") || stdout.Len() != 0 {
		t.Errorf("binary to a terminal: err %v, stdout %d bytes", err, stdout.Len())
	}
	opts, stdout, _ = invokeOpts(false, false, "")
	if err := callWorker(t.Context(), opts, "w", target, "k", jsonCall(`{}`)); err != nil || !bytes.Equal(stdout.Bytes(), png) {
		t.Errorf("binary to a pipe: err %v, stdout %q", err, stdout.Bytes())
	}
	out := filepath.Join(t.TempDir(), "a.png")
	opts, stdout, _ = invokeOpts(false, true, out)
	if err := callWorker(t.Context(), opts, "w", target, "k", jsonCall(`{}`)); err != nil || stdout.Len() != 0 {
		t.Fatalf("binary to -o: err %v, stdout %q", err, stdout.String())
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, png) {
		t.Errorf("-o file holds %q", got)
	}
	opts, _, _ = invokeOpts(false, false, "")
	if err := callWorker(t.Context(), opts, "w", target, "wrong", jsonCall(`{}`)); err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "wrong") {
		t.Errorf("wrong key: %v", err)
	}
}

func TestInvokeJSONAndTextAnswers(t *testing.T) {
	addr := fakeWorker(t, "k", func(w http.ResponseWriter, r *http.Request) {
		var body bytes.Buffer
		body.ReadFrom(r.Body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"echo":%s}`, body.String())
	})
	target := invokeRequest{URL: "https://w.example.workers.dev/", Dial: addr}
	opts, stdout, _ := invokeOpts(true, false, "")
	if err := callWorker(t.Context(), opts, "w", target, "k", jsonCall(`{"prompt":"hi"}`)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), `"body": {`) || !strings.Contains(stdout.String(), `"prompt": "hi"`) {
		t.Errorf("--json answer: %s", stdout.String())
	}
}

func TestInvokeStreamPrintsEventsAsTheyArrive(t *testing.T) {
	addr := fakeWorker(t, "k", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept") != "text/event-stream" {
			http.Error(w, "want SSE", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for _, part := range []string{"Once", " upon", " a time"} {
			fmt.Fprintf(w, "data: {\"response\":%q}\n\n", part)
			w.(http.Flusher).Flush()
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	})
	opts, stdout, _ := invokeOpts(false, false, "")
	opts.Stream = true
	if err := callWorker(context.Background(), opts, "w", invokeRequest{URL: "https://w.example.workers.dev/", Dial: addr}, "k", jsonCall(`{}`)); err != nil {
		t.Fatal(err)
	}
	if stdout.String() != "Once upon a time\n" { // one flowing text, not a token per line
		t.Errorf("stream output %q", stdout.String())
	}
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}
