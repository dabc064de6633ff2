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
	Prompt      string
	Data        string
	ContentType string
	Output      string
	Stream      bool
	KeyFile     string
	Path        string
}

func newInvokeCmd(root *rootOptions) *cobra.Command {
	opts := &invokeOptions{rootOptions: root}
	cmd := &cobra.Command{
		Use:   "invoke WORKER",
		Short: "Call a deployed worker over its workers.dev URL, with its key",
		Long: `POST to a deployed worker's workers.dev URL with its API key and print the answer: JSON and
text go to stdout, binary answers (an image) to -o FILE. Binary is never printed to a terminal.
On a terminal a chat answer prints as its text and other JSON indented; piped, the answer is
passed on as the worker sent it; --json gives the raw answer in one JSON object (docs/json.md).
A streamed answer (server-sent events) prints as the text it carries, as it arrives.

--prompt TEXT becomes the input the worker's template takes: {"prompt"} (text-to-image),
{"messages": [{"role": "user", "content"}]} (chat), {"text"} (embeddings), {"query"} to /search
(semantic-search); an image-to-text worker takes the image with --data @FILE and the question
with --prompt. --data sends a JSON document, or @FILE a file's bytes (a WAV to speech-to-text,
a PNG or JPEG to image-to-text) with the content type its bytes or extension tell (WAV
audio/wav, PNG/JPEG image/*, .json application/json), or the one --content-type gives. --stream
asks a chat for server-sent events.

With --local the worker is reached on the local Cloudflare: the one "flareform local" serves
for this project, when it runs, else an embedded one started for this command.

` + keyLookupHelp,
		Example: `  flareform invoke my-images --prompt "a lighthouse at dusk" -o lighthouse.png
  flareform invoke chat --prompt "tell me a story" --stream --local
  flareform invoke transcribe --data @speech.wav
  flareform invoke describe --data @photo.jpg --prompt "What is in this picture?"
  flareform invoke chat --data '{"prompt":"hello"}' --json`,
		Args:              workerArg("invoke"),
		ValidArgsFunction: completeWorkers(root),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInvoke(cmd.Context(), opts, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Prompt, "prompt", "", "send `TEXT` as the worker's template takes it (prompt, messages, text or query)")
	f.StringVar(&opts.Data, "data", "", "request body: a JSON document, or @`FILE` to send a file's bytes (JSON, a WAV, an image)")
	f.StringVar(&opts.ContentType, "content-type", "", "the --data body's content `TYPE` (default: from the file's bytes or extension; JSON for inline data)")
	f.StringVarP(&opts.Output, "output", "o", "", "write the answer to `FILE` (needed for binary answers on a terminal)")
	f.BoolVar(&opts.Stream, "stream", false, "ask for server-sent events and print the answer's text as it arrives")
	f.StringVar(&opts.KeyFile, "key-file", "", "`FILE` holding the worker's API key, as apply --key-out writes it")
	f.StringVar(&opts.Path, "path", "", "request `PATH` (default: the spec's smoke path, /search for a search worker, or /)")
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
	data, err := readInvokeData(opts)
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
	req, err := newInvokeCall(opts, w, data)
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
	target, err := invokeTarget(w, outs, req.path, sess.workersDevAddr(ctx))
	if err != nil {
		return err
	}
	return callWorker(ctx, opts, w.Name, target, key, req)
}

// invokeData is --data, read: the bytes and their content type.
type invokeData struct {
	given       bool
	body        []byte
	contentType string
}

// readInvokeData checks the body flags and reads --data (before the session starts: a wrong
// flag or an unreadable file fails at once).
func readInvokeData(opts *invokeOptions) (invokeData, error) {
	if opts.Prompt == "" && opts.Data == "" {
		return invokeData{}, errors.New(`invoke needs a request body: --prompt TEXT, --data '{"prompt": "..."}' or --data @FILE (a JSON file, a WAV, an image)`)
	}
	if opts.ContentType != "" {
		if opts.Data == "" {
			return invokeData{}, errors.New("--content-type is the type of the --data body; give --data too")
		}
		if _, _, err := mime.ParseMediaType(opts.ContentType); err != nil {
			return invokeData{}, fmt.Errorf("--content-type %q is not a media type such as audio/wav or image/png", opts.ContentType)
		}
	}
	if opts.Data == "" {
		return invokeData{}, nil
	}
	d := invokeData{given: true, contentType: opts.ContentType}
	if file, ok := strings.CutPrefix(opts.Data, "@"); ok {
		// Any regular file the user names (no project tree), but no FIFO, device or /proc file,
		// and at most confined.RequestBody.Limit bytes.
		b, err := confined.ReadFile(file, confined.RequestBody, nil)
		if err != nil {
			return invokeData{}, refusedFile("--data", err)
		}
		d.body = b
		if d.contentType == "" {
			d.contentType = dataContentType(file, b)
		}
	} else {
		d.body = []byte(opts.Data)
		if d.contentType == "" {
			d.contentType = "application/json"
		}
	}
	if isJSONType(d.contentType) && !json.Valid(d.body) {
		return invokeData{}, fmt.Errorf("--data is not a JSON document; give JSON, @FILE holding JSON, or --content-type for a body of another type")
	}
	return d, nil
}

// invokeCall is the request invoke sends: its body, content type and path.
type invokeCall struct {
	shape       invokeShape
	body        []byte
	contentType string
	path        string
}

// newInvokeCall builds the request for worker w from --prompt and --data, in the shape w's
// template takes (invokeShape).
func newInvokeCall(opts *invokeOptions, w spec.Worker, d invokeData) (invokeCall, error) {
	c := invokeCall{shape: shapeOf(w), body: d.body, contentType: d.contentType}
	question := ""
	switch {
	case opts.Prompt != "" && d.given:
		media, _, _ := mime.ParseMediaType(d.contentType)
		if c.shape != shapeVision || !strings.HasPrefix(media, "image/") {
			return invokeCall{}, fmt.Errorf("--prompt and --data together are for an image-to-text worker (--data @photo.png --prompt QUESTION); "+
				"for %s give one of them", w.Name)
		}
		question = opts.Prompt
	case opts.Prompt != "":
		body, err := promptBody(c.shape, w.Name, opts.Prompt, opts.Stream)
		if err != nil {
			return invokeCall{}, err
		}
		c.body, c.contentType = body, "application/json"
	}
	path, err := invokePath(opts.Path, w, c.shape, question)
	if err != nil {
		return invokeCall{}, err
	}
	c.path = path
	return c, nil
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

// invokeKey finds the worker's key in the documented order (keyLookupHelp): the spec's
// env:/file: source for a worker that names one; for a generated key --key-file,
// FLAREFORM_API_KEY_<WORKER>, FLAREFORM_API_KEY, then the project's key store.
func invokeKey(opts *invokeOptions, sess *session, w spec.Worker) (string, error) {
	if w.APIKey == nil {
		return "", nil
	}
	if w.APIKey.From != "generate" {
		k, err := keysource.Resolve(w.APIKey.From, w.APIKey.Ref, sess.getenv)
		if err != nil {
			return "", fmt.Errorf("the key of %s (%s:%s): %w", w.Name, w.APIKey.From, w.APIKey.Ref, err)
		}
		return k, nil
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
		if err := keysource.Check(keys[w.Key]); err != nil {
			return "", fmt.Errorf("--key-file %s: the key for %s: %w; %s", opts.KeyFile, w.Key, err, keysource.Fix)
		}
		return keys[w.Key], nil
	}
	envKeys, err := workerEnvKeys(opts.Getenv, []spec.Worker{w})
	if err != nil {
		return "", err
	}
	if keys := envKeys[w.Key]; len(keys) > 0 {
		return keys[0], nil
	}
	if k := opts.storedActiveKey(w); k != "" {
		return k, nil
	}
	return "", fmt.Errorf("no key for %s: the project's key store has none; pass --key-file FILE or set %s (or %s)",
		w.Name, spec.WorkerKeyEnv(w.Name), envAPIKey)
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
		u, err := url.Parse(o.URL)
		if err != nil {
			return invokeRequest{}, fmt.Errorf("worker %s URL %q: %w", w.Name, o.URL, err)
		}
		ref, err := url.Parse(path) // invokePath made it: a path with an optional query
		if err != nil {
			return invokeRequest{}, fmt.Errorf("request path %q: %w", path, err)
		}
		u.Path, u.RawPath, u.RawQuery = ref.Path, ref.RawPath, ref.RawQuery
		return invokeRequest{URL: u.String(), Dial: devAddr}, nil
	}
	return invokeRequest{}, fmt.Errorf("worker %s is not in the live state", w.Name)
}

// callWorker sends the request and hands the answer to stdout, --output or the JSON result.
// The key only ever goes into the Authorization header.
func callWorker(ctx context.Context, opts *invokeOptions, worker string, target invokeRequest, key string, call invokeCall) error {
	res, err := sendInvoke(ctx, target, key, call, opts.Stream)
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
	if mediaType == "text/event-stream" && !opts.JSON && opts.Output == "" {
		return copyEvents(opts.IO.Out, res.Body) // as it arrives, also when the body asked for the stream
	}
	answer, err := io.ReadAll(io.LimitReader(res.Body, maxInvokeAnswer))
	if err != nil {
		return fmt.Errorf("read the answer of %s: %w", target.URL, err)
	}
	return deliverAnswer(opts, invokeResult{Worker: worker, URL: target.URL, Status: res.StatusCode, ContentType: contentType, Bytes: len(answer)}, mediaType, answer)
}

func sendInvoke(ctx context.Context, target invokeRequest, key string, call invokeCall, stream bool) (*http.Response, error) {
	u, err := url.Parse(target.URL)
	if err != nil {
		return nil, fmt.Errorf("invoke URL %q: %w", target.URL, err)
	}
	host := u.Host
	if target.Dial != "" {
		u.Scheme, u.Host = "http", target.Dial
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(call.body))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Host = host
	req.Header.Set("Content-Type", call.contentType)
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

// copyEvents prints a stream of server-sent events as it arrives ("[DONE]" ends it): the text
// of a chat's events flows on as one text, any other event's data prints on a line of its own.
func copyEvents(w io.Writer, r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	lineStart := true
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data:")
		if !ok {
			continue
		}
		data = strings.TrimPrefix(data, " ")
		if data == "[DONE]" {
			break
		}
		text, token := eventText(data)
		if !token {
			if !lineStart {
				text = "\n" + text
			}
			text += "\n"
		}
		if text == "" {
			continue
		}
		if _, err := io.WriteString(w, text); err != nil {
			return fmt.Errorf("write event: %w", err)
		}
		lineStart = strings.HasSuffix(text, "\n")
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read event stream: %w", err)
	}
	if !lineStart {
		if _, err := fmt.Fprintln(w); err != nil {
			return fmt.Errorf("write event: %w", err)
		}
	}
	return nil
}

// eventText is the text an event of a streamed chat adds: its "response" (the Workers AI
// form, which the chat template sends for every model) or choices[0].delta.content (the
// OpenAI form). token is false for any other event.
func eventText(data string) (text string, token bool) {
	var ev struct {
		Response *string `json:"response"`
		Choices  []struct {
			Delta struct {
				Content *string `json:"content"`
			} `json:"delta"`
		} `json:"choices"`
	}
	if json.Unmarshal([]byte(data), &ev) != nil {
		return data, false
	}
	switch {
	case ev.Response != nil:
		return *ev.Response, true
	case len(ev.Choices) > 0 && ev.Choices[0].Delta.Content != nil:
		return *ev.Choices[0].Delta.Content, true
	}
	return data, false
}

// terminalText is how a JSON answer reads on a terminal: a chat's answer ({"response"}, with
// "usage" at most) as its text, other JSON indented. ok is false for an answer that is not JSON.
func terminalText(answer []byte) (text []byte, ok bool) {
	var chat map[string]json.RawMessage
	if json.Unmarshal(answer, &chat) == nil {
		var response string
		if raw, has := chat["response"]; has && json.Unmarshal(raw, &response) == nil {
			delete(chat, "response")
			delete(chat, "usage")
			if len(chat) == 0 {
				return []byte(response), true
			}
		}
	}
	var out bytes.Buffer
	if json.Indent(&out, answer, "", "  ") != nil {
		return nil, false
	}
	return out.Bytes(), true
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
	if opts.IO.StdoutTTY && isJSONType(res.ContentType) {
		if text, ok := terminalText(answer); ok {
			answer = text
		}
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
