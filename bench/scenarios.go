package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/flareform/flareform/internal/jsclients"
	"github.com/flareform/flareform/internal/wranglerenv"
	"github.com/flareform/flareform/localcf"
)

const (
	model         = "@cf/stabilityai/stable-diffusion-xl-base-1.0"
	compatDate    = "2025-06-01"
	envKeyName    = "BENCH_API_KEY"
	fleetLatency  = 50 * time.Millisecond
	exampleSubdir = "examples/text-to-image"
)

// sample is one measured run.
type sample struct {
	Wall   time.Duration
	RSSKiB int64
	Calls  callStats
	Failed bool
}

// series is every round of one tool doing one thing.
type series struct {
	Label   string
	Samples []sample
}

func (s *series) add(x sample) { s.Samples = append(s.Samples, x) }

// bench holds what every scenario needs.
type bench struct {
	root      string
	flareform string
	wrangler  *jsclients.Wrangler
	workerd   string
	alchemy   *alchemy
	sources   map[string][]byte // the example's src/ tree, relative path -> content
	cloud     *cloud
	stub      *nullAPI
	work      string // scratch directory for the projects
	log       io.Writer
}

// measure runs c and attributes to it every API call logged while it ran.
func (b *bench) measure(ctx context.Context, c command) sample {
	b.cloud.take()
	o := run(ctx, c)
	s := sample{Wall: o.Wall, RSSKiB: o.RSSKiB, Calls: statsOf(b.cloud.take())}
	if o.Err != nil {
		s.Failed = true
		fmt.Fprintf(b.log, "bench: run FAILED (left out of the medians): %v\n", o.Err)
	}
	return s
}

// setup runs c outside any measurement; a failure stops the benchmark.
func (b *bench) setup(ctx context.Context, c command) error {
	if o := run(ctx, c); o.Err != nil {
		return fmt.Errorf("setup: %w", o.Err)
	}
	return nil
}

// project is a scratch directory with the worker, its own HOME and TMPDIR.
type project struct {
	dir string
	env []string
}

// newProject makes dir with the example's src/ tree and an environment pointing at the local Cloudflare
// with token and account. Both tools get the same offline environment: wrangler's telemetry,
// banner and update check off (its update-check cache is seeded, and any non-loopback request
// goes to a closed port), as the fidelity tests run it.
func (b *bench) newProject(name, token, accountID string, extraEnv ...string) (*project, error) {
	return b.newProjectOn(name, wranglerenv.API{BaseURL: b.cloud.srv.APIBaseURL(), Token: token, AccountID: accountID}, extraEnv...)
}

// newProjectOn is newProject against another API (the null API stub).
func (b *bench) newProjectOn(name string, api wranglerenv.API, extraEnv ...string) (*project, error) {
	dir := filepath.Join(b.work, name)
	// Dated back like a checkout's sources: a project deploys code written earlier, and the
	// bundle cache keeps no bundle of files changed in the 2 s before it bundled them.
	checkedOut := time.Now().Add(-time.Hour)
	for rel, data := range b.sources {
		path := filepath.Join(dir, "src", rel)
		if err := writeFile(path, data); err != nil {
			return nil, err
		}
		for p := path; p != dir; p = filepath.Dir(p) {
			if err := os.Chtimes(p, checkedOut, checkedOut); err != nil {
				return nil, fmt.Errorf("date %s back: %w", p, err)
			}
		}
	}
	version := "0.0.0" // fleets alone (-only-fleets) run without wrangler
	if b.wrangler != nil {
		version = b.wrangler.Version
	}
	env, err := wranglerenv.Offline(dir, version, api)
	if err != nil {
		return nil, fmt.Errorf("project %s: %w", name, err)
	}
	env = append(env, "FLAREFORM_WORKERD="+b.workerd)
	return &project{dir: dir, env: append(env, extraEnv...)}, nil
}

