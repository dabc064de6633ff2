package localcf

import (
	"fmt"
	"slices"
	"strings"
)

// Quirks picks between readings of Cloudflare behaviour that the references leave UNCONFIRMED
// (docs/local-cloudflare.md, "Quirks"). The zero value is the strictest plausible reading of
// each: the one that breaks a client relying on the other. Each field switches one behaviour to
// its other, more lenient reading, so a test can show a client works under both.
type Quirks struct {
	// MainModuleByFilename names a module part by its filename when it has one (what
	// cloudflare-go's encoder relies on). Strict: by its part name only; main_module must name a
	// part (10021 otherwise).
	MainModuleByFilename bool
	// SettingsBindingsReplace makes a settings PATCH's `bindings` the new binding set (secrets it
	// omits survive). Strict: the PATCH merges, so bindings it omits are all kept.
	SettingsBindingsReplace bool
	// ScriptTagsReplace makes an upload's `tags` the script's new tag set. Strict: they are added
	// to the script's tags, so tags the upload omits are kept.
	ScriptTagsReplace bool
	// ImplicitSecretRetention keeps the previous version's secrets on every upload. Strict: only
	// with keep_bindings ["secret_text"] (or sent again, or inherited).
	ImplicitSecretRetention bool
	// WorkersDevWithoutSubdomain lets a script enable workers.dev on an account that has no
	// workers.dev subdomain. Strict: refused with 10007.
	WorkersDevWithoutSubdomain bool
	// NoTagLimit lifts the limit of 8 tags per script. Strict: a 9th tag fails with 10021.
	NoTagLimit bool
	// DeploymentID adds wrangler's `deployment_id` (the new version id) to the script PUT
	// answer. Strict: the answer has only the SDK's documented fields.
	DeploymentID bool
	// GatewayUpdateAcceptsID lets an AI Gateway PUT carry fields its schema does not have (an
	// `id` matching the path among them), ignoring them. Strict: the update schema has no `id`,
	// and a field outside it is refused with 10021.
	GatewayUpdateAcceptsID bool
	// SecretRenameInherit lets an `inherit` binding with `old_name` copy a secret under another
	// name (cloudflare-operations.md 8.4: documented for inherited bindings in general).
	// Strict: such a rename of a secret_text binding is refused with 10021.
	SecretRenameInherit bool
	// GraphQLNoAIDataset makes the GraphQL Analytics API answer a query of
	// aiInferenceAdaptiveGroups as a schema without it does: HTTP 200, data null and an
	// "unknown field" error (cloudflare-operations.md 4.2: the dataset is UNCONFIRMED). Default:
	// the dataset answers from the local neuron records, so a client's happy path runs; the
	// switch tests its "neurons unknown" path.
	GraphQLNoAIDataset bool
	// R2DeleteNonEmpty makes DELETE /r2/buckets/{name} remove a bucket that still holds
	// objects, with them (cloudflare-operations.md §9: that Cloudflare refuses it is stated,
	// its answer UNCONFIRMED). Strict: refused, 409 with code 10008.
	R2DeleteNonEmpty bool
	// R2NoObjectList makes GET /r2/buckets/{name}/objects answer 404 like a route the API does
	// not have (that the v4 API lists objects is UNCONFIRMED). Default: it lists them, so a
	// client can tell an empty bucket; the switch tests its "may hold data" path.
	R2NoObjectList bool
}

// maxScriptTags is the Workers for Platforms limit of tags per script (cloudflare-resources.md).
const maxScriptTags = 8

// quirkSwitch is one named switch: its name, what it turns on and where the doubt comes from.
type quirkSwitch struct {
	Name   string
	Field  func(*Quirks) *bool
	Strict string // the default reading
	Other  string // the reading the switch selects
}

