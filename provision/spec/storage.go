package spec

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/flareform/flareform/internal/keysource"
	"github.com/flareform/flareform/internal/lazyre"
)

// Limits of `secrets:`, `kv:`, `r2:` and `d1:` (docs/spec.md, "Secrets and storage").
const (
	// MaxSecrets bounds a worker's secrets besides api_key: plan tells a changed secret from
	// an unchanged one by a salted fingerprint recorded with the worker's version (it cannot
	// read a secret back), and that record is small.
	MaxSecrets = 16
	// MaxBindingNameLen bounds the binding names of secrets, kv, r2 and d1: names are read in
	// code and in plans, and nothing longer is ever meant.
	MaxBindingNameLen = 64
	// MaxKVTitleLen is Cloudflare's limit for a KV namespace's title, in characters.
	MaxKVTitleLen = 512
	// MinBucketNameLen and MaxBucketNameLen bound an R2 bucket's name (Cloudflare's rule).
	MinBucketNameLen = 3
	MaxBucketNameLen = 63
	// MaxD1NameLen bounds a D1 database's name. Cloudflare documents no rule for D1 names
	// beyond uniqueness, so flareform takes a conservative one that every tool and URL
	// handles: at most 64 of a-z, 0-9, '-' and '_'.
	MaxD1NameLen = 64
)

var (
	// bindingNamePattern is stricter than jsIdentifier ('$' is refused): these names are also
	// written in wrangler configs, shells and plans, where '$' means something else.
	bindingNamePattern = lazyre.Regexp{Expr: `^[A-Za-z_][A-Za-z0-9_]*$`}
	bucketNamePattern  = lazyre.Regexp{Expr: `^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`}
	d1NamePattern      = lazyre.Regexp{Expr: `^[a-z0-9_-]{1,64}$`}
)

// ReservedBindings are binding names flareform keeps for bindings of its own on any worker,
// whether or not the spec turns on what sets them: AI_MODEL (ai.model), AI_GATEWAY_ID
// (ai.gateway), the previous key and its deadline during rotation (the engine recognises
// API_KEY_PREVIOUS and API_KEY_PREVIOUS_EXPIRES by name on the live worker and carries them
// over), RATE_LIMITER (rate_limit) and USAGE (usage). A secret or storage binding is refused
// under these names, so turning a feature on later never collides with a binding the code
// already reads. This is the canonical list; provision's reservedBindings is the subset the
// engine treats specially on the live worker.
var ReservedBindings = []string{
	AIModelVar,
	AIGatewayVar,
	DefaultKeyBinding + previousKeySuffix,
	DefaultKeyBinding + previousExpirySuffix,
	RateLimiterBinding,
	UsageBinding,
}

// ReservedBindingPrefixes start binding names flareform keeps for itself: FLAREFORM_ (the
// consumers' table and salt, the usage worker variable, those to come) and RATE_LIMITER_ (the
// consumers' limiters, RATE_LIMITER_<limit>_<period>).
var ReservedBindingPrefixes = []string{"FLAREFORM_", RateLimiterBinding + "_"}

// ReservedBinding says why name is flareform's (ReservedBindings, ReservedBindingPrefixes),
// "" when a spec may use it.
func ReservedBinding(name string) string {
	if slices.Contains(ReservedBindings, name) {
		return fmt.Sprintf("flareform keeps %s for a binding of its own", name)
	}
	for _, p := range ReservedBindingPrefixes {
		if strings.HasPrefix(name, p) {
			return fmt.Sprintf("names starting with %s are flareform's", p)
		}
	}
	return ""
}

// reservedFix lists every reserved name, so one rename settles it.
func reservedFix() string {
	return fmt.Sprintf("rename it: flareform keeps %s and names starting with %s for bindings of its own",
		strings.Join(ReservedBindings, ", "), strings.Join(ReservedBindingPrefixes, " or "))
}

// CheckBindingName reports why name cannot be the binding name of a secret, KV namespace, R2
// bucket or D1 database ("" when it can): at most MaxBindingNameLen letters, digits and '_',
// not starting with a digit.
func CheckBindingName(name string) string {
	switch {
	case len(name) > MaxBindingNameLen:
		return fmt.Sprintf("is %d characters, more than %d", len(name), MaxBindingNameLen)
	case !bindingNamePattern.MatchString(name):
		return "is not a JavaScript identifier of letters, digits and _ (not starting with a digit)"
	}
	return ""
}

