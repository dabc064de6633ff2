// Package importer turns a wrangler configuration (wrangler.toml, wrangler.json or
// wrangler.jsonc) into a flareform spec, carrying over what flareform manages (name, main,
// compatibility date and flags, vars, vars that look like secrets as secrets read from the
// environment, the AI binding, KV namespaces, R2 buckets and D1 databases, workers_dev, env
// blocks as environments) and listing everything it could not.
package importer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"gopkg.in/yaml.v3"

	"github.com/flareform/flareform/internal/confined"
	"github.com/flareform/flareform/internal/jsonc"
	"github.com/flareform/flareform/internal/keysource"
	"github.com/flareform/flareform/provision/spec"
)

// Options fill in what a wrangler configuration does not say.
type Options struct {
	// Model is the Workers AI model of the AI binding; wrangler's config names none. An
	// AI_MODEL var in the wrangler config wins (flareform sets that var from ai.model).
	Model string
	// Today is the compatibility date used when the config has none (YYYY-MM-DD).
	Today string
	// SchemaURL goes on the spec's first line for editors; "" leaves the line out.
	SchemaURL string
	// KVTitle looks up a KV namespace's title by its id (the spec binds namespaces by title,
	// wrangler by id); nil when there are no credentials, NoLookup then saying why in words
	// ("CLOUDFLARE_API_TOKEN is not set"). A namespace whose title is not found is left out of
	// the spec and listed as not resolved.
	KVTitle  KVTitleFunc
	NoLookup string
}

// Result is the converted spec and what stayed behind.
type Result struct {
	Spec []byte
	// NotCarried has one line per setting flareform did not take over, with why.
	NotCarried []string
	// Notes are settings carried over with a change the user should know of, among them every
	// var whose name says it holds a secret (carried over as a secret: export its value).
	Notes []string
	// SecretVars are the vars whose names say they hold a secret (API_TOKEN, STRIPE_KEY,
	// DB_PASSWORD), by their place ("vars.API_TOKEN", "env.staging.vars.API_TOKEN"): the spec
	// has each as a secret read at apply from the environment variable of its name
	// (secrets: {API_TOKEN: "env:API_TOKEN"}), never its value. Names only, never values.
	SecretVars []string
}

// ReadFile reads the wrangler configuration at path under the rules of package confined: a
// regular file (a FIFO would hang `import`, a link to /dev/zero exhaust its memory) outside
// /proc, /sys and /dev, of at most confined.WranglerConfig.Limit bytes. A refusal names the
// path and the rule, and says how to fix it; it never holds the file's content.
func ReadFile(path string) ([]byte, error) {
	data, err := confined.ReadFile(path, confined.WranglerConfig, nil)
	var ce *confined.Error
	if errors.As(err, &ce) && ce.Fix != "" {
		return nil, fmt.Errorf("%w; %s", err, ce.Fix)
	}
	return data, err
}

// Parse reads a wrangler configuration by its file name: TOML for .toml, JSON with comments
// and trailing commas for .json and .jsonc. A file that does not parse is a *SyntaxError,
// which says where and what kind of problem but quotes nothing of the file.
func Parse(name string, data []byte) (map[string]any, error) {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".toml":
		return parseTOML(name, data)
	case ".json", ".jsonc":
		return parseJSON(name, data)
	}
	return nil, fmt.Errorf("read %s: not a wrangler configuration (want wrangler.toml, wrangler.json or wrangler.jsonc)", name)
}

func parseTOML(name string, data []byte) (cfg map[string]any, err error) {
	defer func() {
		// A third-party parser fed with any file: a panic in it is a refusal, not a crash.
		if r := recover(); r != nil {
			cfg, err = nil, &SyntaxError{File: name, Format: "TOML", Problem: "the TOML parser failed on it"}
		}
	}()
	if _, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&cfg); err != nil {
		return nil, tomlError(name, data, err)
	}
	return cfg, nil
}

// tomlError is the TOML parser's err as a *SyntaxError: its position, and its message without
// the file's text (the parser quotes what it found, and the last key it read).
func tomlError(name string, data []byte, err error) *SyntaxError {
	e := &SyntaxError{File: name, Format: "TOML"}
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		e.Problem = redact(strings.TrimPrefix(err.Error(), "toml: "), data)
		return e
	}
	e.Problem = redact(pe.Message, data)
	e.Line, e.Col = pe.Position.Line, pe.Position.Col
	if line, col := lineCol(data, pe.Position.Start); e.Col == 0 && (line == e.Line || e.Line == 0) {
		e.Line, e.Col = line, col
	}
	return e
}