// quirkSwitches lists every switch, in the order docs/local-cloudflare.md documents them.
var quirkSwitches = []quirkSwitch{
	{"main_module_by_filename", func(q *Quirks) *bool { return &q.MainModuleByFilename },
		"module parts are named by their part name", "module parts are named by their filename when they have one"},
	{"settings_bindings_replace", func(q *Quirks) *bool { return &q.SettingsBindingsReplace },
		"a settings PATCH merges its bindings into the current ones", "a settings PATCH's bindings replace the current ones (secrets survive)"},
	{"script_tags_replace", func(q *Quirks) *bool { return &q.ScriptTagsReplace },
		"an upload's tags are added to the script's tags", "an upload's tags replace the script's tags"},
	{"implicit_secret_retention", func(q *Quirks) *bool { return &q.ImplicitSecretRetention },
		"an upload keeps secrets only with keep_bindings [\"secret_text\"]", "an upload always keeps the previous secrets"},
	{"workers_dev_without_subdomain", func(q *Quirks) *bool { return &q.WorkersDevWithoutSubdomain },
		"enabling workers.dev without an account subdomain fails (10007)", "enabling workers.dev without an account subdomain is accepted"},
	{"no_tag_limit", func(q *Quirks) *bool { return &q.NoTagLimit },
		"at most 8 tags per script (10021)", "any number of tags"},
	{"deployment_id", func(q *Quirks) *bool { return &q.DeploymentID },
		"the script PUT answer has no deployment_id", "the script PUT answer carries deployment_id"},
	{"gateway_update_accepts_id", func(q *Quirks) *bool { return &q.GatewayUpdateAcceptsID },
		"an AI Gateway PUT refuses fields outside its schema, id included (10021)", "an AI Gateway PUT ignores fields it does not know; an id must match the path"},
	{"secret_rename_inherit", func(q *Quirks) *bool { return &q.SecretRenameInherit },
		"an inherit binding with old_name that renames a secret is refused (10021)", "an inherit binding with old_name copies a secret under its new name"},
	{"graphql_no_ai_dataset", func(q *Quirks) *bool { return &q.GraphQLNoAIDataset },
		"the GraphQL Analytics API answers aiInferenceAdaptiveGroups from local neuron records", "the GraphQL Analytics API has no aiInferenceAdaptiveGroups: 200, data null, \"unknown field\""},
	{"r2_delete_nonempty", func(q *Quirks) *bool { return &q.R2DeleteNonEmpty },
		"deleting an R2 bucket that holds objects is refused (409, 10008)", "deleting an R2 bucket that holds objects deletes them with it"},
	{"r2_no_object_list", func(q *Quirks) *bool { return &q.R2NoObjectList },
		"GET /r2/buckets/{name}/objects lists the bucket's objects", "GET /r2/buckets/{name}/objects is an unknown route (404)"},
}

// QuirkNames lists every switch name.
func QuirkNames() []string {
	names := make([]string, len(quirkSwitches))
	for i, sw := range quirkSwitches {
		names[i] = sw.Name
	}
	return names
}

// ParseQuirks reads a comma-separated list of switch names ("" = all strict).
func ParseQuirks(list string) (Quirks, error) {
	var names []string
	for _, n := range strings.Split(list, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	return QuirksFromNames(names)
}

// QuirksFromNames turns switch names into Quirks; an unknown name is an error that lists the
// known ones.
func QuirksFromNames(names []string) (Quirks, error) {
	var q Quirks
	for _, name := range names {
		i := slices.IndexFunc(quirkSwitches, func(sw quirkSwitch) bool { return sw.Name == name })
		if i < 0 {
			return Quirks{}, fmt.Errorf("unknown quirk %q (known: %s)", name, strings.Join(QuirkNames(), ", "))
		}
		*quirkSwitches[i].Field(&q) = true
	}
	return q, nil
}

// Names lists the switches that are on, in documentation order; empty when all are strict.
func (q Quirks) Names() []string {
	names := []string{}
	for _, sw := range quirkSwitches {
		if *sw.Field(&q) {
			names = append(names, sw.Name)
		}
	}
	return names
}

// SetQuirks switches readings on a running server; the next request sees them.
func (s *Server) SetQuirks(q Quirks) {
	s.quirkMu.Lock()
	defer s.quirkMu.Unlock()
	s.quirks = q
}

// Quirks returns the readings in force.
func (s *Server) Quirks() Quirks {
	s.quirkMu.RLock()
	defer s.quirkMu.RUnlock()
	return s.quirks
}
