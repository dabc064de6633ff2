package workerd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

const bindingsWorker = `
export default {
  async fetch(request, env) {
    console.log("secret is " + env.SECRET);
    return Response.json({
      plain: env.PLAIN, secret: env.SECRET, conf: env.CONF,
      host: request.headers.get("host"), url: request.url,
    });
  },
};
`

func TestBindingsReachTheWorker(t *testing.T) {
	const secret = `s3cr3t "quoted" \back\slash` + "\nline2 ü"
	log := &syncBuffer{}
	tmp := t.TempDir()
	p := startTest(t, Options{Log: log, TempDir: tmp}, esmWorker("bindings", bindingsWorker,
		Binding{Name: "PLAIN", Type: "plain_text", Text: "hello"},
		Binding{Name: "SECRET", Type: "secret_text", Text: secret},
		Binding{Name: "CONF", Type: "json", JSON: json.RawMessage(`{"n":1,"list":["a","b"]}`)},
	))

	resp, body := get(t, serve(t, p)+"/path?q=1", "bindings.example.workers.dev")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var got struct {
		Plain, Secret, Host, URL string
		Conf                     struct {
			N    int
			List []string
		}
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	if got.Plain != "hello" || got.Secret != secret || got.Conf.N != 1 || strings.Join(got.Conf.List, ",") != "a,b" {
		t.Errorf("worker saw bindings %+v", got)
	}
	if got.Host != "bindings.example.workers.dev" || got.URL != "http://bindings.example.workers.dev/path?q=1" {
		t.Errorf("host %q url %q, want the original Host kept", got.Host, got.URL)
	}

	// console.log output reaches the log, prefixed, with the secret redacted.
	waitFor(t, func() bool { return strings.Contains(log.String(), "[bindings] secret is") })
	if strings.Contains(log.String(), "s3cr3t") || !strings.Contains(log.String(), redactedMark) {
		t.Errorf("log does not redact the secret: %q", log.String())
	}
	// Modules were written under TempDir only for start-up and the config never.
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("temp dir still holds %d entries after start", len(left))
	}
}

func TestModuleTypes(t *testing.T) {
	wasm := []byte("\x00asm\x01\x00\x00\x00") // the empty module
	w := Worker{
		Name:       "modules",
		MainModule: "src/index.js",
		Modules: []Module{
			{Name: "lib/util.js", Type: "esm", Content: []byte(`export const twice = (x) => x * 2;`)},
			{Name: "lib/legacy.cjs", Type: "commonjs", Content: []byte(`module.exports = { tag: "cjs" };`)},
			{Name: "greeting.txt", Type: "text", Content: []byte("hi there")},
			{Name: "blob.bin", Type: "data", Content: []byte{1, 2, 3, 250}},
			{Name: "conf.json", Type: "json", Content: []byte(`{"k":"v"}`)},
			{Name: "empty.wasm", Type: "wasm", Content: wasm},
			{Name: "src/index.js.map", Type: "sourcemap", Content: []byte(`not even json`)},
			{Name: "src/index.js", Type: "esm", Content: []byte(`
import { twice } from "../lib/util.js";
import legacy from "../lib/legacy.cjs";
import greeting from "../greeting.txt";
import blob from "../blob.bin";
import conf from "../conf.json";
import mod from "../empty.wasm";
export default {
  async fetch() {
    const inst = await WebAssembly.instantiate(mod);
    return Response.json({ n: twice(21), cjs: legacy.tag, greeting, blob: [...new Uint8Array(blob)],
      conf: conf.k, wasm: inst instanceof WebAssembly.Instance });
  },
};`)},
		},
		CompatibilityDate:  testCompatDate,
		CompatibilityFlags: []string{"nodejs_compat"},
	}
	p := startTest(t, Options{}, w)
	resp, body := get(t, serve(t, p)+"/", "modules.test")
	want := `{"n":42,"cjs":"cjs","greeting":"hi there","blob":[1,2,3,250],"conf":"v","wasm":true}`
	if resp.StatusCode != http.StatusOK || string(body) != want {
		t.Fatalf("got %d %s, want %s", resp.StatusCode, body, want)
	}
}

const aiWorker = `
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const model = "@cf/test/" + url.pathname.slice(1);
    if (url.searchParams.has("uncaught")) await env.AI.run(model, { prompt: "x" });
    try {
      const out = await env.AI.run(model, { prompt: "a cat", image: new Uint8Array([1, 2]) });
      if (out instanceof ReadableStream) return new Response(out, { headers: { "content-type": "image/png" } });
      return Response.json(out);
    } catch (err) {
      return new Response(err.message, { status: 500 });
    }
  },
};
`

