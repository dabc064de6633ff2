package workerd

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Module is one module of an uploaded worker version.
type Module struct {
	Name    string // as uploaded, e.g. "worker.js"
	Type    string // esm|commonjs|text|data|wasm|json|sourcemap
	Content []byte
}

// Binding is one environment binding of a worker version.
type Binding struct {
	Name string
	Type string // plain_text|secret_text|json|ai|ratelimit|vectorize|analytics_engine
	Text string // plain_text and secret_text value
	JSON json.RawMessage
	// Config is what a backend binding (ai, ratelimit, vectorize, analytics_engine) tells the
	// backend about itself on every call (its account, counter, index or dataset); only the
	// binding's shim sees it.
	Config json.RawMessage
}

// Worker is one worker version to run.
type Worker struct {
	Name               string
	MainModule         string
	Modules            []Module
	CompatibilityDate  string
	CompatibilityFlags []string
	Bindings           []Binding
	// Tail, when set, adds the tail worker (tail.go), which posts the runtime's trace events
	// with this JSON as their config to the backend at Options.AIAddr; nil = no tail worker.
	Tail json.RawMessage
}

// Names inside the generated config.
const (
	serviceName   = "worker"
	socketName    = "http"
	aiServiceName = "ai" // the backend service: Options.AIAddr
	aiShimModule  = "flareform-local-ai:binding"
	aiShimFile    = "flareform-ai-shim.js"
	// bindingsShimModule holds the ratelimit, vectorize and analytics_engine bindings (one
	// entrypoint each).
	bindingsShimModule = "flareform-local-bindings:binding"
	bindingsShimFile   = "flareform-bindings-shim.js"
)

var (
	//go:embed ai_shim.js
	aiShim []byte
	//go:embed bindings_shim.js
	bindingsShim []byte
)

// backendTypes are the binding types served by the backend at Options.AIAddr, and each one's
// shim module and entrypoint.
var backendTypes = map[string]struct{ module, entrypoint string }{
	"ai":        {aiShimModule, "default"},
	"ratelimit": {bindingsShimModule, "ratelimit"},
	"vectorize": {bindingsShimModule, "vectorize"},
	// analytics_engine: workerd's own analyticsEngine binding needs --experimental and sends
	// Cap'n Proto; the shim mirrors its checks and posts JSON.
	"analytics_engine": {bindingsShimModule, "analyticsEngine"},
	"kv_namespace":     {bindingsShimModule, "kvNamespace"},
	"r2_bucket":        {bindingsShimModule, "r2Bucket"},
	"d1":               {d1ShimModule, "d1"},
}

// capnpModuleField maps an upload module type to the workerd config field.
var capnpModuleField = map[string]string{
	"esm":      "esModule",
	"commonjs": "commonJsModule",
	"text":     "text",
	"data":     "data",
	"wasm":     "wasm",
	"json":     "json",
}

