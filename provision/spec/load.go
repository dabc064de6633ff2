package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/flareform/flareform/internal/confined"
	"github.com/flareform/flareform/internal/keysource"
	"github.com/flareform/flareform/internal/lazyre"
)

// Limits and defaults.
const (
	// MaxSpecBytes bounds the spec file (confined.Spec's cap); a real spec is a few KiB.
	MaxSpecBytes = 1 << 20
	// MaxVarBytes is Cloudflare's limit for one plain-text variable.
	MaxVarBytes = 5 * 1024

	DefaultAIBinding     = "AI"
	DefaultKeyBinding    = "API_KEY"
	DefaultSmokePath     = "/"
	DefaultSmokeStatus   = 200
	DefaultUnauthorized  = 401
	DefaultMethodStatus  = 405
	AIModelVar           = "AI_MODEL" // plain_text binding the engine sets from ai.model
	previousKeySuffix    = "_PREVIOUS"
	previousExpirySuffix = "_PREVIOUS_EXPIRES"
)

var (
	accountIDPattern  = lazyre.Regexp{Expr: `^[0-9a-f]{32}$`}
	datePattern       = lazyre.Regexp{Expr: `^\d{4}-\d{2}-\d{2}$`}
	jsIdentifier      = lazyre.Regexp{Expr: `^[A-Za-z_$][A-Za-z0-9_$]*$`}
	flagPattern       = lazyre.Regexp{Expr: `^[a-z0-9_]+$`}
	modelPattern      = lazyre.Regexp{Expr: `^@(cf|hf)/[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._:-]*)+$`}
	mimePattern       = lazyre.Regexp{Expr: `^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$`}
	yamlErrorLine     = lazyre.Regexp{Expr: `^yaml: line (\d+): (.*)$`}
	yamlErrorLineOnly = lazyre.Regexp{Expr: `^yaml: (.*)$`}
)

// Load reads the spec at path, applies environment env ("" for none), expands ${VAR} with
// getenv (os.Getenv when nil) and validates everything it can without the network.
// On failure the error is an ErrorList holding every problem found, each a *Error.
func Load(path, env string, getenv func(string) string) (*Spec, error) {
	return load(path, env, getenv, time.Now())
}

func load(path, env string, getenv func(string) string, now time.Time) (*Spec, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	l := &loader{file: path, getenv: getenv, today: now.UTC().Format(time.DateOnly), hidden: map[string]string{}}
	l.hideCredentials()
	s := l.load(env)
	if len(l.errs) > 0 {
		// The workers' key variables (FLAREFORM_API_KEY_<WORKER>) are known only once the
		// workers are: messages recorded before are scrubbed of their values again.
		for _, e := range l.errs {
			e.Msg, e.Fix = l.scrub(e.Msg), l.scrub(e.Fix)
		}
		return nil, l.errs.sorted()
	}
	return s, nil
}

type loader struct {
	file   string
	dir    string         // absolute directory of the spec
	tree   *confined.Tree // the project tree main and smoke.body_file must lie in
	getenv func(string) string
	today  string // YYYY-MM-DD in UTC
	errs   ErrorList
	// hidden maps every value no message may show (minScrubLen bytes or longer) to what
	// messages show instead: each value ${NAME} expanded to and the value of each credential
	// variable, as "${NAME}"; each key an api_key source resolved to, as its source. So
	// `name: ${CLOUDFLARE_API_TOKEN}` cannot print the token, nor a message quoting a var
	// print the key it equals. Messages use str.show() for expanded values; this is the
	// safety net behind it.
	hidden map[string]string
	// keys are the keys the workers' env and file sources resolved to, for checkVarsHoldNoKeys.
	keys []managedKey
}

// managedKey is the value of one env: or file: source (an api_key, a consumer's key, a
// secret), as read at load time.
type managedKey struct {
	worker string // the worker's key under workers:
	use    keyUse
	source string // the source as written and quoted, e.g. "\"env:MY_KEY\""
	key    string
}

// keyUse says what an env: or file: source feeds, for the messages about it: the rules are
// keysource's (the key rule, or the secret rule for a secret), the consequences and the ways
// out differ.
type keyUse struct {
	path string // where the source is written: "api_key.from", "consumers.web.from", "secrets.OPENAI_KEY"
	what string // what its value is: "API key", "key of consumer \"web\"", "secret OPENAI_KEY"
	// binding is the secret binding the worker reads the value from; "" when the worker does
	// not hold it (a consumer's key, of which it holds only a fingerprint).
	binding string
	// secret marks a `secrets:` value: flareform never generates one, and the worker's code,
	// not its clients, holds it.
	secret bool
}

// or is how a fix ends: a key may instead be generated, a secret may not.
func (u keyUse) or(sep string) string {
	if u.secret {
		return ""
	}
	return sep + "or use from: generate"
}

// minScrubLen is the shortest value scrubbed from messages: shorter ones ("1", "prod") are not
// secrets and would garble unrelated words.
const minScrubLen = 8

func (l *loader) errorAt(p Position, msg, fix string) {
	l.errs = append(l.errs, &Error{File: l.file, Line: p.Line, Col: p.Col, Msg: l.scrub(msg), Fix: l.scrub(fix)})
}

// lookup is getenv for ${NAME} expansion; it remembers the values it hands out.
func (l *loader) lookup(name string) string {
	v := l.getenv(name)
	l.hide(v, "${"+name+"}")
	return v
}

// hide makes messages show instead of value (when long enough to be a secret). The first
// name given for a value stays.
func (l *loader) hide(value, instead string) {
	if _, known := l.hidden[value]; !known && len(value) >= minScrubLen {
		l.hidden[value] = instead
	}
}

