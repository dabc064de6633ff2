package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/flareform/flareform/provision/cfapi"
)

// versionOverrideHeader sends one request to a chosen version of the current deployment
// (cloudflare-operations.md 1.4). Its value is an RFC 8941 dictionary: worker name = version
// id as a string.
const versionOverrideHeader = "Cloudflare-Workers-Version-Overrides"

type versionOverrideKey struct{}

// withVersionOverride makes the smoke requests made under ctx go to version of script.
func withVersionOverride(ctx context.Context, script, version string) context.Context {
	return context.WithValue(ctx, versionOverrideKey{}, fmt.Sprintf("%s=%q", script, version))
}

// versionOverride is the header value withVersionOverride set on ctx, or "".
func versionOverride(ctx context.Context) string {
	v, _ := ctx.Value(versionOverrideKey{}).(string)
	return v
}

// applyCanary applies a worker whose plan has a canary (canary.go), in one guarded write:
// the plan's read is the precondition; then the new version's upload (deploying nothing), the
// split deployment, the smoke test of the canary itself through the version-override header
// (whatever share of the traffic it has), the tested mark, and last the postcondition that this
// run's deployment still serves. A canary that fails is withdrawn: the deployment the plan read
// is made again. Promoting (Percent 100) smoke-tests the canary before its deployment.
func (e *Engine) applyCanary(ctx context.Context, p *Plan, wp *WorkerPlan, opts ApplyOptions, r *WorkerResult) error {
	d, c := wp.desired, wp.desired.canary
	fingerprint := ""
	if d.worker.APIKey != nil {
		fingerprint = wp.live.keyFingerprints[d.worker.APIKey.Binding]
	}
	writes, err := e.beginWrites(ctx, p.AccountID, wp.Name, planRead(wp), opts.freshPlan, "deploy a canary")
	if err != nil {
		return err
	}
	version := c.Version
	if d.upload {
		e.logf("%s: uploading a canary version (%d changes)", wp.Name, len(wp.Changes))
		err := writes.do(ctx, "upload a version", func(ctx context.Context) (err error) {
			version, err = e.uploadVersion(ctx, p.AccountID, wp, fingerprint)
			return err
		})
		if err != nil {
			return fmt.Errorf("upload a version: %w", err)
		}
	}
	r.VersionID, r.KeyFingerprint = version, fingerprint
	key := e.smokeKeyFor(wp, opts)
	smoke := !opts.SkipSmoke && d.worker.Smoke != nil && smokeHost(d.worker, p.subdomain) != ""
	if c.Percent >= 100 {
		return e.promoteCanary(ctx, p, wp, writes, version, key, smoke, opts, r)
	}
	shares := c.shares(version)
	if stopped(opts) {
		return fmt.Errorf("uploaded version %s, then %w (not deployed)", version, ErrInterrupted)
	}
	before := writes.read
	if !slices.Equal(before.splitShares, shares) { // else the split is there: only its test is due
		what := fmt.Sprintf("deploy version %s at %s beside %s", version, percentText(c.Percent), c.Stable)
		err = writes.do(ctx, what, func(ctx context.Context) error {
			return e.deployShares(ctx, p.AccountID, wp.Name, shares, "flareform canary", false)
		})
		if err != nil {
			return e.undoCanaryRecreate(ctx, p.AccountID, wp.Name, err)
		}
		if err := e.checkDeployedAfter(ctx, p.AccountID, guardedWrite{name: wp.Name, what: what, read: before, shares: shares}); err != nil {
			r.VersionID = ""
			return err
		}
		writes.read = workerRead{exists: true, versions: versionIDs(shares), splitShares: shares}
	}
	if err := e.applyAttached(ctx, p, wp, opts, writes); err != nil {
		return err
	}
	if smoke {
		report := e.smokeWorker(withVersionOverride(ctx, wp.Name, version), d.worker, p.subdomain, key, opts.SmokeOut)
		r.Smoke = &report
		if !report.Passed {
			back := before.shares()
			if slices.Equal(back, shares) { // the split was there before this run: the stable version alone
				back = []DeploymentShare{{VersionID: c.Stable, Percentage: 100}}
			}
			return e.withdrawCanary(ctx, p.AccountID, wp.Name, writes.read, back, fmt.Errorf("smoke of canary %s: %s", version, report.Error))
		}
		if err := e.markTested(ctx, writes, uploadTagSet(d, fingerprint), version); err != nil {
			return fmt.Errorf("canary passed its smoke test, but marking version %s tested failed: %w", version, err)
		}
	}
	return writes.checkStillRead(ctx)
}

// undoCanaryRecreate follows a failed split deployment. When the script now has no deployment
// at all, another run deleted it after this run's check and the version upload created it
// anew (the local Cloudflare's reading; Cloudflare may refuse such an upload instead): the
// script is deleted again, a guarded write on what was just read, so that run's "gone" stays
// true.
func (e *Engine) undoCanaryRecreate(ctx context.Context, accountID, name string, failure error) error {
	now, err := e.readWorker(ctx, accountID, name)
	if err != nil || !now.exists || now.deployment != "" || len(now.versions) > 0 {
		return failure
	}
	what := "another run deleted the script between this run's check and its version upload, which created it anew"
	err = e.guard(ctx, accountID, guardedWrite{
		name: name, what: "delete the script this run created anew", read: now, readJustNow: true, effect: deletesScript,
		write: func(ctx context.Context) error { return e.deleteScript(ctx, accountID, name) },
	})
	if err != nil {
		return changedError(name, fmt.Sprintf("%s; deleting it again failed: %v", what, err))
	}
	return changedError(name, what+"; it was deleted again, as the other run left it")
}