func parseJSON(name string, data []byte) (map[string]any, error) {
	plain, err := stripJSONC(data)
	var se *jsonc.SyntaxError
	if errors.As(err, &se) {
		line, col := lineCol(data, se.Offset)
		return nil, &SyntaxError{File: name, Line: line, Col: col, Format: "JSON", Problem: se.Problem}
	}
	if err != nil {
		return nil, &SyntaxError{File: name, Format: "JSON", Problem: redact(err.Error(), data)}
	}
	// stripJSONC keeps every byte's offset, so the decoder's offsets point into data too.
	dec := json.NewDecoder(bytes.NewReader(plain))
	dec.UseNumber()
	var cfg map[string]any
	if err := dec.Decode(&cfg); err != nil {
		return nil, jsonError(name, data, err)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line, col := lineCol(data, int(dec.InputOffset())-len(extra))
		return nil, &SyntaxError{File: name, Line: line, Col: col, Format: "JSON", Problem: "more follows the configuration object"}
	}
	return cfg, nil
}

// jsonError is the JSON decoder's err as a *SyntaxError, quoting nothing of the file.
func jsonError(name string, data []byte, err error) *SyntaxError {
	e := &SyntaxError{File: name, Format: "JSON"}
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		e.Problem = "the file holds no JSON value"
	case errors.Is(err, io.ErrUnexpectedEOF):
		e.Line, e.Col = lineCol(data, len(data))
		e.Problem = "the file ends in the middle of a value"
	case errors.As(err, &syntax):
		e.Line, e.Col = lineCol(data, int(syntax.Offset)-1)
		e.Problem = redact(syntax.Error(), data)
	case errors.As(err, &typ):
		e.Line, e.Col = lineCol(data, int(typ.Offset)-1)
		e.Problem = fmt.Sprintf("the configuration must be one JSON object, not %s", jsonKind(typ.Value))
	default:
		e.Problem = redact(err.Error(), data)
	}
	return e
}

// jsonKind is the kind of JSON value a type error names ("number 5" is a number).
func jsonKind(value string) string {
	kind, _, _ := strings.Cut(value, " ")
	switch kind {
	case "array":
		return "an array"
	case "string", "number", "bool":
		return "a " + kind
	}
	return "that"
}

// Convert converts the wrangler configuration in data (named name, for its format) to a spec.
func Convert(name string, data []byte, opts Options) (*Result, error) {
	cfg, err := Parse(name, data)
	if err != nil {
		return nil, err
	}
	c := &converter{opts: opts, res: &Result{}}
	return c.convert(filepath.Base(name), cfg)
}

type converter struct {
	opts Options
	res  *Result
	// baseModel is the base worker's model: environments without an AI_MODEL of their own
	// keep it, as their vars inherit the base ones in flareform.
	baseModel string
	// base is what the base worker binds, which environments inherit in flareform.
	base *workerStorage
	// kvTitles are the KV titles looked up, by account/id.
	kvTitles map[string]kvLookup
	// account is the top-level account_id ("" when the config has none).
	account string
	// envDeclared says which of vars, kv_namespaces, r2_buckets and d1_databases each env block
	// sets, by "env.<name>.<key>".
	envDeclared map[string]bool
}

// handledKeys are the wrangler keys converted into the spec (top level and in env blocks).
var handledKeys = map[string]bool{
	"name": true, "main": true, "compatibility_date": true, "compatibility_flags": true,
	"vars": true, "ai": true, "workers_dev": true, "account_id": true, "env": true, "$schema": true,
	"kv_namespaces": true, "r2_buckets": true, "d1_databases": true,
}