// writeModules writes the runnable modules into dir under generated file
// names (so module names can never escape dir) with the main module first,
// because workerd treats the first module as the entry point. It returns the
// config entries, and the AI shim's file when an ai binding needs it.
func writeModules(dir string, w Worker) ([]string, error) {
	ordered, err := runnableModules(w)
	if err != nil {
		return nil, err
	}
	entries := make([]string, 0, len(ordered))
	for i, m := range ordered {
		file := "m" + strconv.Itoa(i)
		if err := os.WriteFile(filepath.Join(dir, file), m.Content, 0o600); err != nil {
			return nil, fmt.Errorf("write module %s: %w", m.Name, err)
		}
		entries = append(entries, fmt.Sprintf("(name = %s, %s = embed %s)",
			capnpString(m.Name), capnpModuleField[m.Type], capnpString("/"+file)))
	}
	if needsBackend(w) {
		if err := os.WriteFile(filepath.Join(dir, aiShimFile), aiShim, 0o600); err != nil {
			return nil, fmt.Errorf("write AI shim: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, bindingsShimFile), bindingsShim, 0o600); err != nil {
			return nil, fmt.Errorf("write bindings shim: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, d1ShimFile), d1Shim, 0o600); err != nil {
			return nil, fmt.Errorf("write D1 shim: %w", err)
		}
	}
	if err := writeTailWorker(dir, w); err != nil {
		return nil, err
	}
	return entries, nil
}

// runnableModules returns the modules workerd loads, main module first;
// source maps are dropped.
func runnableModules(w Worker) ([]Module, error) {
	var main *Module
	var rest []Module
	for i := range w.Modules {
		m := w.Modules[i]
		switch {
		case m.Type == "sourcemap":
			continue
		case capnpModuleField[m.Type] == "":
			return nil, fmt.Errorf("module %s: unsupported type %q", m.Name, m.Type)
		case m.Name == w.MainModule && main == nil:
			main = &w.Modules[i]
		default:
			rest = append(rest, m)
		}
	}
	if main == nil {
		return nil, &StartupError{Message: fmt.Sprintf("main module %q is not among the uploaded modules", w.MainModule)}
	}
	if main.Type != "esm" && main.Type != "commonjs" {
		return nil, &StartupError{Message: fmt.Sprintf("main module %q must be JavaScript, not %s", w.MainModule, main.Type)}
	}
	return append([]Module{*main}, rest...), nil
}

// needsBackend reports whether a binding of w calls the backend at Options.AIAddr.
func needsBackend(w Worker) bool {
	for _, b := range w.Bindings {
		if _, ok := backendTypes[b.Type]; ok {
			return true
		}
	}
	return false
}

// configText renders the workerd text config for w. Secret values appear in
// it, so it is only ever handed to workerd in memory, never written to disk.
func configText(w Worker, modules []string, aiAddr string) (string, error) {
	bindings, err := bindingEntries(w.Bindings)
	if err != nil {
		return "", err
	}
	if usesBackend(w) && aiAddr == "" {
		return "", fmt.Errorf("worker %s has an ai, ratelimit, vectorize or analytics_engine binding but no AI address (Options.AIAddr, the binding backend) was configured", w.Name)
	}
	flags := make([]string, len(w.CompatibilityFlags))
	for i, f := range w.CompatibilityFlags {
		flags[i] = capnpString(f)
	}

	var b strings.Builder
	b.WriteString("using Workerd = import \"/workerd/workerd.capnp\";\n")
	b.WriteString("const config :Workerd.Config = (\n  services = [\n")
	fmt.Fprintf(&b, "    (name = %s, worker = .worker),\n", capnpString(serviceName))
	b.WriteString(tailServiceEntry(w))
	if usesBackend(w) {
		fmt.Fprintf(&b, "    (name = %s, external = (address = %s, http = ())),\n", capnpString(aiServiceName), capnpString(aiAddr))
	}
	b.WriteString("  ],\n")
	fmt.Fprintf(&b, "  sockets = [ (name = %s, address = \"127.0.0.1:0\", http = (), service = %s) ],\n",
		capnpString(socketName), capnpString(serviceName))
	if needsBackend(w) {
		fmt.Fprintf(&b, "  extensions = [ (modules = [ (name = %s, esModule = embed %s, internal = true), (name = %s, esModule = embed %s, internal = true), (name = %s, esModule = embed %s, internal = true) ]) ],\n",
			capnpString(aiShimModule), capnpString("/"+aiShimFile), capnpString(bindingsShimModule), capnpString("/"+bindingsShimFile),
			capnpString(d1ShimModule), capnpString("/"+d1ShimFile))
	}
	b.WriteString(");\n")
	b.WriteString("const worker :Workerd.Worker = (\n")
	fmt.Fprintf(&b, "  modules = [\n    %s\n  ],\n", strings.Join(modules, ",\n    "))
	fmt.Fprintf(&b, "  compatibilityDate = %s,\n", capnpString(w.CompatibilityDate))
	fmt.Fprintf(&b, "  compatibilityFlags = [%s],\n", strings.Join(flags, ", "))
	fmt.Fprintf(&b, "  bindings = [\n    %s\n  ],\n", strings.Join(bindings, ",\n    "))
	b.WriteString(tailsField(w))
	b.WriteString(");\n")
	tail, err := tailWorkerConst(w)
	if err != nil {
		return "", err
	}
	b.WriteString(tail)
	return b.String(), nil
}

func bindingEntries(bindings []Binding) ([]string, error) {
	entries := make([]string, 0, len(bindings))
	for _, bd := range bindings {
		name := capnpString(bd.Name)
		switch bd.Type {
		case "plain_text", "secret_text":
			entries = append(entries, fmt.Sprintf("(name = %s, text = %s)", name, capnpString(bd.Text)))
		case "json":
			if !json.Valid(bd.JSON) {
				return nil, fmt.Errorf("binding %s: invalid JSON value", bd.Name)
			}
			entries = append(entries, fmt.Sprintf("(name = %s, json = %s)", name, capnpString(string(bd.JSON))))
		case "ai", "ratelimit", "vectorize", "analytics_engine", "d1", "kv_namespace", "r2_bucket":
			entry, err := backendBindingEntry(bd)
			if err != nil {
				return nil, err
			}
			entries = append(entries, entry)
		default:
			return nil, fmt.Errorf("binding %s: unsupported type %q", bd.Name, bd.Type)
		}
	}
	return entries, nil
}

// backendBindingEntry renders a binding served by the backend: a wrapped binding around the
// shim, whose inner bindings are the backend service and, when set, the binding's config.
func backendBindingEntry(bd Binding) (string, error) {
	shim := backendTypes[bd.Type]
	inner := fmt.Sprintf("(name = \"backend\", service = %s)", capnpString(aiServiceName))
	if len(bd.Config) > 0 {
		if !json.Valid(bd.Config) {
			return "", fmt.Errorf("binding %s: invalid config", bd.Name)
		}
		inner += fmt.Sprintf(", (name = \"config\", json = %s)", capnpString(string(bd.Config)))
	}
	return fmt.Sprintf("(name = %s, wrapped = (moduleName = %s, entrypoint = %s, innerBindings = [ %s ]))",
		capnpString(bd.Name), capnpString(shim.module), capnpString(shim.entrypoint), inner), nil
}

// capnpString quotes s as a Cap'n Proto text literal. Quotes, backslashes and
// control bytes are escaped; other bytes (including UTF-8) pass through.
func capnpString(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, "\\x%02x", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
