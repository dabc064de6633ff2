package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/flareform/flareform/provision"
)

// spinnerFrames turn once per redraw.
var spinnerFrames = [...]string{"|", "/", "-", "\\"}

// progress shows that a long step (apply's writes and smoke tests) is running. On a terminal
// it keeps a status line at the bottom of stderr, a spinner with the elapsed time and, once the
// step counts workers, a bar of the workers done; the engine's log lines pass above it.
// Otherwise (CI logs) it prints plain lines: one when the step starts, one per tenth of the
// workers done or after plainEvery without one (a run waiting for the rate budget still shows
// it is alive), and one when it ends, since a redrawn line would only fill the log with
// carriage returns.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	label string
	start time.Time
	frame int

	// Workers: total to do (0: not counted), done so far and how many of them failed; verb
	// says what was done to them ("applied").
	total, done, failed int
	verb                string
	// budgetEnd is when the API's rate budget lets the last call out at the earliest (the
	// plan's estimate); the time left shown is never less than what remains until then.
	budgetEnd time.Time
	// lastLine is when the last plain line was printed; lastTenth is the tenth it reported.
	lastLine  time.Time
	lastTenth int
	// plainEvery is the longest a plain log goes without a line while workers are counted.
	plainEvery time.Duration

	stop    chan struct{}
	stopped chan struct{}
}

// spinnerInterval is how often the spinner is redrawn.
const spinnerInterval = 120 * time.Millisecond

// plainProgressEvery is how often a plain (non-terminal) log gets a progress line at least.
const plainProgressEvery = 5 * time.Second

// barWidth is the number of cells of the terminal progress bar.
const barWidth = 24

func startProgress(w io.Writer, tty bool, label string) *progress {
	return startWorkerProgress(w, tty, label, workerCount{})
}

// workerCount describes the workers a step goes through, for its progress display.
type workerCount struct {
	Total int    // workers the step changes; 0: the display shows no count
	Verb  string // what is done to each: "applied"
	// BudgetEnd is when the rate budget lets the step's last call out at the earliest (the
	// plan's estimate); zero when the budget does not bind.
	BudgetEnd time.Time
}

// startWorkerProgress starts a progress display for a step over c.Total workers.
func startWorkerProgress(w io.Writer, tty bool, label string, c workerCount) *progress {
	now := time.Now()
	total := c.Total
	p := &progress{w: w, tty: tty, label: label, start: now, total: total, verb: c.Verb, budgetEnd: c.BudgetEnd,
		lastLine: now, plainEvery: plainProgressEvery, stop: make(chan struct{}), stopped: make(chan struct{})}
	if !tty {
		fmt.Fprintf(w, "%s...\n", label)
		if total == 0 {
			close(p.stopped)
			return p
		}
		go p.tick(p.plainEvery, p.plainTick)
		return p
	}
	p.draw()
	go p.tick(spinnerInterval, func() {
		p.frame++
		p.draw()
	})
	return p
}

// tick calls f (holding mu) every interval until Stop.
func (p *progress) tick(interval time.Duration, f func()) {
	defer close(p.stopped)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			f()
			p.mu.Unlock()
		}
	}
}

// plainTick prints a line when none was printed for plainEvery; callers hold mu.
func (p *progress) plainTick() {
	if time.Since(p.lastLine) >= p.plainEvery {
		p.plainLine()
	}
}

// workerDone counts one finished worker and shows it: the bar redrawn on a terminal, a plain
// line when the count crosses another tenth of the total otherwise.
func (p *progress) workerDone(failed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	if failed {
		p.failed++
	}
	if p.tty {
		p.draw()
		return
	}
	if p.total > 0 {
		if tenth := p.done * 10 / p.total; tenth > p.lastTenth {
			p.lastTenth = tenth
			p.plainLine()
		}
	}
}

// plainLine prints "applied 120/300 workers, 2 failed, ~40s left"; callers hold mu.
func (p *progress) plainLine() {
	p.lastLine = time.Now()
	fmt.Fprintf(p.w, "%s\n", p.status())
}