// whyNot explains the wrangler settings flareform does not manage; others get a generic reason.
var whyNot = map[string]string{
	"routes":                    "flareform deploys to workers.dev only; add the routes in the dashboard or keep them in wrangler",
	"route":                     "flareform deploys to workers.dev only; add the route in the dashboard or keep it in wrangler",
	"durable_objects":           "flareform manages no Durable Objects",
	"migrations":                "flareform manages no Durable Objects",
	"queues":                    "flareform manages no Queues bindings",
	"services":                  "flareform manages no service bindings",
	"triggers":                  "flareform manages no cron triggers",
	"vectorize":                 "flareform manages no Vectorize bindings",
	"hyperdrive":                "flareform manages no Hyperdrive bindings",
	"analytics_engine_datasets": "flareform manages no Analytics Engine bindings",
	"assets":                    "flareform uploads no static assets",
	"site":                      "flareform uploads no static assets",
	"build":                     "flareform bundles main itself with esbuild; run custom builds before it",
	"secrets":                   "flareform reads secrets from the environment or a file: add them under the worker's secrets: as NAME: \"env:NAME\"",
	"secrets_store_secrets":     "flareform manages no Secrets Store bindings; add the secret under the worker's secrets: as NAME: \"env:NAME\" instead",
}

func (c *converter) convert(file string, cfg map[string]any) (*Result, error) {
	name := stringOf(cfg["name"])
	if name == "" {
		return nil, fmt.Errorf("%s has no name: flareform needs the Worker's name for the worker and the project", file)
	}
	if stringOf(cfg["main"]) == "" {
		return nil, fmt.Errorf("%s has no main: flareform bundles the Worker from its entry file", file)
	}
	root := mapping()
	add(root, "project", scalar(name))
	c.account = stringOf(cfg["account_id"])
	if id := c.account; id != "" {
		add(root, "account_id", scalar(id))
	}
	workers := mapping()
	w, comment := c.worker("", cfg, true)
	key := scalar(name)
	key.HeadComment = comment
	workers.Content = append(workers.Content, key, w)
	add(root, "workers", workers)
	c.leftBehind("", cfg)

	if envs, ok := cfg["env"].(map[string]any); ok && len(envs) > 0 {
		environments := mapping()
		for _, envName := range sortedKeys(envs) {
			env, ok := envs[envName].(map[string]any)
			if !ok {
				c.notCarried("env."+envName, "not a table")
				continue
			}
			add(environments, envName, c.environment(name, envName, env))
		}
		add(root, "environments", environments)
	}

	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}}
	head := []string{}
	if c.opts.SchemaURL != "" {
		head = append(head, "yaml-language-server: $schema="+c.opts.SchemaURL)
	}
	head = append(head, "Imported from "+file+" by `flareform import`; see docs/spec.md for every key.")
	root.HeadComment = strings.Join(head, "\n")
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("write spec: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("write spec: %w", err)
	}
	c.res.Spec = buf.Bytes()
	return c.res, nil
}

