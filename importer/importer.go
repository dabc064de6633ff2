// Package importer turns a wrangler configuration (wrangler.toml, wrangler.json or
// wrangler.jsonc) into a flareform spec, carrying over what flareform manages (name, main,
// compatibility date and flags, vars, the AI binding, workers_dev, env blocks as
// environments) and listing everything it could not.
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
}

// Result is the converted spec and what stayed behind.
type Result struct {
	Spec []byte
	// NotCarried has one line per setting flareform did not take over, with why.
	NotCarried []string
	// Notes are settings carried over with a change the user should know of, among them every
	// var whose name says it holds a secret ("move this to a secret").
	Notes []string
	// SecretVars are the vars carried over whose names say they hold a secret (API_TOKEN,
	// STRIPE_KEY, DB_PASSWORD), by their place ("vars.API_TOKEN", "env.staging.vars.API_TOKEN"):
	// wrangler [vars] are plain text, shown in the dashboard and in the spec. Names only, never
	// values.
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
}

// handledKeys are the wrangler keys converted into the spec (top level and in env blocks).
var handledKeys = map[string]bool{
	"name": true, "main": true, "compatibility_date": true, "compatibility_flags": true,
	"vars": true, "ai": true, "workers_dev": true, "account_id": true, "env": true, "$schema": true,
}

// whyNot explains the wrangler settings flareform does not manage; others get a generic reason.
var whyNot = map[string]string{
	"routes":                    "flareform deploys to workers.dev only; add the routes in the dashboard or keep them in wrangler",
	"route":                     "flareform deploys to workers.dev only; add the route in the dashboard or keep it in wrangler",
	"kv_namespaces":             "flareform manages no KV bindings",
	"d1_databases":              "flareform manages no D1 bindings",
	"r2_buckets":                "flareform manages no R2 bindings",
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
	"secrets":                   "flareform manages one API key (api_key:); set other secrets with wrangler secret put",
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
	if id := stringOf(cfg["account_id"]); id != "" {
		add(root, "account_id", scalar(id))
	}
	workers := mapping()
	add(workers, name, c.worker("", cfg, true))
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
// false, where only what the block sets is written).
func (c *converter) worker(prefix string, cfg map[string]any, base bool) *yaml.Node {
	w := mapping()
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
	vars, model := c.vars(prefix, cfg["vars"])
	if ai, ok := cfg["ai"].(map[string]any); ok {
		block := mapping()
		if binding := stringOf(ai["binding"]); binding != "" {
			add(block, "binding", scalar(binding))
		}
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
	if wd, ok := cfg["workers_dev"].(bool); ok {
		add(w, "workers_dev", boolean(wd))
	} else if base {
		// wrangler serves on workers.dev unless routes are set; flareform's default is off.
		_, hasRoutes := cfg["routes"]
		_, hasRoute := cfg["route"]
		add(w, "workers_dev", boolean(!hasRoutes && !hasRoute))
	}
	return w
}

// vars converts wrangler vars to flareform's text vars. AI_MODEL is taken out: it names the
// model, which flareform sets from ai.model.
func (c *converter) vars(prefix string, raw any) (*yaml.Node, string) {
	vars, ok := raw.(map[string]any)
	if !ok || len(vars) == 0 {
		return nil, ""
	}
	out := mapping()
	model := ""
	for _, k := range sortedKeys(vars) {
		secret := k != "AI_MODEL" && LooksSecret(k)
		switch v := vars[k].(type) {
		case string:
			if k == "AI_MODEL" {
				model = v
				continue
			}
			add(out, k, quoted(v))
		case map[string]any, []any:
			c.notCarried(prefix+"vars."+k, "a JSON value; flareform vars are text")
			continue
		default:
			text := stringOf(v)
			add(out, k, quoted(text))
			if secret { // its value stays out of the report
				c.note(prefix+"vars."+k, fmt.Sprintf("a %T in wrangler (the Worker saw a non-string); flareform vars are text", v))
			} else {
				c.note(prefix+"vars."+k, fmt.Sprintf("a %T in wrangler (the Worker saw a non-string); flareform vars are text: %q", v, text))
			}
		}
		if secret {
			c.secretVar(prefix, k)
		}
	}
	if len(out.Content) == 0 {
		return nil, model
	}
	return out, model
}

// environment converts env.<envName> into environments.<envName>.workers.<worker>.
func (c *converter) environment(worker, envName string, env map[string]any) *yaml.Node {
	prefix := "env." + envName + "."
	w := c.worker(prefix, env, false)
	// wrangler names an environment's script <name>-<env> unless the block sets a name.
	scriptName := stringOf(env["name"])
	if scriptName == "" {
		scriptName = worker + "-" + envName
	}
	w.Content = append([]*yaml.Node{scalar("name"), scalar(scriptName)}, w.Content...)
	if _, ok := env["vars"]; !ok {
		c.note(prefix+"vars", "wrangler gives this environment no vars; flareform environments inherit the base vars")
	}
	c.leftBehind(prefix, env)

	out := mapping()
	if id := stringOf(env["account_id"]); id != "" {
		add(out, "account_id", scalar(id))
	}
	workers := mapping()
	add(workers, worker, w)
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
// over as plain text although its name says it is a secret.
func (c *converter) secretVar(prefix, name string) {
	put := "wrangler secret put " + name
	if env, ok := strings.CutPrefix(prefix, "env."); ok {
		put += " --env " + strings.TrimSuffix(env, ".")
	}
	c.res.SecretVars = append(c.res.SecretVars, prefix+"vars."+name)
	c.note(prefix+"vars."+name, fmt.Sprintf("its name says it is a secret, but it was a plain var and is carried over as one, "+
		"readable in the spec and the dashboard; move this to a secret: delete it from vars and run `%s` "+
		"(apply keeps secrets flareform does not manage)", put))
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

// quoted is a string written in double quotes, so dates and numbers stay text.
func quoted(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Style: yaml.DoubleQuotedStyle}
}

func boolean(b bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(b)}
}