// hideCredentials hides the values of the credential variables from every message, however
// they reach the spec (a literal, another variable holding the same value).
func (l *loader) hideCredentials() {
	for _, name := range credentialVars {
		l.hide(l.getenv(name), "${"+name+"}")
	}
}

// scrub replaces every hidden value in s (also lowercased, as name suggestions lower it)
// with what messages show instead.
func (l *loader) scrub(s string) string {
	values := slices.Collect(maps.Keys(l.hidden))
	slices.SortFunc(values, func(a, b string) int { return len(b) - len(a) }) // longest first
	for _, v := range values {
		s = strings.ReplaceAll(s, v, l.hidden[v])
		s = strings.ReplaceAll(s, strings.ToLower(v), l.hidden[v])
	}
	return s
}

func posOf(n *yaml.Node) Position {
	if n == nil {
		return Position{}
	}
	return Position{Line: n.Line, Col: n.Column}
}

func (l *loader) load(env string) *Spec {
	abs, err := filepath.Abs(l.file)
	if err != nil {
		l.errorAt(Position{}, fmt.Sprintf("cannot resolve spec path: %v", err), "")
		return nil
	}
	l.dir = filepath.Dir(abs)
	data, ok := l.read(abs)
	if !ok {
		return nil
	}
	if l.tree, err = confined.ProjectTree(abs); err != nil {
		l.errorAt(Position{}, fmt.Sprintf("cannot find the project the spec belongs to: %v", err), "run flareform on a spec in a folder it can read")
		return nil
	}
	root := l.parse(data)
	if root == nil {
		return nil
	}
	sh := &shaper{file: l.file, errs: &l.errs}
	top := sh.shape("", nil, root, field{kind: kindBlock, block: rootSchema})
	if top == nil {
		return nil
	}
	return l.build(top, env)
}

// read reads the spec under the rules of package confined: a regular file (a FIFO would block,
// /dev/zero never ends) outside /proc, /sys and /dev, of at most MaxSpecBytes.
func (l *loader) read(abs string) ([]byte, bool) {
	data, err := confined.ReadFile(abs, confined.Spec, nil)
	if err != nil {
		l.errorAt(Position{}, fmt.Sprintf("cannot read spec: %v", err), confined.Spec.Fix)
		return nil, false
	}
	return data, true
}

// parse turns bytes into the root mapping node, reporting YAML syntax errors with positions.
func (l *loader) parse(data []byte) (root *yaml.Node) {
	defer func() {
		// yaml.v3 is third-party code fed with user input: a panic in it must become an error.
		if r := recover(); r != nil {
			l.errorAt(Position{Line: 1, Col: 1}, fmt.Sprintf("YAML parser failed: %v", r), "check the file is valid YAML")
			root = nil
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			l.errorAt(Position{}, "spec is empty", "add a workers: block (see docs/spec.md), or run `flareform init`")
			return nil
		}
		l.yamlError(data, err)
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		l.errorAt(posOf(&extra), "spec holds more than one YAML document", "remove the `---` separator and everything after it, or merge the documents")
		return nil
	} else if !errors.Is(err, io.EOF) {
		l.yamlError(data, err)
		return nil
	}
	if len(doc.Content) == 0 || (doc.Content[0].Kind == yaml.ScalarNode && doc.Content[0].Tag == "!!null") {
		l.errorAt(Position{}, "spec is empty", "add a workers: block (see docs/spec.md), or run `flareform init`")
		return nil
	}
	root = doc.Content[0]
	if root.Kind != yaml.MappingNode {
		l.errorAt(posOf(root), "the spec must be a mapping with account_id:, workers: and environments:", "start with `workers:` at the beginning of a line")
		return nil
	}
	return root
}

// yamlError reports a syntax error. Tabs get their own message since YAML's is cryptic.
func (l *loader) yamlError(data []byte, err error) {
	for i, line := range strings.Split(string(data), "\n") {
		indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
		if col := strings.IndexByte(indent, '\t'); col >= 0 {
			l.errorAt(Position{Line: i + 1, Col: col + 1}, "tab character in indentation", "YAML indents with spaces only; replace the tab with spaces")
			return
		}
	}
	msg := err.Error()
	if m := yamlErrorLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		l.errorAt(Position{Line: line, Col: 1}, "invalid YAML: "+m[2], "check indentation, colons and quotes on this line and the one before")
		return
	}
	if m := yamlErrorLineOnly.FindStringSubmatch(msg); m != nil {
		msg = m[1]
	}
	l.errorAt(Position{}, "invalid YAML: "+msg, "check the file is valid YAML")
}