func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// flareformSpec is a spec for the text-to-image worker under each name; keyFrom is the
// api_key source ("generate" or "env:NAME"). Each project gets its own smoke prompt: the local
// AI stand-in keeps its last few pictures, and a prompt seen before would skip the rendering a
// first smoke test really costs. (A fleet's workers share one prompt, as they share one spec.)
func flareformSpec(names []string, keyFrom, prompt string) []byte {
	var sb strings.Builder
	sb.WriteString("workers:\n")
	for _, name := range names {
		fmt.Fprintf(&sb, `  %s:
    main: ./src/worker.js
    compatibility_date: %q
    ai: { binding: AI, model: %q }
    api_key: { binding: API_KEY, from: %q }
    vars: { MAX_PROMPT_CHARS: "1000" }
    workers_dev: true
    smoke: { prompt: %q, expect: image/png }
`, name, compatDate, model, keyFrom, prompt)
	}
	return []byte(sb.String())
}

// wranglerTOML configures the same worker for wrangler: the AI binding and the variables
// flareform sets (AI_MODEL is the one flareform derives from the spec's model).
func wranglerTOML(name string) []byte {
	return fmt.Appendf(nil, `name = %q
main = "src/worker.js"
compatibility_date = %q
workers_dev = true

[ai]
binding = "AI"

[vars]
AI_MODEL = %q
MAX_PROMPT_CHARS = "1000"
`, name, compatDate, model)
}

func (b *bench) flareformCmd(p *project, stdin string, args ...string) command {
	return command{Path: b.flareform, Args: args, Dir: p.dir, Env: p.env, Stdin: stdin}
}

func (b *bench) wranglerCmd(p *project, stdin string, args ...string) command {
	path, argv := b.wrangler.Argv(args...)
	return command{Path: path, Args: argv, Dir: p.dir, Env: p.env, Stdin: stdin}
}

// newKey is a random API key (32 bytes, base64url), as long as a generated one.
func newKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails since Go 1.24
	return base64.RawURLEncoding.EncodeToString(b)
}

// comparisonResults are the side-by-side scenarios 1-3.
type comparisonResults struct {
	FirstFF, FirstWR, FirstAL    series
	RepeatFF, RepeatWR, RepeatAL series
	RotateFF, SecretFF           series
	SecretWR, SecretAL           series
	// FirstFFID and RepeatFFID are flareform's first deploy and no-change redeploy with the
	// local Cloudflare's deployment_id quirk on (the upload's answer names the new version,
	// wrangler's reading): latency rounds only.
	FirstFFID, RepeatFFID series
}

func newComparisonResults() *comparisonResults {
	return &comparisonResults{
		FirstFF:    series{Label: "flareform apply"},
		FirstWR:    series{Label: "wrangler deploy"},
		FirstAL:    series{Label: "alchemy up"},
		RepeatFF:   series{Label: "flareform apply"},
		RepeatWR:   series{Label: "wrangler deploy"},
		RepeatAL:   series{Label: "alchemy up"},
		RotateFF:   series{Label: "flareform rotate-key"},
		SecretFF:   series{Label: "flareform apply (secret changed)"},
		SecretWR:   series{Label: "wrangler secret put"},
		SecretAL:   series{Label: "alchemy up (secret changed)"},
		FirstFFID:  series{Label: "flareform apply, upload answer names the version"},
		RepeatFFID: series{Label: "flareform apply, upload answer names the version"},
	}
}

// roundProjects are one round's fresh workers: flareform's (generated key), flareform's with an
// env-sourced key (already deployed with oldKey; envNew carries newKey), and wrangler's.
type roundProjects struct {
	ffName             string
	ff, envNew, wr, al *project
	ffID               *project // flareform's worker for the deployment_id reading (latency rounds)
	keyDir             string
	oldKey, newKey     string
}

