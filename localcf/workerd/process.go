package workerd

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configures how worker versions are run.
type Options struct {
	Binary  string    // workerd binary; "" = FindBinary()
	AIAddr  string    // host:port of the backend of ai, ratelimit and vectorize bindings (localcf)
	TempDir string    // parent of the per-process module directory; "" = os.TempDir()
	Log     io.Writer // workerd output, one line at a time prefixed "[name] "; nil = discard
}

// StartupError reports a worker version that workerd refused to load (syntax
// error, failing import, top-level exception, bad compatibility date or flag).
// Message is workerd's own text, naming module:line:col where it has them.
type StartupError struct {
	Message string
}

func (e *StartupError) Error() string { return e.Message }

// Limits on how long start-up and shutdown may take.
const (
	maxStartup        = 30 * time.Second
	termGrace         = 2 * time.Second
	serviceLinePrefix = "service " + serviceName + ": "
)

// Process is one workerd process running one worker version. It is an
// http.Handler proxying to that worker; callers swap in a new Process for a
// new version and Retire the old one, so no in-flight request is dropped.
type Process struct {
	name  string
	cmd   *exec.Cmd
	addr  string
	proxy *httputil.ReverseProxy
	tr    *http.Transport
	log   *lineLog
	done  chan struct{} // closed once workerd has exited and its output is drained

	mu       sync.Mutex
	inflight int
	retired  bool
	closing  bool

	closeOnce sync.Once
}

// Start runs w in a new workerd process and returns once workerd listens.
// A worker that workerd refuses to load yields a *StartupError. ctx bounds
// start-up only; the process runs until Close or Retire.
func Start(ctx context.Context, opts Options, w Worker) (*Process, error) {
	bin := opts.Binary
	if bin == "" {
		var err error
		if bin, err = FindBinary(); err != nil {
			return nil, err
		}
	}
	// workerd reads every embedded module while compiling the config, before
	// it listens, so the directory is not needed once Start returns.
	dir, err := os.MkdirTemp(opts.TempDir, "flareform-workerd-")
	if err != nil {
		return nil, fmt.Errorf("start worker %s: %w", w.Name, err)
	}
	defer os.RemoveAll(dir)

	modules, err := writeModules(dir, w)
	if err != nil {
		return nil, withWorker(w.Name, err)
	}
	cfg, err := configText(w, modules, opts.AIAddr)
	if err != nil {
		return nil, withWorker(w.Name, err)
	}
	p, control, config, err := launch(bin, dir, cfg, opts.Log, w)
	if err != nil {
		return nil, fmt.Errorf("start worker %s: %w", w.Name, err)
	}
	port, err := p.awaitListen(ctx, control, dir)
	// Listening means workerd has parsed the config; wiping the memfd leaves nothing for
	// anyone who opens the child's /proc/<pid>/fd/0 (its stdin stays that file).
	wipeErr := wipe(config)
	if err == nil && wipeErr != nil {
		err = fmt.Errorf("wipe the config after start-up: %w", wipeErr)
	}
	if err != nil {
		p.Close()
		return nil, withWorker(w.Name, err)
	}
	p.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	return p, nil
}

// withWorker adds the worker name to plain errors; a StartupError stays as
// workerd worded it, because callers show it to users verbatim.
func withWorker(name string, err error) error {
	var se *StartupError
	if errors.As(err, &se) {
		return err
	}
	return fmt.Errorf("start worker %s: %w", name, err)
}