// SuggestBindingName turns any string into a binding name: upper case, as bindings are by
// custom, every other character '_'.
func SuggestBindingName(name string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(name) {
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		s = "_" + s
	}
	if len(s) > MaxBindingNameLen {
		s = s[:MaxBindingNameLen]
	}
	return s
}

// CheckKVTitle reports why title cannot be a KV namespace's title ("" when it can): 1 to
// MaxKVTitleLen characters, none a control character (a title is shown on one line in the
// dashboard and in plans). fix says how to repair it, quoting a fixed title when there is one.
func CheckKVTitle(title string) (problem, fix string) {
	const rule = "a KV namespace title is 1 to 512 characters without control characters"
	switch n := utf8.RuneCountInString(title); {
	case strings.TrimSpace(title) == "":
		return "is empty or blank: " + rule, `name the namespace, e.g. "my-api-cache"`
	case strings.IndexFunc(title, unicode.IsControl) >= 0:
		fixed := strings.Map(func(r rune) rune {
			if unicode.IsControl(r) {
				return -1
			}
			return r
		}, title)
		return "holds a control character (a tab, a newline, ...): " + rule, fmt.Sprintf("use e.g. %q", fixed)
	case n > MaxKVTitleLen:
		return fmt.Sprintf("is %d characters: %s", n, rule), fmt.Sprintf("shorten it to at most %d characters", MaxKVTitleLen)
	}
	return "", ""
}

// CheckBucketName reports why name cannot be an R2 bucket's name ("" when it can), with a fix
// that quotes a valid name (SuggestBucketName).
func CheckBucketName(name string) (problem, fix string) {
	if bucketNamePattern.MatchString(name) {
		return "", ""
	}
	return fmt.Sprintf("is not an R2 bucket name: %d to %d lowercase letters, digits and '-', starting and ending with a letter or digit", MinBucketNameLen, MaxBucketNameLen),
		fmt.Sprintf("use e.g. %q", SuggestBucketName(name))
}

// SuggestBucketName turns any string into a valid R2 bucket name, as suggestGatewayID does for
// gateways: lower case, each run of other characters one '-', padded when too short.
func SuggestBucketName(name string) string {
	if !strings.ContainsFunc(strings.ToLower(name), isLowerAlnum) {
		return "my-bucket" // nothing of name would survive
	}
	s := suggestGatewayID(name) // a-z, 0-9 and '-', no '-' at either end, at most 63
	if len(s) < MinBucketNameLen {
		s += "-bucket"
	}
	return s
}

// CheckD1Name reports why name cannot be a D1 database's name under flareform's rule ("" when
// it can; see MaxD1NameLen), with a fix that quotes a valid name.
func CheckD1Name(name string) (problem, fix string) {
	if d1NamePattern.MatchString(name) {
		return "", ""
	}
	suggestion := "my-db" // when nothing of name would survive
	if strings.ContainsFunc(strings.ToLower(name), isLowerAlnum) {
		suggestion = SuggestWorkerName(name) // a-z, 0-9, '-' and '_', at most 63: within the rule
	}
	return fmt.Sprintf("is not a D1 database name: 1 to %d lowercase letters, digits, '-' and '_'", MaxD1NameLen),
		fmt.Sprintf("use e.g. %q", suggestion)
}