func (b *bench) prepareRound(ctx context.Context, round string) (*roundProjects, error) {
	srv := b.cloud.srv
	r := &roundProjects{ffName: "ff-r" + round, oldKey: newKey(), newKey: newKey()}
	envName, wrName, alName := "ff-env-r"+round, "wr-r"+round, "al-r"+round
	var err error
	if r.al, err = b.newAlchemyProject(alName, srv.Token(), srv.AccountID()); err != nil {
		return nil, err
	}
	if r.ff, err = b.newProject(r.ffName, srv.Token(), srv.AccountID()); err != nil {
		return nil, err
	}
	idName := "ff-id-r" + round
	if r.ffID, err = b.newProject(idName, srv.Token(), srv.AccountID()); err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(r.ffID.dir, "flareform.yaml"), flareformSpec([]string{idName}, "generate", "a cute robot cooking breakfast, "+idName)); err != nil {
		return nil, err
	}
	if r.wr, err = b.newProject(wrName, srv.Token(), srv.AccountID()); err != nil {
		return nil, err
	}
	envOld, err := b.newProject(envName, srv.Token(), srv.AccountID(), envKeyName+"="+r.oldKey)
	if err != nil {
		return nil, err
	}
	r.keyDir = filepath.Join(r.ff.dir, ".keys")
	if err := os.MkdirAll(r.keyDir, 0o700); err != nil {
		return nil, err
	}
	for path, data := range map[string][]byte{
		filepath.Join(r.ff.dir, "flareform.yaml"):   flareformSpec([]string{r.ffName}, "generate", "a cute robot cooking breakfast, "+r.ffName),
		filepath.Join(envOld.dir, "flareform.yaml"): flareformSpec([]string{envName}, "env:"+envKeyName, "a cute robot cooking breakfast, "+envName),
		filepath.Join(r.wr.dir, "wrangler.toml"):    wranglerTOML(wrName),
	} {
		if err := writeFile(path, data); err != nil {
			return nil, err
		}
	}
	// The worker whose env-sourced key changes in scenario 3 exists before the round starts.
	setup := b.flareformCmd(envOld, "", "apply", "--auto-approve", "--no-smoke")
	setup.Secrets = []string{r.oldKey}
	if err := b.setup(ctx, setup); err != nil {
		return nil, err
	}
	// exec uses the last value of a repeated variable.
	r.envNew = &project{dir: envOld.dir, env: append(slices.Clone(envOld.env), envKeyName+"="+r.newKey)}
	return r, nil
}

// compareRound runs scenarios 1-3 once for each tool on fresh workers, each round starting
// with another tool (flareform, wrangler, Alchemy, then rotated). With latency > 0 every API
// call of the measured runs waits that long (the setup before them does not).
func (b *bench) compareRound(ctx context.Context, round int, name string, latency time.Duration, res *comparisonResults) error {
	r, err := b.prepareRound(ctx, name)
	if err != nil {
		return err
	}
	if latency > 0 {
		b.cloud.injectLatency(latency)
		defer b.cloud.injectLatency(0)
	}
	keyOut := func(name string) []string { return []string{"--key-out", filepath.Join(r.keyDir, name)} }
	rotated(round, func() {
		res.FirstFF.add(b.measure(ctx, b.flareformCmd(r.ff, "", append([]string{"apply", "--auto-approve"}, keyOut("first")...)...)))
	}, func() {
		res.FirstWR.add(b.measure(ctx, b.wranglerCmd(r.wr, "", "deploy")))
	}, func() {
		res.FirstAL.add(b.measure(ctx, b.alchemyCmd(r.al)))
	})
	rotated(round, func() {
		res.RepeatFF.add(b.measure(ctx, b.flareformCmd(r.ff, "", append([]string{"apply", "--auto-approve"}, keyOut("repeat")...)...)))
	}, func() {
		res.RepeatWR.add(b.measure(ctx, b.wranglerCmd(r.wr, "", "deploy")))
	}, func() {
		res.RepeatAL.add(b.measure(ctx, b.alchemyCmd(r.al)))
	})
	if latency > 0 {
		// Round trips under the other reading of the upload's answer, which saves flareform the
		// reads that find its own version.
		b.cloud.srv.SetQuirks(localcf.Quirks{DeploymentID: true})
		idOut := []string{"--key-out", filepath.Join(r.keyDir, "id-first")}
		res.FirstFFID.add(b.measure(ctx, b.flareformCmd(r.ffID, "", append([]string{"apply", "--auto-approve"}, idOut...)...)))
		res.RepeatFFID.add(b.measure(ctx, b.flareformCmd(r.ffID, "", "apply", "--auto-approve")))
		b.cloud.srv.SetQuirks(localcf.Quirks{})
	}
	secret := newKey()
	rotated(round, func() {
		rotate := append([]string{"rotate-key", r.ffName, "--grace", "1h"}, keyOut("rotated")...)
		res.RotateFF.add(b.measure(ctx, b.flareformCmd(r.ff, "", rotate...)))
		apply := b.flareformCmd(r.envNew, "", "apply", "--auto-approve")
		apply.Secrets = []string{r.oldKey, r.newKey}
		res.SecretFF.add(b.measure(ctx, apply))
	}, func() {
		put := b.wranglerCmd(r.wr, secret+"\n", "secret", "put", "API_KEY")
		put.Secrets = []string{secret}
		res.SecretWR.add(b.measure(ctx, put))
	}, func() {
		up := b.alchemyCmd(r.al, "WORKER_API_KEY="+secret)
		up.Secrets = []string{secret}
		res.SecretAL.add(b.measure(ctx, up))
	})
	return nil
}