// build turns the shaped tree into a Spec for one environment.
func (l *loader) build(top *value, env string) *Spec {
	s := &Spec{File: l.file, Dir: l.dir, Root: l.tree.Root, Env: env}
	workers := top.get("workers")
	if workers == nil {
		l.errorAt(Position{Line: 1, Col: 1}, "spec has no workers: block", "add workers: with at least one worker (see docs/spec.md)")
		return nil
	}
	if len(workers.entries) == 0 {
		if workers.null || len(workers.node.Content) == 0 {
			l.errorAt(posOf(workers.key), "workers is empty", "add at least one worker under workers:, e.g. `image-api:` with main: and compatibility_date:")
		}
		return nil
	}

	overlay := l.selectEnvironment(top, env, workers)
	if p := top.get("project"); p != nil {
		s.Project, s.ProjectPos = l.project(p)
	}
	if sd := top.get("workers_dev_subdomain"); sd != nil {
		s.WorkersDevSubdomain, s.WorkersDevSubdomainPos = l.subdomain(sd)
	}
	accountID := top.get("account_id")
	if a := overlay.get("account_id"); a != nil {
		accountID = a
	}
	if accountID != nil {
		s.AccountID, s.AccountIDPos = l.accountID(accountID)
	}

	overrides := map[string]*value{}
	for _, e := range overlay.get("workers").entriesOrNil() {
		if !e.val.null {
			overrides[e.name] = e.val
		}
	}
	for _, e := range sortedEntries(workers.entries) {
		if e.val.null {
			l.errorAt(posOf(e.val.key), fmt.Sprintf("worker %q is empty", e.name), "give it at least main: and compatibility_date:")
			continue
		}
		s.Workers = append(s.Workers, l.worker(e.name, e.val, overrides[e.name]))
	}
	l.checkUniqueNames(s.Workers)
	l.checkSharedResources(s.Workers)
	l.checkUniqueDomains(s.Workers)
	for _, name := range workerKeyVars(s.Workers) {
		l.hide(l.getenv(name), "${"+name+"}")
	}
	l.checkVarsHoldNoKeys(s.Workers)
	return s
}

func (v *value) entriesOrNil() []entry {
	if v == nil {
		return nil
	}
	return v.entries
}

func sortedEntries(entries []entry) []entry {
	out := slices.Clone(entries)
	sort.SliceStable(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// selectEnvironment returns the chosen environment's block (nil for none) after checking that
// every environment only overrides workers that exist.
func (l *loader) selectEnvironment(top *value, env string, workers *value) *value {
	envs := top.get("environments")
	baseKeys := entryNames(workers.entries)
	for _, e := range envs.entriesOrNil() {
		for _, w := range e.val.get("workers").entriesOrNil() {
			if !slices.Contains(baseKeys, w.name) {
				fix := "known workers: " + strings.Join(baseKeys, ", ")
				if best := closest(w.name, baseKeys); best != "" {
					fix = fmt.Sprintf("did you mean %q?", best)
				}
				l.errorAt(posOf(w.val.key), fmt.Sprintf("environment %q overrides worker %q, which is not under workers:", e.name, w.name), fix)
			}
		}
	}
	if env == "" {
		return nil
	}
	known := entryNames(envs.entriesOrNil())
	for _, e := range envs.entriesOrNil() {
		if e.name == env {
			if e.val.null {
				return &value{fields: map[string]*value{}}
			}
			return e.val
		}
	}
	where := Position{}
	if envs != nil {
		where = posOf(envs.key)
	}
	if len(known) == 0 {
		l.errorAt(where, fmt.Sprintf("unknown environment %q: the spec defines no environments", env), fmt.Sprintf("drop --env, or add environments: with %s: under it", env))
		return nil
	}
	fix := "known environments: " + strings.Join(known, ", ")
	if best := closest(env, known); best != "" {
		fix = fmt.Sprintf("did you mean %q? known environments: %s", best, strings.Join(known, ", "))
	}
	l.errorAt(where, fmt.Sprintf("unknown environment %q", env), fix)
	return nil
}

func entryNames(entries []entry) []string {
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.name
	}
	sort.Strings(names)
	return names
}

// str is an expanded string value with where it came from.
type str struct {
	s        string
	raw      string // as written, for messages: expanded values may be secrets
	pos      Position
	expanded bool
}

// show quotes the value for a message, or the text as written when it came from ${VAR}.
func (v str) show() string {
	if v.expanded {
		return fmt.Sprintf("%q (after expanding ${...})", v.raw)
	}
	return strconv.Quote(v.s)
}

// credentialVars hold flareform's own credentials: the account's (AccountCredentialVars) and
// the workers' keys flareform is given (FLAREFORM_API_KEY, and FLAREFORM_API_KEY_<WORKER>,
// which a reference to FLAREFORM_API_KEY... matches as well). No spec value may expand them:
// the value would be uploaded (as a name, a variable) or printed, and nothing in a spec needs
// them. The values of the spec's workers' FLAREFORM_API_KEY_<WORKER> (workerKeyVars) are
// hidden from messages and refused in vars like these.
var credentialVars = append(slices.Clone(AccountCredentialVars), "FLAREFORM_API_KEY")

// str expands a string value; ok is false when expansion failed (the error is recorded).
func (l *loader) str(v *value) (str, bool) {
	n := v.node
	for _, name := range credentialVars {
		if i := strings.Index(n.Value, "${"+name); i >= 0 {
			ref := credentialRef(n.Value[i+2:]) // the whole name: ${FLAREFORM_API_KEY_IMAGE_API}
			l.errorAt(offsetPos(n, i), fmt.Sprintf("${%s} is a credential and cannot be used in the spec", ref),
				"remove it: flareform reads the token from the environment itself, and api_key takes keys with from: env:NAME")
			return str{raw: n.Value, pos: posOf(n), expanded: true}, false
		}
	}
	out, used, errs := expand(n.Value, l.lookup)
	for _, e := range errs {
		l.errorAt(offsetPos(n, e.offset), e.msg, e.fix)
	}
	return str{s: out, raw: n.Value, pos: posOf(n), expanded: used}, len(errs) == 0
}

// offsetPos points at byte offset within a scalar when the scalar sits on one line.
func offsetPos(n *yaml.Node, offset int) Position {
	p := posOf(n)
	if strings.Contains(n.Value, "\n") || n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return p
	}
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		p.Col++
	}
	p.Col += offset
	return p
}

