package provision

import (
	"context"
	"fmt"
	"slices"
)

// Whether an upload's `tags` replace the script's tags or are added to them is UNCONFIRMED
// (docs/local-cloudflare.md, quirk script_tags_replace). flareform's tags carry state (the
// project, key fingerprints), so a stale one left behind would mislead the next plan: when an
// upload is meant to drop a tag, the tags are read back and set explicitly if it survived.
// (What serves, the code's identity included, is read from the serving version's annotation,
// not from tags: a rollback changes the version but not the tags.)

// uploadTagSet is the tag set an upload sends: the plan's tags plus, for a key generated
// during apply, its fingerprint tag.
func uploadTagSet(d *desiredWorker, fingerprint string) []string {
	tags := slices.Clone(d.tags)
	if d.genKey && d.worker.APIKey != nil { // the fingerprint of a generated key is known only now
		tags = append(tags, keyTag(d.worker.APIKey.Binding, fingerprint))
	}
	return tags
}

// settleTags makes the script's tags exactly want after an upload that sent want, when the
// script had tags (had) that want leaves out.
func (e *Engine) settleTags(ctx context.Context, accountID, name string, had, want []string) error {
	if !slices.ContainsFunc(had, func(t string) bool { return !slices.Contains(want, t) }) {
		return nil // nothing to drop: both readings leave exactly want
	}
	got, err := e.api.Script(accountID, name).Tags(ctx)
	if err != nil {
		return fmt.Errorf("read back the script's labels: %w", err)
	}
	if sameStrings(got, want) {
		return nil
	}
	e.logf("%s: Cloudflare kept the previous deploy's labels on the script (whose project it is, a rotation under way); setting this deploy's", name)
	return e.putScriptTags(ctx, accountID, name, want)
}

// putScriptTags sets the script's tags to exactly tags (no new version).
func (e *Engine) putScriptTags(ctx context.Context, accountID, name string, tags []string) error {
	if err := e.api.Script(accountID, name).SetTags(ctx, tags); err != nil {
		return fmt.Errorf("set the script's labels: %w", err)
	}
	return nil
}

// liveTags are the script's tags when the plan was made (none for a new script).
func liveTags(wp *WorkerPlan) []string {
	if wp.live == nil {
		return nil
	}
	return wp.live.tags
}

// dropRunTags takes the tags this run's upload sent (sent) off a script another party created
// while the upload was on its way. By reading, the upload added them to that party's tags or
// replaced those. The managed tag stays when other flareform tags remain: then the other party
// is flareform too, and under the adding reading the tag was its as well.
func (e *Engine) dropRunTags(ctx context.Context, accountID, name string, sent []string) error {
	got, err := e.api.Script(accountID, name).Tags(ctx)
	if err != nil {
		return fmt.Errorf("read the script's labels: %w", err)
	}
	keep := slices.DeleteFunc(slices.Clone(got), func(t string) bool { return slices.Contains(sent, t) })
	if slices.Contains(got, managedTag) && slices.ContainsFunc(keep, isFlareformTag) && !slices.Contains(keep, managedTag) {
		keep = append(keep, managedTag)
	}
	if len(keep) == len(got) {
		return nil
	}
	return e.putScriptTags(ctx, accountID, name, keep)
}