// rotated runs each tool's part, starting with the one at round (mod the count): every tool
// goes first, second and last equally often over the rounds.
func rotated(round int, parts ...func()) {
	for i := range parts {
		parts[(round+i)%len(parts)]()
	}
}

// localRound runs `apply --local` in a fresh copy of the example: its own embedded local
// Cloudflare and state, from cold until the smoke test has the PNG. The API calls come from the
// request log the embedded server keeps beside the spec.
func (b *bench) localRound(ctx context.Context, round int) (sample, error) {
	p, err := b.newProject(fmt.Sprintf("local-r%d", round), "", "")
	if err != nil {
		return sample{}, err
	}
	// --local needs no account: nothing may point it at the shared local Cloudflare.
	p.env = slices.DeleteFunc(p.env, func(kv string) bool { return strings.HasPrefix(kv, "CLOUDFLARE_") })
	example, err := os.ReadFile(filepath.Join(b.root, exampleSubdir, "flareform.yaml"))
	if err != nil {
		return sample{}, fmt.Errorf("read the example spec: %w", err)
	}
	if err := writeFile(filepath.Join(p.dir, "flareform.yaml"), example); err != nil {
		return sample{}, err
	}
	out := filepath.Join(p.dir, "out")
	o := run(ctx, b.flareformCmd(p, "", "apply", "--local", "--auto-approve",
		"--key-out", filepath.Join(p.dir, "api-key"), "--smoke-out", out))
	s := sample{Wall: o.Wall, RSSKiB: o.RSSKiB}
	recs, err := readRequestLog(filepath.Join(p.dir, ".flareform", "local", "requests.jsonl"))
	if err != nil {
		return s, err
	}
	s.Calls = statsOf(recs)
	if o.Err == nil {
		o.Err = checkPNG(out)
	}
	if o.Err != nil {
		s.Failed = true
		fmt.Fprintf(b.log, "bench: apply --local FAILED: %v\n", o.Err)
	}
	return s, nil
}

func readRequestLog(path string) ([]localcf.RequestRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("request log of apply --local: %w", err)
	}
	defer f.Close()
	var recs []localcf.RequestRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var r localcf.RequestRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("request log %s: %w", path, err)
		}
		recs = append(recs, r)
	}
	return recs, sc.Err()
}

// checkPNG requires a decodable, non-empty PNG in dir.
func checkPNG(dir string) error {
	matches, err := filepath.Glob(filepath.Join(dir, "*.png"))
	if err != nil || len(matches) == 0 {
		return fmt.Errorf("no PNG in %s after apply --local", dir)
	}
	f, err := os.Open(matches[0])
	if err != nil {
		return err
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		return fmt.Errorf("%s is not a PNG: %w", matches[0], err)
	}
	if r := img.Bounds(); r.Dx() == 0 || r.Dy() == 0 {
		return fmt.Errorf("%s is an empty image", matches[0])
	}
	return nil
}