var subdomainPattern = lazyre.Regexp{Expr: `^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`}

var projectPattern = lazyre.Regexp{Expr: `^[a-z0-9][a-z0-9-]{0,62}$`}

func (l *loader) accountID(v *value) (string, Position) {
	id, ok := l.str(v)
	if !ok || id.s == "" {
		return "", id.pos
	}
	if !accountIDPattern.MatchString(id.s) {
		fix := "copy the 32-character Account ID from the Cloudflare dashboard (Workers & Pages, right sidebar), or leave account_id out to use CLOUDFLARE_ACCOUNT_ID"
		if accountIDPattern.MatchString(strings.ToLower(id.s)) {
			fix = "write it in lowercase"
		}
		l.errorAt(id.pos, fmt.Sprintf("account_id %s is not 32 lowercase hex characters", id.show()), fix)
	}
	return id.s, id.pos
}

// project checks the spec's `project:` name: the identity flareform records on every worker
// it deploys, so a worker removed from the spec can be found and deleted.
func (l *loader) project(v *value) (string, Position) {
	name, ok := l.str(v)
	if !ok || name.s == "" {
		return "", name.pos
	}
	if !projectPattern.MatchString(name.s) {
		l.errorAt(name.pos, fmt.Sprintf("project %s must be 1 to 63 characters of a-z, 0-9 and '-', starting with a letter or digit", name.show()),
			"pick a stable name for this project, e.g. `project: my-images`; it must not change once workers are deployed")
	}
	return name.s, name.pos
}

// subdomain checks `workers_dev_subdomain:`: one DNS label, the <name> in
// <worker>.<name>.workers.dev.
func (l *loader) subdomain(v *value) (string, Position) {
	name, ok := l.str(v)
	if !ok || name.s == "" {
		return "", name.pos
	}
	if !subdomainPattern.MatchString(name.s) {
		l.errorAt(name.pos, fmt.Sprintf("workers_dev_subdomain %s must be 1 to 63 characters of a-z, 0-9 and '-', not starting or ending with '-'", name.show()),
			"pick the account's workers.dev name, e.g. `workers_dev_subdomain: my-team` for *.my-team.workers.dev")
	}
	return name.s, name.pos
}

// layered looks a worker field up in the environment override first, then the base.
type layered struct{ base, over *value }

func (f layered) get(name string) *value {
	if v := f.over.get(name); v != nil {
		return v
	}
	return f.base.get(name)
}

func (l *loader) worker(key string, base, over *value) Worker {
	f := layered{base: base, over: over}
	w := Worker{Key: key, Name: key, WorkersDev: true, Pos: map[string]Position{}}
	keyPos := posOf(base.key)
	w.Pos["key"] = keyPos
	w.Pos[""] = keyPos // the worker as a whole
	w.Pos["name"] = keyPos
	nameExpanded, nameShown := false, ""
	if v := f.get("name"); v != nil {
		if name, ok := l.str(v); ok {
			w.Name, w.Pos["name"] = name.s, name.pos
			nameExpanded, nameShown = name.expanded, name.show()
		}
	}
	if problem, fix := CheckWorkerName(w.Name); problem != "" {
		if nameExpanded { // the problem and the suggestion would quote the value
			problem = fmt.Sprintf("worker name %s is not a valid script name", nameShown)
			fix = fmt.Sprintf("make it at most %d lowercase letters, digits, '-' and '_', not starting or ending with '-'", MaxWorkerNameLen)
		}
		l.errorAt(w.Pos["name"], problem, fix)
	}

	l.main(&w, base.get("main"), keyPos)
	l.compatibilityDate(&w, f.get("compatibility_date"), keyPos)
	l.compatibilityFlags(&w, f.get("compatibility_flags"))
	l.ai(&w, f.get("ai"))
	l.apiKey(&w, f.get("api_key"))
	varKeys := l.vars(&w, base.get("vars"), over.get("vars"))
	w.RateLimit = l.rateLimit(&w, f.get("rate_limit"), "rate_limit")
	l.vectorize(&w, f.get("vectorize"))
	l.workersDev(&w, f.get("workers_dev"))
	l.domains(&w, f.get("domains"))
	l.smoke(&w, f.get("smoke"))
	l.consumers(&w, f.get("consumers"))
	l.usage(&w, f.get("usage"))
	own := l.secrets(&w, base.get("secrets"), over.get("secrets"))
	own = append(own, l.storage(&w, base, over)...)
	l.checkBindings(&w, varKeys, own)
	return w
}

func (l *loader) main(w *Worker, v *value, keyPos Position) {
	if v == nil {
		l.errorAt(keyPos, fmt.Sprintf("worker %q has no main", w.Key), "add main: ./src/worker.js (the entry file, relative to the spec)")
		return
	}
	m, ok := l.str(v)
	w.Pos["main"] = m.pos
	if !ok {
		return
	}
	if strings.TrimSpace(m.s) == "" {
		l.errorAt(m.pos, "main is empty", "set it to the entry file, e.g. main: ./src/worker.js")
		return
	}
	path := m.s
	if !filepath.IsAbs(path) {
		path = filepath.Join(l.dir, filepath.FromSlash(path))
	}
	w.Main = path
	lookedFor := fmt.Sprintf(" (looked for %s)", path)
	if m.expanded {
		lookedFor = ""
	}
	info, err := os.Stat(path)
	switch {
	case err != nil:
		l.errorAt(m.pos, fmt.Sprintf("main file %s does not exist%s", m.show(), lookedFor), "create it or fix the path; relative paths start at the spec's directory")
	case info.IsDir():
		l.errorAt(m.pos, fmt.Sprintf("main %s is a directory", m.show()), "point main at the entry file, e.g. ./src/worker.js")
	default:
		// The bundler reads main later, whole: it must be a regular file of the project (not
		// ../../etc/passwd, nor a link to /proc/self/environ, whose content would be uploaded),
		// of at most a worker module's size (a 5 GB sparse file would exhaust memory), and not
		// a FIFO (it would block) or a device (/dev/zero never ends).
		kind := confined.Module
		kind.Fix = "point main at the worker's entry file, a regular JavaScript file inside the project"
		if _, err := confined.Check(path, kind, l.tree); err != nil {
			fix := kind.Fix
			var ce *confined.Error
			if errors.As(err, &ce) {
				fix = ce.Fix
			}
			l.errorAt(m.pos, fmt.Sprintf("main %s cannot be deployed: %v", m.show(), err), fix)
		}
	}
}

