package main

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// spinnerFrames turn once per redraw.
var spinnerFrames = [...]string{"|", "/", "-", "\\"}

// progress shows that a long step (apply's writes and smoke tests) is running. On a terminal
// it keeps a spinner line with the elapsed time at the bottom of stderr, and the engine's log
// lines pass above it; otherwise (CI logs) it prints one plain line when the step starts and
// one when it ends, since a redrawn line would only fill the log with carriage returns.
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	tty     bool
	label   string
	start   time.Time
	frame   int
	stop    chan struct{}
	stopped chan struct{}
}

// spinnerInterval is how often the spinner is redrawn.
const spinnerInterval = 120 * time.Millisecond

func startProgress(w io.Writer, tty bool, label string) *progress {
	p := &progress{w: w, tty: tty, label: label, start: time.Now(), stop: make(chan struct{}), stopped: make(chan struct{})}
	if !tty {
		fmt.Fprintf(w, "%s...\n", label)
		close(p.stopped)
		return p
	}
	p.draw()
	go p.spin()
	return p
}

func (p *progress) spin() {
	defer close(p.stopped)
	t := time.NewTicker(spinnerInterval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			p.frame++
			p.draw()
			p.mu.Unlock()
		}
	}
}

// draw rewrites the spinner line; callers hold mu (or own p alone).
func (p *progress) draw() {
	fmt.Fprintf(p.w, "\r\x1b[K%s %s (%s)", spinnerFrames[p.frame%len(spinnerFrames)], p.label, time.Since(p.start).Truncate(time.Second))
}

// Write passes a log line through: above the spinner on a terminal.
func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.tty {
		return p.w.Write(b)
	}
	if _, err := io.WriteString(p.w, "\r\x1b[K"); err != nil {
		return 0, err
	}
	n, err := p.w.Write(b)
	p.draw()
	return n, err
}

// Stop ends the step: the spinner line is cleared, or the plain end line printed.
func (p *progress) Stop() {
	if !p.tty {
		fmt.Fprintf(p.w, "%s: done in %s\n", p.label, time.Since(p.start).Round(100*time.Millisecond))
		return
	}
	close(p.stop)
	<-p.stopped
	p.mu.Lock()
	defer p.mu.Unlock()
	io.WriteString(p.w, "\r\x1b[K")
}

// logSink is the engine's log writer; a command points it at a progress display while one
// runs, so log lines and the spinner do not overwrite each other.
type logSink struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *logSink) Write(b []byte) (int, error) {
	l.mu.Lock()
	w := l.w
	l.mu.Unlock()
	return w.Write(b)
}

func (l *logSink) set(w io.Writer) {
	l.mu.Lock()
	l.w = w
	l.mu.Unlock()
}

// startProgress shows progress for a long step on stderr and routes the engine's log through it.
func (s *session) startProgress(opts *rootOptions, label string) *progress {
	p := startProgress(opts.IO.ErrOut, opts.IO.StderrTTY && opts.Getenv("TERM") != "dumb", label)
	s.log.set(p)
	return p
}

func (s *session) stopProgress(p *progress) {
	p.Stop()
	s.log.set(p.w)
}
