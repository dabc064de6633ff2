package workerd

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The tail worker: when Worker.Tail is set, a second worker in the same workerd process
// receives the runtime's trace events of every invocation (workerd's `tails`) and posts them,
// in the shape of Cloudflare's tail sockets, to the backend at Options.AIAddr (POST
// /tail-events with Worker.Tail as its config). Events therefore come from workerd itself:
// its console capture, its exception reports, its outcome and its redacted request.
const (
	tailServiceName = "flareform-tail"
	tailWorkerFile  = "flareform-tail-worker.js"
	// tailCompatDate is the tail worker's own compatibility date, independent of the user's.
	tailCompatDate = "2024-09-23"
)

//go:embed tail_worker.js
var tailWorker []byte

// hasTail reports whether w runs with the tail worker.
func hasTail(w Worker) bool { return len(w.Tail) > 0 }

// usesBackend reports whether w's config needs the backend service at Options.AIAddr.
func usesBackend(w Worker) bool { return needsBackend(w) || hasTail(w) }

// writeTailWorker writes the tail worker's module into dir when w has one.
func writeTailWorker(dir string, w Worker) error {
	if !hasTail(w) {
		return nil
	}
	if err := os.WriteFile(filepath.Join(dir, tailWorkerFile), tailWorker, 0o600); err != nil {
		return fmt.Errorf("write tail worker: %w", err)
	}
	return nil
}

// tailServiceEntry is the services entry of the tail worker ("" without one).
func tailServiceEntry(w Worker) string {
	if !hasTail(w) {
		return ""
	}
	return fmt.Sprintf("    (name = %s, worker = .tail),\n", capnpString(tailServiceName))
}

// tailsField is the user worker's `tails` field ("" without a tail worker).
func tailsField(w Worker) string {
	if !hasTail(w) {
		return ""
	}
	return fmt.Sprintf("  tails = [%s],\n", capnpString(tailServiceName))
}

// tailWorkerConst is the tail worker's definition ("" without one).
func tailWorkerConst(w Worker) (string, error) {
	if !hasTail(w) {
		return "", nil
	}
	if !json.Valid(w.Tail) {
		return "", fmt.Errorf("worker %s: invalid tail config", w.Name)
	}
	var b strings.Builder
	b.WriteString("const tail :Workerd.Worker = (\n")
	fmt.Fprintf(&b, "  modules = [ (name = %s, esModule = embed %s) ],\n", capnpString("tail.js"), capnpString("/"+tailWorkerFile))
	fmt.Fprintf(&b, "  compatibilityDate = %s,\n", capnpString(tailCompatDate))
	fmt.Fprintf(&b, "  bindings = [ (name = \"backend\", service = %s), (name = \"config\", json = %s) ],\n",
		capnpString(aiServiceName), capnpString(string(w.Tail)))
	b.WriteString(");\n")
	return b.String(), nil
}