// launch starts workerd with the config on stdin (an in-memory file, so
// secret values never touch the disk), the control pipe on fd 3 and an
// environment of its own. It returns the config memfd for wipe once workerd
// has read it.
func launch(bin, dir, cfg string, logOut io.Writer, w Worker) (*Process, *os.File, *os.File, error) {
	stdin, err := memoryFile([]byte(cfg))
	if err != nil {
		return nil, nil, nil, err
	}
	controlR, controlW, err := os.Pipe()
	if err != nil {
		stdin.Close()
		return nil, nil, nil, fmt.Errorf("control pipe: %w", err)
	}
	defer controlW.Close()

	log := newLineLog(logOut, w.Name, secretValues(w.Bindings))
	log.mapSource = sourceMapper(w)
	stdout, stderr := log.stream(false), log.stream(true)
	// --verbose: only then does workerd log an uncaught exception's JavaScript stack (which the
	// log maps to the user's sources); without it, just the message.
	cmd := exec.Command(bin, "serve", "--verbose", "-I", dir, "/dev/stdin", "--control-fd", "3")
	cmd.Stdin = stdin
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.ExtraFiles = []*os.File{controlW}
	cmd.Env = childEnv(os.Getenv)
	isolate(cmd)
	if err := cmd.Start(); err != nil {
		controlR.Close()
		stdin.Close()
		return nil, nil, nil, fmt.Errorf("run %s: %w", bin, err)
	}

	p := &Process{name: w.Name, cmd: cmd, log: log, done: make(chan struct{})}
	p.tr = &http.Transport{
		Proxy:               nil, // always loopback, never an environment proxy
		DialContext:         dialKeepingAnswers((&net.Dialer{Timeout: 5 * time.Second}).DialContext),
		DisableCompression:  true, // pass the worker's encoding through untouched
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	}
	p.proxy = &httputil.ReverseProxy{
		Rewrite:       p.rewrite,
		Transport:     p.tr,
		FlushInterval: -1, // stream every chunk, so server-sent events arrive as sent
		ErrorHandler:  p.proxyError,
	}
	go func() {
		_ = cmd.Wait() // exit status is not an error here: Close kills on purpose
		stdout.flush()
		stderr.flush()
		close(p.done)
	}()
	return p, controlR, stdin, nil
}

// childEnvNames are the caller's variables workerd may see: none is a credential, and
// workerd needs no others (it takes everything from its config). The caller's environment
// typically holds CLOUDFLARE_API_TOKEN and cloud keys, the code workerd runs is not
// flareform's, and a process's environment stays readable in /proc for its lifetime.
var childEnvNames = []string{"PATH", "HOME", "TMPDIR"}

// childEnv is the environment for a workerd child: the allowed variables the caller has set,
// and never nil (nil would make exec.Cmd pass the whole environment on).
func childEnv(getenv func(string) string) []string {
	env := []string{}
	for _, name := range childEnvNames {
		if v := getenv(name); v != "" {
			env = append(env, name+"="+v)
		}
	}
	return env
}

// wipe empties the config memfd and closes flareform's handle to it. The child shares the
// open file, so its stdin reads nothing from now on.
func wipe(config *os.File) error {
	defer config.Close()
	return config.Truncate(0)
}

func secretValues(bindings []Binding) []string {
	var out []string
	for _, b := range bindings {
		if b.Type == "secret_text" && b.Text != "" {
			out = append(out, b.Text)
		}
	}
	return out
}

// awaitListen waits for workerd's listen event on the control pipe, or for
// workerd to exit (a worker it refused), or for ctx.
func (p *Process) awaitListen(ctx context.Context, control *os.File, dir string) (int, error) {
	ports := make(chan int, 1)
	go readControl(control, ports)
	timer := time.NewTimer(maxStartup)
	defer timer.Stop()
	select {
	case port := <-ports:
		p.log.stopCapture()
		return port, nil
	case <-p.done:
		return 0, exitError(p.log.stopCapture(), dir)
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-timer.C:
		return 0, fmt.Errorf("workerd did not listen within %s", maxStartup)
	}
}

// readControl reports the port of the worker socket's listen event, then
// drains the pipe until workerd exits.
func readControl(control *os.File, ports chan<- int) {
	defer control.Close()
	sc := bufio.NewScanner(control)
	for sc.Scan() {
		var ev struct {
			Event  string `json:"event"`
			Socket string `json:"socket"`
			Port   int    `json:"port"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Event == "listen" && ev.Socket == socketName {
			select {
			case ports <- ev.Port:
			default:
			}
		}
	}
}

// exitError turns workerd's stderr from a failed start into an error. Lines
// workerd attributes to the worker service make a StartupError; anything
// else (config or environment trouble) is an internal failure.
func exitError(stderr, dir string) error {
	worker := false
	var lines []string
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		line = strings.TrimRight(line, " \r")
		if rest, ok := strings.CutPrefix(line, serviceLinePrefix); ok {
			worker, line = true, rest
		}
		line = strings.ReplaceAll(line, dir+"/", "")
		line = strings.ReplaceAll(line, dir, "")
		if line != "" {
			lines = append(lines, line)
		}
	}
	msg := strings.Join(lines, "\n")
	if worker {
		return &StartupError{Message: msg}
	}
	if msg == "" {
		msg = "no message"
	}
	return fmt.Errorf("workerd exited during start-up: %s", msg)
}
