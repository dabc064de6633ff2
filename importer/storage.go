package importer

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/flareform/flareform/provision/spec"
)

// KVTitleFunc looks up the title of the KV namespace with the given id in account (the wrangler
// config's account_id for the block, "" when it names none: the lookup's own default account).
// The error says why not in words fit for a note; it never holds a credential.
type KVTitleFunc func(account, id string) (string, error)

// binding is one entry of a worker's secrets:, kv:, r2: or d1: map in the spec.
type binding struct {
	name, target string
}

// workerStorage is what one wrangler block (the top level or an env block) binds that the spec
// carries as secrets:, kv:, r2: and d1:. declared says which wrangler keys the block sets: an
// env block that sets none of a kind has none of it in wrangler (these keys are not inherited).
type workerStorage struct {
	secrets, kv, r2, d1 []binding
	declared            map[string]bool
	// taken are the binding names the worker uses, with what uses each ("vars.STYLE").
	taken map[string]string
	// unresolved are the KV bindings left out of the spec for want of a title, as YAML comment
	// lines that show where to write them.
	unresolved []string
}

// storageKinds are the wrangler keys carried as the spec's storage maps, with the spec key.
var storageKinds = []struct{ wrangler, spec string }{
	{"kv_namespaces", "kv"},
	{"r2_buckets", "r2"},
	{"d1_databases", "d1"},
}

// kvNamespaceID is the form of a KV namespace id: 32 hex digits. Anything else is never sent to
// the API (a placeholder such as ${KV_ID}, or a path).
var kvNamespaceID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// storage reads the kv_namespaces, r2_buckets and d1_databases of cfg (the block prefix names),
// with taken the binding names the worker already uses (its vars, secrets and AI binding).
func (c *converter) storage(prefix string, cfg map[string]any, account string, taken map[string]string) *workerStorage {
	st := &workerStorage{declared: map[string]bool{}}
	for _, kind := range storageKinds {
		raw, ok := cfg[kind.wrangler]
		if !ok {
			continue
		}
		st.declared[kind.wrangler] = true
		list, ok := tables(raw)
		if !ok {
			c.notCarried(prefix+kind.wrangler, "not a list of tables; flareform reads [[ "+kind.wrangler+" ]] entries")
			continue
		}
		for i, entry := range list {
			if entry == nil {
				c.notCarried(fmt.Sprintf("%s%s[%d]", prefix, kind.wrangler, i), "not a table")
				continue
			}
			name := stringOf(entry["binding"])
			where := fmt.Sprintf("%s%s[%d]", prefix, kind.wrangler, i)
			if name != "" {
				where = prefix + kind.wrangler + "." + name
				// Checked first: a binding the spec cannot hold is not looked up.
				if why := bindingProblem(name); why != "" {
					c.notCarried(where, fmt.Sprintf("binding name %s %s; rename it (e.g. %s) in the code and add it under %s:", name, why,
						spec.SuggestBindingName(name), kind.spec))
					continue
				}
				if owner, dup := taken[name]; dup {
					c.notCarried(where, fmt.Sprintf("binding name %s is already used by %s, and every binding shares the Worker's env object; "+
						"rename one and add it under %s:", name, owner, kind.spec))
					continue
				}
			}
			var b *binding
			switch kind.spec {
			case "kv":
				b = c.kvNamespace(prefix, where, entry, account, st)
			case "r2":
				b = c.r2Bucket(where, entry)
			case "d1":
				b = c.d1Database(where, entry)
			}
			if b == nil {
				continue
			}
			taken[b.name] = kind.spec + "." + b.name
			switch kind.spec {
			case "kv":
				st.kv = append(st.kv, *b)
			case "r2":
				st.r2 = append(st.r2, *b)
			case "d1":
				st.d1 = append(st.d1, *b)
			}
		}
	}
	for _, list := range [][]binding{st.kv, st.r2, st.d1} {
		sort.Slice(list, func(i, j int) bool { return list[i].name < list[j].name })
	}
	return st
}

// tables is a list of tables as the TOML ([]map[string]any) or JSON ([]any) decoder gives it; an
// item that is not a table is nil.
func tables(raw any) ([]map[string]any, bool) {
	switch list := raw.(type) {
	case []map[string]any:
		return list, true
	case []any:
		out := make([]map[string]any, len(list))
		for i, item := range list {
			out[i], _ = item.(map[string]any)
		}
		return out, true
	}
	return nil, false
}