func (l *loader) compatibilityDate(w *Worker, v *value, keyPos Position) {
	if v == nil {
		l.errorAt(keyPos, fmt.Sprintf("worker %q has no compatibility_date", w.Key), fmt.Sprintf("add compatibility_date: %q (today's date pins today's runtime behaviour)", l.today))
		return
	}
	d, ok := l.str(v)
	w.Pos["compatibility_date"] = d.pos
	if !ok {
		return
	}
	w.CompatibilityDate = d.s
	if !datePattern.MatchString(d.s) {
		l.errorAt(d.pos, fmt.Sprintf("compatibility_date %s is not a YYYY-MM-DD date", d.show()), fmt.Sprintf("write it like %q", l.today))
		return
	}
	if _, err := time.Parse(time.DateOnly, d.s); err != nil {
		l.errorAt(d.pos, fmt.Sprintf("compatibility_date %s is not a real date", d.show()), "check the month and day")
		return
	}
	if d.s > l.today {
		l.errorAt(d.pos, fmt.Sprintf("compatibility_date %s is in the future (today is %s in UTC)", d.show(), l.today), fmt.Sprintf("use %q or an earlier date", l.today))
	}
}

func (l *loader) compatibilityFlags(w *Worker, v *value) {
	if v == nil || v.null {
		return
	}
	w.Pos["compatibility_flags"] = posOf(v.node)
	seen := map[string]bool{}
	for _, item := range v.node.Content {
		flag, ok := l.str(&value{node: resolveAlias(item)})
		if !ok {
			continue
		}
		switch {
		case !flagPattern.MatchString(flag.s):
			l.errorAt(flag.pos, fmt.Sprintf("compatibility flag %s is not a flag name", flag.show()), "flags are lowercase words joined by _, e.g. nodejs_compat")
		case seen[flag.s]:
			l.errorAt(flag.pos, fmt.Sprintf("compatibility flag %s is listed twice", flag.show()), "remove the duplicate")
		default:
			seen[flag.s] = true
			w.CompatibilityFlags = append(w.CompatibilityFlags, flag.s)
			w.Pos["compatibility_flags."+flag.s] = flag.pos // for checks that know the runtime's flags
		}
	}
}

// binding reads an optional binding name, defaulting to def at the block's position.
func (l *loader) binding(w *Worker, block *value, path, def string) string {
	v := block.get("binding")
	if v == nil {
		w.Pos[path] = posOf(block.key)
		return def
	}
	b, ok := l.str(v)
	w.Pos[path] = b.pos
	if !ok {
		return def
	}
	if !jsIdentifier.MatchString(b.s) {
		l.errorAt(b.pos, fmt.Sprintf("%s %s is not a valid JavaScript identifier", path, b.show()), fmt.Sprintf("use letters, digits and _, not starting with a digit, e.g. %s", def))
	}
	return b.s
}

func (l *loader) ai(w *Worker, v *value) {
	if v == nil || v.null {
		return
	}
	w.Pos["ai"] = posOf(v.key)
	ai := &AIBinding{Binding: l.binding(w, v, "ai.binding", DefaultAIBinding)}
	w.AI = ai
	mv := v.get("model")
	if mv == nil {
		w.Pos["ai.model"] = posOf(v.key)
		l.errorAt(posOf(v.key), "ai has no model", `add model: "@cf/stabilityai/stable-diffusion-xl-base-1.0" (or another Workers AI model)`)
		return
	}
	m, ok := l.str(mv)
	w.Pos["ai.model"] = m.pos
	if !ok {
		return
	}
	ai.Model = m.s
	if !modelPattern.MatchString(m.s) {
		l.errorAt(m.pos, fmt.Sprintf("ai.model %s is not a Workers AI model name", m.show()), `model names look like "@cf/stabilityai/stable-diffusion-xl-base-1.0" or "@hf/..."`)
	}
	ai.Gateway = l.gateway(w, v.get("gateway"))
}

func (l *loader) apiKey(w *Worker, v *value) {
	if v == nil || v.null {
		return
	}
	w.Pos["api_key"] = posOf(v.key)
	k := &KeySource{Binding: l.binding(w, v, "api_key.binding", DefaultKeyBinding), From: "generate"}
	w.APIKey = k
	if gv := v.get("grace"); gv != nil {
		k.Grace = l.grace(w, gv)
	}
	fv := v.get("from")
	if fv == nil {
		w.Pos["api_key.from"] = posOf(v.key)
		return
	}
	from, ok := l.str(fv)
	w.Pos["api_key.from"] = from.pos
	if !ok || from.s == "generate" {
		return
	}
	kind, ref, ok := l.keySource(from.s)
	if !ok {
		l.errorAt(from.pos, fmt.Sprintf("api_key.from %s is not one of generate, env:NAME or file:PATH", from.show()), "use from: generate, from: env:MY_API_KEY or from: file:./secrets/api-key.txt")
		return
	}
	k.From, k.Ref = kind, ref
	l.checkKey(w, from, keyUse{path: "api_key.from", what: "API key", binding: k.Binding}, kind, ref)
}