// worker converts the worker settings of cfg (the top level, or an env block when base is
// false, where only what the block sets is written). comment is for the worker's key: the KV
// bindings left out, when nothing in the worker's block follows to carry them.
func (c *converter) worker(prefix string, cfg map[string]any, base bool) (w *yaml.Node, comment string) {
	w = mapping()
	if base {
		main := filepath.ToSlash(stringOf(cfg["main"]))
		if !strings.HasPrefix(main, "./") && !strings.HasPrefix(main, "../") && !filepath.IsAbs(main) {
			main = "./" + main
		}
		add(w, "main", scalar(main))
	}
	if date := stringOf(cfg["compatibility_date"]); date != "" {
		add(w, "compatibility_date", quoted(date))
	} else if base {
		add(w, "compatibility_date", quoted(c.opts.Today))
		c.note(prefix+"compatibility_date", fmt.Sprintf("not set; %s pins today's runtime", c.opts.Today))
	}
	if flags, ok := cfg["compatibility_flags"].([]any); ok && len(flags) > 0 {
		list := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, f := range flags {
			list.Content = append(list.Content, scalar(stringOf(f)))
		}
		add(w, "compatibility_flags", list)
	}
	// taken are the binding names the worker uses, each with what uses it: every binding
	// shares the Worker's env object.
	taken := map[string]string{}
	if !base && c.base != nil {
		// An environment keeps the base worker's vars and AI binding unless it sets its own
		// (its storage and secrets of the same names replace the base ones: no clash).
		for name, owner := range c.base.taken {
			if strings.HasPrefix(owner, "vars.") || strings.HasPrefix(owner, "ai.") {
				taken[name] = owner
			}
		}
	}
	vars, model, secretNames := c.vars(prefix, cfg["vars"], taken)
	ai, hasAI := cfg["ai"].(map[string]any)
	if hasAI {
		block := mapping()
		if binding := stringOf(ai["binding"]); binding != "" {
			add(block, "binding", scalar(binding))
			taken[binding] = "ai.binding"
		}
		taken[aiModelVar] = "ai.model (flareform sets " + aiModelVar + " from it)"
		switch {
		case model != "":
		case !base && c.baseModel != "":
			model = c.baseModel
		default:
			model = c.opts.Model
			c.note(prefix+"ai", fmt.Sprintf("wrangler names no model; ai.model is %s: set the model your code runs", model))
		}
		if base {
			c.baseModel = model
		}
		add(block, "model", quoted(model))
		add(w, "ai", block)
	}
	if vars != nil {
		add(w, "vars", vars)
	}

	st := c.storage(prefix, cfg, c.accountOf(cfg), taken)
	if _, ok := cfg["vars"]; ok || base {
		st.declared["vars"] = true
	}
	for _, name := range secretNames {
		st.secrets = append(st.secrets, binding{name: name, target: "env:" + name})
	}
	if base {
		st.taken = taken
		c.base = st
	}
	c.writeBinds(w, prefix, base, "secrets", "vars", st.secrets, 0, func(b *workerStorage) []binding { return b.secrets })
	kvAt := len(w.Content)
	c.writeBinds(w, prefix, base, "kv", "kv_namespaces", st.kv, len(st.unresolved), func(b *workerStorage) []binding { return b.kv })
	c.writeBinds(w, prefix, base, "r2", "r2_buckets", st.r2, 0, func(b *workerStorage) []binding { return b.r2 })
	c.writeBinds(w, prefix, base, "d1", "d1_databases", st.d1, 0, func(b *workerStorage) []binding { return b.d1 })

	if wd, ok := cfg["workers_dev"].(bool); ok {
		add(w, "workers_dev", boolean(wd))
	} else if base {
		// wrangler serves on workers.dev unless routes are set; flareform's default is off.
		_, hasRoutes := cfg["routes"]
		_, hasRoute := cfg["route"]
		add(w, "workers_dev", boolean(!hasRoutes && !hasRoute))
	}
	if len(st.unresolved) > 0 {
		comment = "Not resolved, see the import's notes: add the title of each KV namespace, as\nkv:\n" + strings.Join(st.unresolved, "\n")
		if kvAt < len(w.Content) {
			w.Content[kvAt].HeadComment = comment
			comment = ""
		}
	}
	return w, comment
}

// aiModelVar is the var flareform sets from ai.model.
const aiModelVar = "AI_MODEL"

// accountOf is the account a block's bindings live in: its account_id, else the top level's.
func (c *converter) accountOf(cfg map[string]any) string {
	if id := stringOf(cfg["account_id"]); id != "" {
		return id
	}
	return c.account
}

// writeBinds adds the spec's key (secrets, kv, r2 or d1) for list to w. The base worker writes
// what it has; an environment inherits the base worker's in flareform, while wrangler gives an
// env block only the bindings it declares itself (wranglerKey), so an environment writes its
// own when it declares them and they differ, and a note says where the two differ otherwise.
func (c *converter) writeBinds(w *yaml.Node, prefix string, base bool, key, wranglerKey string, list []binding, unresolved int, of func(*workerStorage) []binding) {
	if base {
		if len(list) > 0 {
			add(w, key, bindingMap(list))
		}
		return
	}
	if c.base == nil {
		return
	}
	inherited := of(c.base)
	if slices.Equal(list, inherited) {
		return
	}
	declared := c.declaredIn(prefix, wranglerKey)
	switch {
	case len(list) > 0:
		add(w, key, bindingMap(list))
	case declared && key == "secrets":
		c.note(prefix+"vars", fmt.Sprintf("wrangler gives this environment none of the base secret-looking vars; flareform "+
			"environments inherit the base worker's secrets (%s): export them for this environment's apply too", bindingNames(inherited)))
	case declared && unresolved > 0:
		// The not-resolved line says what this environment binds meanwhile.
	case declared:
		c.note(prefix+wranglerKey, fmt.Sprintf("empty in wrangler; flareform environments inherit the base worker's %s: (%s), which this environment now binds too",
			key, bindingNames(inherited)))
	case key != "secrets":
		c.note(prefix+wranglerKey, fmt.Sprintf("not set: wrangler gives an environment none of the base %s, flareform environments inherit "+
			"the base worker's %s: (%s), which this environment now binds too", wranglerKey, key, bindingNames(inherited)))
	}
}