// kvNamespace converts one kv_namespaces entry: the spec binds a namespace by its title, which
// wrangler's config does not hold, so the title is asked of the API by the namespace's id.
func (c *converter) kvNamespace(prefix, where string, entry map[string]any, account string, st *workerStorage) *binding {
	name, id := stringOf(entry["binding"]), stringOf(entry["id"])
	c.extraFields(where, entry, "binding", "id", "preview_id", "remote", "experimental_remote")
	if name == "" {
		c.notCarried(where, "has no binding name")
		return nil
	}
	title, why := "", ""
	switch {
	case id == "":
		why = "it has no id (newer wrangler versions create such a namespace on deploy), so its title is unknown"
	case !kvNamespaceID.MatchString(id):
		why = fmt.Sprintf("its id %q is not a KV namespace id (32 hex digits), so its title was not looked up", id)
	default:
		var err error
		title, err = c.kvTitle(account, id)
		if err != nil {
			why = fmt.Sprintf("the title of KV namespace %s is unknown: %v", id, err)
		}
	}
	if why != "" {
		inherits := ""
		if c.base != nil && prefix != "" {
			for _, b := range c.base.kv {
				if b.name == name {
					inherits = fmt.Sprintf("; until then this environment binds the base worker's %s: %s, the wrong namespace", name, b.target)
				}
			}
		}
		c.notCarried(where, fmt.Sprintf("not resolved, left out of the spec: %s. flareform binds a KV namespace by its title: "+
			"add %s: <title> under the worker's kv: in the spec (the title is in the dashboard, or in `wrangler kv namespace list`), "+
			"or set CLOUDFLARE_API_TOKEN (and CLOUDFLARE_ACCOUNT_ID when the config has no account_id) and import again with --force%s", why, name, inherits))
		ref := "KV namespace " + id
		if id == "" || !kvNamespaceID.MatchString(id) {
			ref = "its KV namespace"
		}
		st.unresolved = append(st.unresolved, fmt.Sprintf("  %s: <title of %s>", name, ref))
		return nil
	}
	if pid := stringOf(entry["preview_id"]); pid != "" && pid != id {
		c.note(where+".preview_id", "wrangler dev's preview namespace; flareform has no preview namespace (apply --local keeps its own local one)")
	}
	if problem, _ := spec.CheckKVTitle(title); problem != "" {
		c.notCarried(where, fmt.Sprintf("the title of KV namespace %s %s, which flareform cannot bind by; keep this binding in wrangler, or rename the namespace in the dashboard", id, problem))
		return nil
	}
	return &binding{name: name, target: title}
}

// MaxKVLookups bounds the titles one import asks for: a config is any file, and one with
// thousands of namespaces must not turn into thousands of API calls.
const MaxKVLookups = 64

// kvTitle asks opts.KVTitle once per account and id, for at most MaxKVLookups of them.
func (c *converter) kvTitle(account, id string) (string, error) {
	if c.opts.KVTitle == nil {
		why := c.opts.NoLookup
		if why == "" {
			why = "there are no credentials to ask Cloudflare with"
		}
		return "", errors.New(why)
	}
	key := account + "/" + id
	if r, ok := c.kvTitles[key]; ok {
		return r.title, r.err
	}
	if len(c.kvTitles) >= MaxKVLookups {
		return "", fmt.Errorf("not looked up: import asks for at most %d KV namespaces' titles", MaxKVLookups)
	}
	title, err := c.opts.KVTitle(account, id)
	if err == nil && title == "" {
		err = errors.New("the API gave it no title")
	}
	if c.kvTitles == nil {
		c.kvTitles = map[string]kvLookup{}
	}
	c.kvTitles[key] = kvLookup{title, err}
	return title, err
}

type kvLookup struct {
	title string
	err   error
}