// keySource splits an env:NAME or file:PATH source (api_key.from, a consumer's from:, a
// secret) into its kind and reference, a file's path made absolute from the spec's folder;
// ok is false for anything else.
func (l *loader) keySource(src string) (kind, ref string, ok bool) {
	kind, ref, _ = strings.Cut(src, ":")
	switch {
	case kind == keysource.KindEnv && envVarName.MatchString(ref):
		return kind, ref, true
	case kind == keysource.KindFile && ref != "":
		if !filepath.IsAbs(ref) {
			ref = filepath.Join(l.dir, filepath.FromSlash(ref))
		}
		return kind, ref, true
	}
	return "", "", false
}

// MinGrace is the shortest rotation grace window: a shorter one cannot be what anyone meant.
const MinGrace = time.Minute

// grace reads api_key.grace: how long the previous key keeps working after apply rotates an
// env/file key.
func (l *loader) grace(w *Worker, v *value) time.Duration {
	g, ok := l.str(v)
	w.Pos["api_key.grace"] = g.pos
	if !ok {
		return 0
	}
	d, err := time.ParseDuration(g.s)
	if err != nil || d < MinGrace || d > 365*24*time.Hour {
		l.errorAt(g.pos, fmt.Sprintf("api_key.grace %s is not a duration between 1m and 8760h", g.show()),
			"write it like 24h, 90m or 168h: how long clients may keep using the previous key after it changes")
		return 0
	}
	return d
}

// checkKey reads the key the source names and checks it against the key rule (a secret against
// the secret rule, keysource.SecretRule) and against the account's credentials, so a bad key (or secret) is a spec error at its line before anything
// is planned. The key and the file's content never appear in the message; neither does an
// expanded source. A good key is remembered (and hidden from every message) for
// checkVarsHoldNoKeys.
func (l *loader) checkKey(w *Worker, from str, use keyUse, kind, ref string) {
	path := use.path
	if problem, fix := l.credentialProblem(use, kind, ref, ""); problem != "" {
		l.errorAt(from.pos, fmt.Sprintf("%s %s: %s", path, from.show(), problem), fix)
		return
	}
	if kind == keysource.KindEnv && l.getenv(ref) == "" {
		what := "the key"
		if use.secret {
			what = "the secret"
		}
		l.errorAt(from.pos, fmt.Sprintf("%s names environment variable %s, which is not set", path, ref), fmt.Sprintf("export %s=<%s> before running flareform (its value is never printed)%s", ref, what, use.or(", ")))
		return
	}
	resolve, what, rule := keysource.Resolve, "key", keysource.Rule
	if use.secret { // a secret the user brings follows its own rule, not the key rule
		resolve, what, rule = keysource.ResolveSecret, "secret", keysource.SecretRule
	}
	key, err := resolve(kind, ref, l.getenv)
	if err == nil {
		if problem, fix := l.credentialProblem(use, kind, ref, key); problem != "" {
			l.errorAt(from.pos, fmt.Sprintf("%s %s: %s", path, from.show(), problem), fix)
			return
		}
		source := strconv.Quote(from.raw)
		noun := "key"
		if use.secret {
			noun = "value"
		}
		l.hide(key, fmt.Sprintf("(the %s of %s %s)", noun, path, source))
		l.keys = append(l.keys, managedKey{worker: w.Key, use: use, source: source, key: key})
		return
	}
	msg := fmt.Sprintf("%s: %v", path, err)
	if from.expanded {
		msg = fmt.Sprintf("%s %s: the %s or its source is refused; %s", path, from.show(), what, rule)
	}
	fix := "fix the " + what + " source" + use.or(", ")
	var ke *keysource.Error
	if errors.As(err, &ke) {
		fix = ke.Fix + use.or("; ")
	}
	l.errorAt(from.pos, msg, fix)
}

// credentialProblem reports why kind:ref (holding key, "" when not read yet) must not feed
// use because it is the Cloudflare account's credentials, with the fix; "" when it is not.
func (l *loader) credentialProblem(use keyUse, kind, ref, key string) (problem, fix string) {
	if !use.secret {
		return AccountCredentialKey(kind, ref, key, l.getenv), AccountCredentialFix
	}
	name, byName := accountCredential(kind, ref, key, l.getenv)
	const consequence = "the worker's code would hold the Cloudflare account's API token, which can deploy, change and delete every worker of the account"
	switch {
	case name == "":
		return "", ""
	case byName:
		problem = fmt.Sprintf("%s holds the Cloudflare account's credentials: %s", name, consequence)
	default:
		problem = fmt.Sprintf("the secret is the value of %s, the Cloudflare account's credentials: %s", name, consequence)
	}
	return problem, "a worker never gets flareform's own credentials; if its code calls the Cloudflare API, give it a token of its own, limited to what it calls"
}

