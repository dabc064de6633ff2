package provision

// Read-only accessors for renderers of a plan (cmd/flareform/view). A plan is data: what a
// renderer needs beyond the exported fields is exposed here, and no text is made here.

// ChangesKeyDuringRotation reports whether the plan changes the worker's env/file key while the
// live worker still holds the previous key of an earlier rotation (API_KEY_PREVIOUS). Inside
// that rotation's window (PendingRotation, not yet RotationExpired) apply refuses the change
// with ErrRotationInProgress, as it would cut the previous key's window; the rotation must be
// finished first (rotate-key --finish).
func (wp WorkerPlan) ChangesKeyDuringRotation() bool {
	return wp.desired != nil && wp.desired.rotateFrom != "" && wp.live != nil && wp.live.previousKey
}