// promoteCanary deploys the canary version to all traffic after its smoke test passed
// through the version-override header: nothing is written when it fails.
func (e *Engine) promoteCanary(ctx context.Context, p *Plan, wp *WorkerPlan, writes *workerWrites, version, key string, smoke bool, opts ApplyOptions, r *WorkerResult) error {
	d := wp.desired
	if smoke {
		report := e.smokeWorker(withVersionOverride(ctx, wp.Name, version), d.worker, p.subdomain, key, opts.SmokeOut)
		r.Smoke = &report
		if !report.Passed {
			return fmt.Errorf("smoke of canary %s: %s; not promoted, the deployment is as it was", version, report.Error)
		}
		if err := e.markTested(ctx, writes, uploadTagSet(d, r.KeyFingerprint), version); err != nil {
			return fmt.Errorf("canary passed its smoke test, but marking version %s tested failed: %w", version, err)
		}
	}
	if stopped(opts) {
		return fmt.Errorf("smoke-tested, then %w (not promoted)", ErrInterrupted)
	}
	what := "promote canary " + version + " to 100%"
	err := writes.do(ctx, what, func(ctx context.Context) error {
		return e.deployShares(ctx, p.AccountID, wp.Name, []DeploymentShare{{VersionID: version, Percentage: 100}}, "flareform promote", false)
	})
	if err != nil {
		return err
	}
	if err := e.checkDeployedAfter(ctx, p.AccountID, guardedWrite{name: wp.Name, what: what, read: writes.read, deploys: version}); err != nil {
		return err
	}
	writes.read = workerRead{exists: true, served: version, versions: []string{version}}
	return e.applyAttached(ctx, p, wp, opts, writes)
}

// withdrawCanary makes back (the deployment this run replaced, or the stable version alone)
// serve again after its canary failed, as a guarded write on the canary's deployment (read).
func (e *Engine) withdrawCanary(ctx context.Context, accountID, name string, read workerRead, back []DeploymentShare, failure error) error {
	if back == nil {
		return fmt.Errorf("%w; not withdrawn: this run did not read a deployment to go back to", failure)
	}
	err := e.guard(ctx, accountID, guardedWrite{
		name: name, what: "withdraw the canary", read: read, shares: back,
		write: func(ctx context.Context) error {
			return e.deployShares(ctx, accountID, name, back, "flareform: withdraw a failed canary", true)
		},
	})
	if err != nil {
		return fmt.Errorf("%w; withdrawing it failed: %w", failure, err)
	}
	return fmt.Errorf("%w; withdrawn: %s serves", failure, sharesText(back))
}

// shares is the deployment r read, when it names one: a version at 100% or a split.
func (r workerRead) shares() []DeploymentShare {
	switch {
	case r.served != "":
		return []DeploymentShare{{VersionID: r.served, Percentage: 100}}
	default:
		return r.splitShares
	}
}

// errSecretsChanged marks the API's refusal to deploy an older version across a secret
// change (10220), which force overrides.
var errSecretsChanged = errors.New("the API refuses to go back across a secret change")

// deployShares makes a deployment of existing versions; force sends ?force=true.
func (e *Engine) deployShares(ctx context.Context, accountID, name string, shares []DeploymentShare, message string, force bool) error {
	err := e.api.Script(accountID, name).Deploy(ctx, toAPIShares(shares), message, force)
	switch {
	case err == nil:
		return nil
	case cfapi.IsSecretsChanged(err):
		return fmt.Errorf("deploy %s: %w: %w", sharesText(shares), errSecretsChanged, err)
	default:
		return fmt.Errorf("deploy %s: %w", sharesText(shares), err)
	}
}

// sharesText writes a deployment: "A at 90%, B at 10%".
func sharesText(shares []DeploymentShare) string {
	parts := make([]string, len(shares))
	for i, s := range shares {
		parts[i] = s.VersionID + " at " + percentText(s.Percentage)
	}
	return strings.Join(parts, ", ")
}

// uploadVersion uploads the worker's new version without deploying it (the canary). Its
// bindings are the upload's; the key is never sent (a canary does not change it) but kept
// from the previous version with keep_bindings, and its tags are written with the tested mark.
func (e *Engine) uploadVersion(ctx context.Context, accountID string, wp *WorkerPlan, fingerprint string) (string, error) {
	d := wp.desired
	meta := versionMetadata{
		MainModule:         d.bundle.ModuleName,
		CompatibilityDate:  d.worker.CompatibilityDate,
		CompatibilityFlags: d.worker.CompatibilityFlags,
		Bindings:           uploadBindings(d, ""),
		KeepBindings:       keepBindings(d),
		Annotations:        versionAnnotations{Message: e.identity(d, fingerprint, true).message()},
	}
	body, contentType, err := cfapi.EncodeMultipart("metadata", meta, bundleModules(d))
	if err != nil {
		return "", err
	}
	id, err := e.api.Script(accountID, wp.Name).UploadVersion(ctx, contentType, body)
	if err != nil {
		return "", withSourceLocations(err, d.bundle)
	}
	return canonicalUUID(id), nil
}
