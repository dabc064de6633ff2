package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/flareform/flareform/internal/jsclients"
)

// alchemyScript is the Alchemy program the fidelity tests deploy with (one Worker with an AI
// binding and, when WORKER_API_KEY is set, the API_KEY secret); the bench runs it unchanged.
const alchemyScript = "localcf/fidelity/testdata/alchemy/run.mjs"

// alchemy is Alchemy 0.94 as `make clients` installs it, with the Node 22 it needs.
type alchemy struct {
	node        *jsclients.Node
	version     string
	nodeModules string // the clients' node_modules, linked into every project
	script      []byte
}

func findAlchemy(ctx context.Context, root string) (*alchemy, error) {
	pkg, err := jsclients.FindPackage(root, jsclients.Node22, "alchemy")
	if err != nil {
		return nil, fmt.Errorf("alchemy: %w", err)
	}
	// Alchemy 0.94 declares no engines.node but needs Node 22 (the fidelity tests say so too).
	node, err := jsclients.FindNode(ctx, root, ">=22")
	if err != nil {
		return nil, fmt.Errorf("alchemy needs Node 22: %w", err)
	}
	script, err := os.ReadFile(filepath.Join(root, alchemyScript))
	if err != nil {
		return nil, fmt.Errorf("alchemy: %w", err)
	}
	return &alchemy{node: node, version: pkg.Version, script: script,
		nodeModules: filepath.Join(jsclients.SetDir(root, jsclients.Node22), "node_modules")}, nil
}

// newAlchemyProject makes an Alchemy project beside p (same sources, same offline environment)
// deploying the worker name; its state lives in the project (./.alchemy), fresh every round.
func (b *bench) newAlchemyProject(name, token, accountID string) (*project, error) {
	p, err := b.newProject(name, token, accountID)
	if err != nil {
		return nil, err
	}
	for path, data := range map[string][]byte{
		filepath.Join(p.dir, "run.mjs"):      b.alchemy.script,
		filepath.Join(p.dir, "package.json"): []byte(`{"private":true,"type":"module"}`),
	} {
		if err := writeFile(path, data); err != nil {
			return nil, err
		}
	}
	if err := os.Symlink(b.alchemy.nodeModules, filepath.Join(p.dir, "node_modules")); err != nil {
		return nil, fmt.Errorf("alchemy project %s: %w", name, err)
	}
	p.env = append(slices.Clone(p.env),
		"PATH="+jsclients.PathWith(b.alchemy.node.Path),
		"CLOUDFLARE_BASE_URL="+b.cloud.srv.APIBaseURL(),
		"ALCHEMY_CI_STATE_STORE_CHECK=false", // the state is a throwaway local file on purpose
		"ALCHEMY_TELEMETRY_DISABLED=1",
		"DO_NOT_TRACK=1",
		"ALCHEMY_PASSWORD=bench-state-password",
		"WORKER_NAME="+name,
		"WORKER_ENTRY=./src/worker.js",
	)
	return p, nil
}

// alchemyCmd runs one `up` of the project; extraEnv sets WORKER_API_KEY for the secret.
func (b *bench) alchemyCmd(p *project, extraEnv ...string) command {
	env := append(append(slices.Clone(p.env), "PHASE=up"), extraEnv...)
	return command{Path: b.alchemy.node.Path, Args: []string{"run.mjs"}, Dir: p.dir, Env: env}
}