// status is the count of workers done, failures and the time left.
func (p *progress) status() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s %d/%d workers", p.verb, p.done, p.total)
	if p.failed > 0 {
		fmt.Fprintf(&sb, ", %d failed", p.failed)
	}
	if left, ok := p.timeLeft(); ok {
		fmt.Fprintf(&sb, ", ~%s left", left)
	}
	return sb.String()
}

// timeLeft extrapolates the pace so far to the workers left, and never says less than the rate
// budget's wait still needs; ok is false while there is nothing to go on.
func (p *progress) timeLeft() (time.Duration, bool) {
	if p.done >= p.total {
		return 0, false
	}
	elapsed := time.Since(p.start)
	var left time.Duration
	known := false
	if p.done > 0 {
		left = time.Duration(float64(elapsed) / float64(p.done) * float64(p.total-p.done))
		known = true
	}
	if budget := time.Until(p.budgetEnd); !p.budgetEnd.IsZero() && budget > left {
		left, known = budget, true
	}
	return roundLeft(left), known
}

// roundLeft rounds a time left to what a human reads: seconds under two minutes, else minutes.
func roundLeft(d time.Duration) time.Duration {
	if d < 2*time.Minute {
		return max(d.Round(time.Second), time.Second)
	}
	return d.Round(time.Minute)
}

// draw rewrites the status line; callers hold mu (or own p alone).
func (p *progress) draw() {
	elapsed := time.Since(p.start).Truncate(time.Second)
	if p.total == 0 {
		fmt.Fprintf(p.w, "\r\x1b[K%s %s (%s)", spinnerFrames[p.frame%len(spinnerFrames)], p.label, elapsed)
		return
	}
	filled := min(p.done*barWidth/p.total, barWidth)
	bar := strings.Repeat("#", filled) + strings.Repeat("-", barWidth-filled)
	fmt.Fprintf(p.w, "\r\x1b[K%s [%s] %s (%s)", spinnerFrames[p.frame%len(spinnerFrames)], bar, p.status(), elapsed)
}

// Write passes a log line through: above the status line on a terminal.
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

// Stop ends the step: the status line is cleared, or the plain end line printed.
func (p *progress) Stop() {
	select {
	case <-p.stopped:
	default:
		close(p.stop)
		<-p.stopped
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.tty {
		fmt.Fprintf(p.w, "%s: done in %s\n", p.label, time.Since(p.start).Round(100*time.Millisecond))
		return
	}
	io.WriteString(p.w, "\r\x1b[K")
}

// logSink is the engine's log writer; a command points it at a progress display while one
// runs, so log lines and the status line do not overwrite each other. It also passes the
// engine's finished workers to that display.
type logSink struct {
	mu   sync.Mutex
	w    io.Writer
	prog *progress
}

func (l *logSink) Write(b []byte) (int, error) {
	l.mu.Lock()
	w := l.w
	l.mu.Unlock()
	return w.Write(b)
}

func (l *logSink) set(w io.Writer, prog *progress) {
	l.mu.Lock()
	l.w, l.prog = w, prog
	l.mu.Unlock()
}

// workerDone is the engine's provision.Config.OnWorkerDone.
func (l *logSink) workerDone(d provision.WorkerDone) {
	l.mu.Lock()
	prog := l.prog
	l.mu.Unlock()
	if prog != nil {
		prog.workerDone(d.Failed)
	}
}

// startWorkerProgress shows progress for a step over workers on stderr and routes the engine's
// log through it.
func (s *session) startWorkerProgress(opts *rootOptions, label string, c workerCount) *progress {
	p := startWorkerProgress(opts.IO.ErrOut, opts.IO.StderrTTY && opts.Getenv("TERM") != "dumb", label, c)
	s.log.set(p, p)
	return p
}

func (s *session) stopProgress(p *progress) {
	s.log.set(p.w, nil)
	p.Stop()
}
