package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/flareform/flareform/provision/cfapi"
	"github.com/flareform/flareform/provision/spec"
)

// A worker's history, as `flareform versions` shows it: its newest versions and deployments,
// which of them serves, and what flareform knows of each version (it made it, its smoke test
// passed). Everything comes from three reads made at once (the versions list, the deployments
// list and the script's tags); nothing is written. A version's own annotation says whether
// flareform made it (identity.go) and the script's tested tag whether its smoke test passed
// (smokemark.go).

// DefaultHistoryLimit is how many versions and deployments History lists when asked for none,
// as many as `wrangler versions list` shows.
const DefaultHistoryLimit = 10

// MaxHistoryLimit is the most History lists: a deployment can use only the last 100 uploaded
// versions (cloudflare-operations.md 1.5), so older ones cannot be rolled back to anyway.
const MaxHistoryLimit = 100

// What HistoryVersion.Smoke says.
const (
	SmokePassed  = "passed"  // the script carries the version's tested tag
	SmokePending = "pending" // uploaded to be smoke-tested, and its test has not passed
)

// History is one worker's newest versions and deployments, newest first.
type History struct {
	Worker      string              `json:"worker"`
	Versions    []HistoryVersion    `json:"versions"`
	Deployments []HistoryDeployment `json:"deployments"`
}

// HistoryVersion is one version of a History.
type HistoryVersion struct {
	ID      string    `json:"id"`
	Number  int       `json:"number"`
	Created time.Time `json:"created"`
	Source  string    `json:"source"`
	Author  string    `json:"author"`
	// Message is the version's workers/message annotation; for a version flareform made, a
	// summary of its identity in place of the raw annotation.
	Message   string `json:"message"`
	Flareform bool   `json:"flareform"`
	// Smoke is SmokePassed, SmokePending, or "" when unknown or not applicable (a version that
	// is not flareform's, or was uploaded without a smoke test to run). See smokeStates.
	Smoke string `json:"smoke"`
	// Percentage is the share of traffic the active deployment sends it, 0 when not in it.
	Percentage float64 `json:"percentage"`
}

// HistoryDeployment is one deployment of a History.
type HistoryDeployment struct {
	ID          string           `json:"id"`
	Created     time.Time        `json:"created"`
	Source      string           `json:"source"`
	Author      string           `json:"author"`
	Message     string           `json:"message"`
	TriggeredBy string           `json:"triggered_by"`
	Active      bool             `json:"active"` // the newest deployment: the one serving
	Versions    []HistoryTraffic `json:"versions"`
}

// HistoryTraffic is a deployment's share of traffic for one version.
type HistoryTraffic struct {
	VersionID  string  `json:"version_id"`
	Percentage float64 `json:"percentage"`
}

// UnknownWorkerError says the account has no script of that name; Known lists the account's
// scripts, so the caller can say which names would work.
type UnknownWorkerError struct {
	Worker    string
	AccountID string
	Known     []string // sorted
}

func (e *UnknownWorkerError) Error() string {
	known := "none"
	if len(e.Known) > 0 {
		known = strings.Join(e.Known, ", ")
	}
	return fmt.Sprintf("no worker %q on account %s (its workers: %s)", e.Worker, e.AccountID, known)
}

// History reads the newest versions and deployments of the script worker (at most limit of
// each; DefaultHistoryLimit when limit is 0 or less) in the account accountID (the spec's
// account_id; "" for the configured one). It only reads. A script that does not exist is an
// *UnknownWorkerError.
func (e *Engine) History(ctx context.Context, accountID, worker string, limit int) (*History, error) {
	if problem, _ := spec.CheckWorkerName(worker); problem != "" {
		return nil, errors.New(problem)
	}
	if limit <= 0 {
		limit = DefaultHistoryLimit
	}
	limit = min(limit, MaxHistoryLimit)
	account, err := e.accountID(accountID)
	if err != nil {
		return nil, err
	}
	r := e.readHistory(ctx, account, worker, limit)
	if r.notFound() {
		return nil, e.unknownWorker(ctx, account, worker)
	}
	if err := errors.Join(r.versionsErr, r.deploymentsErr, r.tagsErr); err != nil {
		return nil, fmt.Errorf("history of %s: %w", worker, err)
	}
	if err := e.fillAnnotations(ctx, account, worker, r.versions); err != nil {
		return nil, fmt.Errorf("history of %s: %w", worker, err)
	}
	return buildHistory(worker, r, limit), nil
}

// historyReads holds the three reads of a History until all are in.
type historyReads struct {
	versions       []cfapi.VersionInfo
	versionsErr    error
	deployments    []cfapi.Deployment
	deploymentsErr error
	tags           []string
	tagsErr        error
}

// readHistory makes History's three reads at once: one round trip.
func (e *Engine) readHistory(ctx context.Context, accountID, worker string, limit int) *historyReads {
	s := e.api.Script(accountID, worker)
	r := &historyReads{}
	parallel(
		func() { r.versions, r.versionsErr = s.Versions(ctx, limit) },
		func() { r.deployments, r.deploymentsErr = s.Deployments(ctx) },
		func() { r.tags, r.tagsErr = s.Tags(ctx) },
	)
	return r
}

