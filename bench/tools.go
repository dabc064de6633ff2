package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// pinnedNode is the Node release installed (from npm) when the system node is too old for the
// chosen wrangler.
const pinnedNode = "22.23.3"

// wrangler is an installed wrangler and the node that runs it.
type wrangler struct {
	Node        string // node binary
	NodeVersion string // "v22.23.3"
	Script      string // .../node_modules/wrangler/bin/wrangler.js
	Version     string
}

// argv is the command line running wrangler with args.
func (w *wrangler) argv(args ...string) (string, []string) {
	return w.Node, append([]string{w.Script}, args...)
}

// packageJSON is the part of a package.json the bench reads.
type packageJSON struct {
	Version string `json:"version"`
	Engines struct {
		Node string `json:"node"`
	} `json:"engines"`
}

func readPackageJSON(path string) (*packageJSON, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var p packageJSON
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return &p, nil
}

// ensureWrangler returns wrangler at version, installing it with npm under <root>/.bench when
// neither the repository's node_modules nor an earlier install has it, and a node that
// satisfies its engines.node (installing the pinned Node from npm when the system one does not).
func ensureWrangler(ctx context.Context, root, version string, log io.Writer) (*wrangler, error) {
	dir, err := wranglerDir(ctx, root, version, log)
	if err != nil {
		return nil, err
	}
	pkg, err := readPackageJSON(filepath.Join(dir, "package.json"))
	if err != nil {
		return nil, fmt.Errorf("read the installed wrangler: %w", err)
	}
	node, nodeVersion, err := ensureNode(ctx, root, pkg.Engines.Node, log)
	if err != nil {
		return nil, fmt.Errorf("wrangler %s: %w", version, err)
	}
	return &wrangler{Node: node, NodeVersion: nodeVersion, Script: filepath.Join(dir, "bin", "wrangler.js"), Version: pkg.Version}, nil
}

// wranglerDir is the package directory of wrangler at version.
func wranglerDir(ctx context.Context, root, version string, log io.Writer) (string, error) {
	// The repository's own wrangler (pinned in package-lock.json) needs no install.
	repo := filepath.Join(root, "node_modules", "wrangler")
	if p, err := readPackageJSON(filepath.Join(repo, "package.json")); err == nil && p.Version == version {
		return repo, nil
	}
	prefix := filepath.Join(root, ".bench", "wrangler-"+version)
	dir := filepath.Join(prefix, "node_modules", "wrangler")
	if p, err := readPackageJSON(filepath.Join(dir, "package.json")); err == nil && p.Version == version {
		return dir, nil
	}
	if err := npmInstall(ctx, prefix, "wrangler@"+version, log); err != nil {
		return "", err
	}
	return dir, nil
}

// ensureNode returns a node binary whose version satisfies engines ("" accepts any).
func ensureNode(ctx context.Context, root, engines string, log io.Writer) (string, string, error) {
	system, err := exec.LookPath("node")
	if err != nil {
		return "", "", fmt.Errorf("node is not on PATH (npm, which installs wrangler, needs it): %w", err)
	}
	version, err := nodeVersion(ctx, system)
	if err != nil {
		return "", "", err
	}
	if ok, err := satisfiesOrAny(version, engines); err != nil || ok {
		return system, version, err
	}
	fmt.Fprintf(log, "bench: node %s does not satisfy wrangler's engines.node %q; using node %s from npm\n", version, engines, pinnedNode)
	pkgName, err := nodePackage()
	if err != nil {
		return "", "", err
	}
	prefix := filepath.Join(root, ".bench", "node-"+pinnedNode)
	bin := filepath.Join(prefix, "node_modules", pkgName, "bin", "node")
	if _, err := os.Stat(bin); errors.Is(err, fs.ErrNotExist) {
		if err := npmInstall(ctx, prefix, pkgName+"@"+pinnedNode, log); err != nil {
			return "", "", err
		}
	}
	version, err = nodeVersion(ctx, bin)
	if err != nil {
		return "", "", err
	}
	if ok, err := satisfiesOrAny(version, engines); err != nil || !ok {
		return "", "", errors.Join(err, fmt.Errorf("node %s from npm does not satisfy engines.node %q either", version, engines))
	}
	return bin, version, nil
}

func satisfiesOrAny(version, engines string) (bool, error) {
	if strings.TrimSpace(engines) == "" {
		return true, nil
	}
	return satisfies(version, engines)
}

// nodePackage is the npm package holding the Node binary for this machine.
func nodePackage() (string, error) {
	arch := map[string]string{"amd64": "x64", "arm64": "arm64"}[runtime.GOARCH]
	if arch == "" || (runtime.GOOS != "linux" && runtime.GOOS != "darwin") {
		return "", fmt.Errorf("no npm Node package for %s/%s; install Node %s yourself", runtime.GOOS, runtime.GOARCH, pinnedNode)
	}
	return fmt.Sprintf("node-%s-%s", runtime.GOOS, arch), nil
}

func npmInstall(ctx context.Context, prefix, pkg string, log io.Writer) error {
	fmt.Fprintf(log, "bench: npm install %s into %s\n", pkg, prefix)
	if err := os.MkdirAll(prefix, 0o755); err != nil {
		return fmt.Errorf("install %s: %w", pkg, err)
	}
	cmd := exec.CommandContext(ctx, "npm", "install", "--prefix", prefix, "--no-audit", "--no-fund", pkg)
	cmd.Stdout = log
	cmd.Stderr = log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("npm install %s: %w", pkg, err)
	}
	return nil
}

func nodeVersion(ctx context.Context, node string) (string, error) {
	return commandOutput(ctx, node, "--version")
}

func commandOutput(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}

// machine describes where the numbers were taken.
type machine struct {
	CPU, RAM, Kernel, Go, Node, Wrangler, Workerd, Date string
	Cores                                               int
}

func describeMachine(ctx context.Context, w *wrangler, workerdBin string) machine {
	m := machine{
		CPU:      firstField("/proc/cpuinfo", "model name"),
		Cores:    runtime.NumCPU(),
		RAM:      memTotal(),
		Go:       runtime.Version(),
		Node:     w.NodeVersion,
		Wrangler: w.Version,
		Date:     time.Now().UTC().Format("2006-01-02 15:04 UTC"),
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = runtime.GOOS + " " + strings.TrimSpace(string(b))
	}
	if v, err := commandOutput(ctx, workerdBin, "--version"); err == nil {
		m.Workerd = v
	}
	return m
}

// firstField is the value of the first "key : value" line of a /proc file starting with key.
func firstField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func memTotal() string {
	fields := strings.Fields(firstField("/proc/meminfo", "MemTotal"))
	if len(fields) == 0 {
		return "unknown"
	}
	kib, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return "unknown"
	}
	return fmt.Sprintf("%.1f GiB", kib/(1<<20))
}