func isLowerAlnum(r rune) bool { return (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') }

// storageKind is one of the storage keys of a worker.
type storageKind struct {
	key    string // "kv", "r2", "d1"
	object string // what the value names, for messages
	// rule is the naming rule in words, the fix when a value from ${VAR} breaks it (a fix
	// quoting a repaired name would show the expanded value).
	rule  string
	check func(name string) (problem, fix string)
	field func(w *Worker) *[]StorageBinding
}

var storageKinds = []storageKind{
	{key: "kv", object: "KV namespace title", rule: "make it 1 to 512 characters without control characters",
		check: CheckKVTitle, field: func(w *Worker) *[]StorageBinding { return &w.KV }},
	{key: "r2", object: "R2 bucket name", rule: "make it 3 to 63 lowercase letters, digits and '-', starting and ending with a letter or digit",
		check: CheckBucketName, field: func(w *Worker) *[]StorageBinding { return &w.R2 }},
	{key: "d1", object: "D1 database name", rule: "make it 1 to 64 lowercase letters, digits, '-' and '_'",
		check: CheckD1Name, field: func(w *Worker) *[]StorageBinding { return &w.D1 }},
}

// storage reads `kv:`, `r2:` and `d1:` (each merged over the base name by name, like vars) and
// returns the bindings they name, for checkBindings. Two workers naming one object share it,
// and one worker may bind an object under two names: neither is an error.
func (l *loader) storage(w *Worker, base, over *value) []claimedBinding {
	var named []claimedBinding
	for _, k := range storageKinds {
		out := k.field(w)
		for _, e := range sortedEntries(mergeEntries(w, k.key, base.get(k.key), over.get(k.key))) {
			path, keyPos := k.key+"."+e.name, posOf(e.val.key)
			named = append(named, l.bindingName(e.name, path, keyPos)...)
			name, ok := l.str(e.val)
			w.Pos[path] = name.pos
			if !ok {
				continue
			}
			if problem, fix := k.check(name.s); problem != "" {
				if name.expanded {
					fix = k.rule
				}
				l.errorAt(name.pos, fmt.Sprintf("%s %s %s", path, name.show(), problem), fix)
				continue
			}
			*out = append(*out, StorageBinding{Binding: e.name, Name: name.s})
		}
	}
	return named
}

// secrets reads `secrets:` (merged over the base name by name, like vars): binding name ->
// env:NAME or file:PATH, read as api_key.from is but checked against the secret rule
// (keysource.SecretRule, checkKey); never generated. It returns the bindings, for
// checkBindings.
func (l *loader) secrets(w *Worker, base, over *value) []claimedBinding {
	entries := mergeEntries(w, "secrets", base, over)
	if len(entries) > MaxSecrets {
		l.errorAt(w.Pos["secrets"], fmt.Sprintf("%d secrets; a worker has at most %d besides api_key", len(entries), MaxSecrets),
			"bind only the secrets the worker's code reads, or split the worker")
	}
	var named []claimedBinding
	for _, e := range sortedEntries(entries) {
		path, keyPos := "secrets."+e.name, posOf(e.val.key)
		named = append(named, l.bindingName(e.name, path, keyPos)...)
		src, ok := l.str(e.val)
		w.Pos[path] = src.pos
		if !ok {
			continue
		}
		if src.s == "generate" {
			l.errorAt(src.pos, fmt.Sprintf("%s cannot be generate", path), "a secret comes from env:NAME or file:PATH; flareform generates only api_key")
			continue
		}
		kind, ref, ok := l.keySource(src.s)
		if !ok {
			l.errorAt(src.pos, fmt.Sprintf("%s %s is not env:NAME or file:PATH", path, l.showSource(src)),
				fmt.Sprintf("write the secret's source, not its value: %s: \"env:%s\" (a variable holding it) or \"file:./secrets/%s.txt\"", e.name, SuggestBindingName(e.name), strings.ToLower(SuggestBindingName(e.name))))
			continue
		}
		l.checkKey(w, src, keyUse{path: path, what: "secret " + e.name, binding: e.name, secret: true}, kind, ref)
		w.Secrets = append(w.Secrets, KeySource{Binding: e.name, From: kind, Ref: ref})
	}
	return named
}

// showSource quotes a secret's source for a message unless it may be the secret itself: a
// value written where its source belongs (`OPENAI_KEY: sk-...`) is hidden from every message.
func (l *loader) showSource(src str) string {
	if src.expanded || strings.HasPrefix(src.s, keysource.KindEnv+":") || strings.HasPrefix(src.s, keysource.KindFile+":") {
		return src.show()
	}
	l.hide(src.s, "(not shown)")
	return "(its text is not shown: it may be the secret itself)"
}

// bindingName checks the binding name of a secrets, kv, r2 or d1 entry; the name is returned
// for checkBindings only when it is valid (an invalid one is reported once, here).
func (l *loader) bindingName(name, path string, pos Position) []claimedBinding {
	if problem := CheckBindingName(name); problem != "" {
		l.errorAt(pos, fmt.Sprintf("binding name %q of %s %s", name, path, problem), fmt.Sprintf("rename it, e.g. %s", SuggestBindingName(name)))
		return nil
	}
	return []claimedBinding{{name: name, path: path, pos: pos}}
}