func TestAIBinding(t *testing.T) {
	ai, aiAddr := newFakeAI(t)
	close(ai.gate)
	log := &syncBuffer{}
	p := startTest(t, Options{AIAddr: aiAddr, Log: log}, esmWorker("ai", aiWorker, Binding{Name: "AI", Type: "ai"}))
	base := serve(t, p)

	t.Run("image bytes pass through unchanged", func(t *testing.T) {
		resp, body := get(t, base+"/png", "ai.test")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" {
			t.Fatalf("status %d type %q: %.200s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		if !bytes.Equal(body, ai.png) {
			t.Fatalf("image differs: got %d bytes, want %d", len(body), len(ai.png))
		}
	})
	t.Run("json output is parsed", func(t *testing.T) {
		resp, body := get(t, base+"/json", "ai.test")
		if resp.StatusCode != http.StatusOK || string(body) != `{"response":"echo:a cat"}` {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
		calls := ai.callLog()
		// As workerd's real binding: JSON.stringify(inputs), so a Uint8Array is an object.
		if last := calls[len(calls)-1]; last != `@cf/test/json {"prompt":"a cat","image":{"0":1,"1":2}}` {
			t.Errorf("AI server saw %q", last)
		}
	})
	t.Run("only exactly application/json is parsed", func(t *testing.T) {
		// The real binding compares the whole Content-Type header; with a charset the answer
		// is handed back as a stream, which this worker relabels as it does images.
		resp, body := get(t, base+"/jsoncharset", "ai.test")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" || string(body) != `{"response":"charset"}` {
			t.Fatalf("got %d %q %s; want the raw body as a stream", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	})
	t.Run("error becomes an Error with code and message", func(t *testing.T) {
		resp, body := get(t, base+"/nope", "ai.test")
		if resp.StatusCode != http.StatusInternalServerError || string(body) != "5007: No such model @cf/test/nope" {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
	})
	t.Run("uncaught error is a 500, not a dropped connection", func(t *testing.T) {
		resp, _ := get(t, base+"/nope?uncaught", "ai.test")
		if resp.StatusCode != http.StatusInternalServerError {
			t.Fatalf("status %d, want 500", resp.StatusCode)
		}
		waitFor(t, func() bool { return strings.Contains(log.String(), "5007: No such model") })
	})
}

func TestAIBackendDownIsAnError(t *testing.T) {
	// The address of a server that has gone away: connections are refused.
	gone := httptest.NewServer(http.NotFoundHandler())
	deadAddr := strings.TrimPrefix(gone.URL, "http://")
	gone.Close()
	p := startTest(t, Options{AIAddr: deadAddr}, esmWorker("aidown", aiWorker, Binding{Name: "AI", Type: "ai"}))
	resp, body := get(t, serve(t, p)+"/json", "aidown.test")
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), "Workers AI request failed") {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
}

func TestServerSentEventsStream(t *testing.T) {
	ai, aiAddr := newFakeAI(t)
	// The worker sends the first event, then waits for the gate, which opens
	// only after the client has read that event: it arrives only if streamed.
	p := startTest(t, Options{AIAddr: aiAddr}, esmWorker("sse", `
export default {
  async fetch(request, env, ctx) {
    const { readable, writable } = new TransformStream();
    const writer = writable.getWriter();
    const enc = new TextEncoder();
    ctx.waitUntil((async () => {
      await writer.write(enc.encode("data: one\n\n"));
      await env.AI.run("@cf/test/gate", {});
      await writer.write(enc.encode("data: two\n\n"));
      await writer.close();
    })());
    return new Response(readable, { headers: { "content-type": "text/event-stream" } });
  },
};`, Binding{Name: "AI", Type: "ai"}))

	resp, err := http.Get(serve(t, p) + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	if line, err := r.ReadString('\n'); err != nil || line != "data: one\n" {
		t.Fatalf("first event: %q %v", line, err)
	}
	close(ai.gate)
	rest, err := io.ReadAll(r)
	if err != nil || string(rest) != "\ndata: two\n\n" {
		t.Fatalf("rest of stream: %q %v", rest, err)
	}
}

func TestStartupErrors(t *testing.T) {
	cases := []struct {
		name string
		w    Worker
		want []string
	}{
		{"syntax error", esmWorker("syntax", "export default {\n  fetch() {\n    let x = ;\n  },\n};\n"),
			[]string{"SyntaxError", "worker.js:3:"}},
		{"top-level throw", esmWorker("throws", "throw new Error(\"boom at load\");\nexport default {};\n"),
			[]string{"Uncaught Error: boom at load", "worker.js:1:"}},
		{"missing import", esmWorker("imports", "import x from \"./missing.js\";\nexport default {};\n"),
			[]string{"missing.js"}},
		{"future compatibility date", func() Worker {
			w := esmWorker("future", "export default {};")
			w.CompatibilityDate = "2999-01-01"
			return w
		}(), []string{`"2999-01-01"`}},
		{"unknown compatibility flag", func() Worker {
			w := esmWorker("flag", "export default {};")
			w.CompatibilityFlags = []string{"no_such_flag_anywhere"}
			return w
		}(), []string{"no_such_flag_anywhere"}},
		{"main module absent", func() Worker {
			w := esmWorker("nomain", "export default {};")
			w.MainModule = "index.js"
			return w
		}(), []string{`"index.js"`}},
	}
	bin := testBinary(t)
	tmp := t.TempDir()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkNoLeakedChildren(t)
			p, err := Start(context.Background(), Options{Binary: bin, TempDir: tmp}, tc.w)
			if err == nil {
				p.Close()
				t.Fatal("Start succeeded, want a StartupError")
			}
			var se *StartupError
			if !errors.As(err, &se) {
				t.Fatalf("error %T %v, want *StartupError", err, err)
			}
			t.Logf("message: %s", se.Message)
			for _, want := range tc.want {
				if !strings.Contains(se.Message, want) {
					t.Errorf("message %q lacks %q", se.Message, want)
				}
			}
			if strings.Contains(se.Message, tmp) || strings.Contains(se.Message, "service "+serviceName) {
				t.Errorf("message leaks internals: %q", se.Message)
			}
		})
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("failed starts left %d entries in the temp dir", len(left))
	}
}