// r2Bucket converts one r2_buckets entry: the spec binds a bucket by its name.
func (c *converter) r2Bucket(where string, entry map[string]any) *binding {
	name, bucket := stringOf(entry["binding"]), stringOf(entry["bucket_name"])
	c.extraFields(where, entry, "binding", "bucket_name", "preview_bucket_name", "jurisdiction", "remote", "experimental_remote")
	switch {
	case name == "":
		c.notCarried(where, "has no binding name")
		return nil
	case bucket == "":
		c.notCarried(where, fmt.Sprintf("has no bucket_name (wrangler creates such a bucket on deploy); add %s: <bucket name> under the worker's r2:", name))
		return nil
	}
	if problem, _ := spec.CheckBucketName(bucket); problem != "" {
		c.notCarried(where, fmt.Sprintf("bucket_name %q %s", bucket, problem))
		return nil
	}
	if j := stringOf(entry["jurisdiction"]); j != "" && j != "default" {
		// A bucket of another jurisdiction is another bucket: binding the name in the default
		// one would create an empty bucket beside the one holding the data.
		c.notCarried(where, fmt.Sprintf("the bucket %s is in the %q jurisdiction, which flareform does not address; "+
			"it is left out so that apply does not create an empty %s beside it: keep this binding in wrangler", bucket, j, bucket))
		return nil
	}
	if p := stringOf(entry["preview_bucket_name"]); p != "" && p != bucket {
		c.note(where+".preview_bucket_name", "wrangler dev's preview bucket; flareform has no preview bucket (apply --local keeps its own local one)")
	}
	return &binding{name: name, target: bucket}
}

// d1Database converts one d1_databases entry: the spec binds a database by its name.
func (c *converter) d1Database(where string, entry map[string]any) *binding {
	name, db := stringOf(entry["binding"]), stringOf(entry["database_name"])
	c.extraFields(where, entry, "binding", "database_name", "database_id", "preview_database_id", "migrations_dir",
		"migrations_table", "remote", "experimental_remote")
	switch {
	case name == "":
		c.notCarried(where, "has no binding name")
		return nil
	case db == "":
		c.notCarried(where, fmt.Sprintf("has no database_name, and flareform binds a D1 database by its name; add %s: <database name> under the worker's d1:", name))
		return nil
	}
	if problem, fix := spec.CheckD1Name(db); problem != "" {
		// Cloudflare accepts more than flareform's rule; the database keeps its name.
		c.notCarried(where, fmt.Sprintf("database_name %q %s, flareform's rule for the databases it binds; it is left out: keep this binding in wrangler, "+
			"or move the data to a database named by the rule (%s)", db, problem, fix))
		return nil
	}
	for _, field := range []string{"migrations_dir", "migrations_table"} {
		if _, ok := entry[field]; ok {
			c.notCarried(where+"."+field, "flareform applies no D1 migrations; keep running `wrangler d1 migrations apply "+db+" --remote`")
		}
	}
	if _, ok := entry["preview_database_id"]; ok {
		c.notCarried(where+".preview_database_id", "wrangler dev's preview database; flareform has none (apply --local keeps its own local one)")
	}
	return &binding{name: name, target: db}
}

// extraFields lists the fields of a binding entry that flareform does not know as not carried
// over; "remote" and "experimental_remote" (wrangler dev against the real storage) it knows.
func (c *converter) extraFields(where string, entry map[string]any, known ...string) {
	for _, k := range sortedKeys(entry) {
		switch {
		case k == "remote" || k == "experimental_remote":
			c.note(where+"."+k, "wrangler dev's remote binding; flareform's --local keeps storage of its own")
		case !slices.Contains(known, k):
			c.notCarried(where+"."+k, "flareform has no equivalent setting")
		}
	}
}

// bindingProblem says why name cannot be the binding name of a secret, KV namespace, R2 bucket
// or D1 database in the spec ("" when it can), by the spec's own rules.
func bindingProblem(name string) string {
	if problem := spec.CheckBindingName(name); problem != "" {
		return problem
	}
	if why := spec.ReservedBinding(name); why != "" {
		return "is reserved: " + why
	}
	return ""
}

// bindingMap is the spec's map of binding name -> target.
func bindingMap(list []binding) *yaml.Node {
	m := mapping()
	for _, b := range list {
		if strings.HasPrefix(b.target, "env:") || strings.HasPrefix(b.target, "file:") {
			add(m, b.name, quoted(b.target))
		} else {
			add(m, b.name, scalar(literal(b.target)))
		}
	}
	return m
}