// vars merges the environment's vars over the base ones, key by key. It returns where each
// variable's name was written, for binding-name conflicts.
func (l *loader) vars(w *Worker, base, over *value) map[string]Position {
	entries := mergeEntries(w, "vars", base, over)
	if len(entries) == 0 {
		return nil
	}
	w.Vars = map[string]string{}
	keys := map[string]Position{}
	for _, e := range entries {
		name, v := e.name, e.val
		keyPos, path := posOf(v.key), "vars."+name
		keys[name] = keyPos
		if !jsIdentifier.MatchString(name) {
			l.errorAt(keyPos, fmt.Sprintf("variable name %q is not a valid JavaScript identifier", name), "use letters, digits and _, not starting with a digit, e.g. MAX_PROMPT_CHARS")
		}
		s, ok := l.str(v)
		w.Pos[path] = s.pos
		if !ok {
			continue
		}
		if len(s.s) > MaxVarBytes {
			l.errorAt(s.pos, fmt.Sprintf("%s is %d bytes, more than Cloudflare's %d-byte limit for a variable", path, len(s.s), MaxVarBytes), "shorten it, or ship the data with the Worker's code")
		}
		w.Vars[name] = s.s
	}
	return keys
}

// mergeEntries merges an environment's name: value block (over) over the base one, name by
// name, as vars, secrets, kv, r2 and d1 are merged: an environment changes or adds entries and
// keeps the others. Entries are in file order, base first. Pos[block] points at the
// environment's block when both exist.
func mergeEntries(w *Worker, block string, base, over *value) []entry {
	var out []entry
	at := map[string]int{}
	for _, b := range []*value{base, over} {
		if b == nil {
			continue
		}
		w.Pos[block] = posOf(b.key)
		for _, e := range b.entries {
			if i, dup := at[e.name]; dup {
				out[i] = e
				continue
			}
			at[e.name] = len(out)
			out = append(out, e)
		}
	}
	return out
}

// checkVarsHoldNoKeys refuses a variable that holds a key flareform manages (a worker's env or
// file key) or a credential: variables are uploaded as plain text, which anyone who can see
// the worker in the dashboard can read, and plan prints them, so `vars: {LEAK: "${MY_KEY}"}`
// next to `api_key: {from: env:MY_KEY}` would publish the key. Generated keys cannot be
// referenced at load time (they live in the project's key store), so env and file keys and
// the credential variables are all there is to compare. Messages name the variable and where
// the key comes from, never a value.
func (l *loader) checkVarsHoldNoKeys(workers []Worker) {
	type credential struct{ name, value string }
	var credentials []credential
	for _, name := range append(slices.Clone(credentialVars), workerKeyVars(workers)...) {
		if v := strings.TrimSpace(l.getenv(name)); len(v) >= minScrubLen {
			credentials = append(credentials, credential{name, v})
		}
	}
	for _, w := range workers {
		for _, name := range slices.Sorted(maps.Keys(w.Vars)) {
			value, pos := w.Vars[name], w.Pos["vars."+name]
			const shown = "variables are uploaded as plain text, readable by anyone who can see the worker, and plan prints them"
			if k := l.keyIn(value, w.Key); k != nil {
				whose, fix := fmt.Sprintf("the %s of worker %q", k.use.what, k.worker), "remove the variable: a worker must not hold another worker's key; give each worker its own api_key"
				switch {
				case k.worker != w.Key && k.use.secret:
					fix = "remove the variable; if this worker needs the value too, give it the same source under secrets: (uploaded as a secret, never printed)"
				case k.worker != w.Key: // another worker's key: as above
				case k.use.binding != "":
					whose, fix = "the worker's "+k.use.what, fmt.Sprintf("remove the variable: the worker reads it from its secret binding (env.%s)", k.use.binding)
				default: // a consumer's key: the worker holds only its fingerprint
					whose, fix = "the worker's "+k.use.what, "remove the variable: a consumer's key belongs to that consumer's caller alone"
				}
				l.errorAt(pos, fmt.Sprintf("vars.%s holds %s (%s %s): %s", name, whose, k.use.path, k.source, shown), fix)
				continue
			}
			for _, c := range credentials {
				if strings.Contains(value, c.value) {
					l.errorAt(pos, fmt.Sprintf("vars.%s holds the value of %s, a credential: %s", name, c.name, shown),
						"remove the variable: a worker must never hold flareform's credentials")
					break
				}
			}
		}
	}
}

// keyIn returns the managed key that value holds, preferring worker's own, or nil.
func (l *loader) keyIn(value, worker string) *managedKey {
	var found *managedKey
	for i := range l.keys {
		k := &l.keys[i]
		// A secret may be short: one shorter than minScrubLen is found only as the whole value,
		// or every var holding its few characters would be refused.
		held := value == k.key || (len(k.key) >= minScrubLen && strings.Contains(value, k.key))
		if held && (found == nil || k.worker == worker) {
			found = k
		}
	}
	return found
}

func (l *loader) workersDev(w *Worker, v *value) {
	if v == nil {
		w.Pos["workers_dev"] = w.Pos["key"]
		return
	}
	w.Pos["workers_dev"] = posOf(v.node)
	b, err := strconv.ParseBool(v.node.Value)
	if err != nil {
		l.errorAt(posOf(v.node), fmt.Sprintf("workers_dev must be true or false, not %q", v.node.Value), "write workers_dev: true or workers_dev: false")
		return
	}
	w.WorkersDev = b
}

