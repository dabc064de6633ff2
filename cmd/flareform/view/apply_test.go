package view

import (
	"bytes"
	"strings"
	"testing"
)

func TestApplyHandsOverAKeyOnlyToATerminal(t *testing.T) {
	res := corpusResults()[0].res // image-api generated "secret-key-1"
	for _, tt := range []struct {
		name string
		keys KeyHandover
		show bool
		line string
	}{
		{"terminal", KeyHandover{Terminal: true, Store: "ks.json"}, true, "  API key (shown once here; also kept in ks.json): secret-key-1\n"},
		{"pipe", KeyHandover{Store: "ks.json"}, false, "  API key (fp fp1): kept in ks.json (not printed: stdout is not a terminal; use --key-out or --json)\n"},
		{"--key-out", KeyHandover{KeyOut: "k.txt", Terminal: true, Store: "ks.json"}, false, "  API key (fp fp1): written to k.txt and kept in ks.json\n"},
	} {
		var buf bytes.Buffer
		Apply(&buf, res, tt.keys, NotStopped)
		out := buf.String()
		if strings.Contains(out, "secret-key-1") != tt.show || !strings.Contains(out, tt.line) {
			t.Errorf("%s: key shown %t, want %t, or line %q missing:\n%s", tt.name, strings.Contains(out, "secret-key-1"), tt.show, tt.line, out)
		}
	}
}

func TestApplyAndDestroySummaries(t *testing.T) {
	results := corpusResults()
	ok, failed, stopped := results[0].res, results[1].res, results[2].res
	for _, tt := range []struct {
		name string
		got  func(*bytes.Buffer)
		want string
	}{
		{"complete", func(w *bytes.Buffer) { Apply(w, ok, KeyHandover{}, NotStopped) },
			"\nApply complete! Resources: 2 created, 1 updated, 1 replaced, 1 destroyed.\n"},
		{"failed", func(w *bytes.Buffer) { Apply(w, failed, KeyHandover{}, NotStopped) },
			"\nApply failed: Resources: 1 created, 0 updated, 0 destroyed. 1 failed.\n"},
		{"late Ctrl-C", func(w *bytes.Buffer) { Apply(w, failed, KeyHandover{}, StoppedLate) },
			"\nApply failed: Resources: 1 created, 0 updated, 0 destroyed. 1 failed.\n" +
				"Ctrl-C came after the last change; it stopped nothing (the failures above are the run's own).\n"},
		{"interrupted", func(w *bytes.Buffer) { Apply(w, stopped, KeyHandover{}, StoppedRun) },
			"\nApply interrupted: Resources: 0 created, 0 updated, 1 destroyed. 1 failed. 3 not done (stopped by Ctrl-C). " +
				"Not done: ai_gateway gw, a, b. Writes not started were skipped; run apply again to finish.\n"},
		{"destroy", func(w *bytes.Buffer) { Destroy(w, ok) },
			"\nDestroy complete! Resources: 2 created, 1 updated, 1 replaced, 1 destroyed.\n"},
	} {
		var buf bytes.Buffer
		tt.got(&buf)
		if !strings.HasSuffix(buf.String(), tt.want) {
			t.Errorf("%s: output ends\n%q\nwant\n%q", tt.name, buf.String(), tt.want)
		}
	}
	if got := LateStopNote(ok); got != "Ctrl-C came after the last change; nothing was left undone." {
		t.Errorf("late stop note without failures: %q", got)
	}
}

// A worker's result shows its smoke test (indented under it), a rollback and its error, once:
// the smoke report's own error line is left to the worker's.
func TestApplyWorkerResult(t *testing.T) {
	var buf bytes.Buffer
	Apply(&buf, corpusResults()[1].res, KeyHandover{}, NotStopped)
	want := "\nimage-api: update https://image-api.acme.workers.dev (version v3)\n" +
		"  smoke txt: FAILED\n" +
		"    authorized   FAILED, status 500, boom\n" +
		"    x            FAILED\n" +
		"  rolled back to the previous version\n" +
		"  error: smoke test failed\n" +
		"txt: create\n"
	if !strings.HasPrefix(buf.String(), want) {
		t.Errorf("output:\n%s\nwant it to start:\n%s", buf.String(), want)
	}
}
