package workerd

import (
	"bytes"
	"io"
	"sort"
	"strings"
	"sync"
)

// redactedMark replaces secret values that a worker prints.
const redactedMark = "(redacted)"

// minRedactLen keeps very short secrets from turning every log line into
// noise; such values are not meaningfully protected by redaction anyway.
const minRedactLen = 4

// maxCapture bounds how much stderr is kept for a start-up error.
const maxCapture = 64 << 10

// lineLog forwards workerd's stdout and stderr to a log one whole line at a
// time, prefixed with the worker name, with secret values redacted. Until
// stopCapture is called it also keeps stderr for the start-up error message.
type lineLog struct {
	mu     sync.Mutex
	out    io.Writer
	prefix string
	redact *strings.Replacer
	// mapSource rewrites bundle locations to source locations in logged lines (nil: none).
	// Captured start-up errors stay as workerd wrote them: the engine maps those itself.
	mapSource func(string) string
	capturing bool
	captured  bytes.Buffer
}

func newLineLog(out io.Writer, workerName string, secrets []string) *lineLog {
	if out == nil {
		out = io.Discard
	}
	// Output is redacted line by line, so a multi-line secret is redacted
	// line by line too; longer values go first so they win over their parts.
	var parts []string
	for _, s := range secrets {
		for _, part := range strings.Split(s, "\n") {
			if len(part) >= minRedactLen {
				parts = append(parts, part)
			}
		}
	}
	sort.Slice(parts, func(i, j int) bool { return len(parts[i]) > len(parts[j]) })
	pairs := make([]string, 0, 2*len(parts))
	for _, part := range parts {
		pairs = append(pairs, part, redactedMark)
	}
	return &lineLog{out: out, prefix: "[" + workerName + "] ", redact: strings.NewReplacer(pairs...), capturing: true}
}

// stream returns a writer for one of workerd's output streams.
func (l *lineLog) stream(capture bool) *lineStream {
	return &lineStream{log: l, capture: capture}
}

func (l *lineLog) line(text string, capture bool) {
	if isNativeStack(text) {
		return // addresses inside the workerd binary: nothing a worker's author can use
	}
	text = l.redact.Replace(text)
	l.mu.Lock()
	defer l.mu.Unlock()
	if capture && l.capturing && l.captured.Len() < maxCapture {
		l.captured.WriteString(text)
		l.captured.WriteByte('\n')
	}
	// A failing log must not stop workerd's output from being drained.
	if l.mapSource != nil {
		text = l.redact.Replace(l.mapSource(text))
	}
	_, _ = io.WriteString(l.out, l.prefix+text+"\n")
}

// isNativeStack reports a line of workerd's own stack addresses ("stack: …/workerd@47d595f …"),
// which --verbose prints after an uncaught exception.
func isNativeStack(text string) bool {
	return strings.HasPrefix(text, "stack: ") && strings.Contains(text, "workerd@")
}

// stopCapture ends stderr capture and returns what was captured.
func (l *lineLog) stopCapture() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.capturing = false
	s := l.captured.String()
	l.captured = bytes.Buffer{}
	return s
}

type lineStream struct {
	log     *lineLog
	capture bool
	partial []byte
}

// Write is called by one os/exec copying goroutine per stream, never
// concurrently for the same stream.
func (s *lineStream) Write(p []byte) (int, error) {
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		s.log.line(string(s.partial[:i]), s.capture)
		s.partial = s.partial[i+1:]
	}
	if len(s.partial) > maxCapture {
		s.flush() // a runaway line without newlines must not grow without bound
	}
	return len(p), nil
}

// flush emits a final line that had no newline.
func (s *lineStream) flush() {
	if len(s.partial) > 0 {
		s.log.line(string(s.partial), s.capture)
		s.partial = nil
	}
}
