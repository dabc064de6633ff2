package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flareform/flareform/cmd/flareform/view"
	"github.com/flareform/flareform/internal/confined"
	"github.com/flareform/flareform/internal/keysource"
	"github.com/flareform/flareform/provision"
	"github.com/flareform/flareform/provision/spec"
)

type invokeOptions struct {
	*rootOptions
	Prompt  string
	Data    string
	Output  string
	Stream  bool
	KeyFile string
	Path    string
}

func newInvokeCmd(root *rootOptions) *cobra.Command {
	opts := &invokeOptions{rootOptions: root}
	cmd := &cobra.Command{
		Use:   "invoke WORKER",
		Short: "Call a deployed worker over its workers.dev URL, with its key",
		Long: `POST to a deployed worker's workers.dev URL with its API key and print the answer: JSON and
text go to stdout, binary answers (an image) to -o FILE. Binary is never printed to a terminal.

The body is {"prompt": TEXT} with --prompt, or --data: a JSON document, or @FILE to read it
from a file. --stream asks for server-sent events and prints each event's data as it arrives.

The key comes from --key-file, then FLAREFORM_API_KEY, then the project's key store
(.flareform/keys.json, where apply keeps every key it generates), then the spec's env:/file:
source. With --local the worker is reached on the local Cloudflare: the one "flareform local"
serves for this project, when it runs, else an embedded one started for this command.`,
		Example: `  flareform invoke my-images --prompt "a lighthouse at dusk" -o lighthouse.png
  flareform invoke chat --data '{"prompt":"hello"}' --json
  flareform invoke chat --prompt "tell me a story" --stream --local`,
		Args:              workerArg("invoke"),
		ValidArgsFunction: completeWorkers(root),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInvoke(cmd.Context(), opts, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Prompt, "prompt", "", "send {\"prompt\": `TEXT`}")
	f.StringVar(&opts.Data, "data", "", "request body: a JSON document, or @`FILE` to read it from a file")
	f.StringVarP(&opts.Output, "output", "o", "", "write the answer to `FILE` (needed for binary answers on a terminal)")
	f.BoolVar(&opts.Stream, "stream", false, "ask for server-sent events and print each event's data as it arrives")
	f.StringVar(&opts.KeyFile, "key-file", "", "`FILE` holding the worker's API key, as apply --key-out writes it")
	f.StringVar(&opts.Path, "path", "", "request `PATH` (default: the spec's smoke path, or /)")
	cmd.MarkFlagsMutuallyExclusive("prompt", "data")
	return cmd
}

// invokeResult is `invoke --json`: the answer's status and type, and the answer itself when it
// is JSON (body) or text (text); a binary answer is only ever written to --output.
type invokeResult struct {
	Worker      string          `json:"worker"`
	URL         string          `json:"url"`
	Status      int             `json:"status"`
	ContentType string          `json:"content_type"`
	Bytes       int             `json:"bytes"`
	Body        json.RawMessage `json:"body,omitempty"`
	Text        string          `json:"text,omitempty"`
	OutputPath  string          `json:"output_path,omitempty"`
}

// maxInvokeAnswer bounds an answer read whole (images are a few MiB).
const maxInvokeAnswer = 64 << 20

func runInvoke(ctx context.Context, opts *invokeOptions, name string) (err error) {
	if opts.Output != "" { // a FIFO or device would block or swallow the answer
		if err := confined.CheckWritable(opts.Output); err != nil {
			return refusedFile("-o", err)
		}
	}
	body, err := invokeBody(opts)
	if err != nil {
		return err
	}
	sess, err := opts.openSession(ctx)
	if err != nil {
		return err
	}
	defer closeSession(sess, &err)
	w, err := findWorker(sess.Spec, name)
	if err != nil {
		return err
	}
	key, err := invokeKey(opts, sess, w)
	if err != nil {
		return err
	}
	outs, err := sess.Engine.Outputs(ctx, sess.Spec)
	if err != nil {
		return sess.explain(err)
	}
	target, err := invokeTarget(w, outs, opts.Path, sess.workersDevAddr(ctx))
	if err != nil {
		return err
	}
	return callWorker(ctx, opts, w.Name, target, key, body)
}

// invokeBody builds the request body from --prompt or --data.
func invokeBody(opts *invokeOptions) ([]byte, error) {
	var body []byte
	switch {
	case opts.Prompt != "":
		doc := map[string]any{"prompt": opts.Prompt}
		if opts.Stream {
			doc["stream"] = true
		}
		return json.Marshal(doc)
	case strings.HasPrefix(opts.Data, "@"):
		// Any regular file the user names (no project tree), but no FIFO, device or /proc file,
		// and at most confined.RequestBody.Limit bytes.
		b, err := confined.ReadFile(opts.Data[1:], confined.RequestBody, nil)
		if err != nil {
			return nil, refusedFile("--data", err)
		}
		body = b
	case opts.Data != "":
		body = []byte(opts.Data)
	default:
		return nil, errors.New(`invoke needs a request body: --prompt TEXT, --data '{"prompt": "..."}' or --data @FILE`)
	}
	if !json.Valid(body) {
		return nil, fmt.Errorf("--data is not a JSON document; give JSON, or @FILE holding JSON")
	}
	return body, nil
}

// findWorker looks a worker up by script name or spec key.
func findWorker(s *spec.Spec, name string) (spec.Worker, error) {
	var names []string
	for _, w := range s.Workers {
		if w.Name == name || w.Key == name {
			return w, nil
		}
		names = append(names, w.Name)
	}
	return spec.Worker{}, fmt.Errorf("the spec %s has no worker %q; its workers: %s", s.File, name, strings.Join(names, ", "))
}

// invokeKey finds the worker's key in the documented order (see the command's help).
func invokeKey(opts *invokeOptions, sess *session, w spec.Worker) (string, error) {
	if w.APIKey == nil {
		return "", nil
	}
	if opts.KeyFile != "" {
		content, err := readKeyFile(opts.KeyFile)
		if err != nil {
			return "", err
		}
		keys, err := parseKeyFile(content, []string{w.Key})
		if err != nil {
			return "", fmt.Errorf("--key-file %s: %w", opts.KeyFile, err)
		}
		return keys[w.Key], nil
	}
	if k, err := envKey(opts.Getenv); k != "" || err != nil {
		return k, err
	}
	if k := opts.storedActiveKey(w); k != "" {
		return k, nil
	}
	if w.APIKey.From != "generate" {
		k, err := keysource.Resolve(w.APIKey.From, w.APIKey.Ref, sess.getenv)
		if err != nil {
			return "", fmt.Errorf("the key of %s (%s:%s): %w", w.Name, w.APIKey.From, w.APIKey.Ref, err)
		}
		return k, nil
	}
	return "", fmt.Errorf("no key for %s: the project's key store has none; pass --key-file or set %s", w.Name, envAPIKey)
}

// invokeRequest is where one invoke goes: the public URL (shown) and, on a local Cloudflare,
// the data plane address that routes by Host.
type invokeRequest struct {
	URL  string
	Dial string // host:port to send to instead of the URL's host; "" for the real URL
}

func invokeTarget(w spec.Worker, outs []provision.Output, path, devAddr string) (invokeRequest, error) {
	for _, o := range outs {
		if o.Name != w.Name {
			continue
		}
		if !o.Exists {
			return invokeRequest{}, fmt.Errorf("worker %s is not deployed; run flareform apply first", w.Name)
		}
		if !o.WorkersDev || o.URL == "" {
			return invokeRequest{}, fmt.Errorf("worker %s has no workers.dev URL (workers_dev is off)", w.Name)
		}
		if path == "" {
			path = "/"
			if w.Smoke != nil && w.Smoke.Path != "" {
				path = w.Smoke.Path
			}
		}
		u, err := url.Parse(o.URL)
		if err != nil {
			return invokeRequest{}, fmt.Errorf("worker %s URL %q: %w", w.Name, o.URL, err)
		}
		u.Path = path
		return invokeRequest{URL: u.String(), Dial: devAddr}, nil
	}
	return invokeRequest{}, fmt.Errorf("worker %s is not in the live state", w.Name)
}

// callWorker sends the request and hands the answer to stdout, --output or the JSON result.
// The key only ever goes into the Authorization header.
func callWorker(ctx context.Context, opts *invokeOptions, worker string, target invokeRequest, key string, body []byte) error {
	res, err := sendInvoke(ctx, target, key, body, opts.Stream)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	contentType := res.Header.Get("Content-Type")
	mediaType, _, _ := mime.ParseMediaType(contentType)
	if res.StatusCode/100 != 2 {
		snippet, _ := io.ReadAll(io.LimitReader(res.Body, 300))
		return fmt.Errorf("%s answered %d (%s): %s", target.URL, res.StatusCode, contentType, strings.TrimSpace(string(snippet)))
	}
	if opts.Stream && mediaType == "text/event-stream" && !opts.JSON && opts.Output == "" {
		return copyEvents(opts.IO.Out, res.Body)
	}
	answer, err := io.ReadAll(io.LimitReader(res.Body, maxInvokeAnswer))
	if err != nil {
		return fmt.Errorf("read the answer of %s: %w", target.URL, err)
	}
	return deliverAnswer(opts, invokeResult{Worker: worker, URL: target.URL, Status: res.StatusCode, ContentType: contentType, Bytes: len(answer)}, mediaType, answer)
}

func sendInvoke(ctx context.Context, target invokeRequest, key string, body []byte, stream bool) (*http.Response, error) {
	u, err := url.Parse(target.URL)
	if err != nil {
		return nil, fmt.Errorf("invoke URL %q: %w", target.URL, err)
	}
	host := u.Host
	if target.Dial != "" {
		u.Scheme, u.Host = "http", target.Dial
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Host = host
	req.Header.Set("Content-Type", "application/json")
	if stream {
		req.Header.Set("Accept", "text/event-stream")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the request URL may be the local data plane; the public one is clearer
		}
		return nil, fmt.Errorf("POST %s: %w", target.URL, err)
	}
	return res, nil
}

// copyEvents prints the data of each server-sent event as it arrives ("[DONE]" ends it).
func copyEvents(w io.Writer, r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data:")
		if !ok {
			continue
		}
		data = strings.TrimPrefix(data, " ")
		if data == "[DONE]" {
			break
		}
		if _, err := fmt.Fprintln(w, eventText(data)); err != nil {
			return fmt.Errorf("write event: %w", err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read event stream: %w", err)
	}
	return nil
}

// eventText is the "response" field of a Workers AI event ({"response": "..."}), or the data.
func eventText(data string) string {
	var ev struct {
		Response *string `json:"response"`
	}
	if json.Unmarshal([]byte(data), &ev) == nil && ev.Response != nil {
		return *ev.Response
	}
	return data
}

// deliverAnswer writes the answer where it belongs: --output, the JSON result, or stdout (text
// only when stdout is a terminal).
func deliverAnswer(opts *invokeOptions, res invokeResult, mediaType string, answer []byte) error {
	textual := isTextual(mediaType)
	if opts.Output != "" {
		if err := os.WriteFile(opts.Output, answer, 0o644); err != nil {
			return fmt.Errorf("-o %s: %w", opts.Output, err)
		}
		res.OutputPath = opts.Output
	}
	if opts.JSON {
		switch {
		case opts.Output != "":
		case textual && json.Valid(answer) && strings.Contains(mediaType, "json"):
			res.Body = answer
		case textual:
			res.Text = string(answer)
		default:
			return fmt.Errorf("the answer is %s (%d bytes), which JSON cannot carry; add -o FILE", res.ContentType, len(answer))
		}
		return view.JSON(opts.IO.Out, res)
	}
	if opts.Output != "" {
		fmt.Fprintf(opts.IO.ErrOut, "Wrote %d bytes of %s to %s\n", len(answer), res.ContentType, opts.Output)
		return nil
	}
	if !textual && opts.IO.StdoutTTY {
		return fmt.Errorf("the answer is %s (%d bytes) and stdout is a terminal; add -o FILE (or pipe it)", res.ContentType, len(answer))
	}
	if _, err := opts.IO.Out.Write(answer); err != nil {
		return fmt.Errorf("write the answer: %w", err)
	}
	if textual && !bytes.HasSuffix(answer, []byte("\n")) && opts.IO.StdoutTTY {
		fmt.Fprintln(opts.IO.Out)
	}
	return nil
}

func isTextual(mediaType string) bool {
	return strings.HasPrefix(mediaType, "text/") || mediaType == "application/json" || strings.HasSuffix(mediaType, "+json")
}