// notFound: a read said the script does not exist (or was deleted between the reads).
func (r *historyReads) notFound() bool {
	return cfapi.IsNotFound(r.versionsErr) || cfapi.IsNotFound(r.deploymentsErr) || cfapi.IsNotFound(r.tagsErr)
}

// unknownWorker is the error for a script the account lacks, with the names it has; a failed
// list leaves them out rather than hiding the first error.
func (e *Engine) unknownWorker(ctx context.Context, accountID, worker string) error {
	uw := &UnknownWorkerError{Worker: worker, AccountID: accountID}
	if names, err := e.scriptNames(ctx, accountID); err == nil {
		for name := range names {
			uw.Known = append(uw.Known, name)
		}
		slices.Sort(uw.Known)
	}
	return uw
}

// fillAnnotations reads the message of each listed version whose entry carried no annotations
// (the SDK's list type has none; the real API is expected to send them, as wrangler reads
// them): from the version cache, else one read each. With annotations in the list, no call.
func (e *Engine) fillAnnotations(ctx context.Context, accountID, worker string, versions []cfapi.VersionInfo) error {
	var missing []int
	for i, v := range versions {
		if !v.Annotated {
			missing = append(missing, i)
		}
	}
	errs := make([]error, len(missing))
	e.forEach(ctx, len(missing), func(ctx context.Context, j int) {
		v := &versions[missing[j]]
		msg, _, err := e.versionMessageOf(ctx, accountID, worker, v.ID)
		v.Message, errs[j] = msg, err
	})
	return errors.Join(errs...)
}

// buildHistory puts the reads together: deployments newest first (the API lists them so; the
// sort only guards against another order), the first one active, and each version's share of
// it.
func buildHistory(worker string, r *historyReads, limit int) *History {
	deps := slices.Clone(r.deployments)
	slices.SortStableFunc(deps, func(a, b cfapi.Deployment) int { return b.Created.Compare(a.Created) })
	h := &History{Worker: worker, Versions: []HistoryVersion{}, Deployments: []HistoryDeployment{}}
	serving := map[string]float64{}
	for i, d := range deps[:min(len(deps), limit)] {
		hd := historyDeployment(d, i == 0)
		if hd.Active {
			for _, v := range hd.Versions {
				serving[v.VersionID] += v.Percentage
			}
		}
		h.Deployments = append(h.Deployments, hd)
	}
	versions := r.versions[:min(len(r.versions), limit)]
	smoke := smokeStates(versions, r.tags)
	for i, v := range versions {
		hv := historyVersion(v)
		hv.Smoke, hv.Percentage = smoke[i], serving[v.ID]
		h.Versions = append(h.Versions, hv)
	}
	return h
}

// smokeStates says, for versions listed newest first, whose smoke test passed. The script's
// tested tag names one version, the last whose test passed (smokemark.go), and an apply
// replaces it only when a newer version passes. So that version passed; a pending flareform
// version newer than it (or, with no tagged version listed, any listed one: the tagged one is
// older or there is none) has not; a pending version older than it may have passed before the
// tag moved on, so its state is unknown ("").
func smokeStates(versions []cfapi.VersionInfo, tags []string) []string {
	tagged := slices.IndexFunc(versions, func(v cfapi.VersionInfo) bool { return slices.Contains(tags, testedTag(v.ID)) })
	states := make([]string, len(versions))
	for i, v := range versions {
		id, _ := parseIdentity(v.Message)
		switch {
		case i == tagged:
			states[i] = SmokePassed
		case id.SmokePending && (tagged < 0 || i < tagged):
			states[i] = SmokePending
		}
	}
	return states
}

func historyDeployment(d cfapi.Deployment, active bool) HistoryDeployment {
	msg, _ := readableMessage(d.Message)
	hd := HistoryDeployment{ID: d.ID, Created: d.Created, Source: d.Source, Author: d.AuthorEmail,
		Message: msg, TriggeredBy: d.TriggeredBy, Active: active, Versions: []HistoryTraffic{}}
	for _, v := range d.Versions {
		hd.Versions = append(hd.Versions, HistoryTraffic{VersionID: v.VersionID, Percentage: v.Percentage})
	}
	return hd
}

func historyVersion(v cfapi.VersionInfo) HistoryVersion {
	msg, ours := readableMessage(v.Message)
	return HistoryVersion{ID: v.ID, Number: v.Number, Created: v.Created, Source: v.Source,
		Author: v.AuthorEmail, Message: msg, Flareform: ours}
}

// readableMessage is a workers/message annotation for a person: for one flareform wrote, a
// summary of its identity (which version of the code, which run; a key fingerprint says
// nothing to a reader) followed by any note after it (rotate-key's); else the message as it is.
func readableMessage(message string) (text string, flareform bool) {
	id, ok := parseIdentity(message)
	if !ok {
		return message, false
	}
	text = "flareform (bundle " + id.BundleTag
	if id.Run != "" {
		text += ", run " + id.Run
	}
	text += ")"
	if note := identityNote(message); note != "" {
		text += ": " + note
	}
	return text, true
}

// identityNote is what follows the identity's fields in a flareform annotation: the words from
// the first one after the bundle tag that is not a name=value field.
func identityNote(message string) string {
	fields := strings.Fields(message)
	i := min(2, len(fields)) // after "flareform ff-bundle-…"
	for i < len(fields) && strings.Contains(fields[i], "=") {
		i++
	}
	return strings.Join(fields[i:], " ")
}