// declaredIn reports whether the env block at prefix sets wranglerKey; set by environment.
func (c *converter) declaredIn(prefix, wranglerKey string) bool {
	return c.envDeclared[prefix+wranglerKey]
}

func bindingNames(list []binding) string {
	names := make([]string, len(list))
	for i, b := range list {
		names[i] = b.name
	}
	return strings.Join(names, ", ")
}

// vars converts wrangler vars to flareform's text vars. AI_MODEL is taken out: it names the
// model, which flareform sets from ai.model. So are the vars whose names say they hold a
// secret: secrets lists them, for the spec's secrets:, and their values are never written or
// shown.
func (c *converter) vars(prefix string, raw any, taken map[string]string) (out *yaml.Node, model string, secrets []string) {
	vars, ok := raw.(map[string]any)
	if !ok || len(vars) == 0 {
		return nil, "", nil
	}
	out = mapping()
	for _, k := range sortedKeys(vars) {
		if k != aiModelVar && LooksSecret(k) {
			// Whatever the value's type, it is not written: not even a note may show it.
			if why := bindingProblem(k); why != "" {
				c.res.SecretVars = append(c.res.SecretVars, prefix+"vars."+k)
				c.notCarried(prefix+"vars."+k, fmt.Sprintf("its name says it is a secret, but as a secret's binding name it %s; "+
					"rename it (e.g. %s) in the code and add it under the worker's secrets: as %s: \"env:%s\" (its value was not copied)",
					why, spec.SuggestBindingName(k), spec.SuggestBindingName(k), spec.SuggestBindingName(k)))
				continue
			}
			secrets = append(secrets, k)
			taken[k] = "secrets." + k
			c.secretVar(prefix, k)
			// The value is checked against the rule for secrets (keysource.SecretRule: 1 to 5120
			// bytes of UTF-8, no NUL; a short one is fine), never shown: the check's message
			// names a kind of problem and at most the value's size.
			if err := keysource.CheckSecret(stringOf(vars[k])); err != nil {
				c.note(prefix+"vars."+k, fmt.Sprintf("the value in wrangler's vars would be refused as a secret: %v. "+
					"Export a value that follows the rule, or keep this one in wrangler", err))
			}
			continue
		}
		switch v := vars[k].(type) {
		case string:
			if k == aiModelVar {
				model = v
				continue
			}
			add(out, k, quoted(literal(v)))
		case map[string]any, []any:
			c.notCarried(prefix+"vars."+k, "a JSON value; flareform vars are text")
			continue
		default:
			text := stringOf(v)
			add(out, k, quoted(literal(text)))
			c.note(prefix+"vars."+k, fmt.Sprintf("a %T in wrangler (the Worker saw a non-string); flareform vars are text: %q", v, text))
		}
		taken[k] = "vars." + k
	}
	if len(out.Content) == 0 {
		return nil, model, secrets
	}
	return out, model, secrets
}

// environment converts env.<envName> into environments.<envName>.workers.<worker>.
func (c *converter) environment(worker, envName string, env map[string]any) *yaml.Node {
	prefix := "env." + envName + "."
	for _, k := range []string{"vars", "kv_namespaces", "r2_buckets", "d1_databases"} {
		if _, ok := env[k]; ok {
			if c.envDeclared == nil {
				c.envDeclared = map[string]bool{}
			}
			c.envDeclared[prefix+k] = true
		}
	}
	w, comment := c.worker(prefix, env, false)
	// wrangler names an environment's script <name>-<env> unless the block sets a name.
	scriptName := stringOf(env["name"])
	if scriptName == "" {
		scriptName = worker + "-" + envName
	}
	w.Content = append([]*yaml.Node{scalar("name"), scalar(scriptName)}, w.Content...)
	if _, ok := env["vars"]; !ok {
		c.note(prefix+"vars", "wrangler gives this environment no vars; flareform environments inherit the base vars and secrets")
	}
	c.leftBehind(prefix, env)

	out := mapping()
	if id := stringOf(env["account_id"]); id != "" {
		add(out, "account_id", scalar(id))
	}
	workers := mapping()
	key := scalar(worker)
	key.HeadComment = comment
	workers.Content = append(workers.Content, key, w)
	add(out, "workers", workers)
	return out
}