func TestRetireWaitsForInFlightRequest(t *testing.T) {
	p := startTest(t, Options{}, esmWorker("slow", `
export default {
  async fetch(request) {
    if (new URL(request.url).pathname === "/slow") await new Promise((r) => setTimeout(r, 300));
    return new Response("done " + new URL(request.url).pathname);
  },
};`))
	base := serve(t, p)
	type result struct {
		status int
		body   string
	}
	slow := make(chan result, 1)
	go func() {
		resp, err := http.Get(base + "/slow")
		if err != nil {
			slow <- result{0, err.Error()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		slow <- result{resp.StatusCode, string(b)}
	}()
	waitFor(t, func() bool { return p.InFlight() == 1 })

	p.Retire()
	select {
	case <-p.Done():
		t.Fatal("process exited while a request was in flight")
	default:
	}
	// A straggler that still arrives after Retire is served, not dropped.
	if resp, body := get(t, base+"/late", "slow.test"); resp.StatusCode != http.StatusOK || string(body) != "done /late" {
		t.Errorf("late request: %d %q", resp.StatusCode, body)
	}
	if r := <-slow; r.status != http.StatusOK || r.body != "done /slow" {
		t.Fatalf("in-flight request got %d %q", r.status, r.body)
	}
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("process still running after the last request finished")
	}
	assertGone(t, p.Pid())
	if resp, _ := get(t, base+"/after", "slow.test"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("request after retirement: status %d, want 503", resp.StatusCode)
	}
}

func TestRetireIdleProcessExits(t *testing.T) {
	p := startTest(t, Options{}, esmWorker("idle", `export default { fetch: () => new Response("ok") };`))
	p.Retire()
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("idle retired process did not exit")
	}
	assertGone(t, p.Pid())
}

func TestCloseKillsProcessGroup(t *testing.T) {
	p := startTest(t, Options{}, esmWorker("closer", `export default { fetch: () => new Response("ok") };`))
	if resp, body := get(t, "http://"+p.Addr()+"/", "closer.test"); string(body) != "ok" {
		t.Fatalf("direct request: %d %q", resp.StatusCode, body)
	}
	pid := p.Pid()
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	assertGone(t, pid)
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestAIBindingNeedsAddress(t *testing.T) {
	_, err := Start(context.Background(), Options{Binary: testBinary(t)},
		esmWorker("noai", "export default {};", Binding{Name: "AI", Type: "ai"}))
	if err == nil || !strings.Contains(err.Error(), "AI address") {
		t.Fatalf("err = %v, want a missing AI address error", err)
	}
}

// assertGone checks that neither the process nor its group exists.
func assertGone(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process %d still exists (kill 0: %v)", pid, err)
	}
	if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process group %d still exists (kill 0: %v)", pid, err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
