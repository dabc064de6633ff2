package provision

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/flareform/flareform/provision/cfapi"
)

// Overlapping rotations (docs/guarantees.md, "Overlap"). A rotation reads the worker, then
// deploys its change one round trip later (more when the request is slow or retried). Another
// run (a second rotate-key from another checkout, an apply) can deploy and verify in that gap,
// hand its key over and exit 0; this rotation's change then replaces that version, and the key
// the other run handed over stops working. Before it hands its own key over, a rotation
// therefore checks the deployment history: its deployments must directly follow the one it
// read. When another version was deployed in between, the rotation puts that version back (as
// a new version that copies every binding of it, so the worker's latest version stays the
// deployed one and later secret edits are not refused) and stops with ErrChanged; its own key
// stays pending in the key store and was never handed over.

// checkNothingBetween is that check; a no-op until this run has deployed something.
func (r *rotation) checkNothingBetween(ctx context.Context) error {
	st := r.st
	if st.deploys == 0 || !st.served.Identified {
		return nil // without flareform's annotation this run cannot tell its own versions
	}
	history, err := r.e.deploymentHistory(ctx, st.accountID, st.name)
	if err != nil {
		return fmt.Errorf("check the deployments: %w", err)
	}
	if len(history) == 0 {
		return changedError(st.name, "no version serves")
	}
	if own, err := r.ownVersion(ctx, history[0].served); err != nil || !own {
		if err != nil {
			return fmt.Errorf("check the deployed version: %w", err)
		}
		return changedError(st.name, fmt.Sprintf("version %s serves, not the one this run deployed", orNone(history[0].served)))
	}
	earlier := slices.DeleteFunc(slices.Clone(history[1:]), func(d pastDeployment) bool {
		return slices.Contains(st.secretEdits, d.served)
	})
	other, split, gone, err := r.e.otherDeployedBetween(ctx, st.accountID, st.name, earlier, r.readVersion, true)
	switch {
	case err != nil:
		return fmt.Errorf("check the deployments before this run's: %w", err)
	case gone:
		return changedError(st.name, "the version this run read is gone from the deployments: another run deleted the script meanwhile")
	case split != nil:
		return r.e.putSplitBack(ctx, st.accountID, st.name, split, "change")
	case other == "":
		return nil
	}
	if err := r.restoreVersion(ctx, other); err != nil {
		return changedError(st.name, fmt.Sprintf("version %s was deployed between this run's read and its change, and putting it back failed: %v", other, err))
	}
	return changedError(st.name, fmt.Sprintf("version %s was deployed between this run's read and its change; it serves again", other))
}

// ownVersion reports whether versionID is this run's: annotated with its run id, or one of its
// secret edits.
func (r *rotation) ownVersion(ctx context.Context, versionID string) (bool, error) {
	if slices.Contains(r.st.secretEdits, versionID) {
		return true, nil
	}
	return r.e.isOwnVersion(ctx, r.st.accountID, r.st.name, versionID)
}

// restoreVersion deploys a new version that copies every binding of versionID (secrets too,
// by inherit bindings pinned to it) and its annotation, so the worker is again what that
// version's run verified. Bindings of the current version that versionID lacks are dropped
// (the rotation's API_KEY_PREVIOUS by a secret deletion, its expiry closed).
func (r *rotation) restoreVersion(ctx context.Context, versionID string) error {
	st := r.st
	raw, err := r.e.api.Script(st.accountID, st.name).Version(ctx, versionID)
	if err != nil {
		return fmt.Errorf("read version %s: %w", versionID, err)
	}
	names := versionBindingNames(raw)
	message := versionMessage(raw)
	bindings := make([]metadataBinding, 0, len(names))
	for _, name := range names {
		// Under its own name: no old_name, whose handling of secrets is UNCONFIRMED.
		b := inheritBinding(name)
		b.VersionID = versionID
		bindings = append(bindings, b)
	}
	// A settings PATCH keeps the secrets it does not list, and may keep plain bindings too
	// (UNCONFIRMED, see rotate_expiry.go). So this run's own API_KEY_PREVIOUS would survive on
	// the restored version although the version put back has none: a rotation in progress to
	// every later run (which then refuses to rotate), and after a revoke by the other run, its
	// refused key accepted again. The expiry is closed in this PATCH, the secret deleted after it.
	leftoverPrevious := st.hasPrevious && !slices.Contains(names, RotationPreviousBinding)
	if st.hasExpires && !slices.Contains(names, RotationExpiresBinding) {
		bindings = append(bindings, plainTextBinding(RotationExpiresBinding, inertExpiry))
	}
	keyFP, prevFP := "", ""
	if id, ok := parseIdentity(message); ok {
		keyFP = id.Keys[RotationKeyBinding]
	}
	if slices.Contains(names, RotationPreviousBinding) {
		prevFP = r.readKeyFP // the key both runs read is the one the other run retired
	}
	body, contentType, err := cfapi.EncodeMultipart("settings", scriptSettings{
		Bindings:    bindings,
		Tags:        rotationTags(st.tags, keyFP, prevFP, ""),
		Annotations: versionAnnotations{Message: message},
	}, nil)
	if err != nil {
		return err
	}
	r.e.logf("%s: another run deployed version %s while this run deployed its change; putting it back", st.name, versionID)
	// The overlap check just read what serves (this run's version): the precondition. The
	// caller fails the run either way; the next run reads what this write left.
	err = r.e.rotationWrites(st).do(ctx, "put back version "+versionID, func(ctx context.Context) error {
		return r.e.editSettings(ctx, st.accountID, st.name, contentType, body)
	})
	if err != nil {
		return err
	}
	if leftoverPrevious {
		if err := r.e.deleteSecret(ctx, st, RotationPreviousBinding, true); err != nil {
			return fmt.Errorf("remove the previous key this run added, which the version put back does not have: %w", err)
		}
		st.hasPrevious = false
	}
	return nil
}

// versionBindingNames reads the binding names of a version (GET .../versions/{id}).
func versionBindingNames(raw string) []string {
	var v struct {
		Resources struct {
			Bindings []struct {
				Name string `json:"name"`
			} `json:"bindings"`
		} `json:"resources"`
	}
	if json.Unmarshal([]byte(raw), &v) != nil {
		return nil
	}
	var names []string
	for _, b := range v.Resources.Bindings {
		names = append(names, b.Name)
	}
	return names
}