// leftBehind lists the keys of cfg that the spec does not carry.
func (c *converter) leftBehind(prefix string, cfg map[string]any) {
	for _, k := range sortedKeys(cfg) {
		if handledKeys[k] || (prefix != "" && k == "name") {
			continue
		}
		why, ok := whyNot[k]
		if !ok {
			why = "flareform has no equivalent setting"
		}
		c.notCarried(prefix+k, why)
	}
}

// secretVar reports var name (of the env block prefix names, "" for the top level), carried
// over as a secret read from the environment variable of its name: its value stays in wrangler's
// config, never in the spec or the report.
func (c *converter) secretVar(prefix, name string) {
	env := name // a valid binding name (bindingProblem) is a valid environment variable name
	apply := "flareform apply"
	if e, ok := strings.CutPrefix(prefix, "env."); ok {
		apply += " --env " + strings.TrimSuffix(e, ".")
	}
	c.res.SecretVars = append(c.res.SecretVars, prefix+"vars."+name)
	c.note(prefix+"vars."+name, fmt.Sprintf("its name says it is a secret: carried over as a secret, not a var, and its value was not copied "+
		"(secrets: %s: \"env:%s\"); export %s=<its value> before `%s`, which uploads it as a secret and never prints it, "+
		"and delete it from wrangler's vars, where it is plain text", name, env, env, apply))
}

// secretWords are the parts of a var name that say it holds a secret, wherever they are in it;
// secretSuffixes say so at its end ("_KEY": "STRIPE_KEY", not "KEYBOARD_LAYOUT").
var (
	secretWords    = []string{"SECRET", "PASSWORD", "PASSWD", "PASSPHRASE", "CREDENTIAL", "PRIVATE_KEY", "APIKEY", "API_KEY"}
	secretSuffixes = []string{"_TOKEN", "_KEY", "_PASS", "_PWD", "_JWT", "_AUTH"}
	secretNames    = []string{"TOKEN", "KEY", "PASS", "PWD", "JWT"}
)

// LooksSecret reports whether a var named name probably holds a secret: names such as
// *_TOKEN, *_KEY, *SECRET* and *PASSWORD*, in any case, with - or . for _.
func LooksSecret(name string) bool {
	n := strings.NewReplacer("-", "_", ".", "_").Replace(strings.ToUpper(name))
	for _, w := range secretWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	for _, suffix := range secretSuffixes {
		if strings.HasSuffix(n, suffix) {
			return true
		}
	}
	return slices.Contains(secretNames, n)
}

func (c *converter) notCarried(key, why string) {
	c.res.NotCarried = append(c.res.NotCarried, key+": "+why)
}

func (c *converter) note(key, what string) {
	c.res.Notes = append(c.res.Notes, key+": "+what)
}

// stringOf renders a config value as text: strings as they are, TOML dates by their
// String method, numbers and booleans as written.
func stringOf(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case time.Time: // a TOML date or date-time
		if v.Hour() == 0 && v.Minute() == 0 && v.Second() == 0 && v.Nanosecond() == 0 {
			return v.Format(time.DateOnly)
		}
		return v.Format(time.RFC3339)
	case fmt.Stringer:
		return v.String()
	default:
		return fmt.Sprint(v)
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func mapping() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode} }

func add(m *yaml.Node, key string, v *yaml.Node) {
	m.Content = append(m.Content, scalar(key), v)
}

func scalar(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

// literal escapes s for the spec's ${VAR} expansion, which wrangler does not have: every $
// becomes $$, so "${HOME}" in a wrangler var or a KV title stays that text.
func literal(s string) string { return strings.ReplaceAll(s, "$", "$$") }

// quoted is a string written in double quotes, so dates and numbers stay text.
func quoted(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Style: yaml.DoubleQuotedStyle}
}

func boolean(b bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(b)}
}
