package main

import (
	"bufio"
	"context"
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

	"github.com/flareform/flareform/internal/jsclients"
)

// pinnedNode is the Node release installed into .bench/ when neither the system node nor the
// Node 22 that `make clients` installs satisfies the chosen wrangler (same pin as
// localcf/fidelity/clients/node22/package.json).
const pinnedNode = "22.23.5"

// ensureWrangler returns wrangler at version and a node that satisfies its engines.node. The
// wranglers pinned for the fidelity tests (`make clients`) are used when one has that version;
// any other version is installed with npm under <root>/.bench.
func ensureWrangler(ctx context.Context, root, version string, log io.Writer) (*jsclients.Wrangler, error) {
	pkg, err := wranglerPackage(ctx, root, version, log)
	if err != nil {
		return nil, err
	}
	w, err := jsclients.WranglerAt(ctx, root, pkg)
	if err == nil {
		return w, nil
	}
	fmt.Fprintf(log, "bench: %v; using node %s from npm\n", err, pinnedNode)
	node, err := benchNode(ctx, root, pkg.EnginesNode, log)
	if err != nil {
		return nil, fmt.Errorf("wrangler %s: %w", version, err)
	}
	return &jsclients.Wrangler{Node: node.Path, NodeVersion: node.Version,
		Script: filepath.Join(pkg.Dir, "bin", "wrangler.js"), Version: pkg.Version}, nil
}

// wranglerPackage is the installed wrangler package at version.
func wranglerPackage(ctx context.Context, root, version string, log io.Writer) (*jsclients.Package, error) {
	for _, set := range []jsclients.Set{jsclients.Node22, jsclients.Node20} {
		if p, err := jsclients.FindPackage(root, set, "wrangler"); err == nil && p.Version == version {
			return p, nil
		}
	}
	prefix := filepath.Join(root, ".bench", "wrangler-"+version)
	dir := filepath.Join(prefix, "node_modules", "wrangler")
	if p, err := jsclients.ReadPackage(dir); err == nil && p.Version == version {
		return p, nil
	}
	if err := npmInstall(ctx, prefix, "wrangler@"+version, log); err != nil {
		return nil, err
	}
	return jsclients.ReadPackage(dir)
}

// benchNode installs the pinned Node from npm into .bench/ and checks it against engines.
func benchNode(ctx context.Context, root, engines string, log io.Writer) (*jsclients.Node, error) {
	pkgName, err := jsclients.NodePackage()
	if err != nil {
		return nil, err
	}
	prefix := filepath.Join(root, ".bench", "node-"+pinnedNode)
	bin := filepath.Join(prefix, "node_modules", pkgName, "bin", "node")
	if _, err := os.Stat(bin); errors.Is(err, fs.ErrNotExist) {
		if err := npmInstall(ctx, prefix, pkgName+"@"+pinnedNode, log); err != nil {
			return nil, err
		}
	}
	version, err := nodeVersion(ctx, bin)
	if err != nil {
		return nil, err
	}
	if engines != "" {
		if ok, err := jsclients.Satisfies(version, engines); err != nil || !ok {
			return nil, errors.Join(err, fmt.Errorf("node %s from npm does not satisfy engines.node %q either", version, engines))
		}
	}
	return &jsclients.Node{Path: bin, Version: version}, nil
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
	AlchemyNode, Alchemy                                string
	Cores                                               int
}

func describeMachine(ctx context.Context, b *bench) machine {
	w, workerdBin := b.wrangler, b.workerd
	m := machine{
		CPU:         firstField("/proc/cpuinfo", "model name"),
		Cores:       runtime.NumCPU(),
		RAM:         memTotal(),
		Go:          runtime.Version(),
		Node:        w.NodeVersion,
		Wrangler:    w.Version,
		AlchemyNode: b.alchemy.node.Version,
		Alchemy:     b.alchemy.version,
		Date:        time.Now().UTC().Format("2006-01-02 15:04 UTC"),
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