func (l *loader) smoke(w *Worker, v *value) {
	if v == nil || v.null {
		return
	}
	w.Pos["smoke"] = posOf(v.key)
	sm := &Smoke{Path: DefaultSmokePath, Status: DefaultSmokeStatus, UnauthorizedStatus: DefaultUnauthorized, MethodStatus: DefaultMethodStatus}
	w.Smoke = sm
	blockPos := posOf(v.key)

	if p := l.smokeString(w, v, "path", blockPos, false); p != nil {
		if !strings.HasPrefix(p.s, "/") || strings.ContainsAny(p.s, " \t\r\n") {
			l.errorAt(p.pos, fmt.Sprintf("smoke.path %s must start with / and contain no spaces", p.show()), `use e.g. path: "/" or path: "/generate"`)
		} else {
			sm.Path = p.s
		}
	}
	l.smokeRequestBody(w, sm, v, blockPos)
	if e := l.smokeString(w, v, "expect", blockPos, true); e != nil {
		if !mimePattern.MatchString(e.s) && !mimePrefixPattern.MatchString(e.s) {
			l.errorAt(e.pos, fmt.Sprintf("smoke.expect %s is not a MIME type", e.show()), "use the content type the Worker answers with, e.g. image/png, image/ (PNG or JPEG), application/json or text/event-stream")
		}
		sm.Expect = e.s
	}
	sm.ExpectFields = l.smokeExpectFields(w, v.get("expect_fields"), sm.Expect)
	sm.Status = l.smokeStatus(w, v, "status", blockPos, DefaultSmokeStatus)
	sm.UnauthorizedStatus = l.smokeStatus(w, v, "unauthorized_status", blockPos, DefaultUnauthorized)
	sm.MethodStatus = l.smokeStatus(w, v, "method_status", blockPos, DefaultMethodStatus)
}

func (l *loader) smokeString(w *Worker, block *value, name string, blockPos Position, required bool) *str {
	path := "smoke." + name
	v := block.get(name)
	if v == nil {
		w.Pos[path] = blockPos
		if required {
			l.errorAt(blockPos, fmt.Sprintf("smoke has no %s", name), fmt.Sprintf("add %s: %s", name, smokeSchema[name].example))
		}
		return nil
	}
	s, ok := l.str(v)
	w.Pos[path] = s.pos
	if !ok {
		return nil
	}
	return &s
}

func (l *loader) smokeStatus(w *Worker, block *value, name string, blockPos Position, def int) int {
	path := "smoke." + name
	v := block.get(name)
	if v == nil {
		w.Pos[path] = blockPos
		return def
	}
	w.Pos[path] = posOf(v.node)
	var n int
	if err := v.node.Decode(&n); err != nil || n < 100 || n > 599 {
		l.errorAt(posOf(v.node), fmt.Sprintf("%s %s is not an HTTP status code", path, v.node.Value), fmt.Sprintf("use a number from 100 to 599, e.g. %d", def))
		return def
	}
	return n
}

// checkBindings makes every binding name unique: the Worker sees them all on one `env` object.
// named holds the bindings the spec names for secrets, kv, r2 and d1: they are checked last,
// against every other binding and against the names flareform reserves (ReservedBinding).
func (l *loader) checkBindings(w *Worker, varKeys map[string]Position, named []claimedBinding) {
	type owner struct {
		path string
		pos  Position
	}
	taken := map[string]owner{}
	claim := func(name, path string, pos Position) {
		if name == "" {
			return
		}
		if first, dup := taken[name]; dup {
			l.errorAt(pos, fmt.Sprintf("binding name %q of %s is already used by %s (line %d)", name, path, first.path, first.pos.Line),
				"rename one of them: all bindings share the Worker's env object")
			return
		}
		taken[name] = owner{path: path, pos: pos}
	}
	if w.AI != nil {
		claim(w.AI.Binding, "ai.binding", w.Pos["ai.binding"])
		claim(AIModelVar, "ai.model (flareform sets "+AIModelVar+" from it)", w.Pos["ai.model"])
		if w.AI.Gateway != nil {
			claim(AIGatewayVar, "ai.gateway (flareform sets "+AIGatewayVar+" from it)", w.Pos["ai.gateway"])
		}
	}
	if w.APIKey != nil {
		b := w.APIKey.Binding
		claim(b, "api_key.binding", w.Pos["api_key.binding"])
		claim(b+previousKeySuffix, "api_key (the previous key during rotation)", w.Pos["api_key.binding"])
		claim(b+previousExpirySuffix, "api_key (the rotation grace deadline)", w.Pos["api_key.binding"])
	}
	if w.RateLimit != nil {
		claim(RateLimiterBinding, "rate_limit (its binding is always "+RateLimiterBinding+")", w.Pos["rate_limit"])
	}
	if w.Vectorize != nil {
		claim(w.Vectorize.Binding, "vectorize.binding", w.Pos["vectorize.binding"])
	}
	for _, b := range consumerBindings(w) {
		claim(b.name, b.path, b.pos)
	}
	names := make([]string, 0, len(w.Vars))
	for name := range w.Vars {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		claim(name, "vars."+name, varKeys[name])
	}
	for _, b := range named {
		// A clash with a binding the worker has says more than "reserved": it names the line.
		if why := ReservedBinding(b.name); why != "" {
			if _, dup := taken[b.name]; !dup {
				l.errorAt(b.pos, fmt.Sprintf("binding name %q of %s is reserved: %s", b.name, b.path, why), reservedFix())
				continue
			}
		}
		claim(b.name, b.path, b.pos)
	}
}

// checkUniqueNames rejects two workers that would deploy to the same script.
func (l *loader) checkUniqueNames(workers []Worker) {
	byName := map[string]Worker{}
	for _, w := range workers {
		if first, dup := byName[w.Name]; dup {
			l.errorAt(w.Pos["name"], fmt.Sprintf("workers %q and %q both deploy as script %q", first.Key, w.Key, w.Name), "give one of them a different name:")
			continue
		}
		byName[w.Name] = w
	}
}
