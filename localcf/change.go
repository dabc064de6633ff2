package localcf

import (
	"context"

	"github.com/flareform/flareform/localcf/workerd"
)

// startedChange is a state change that needs a new workerd process: every code upload, content
// PUT, secret and settings edit and deployment. Starting workerd takes tens of milliseconds
// (seconds for a worker with heavy top-level code), so no global lock is held while it runs:
// other scripts' changes, every read and the data plane go on meanwhile.
//
// The change is prepared under opMu, started without any lock, and committed under opMu only
// if the script's revision is still the one it was prepared on. Otherwise it is prepared again
// on the new state, as if it had arrived after the change that won, so two overlapping changes
// of one script both apply in commit order and neither is lost. A retry happens only because
// another change of the same script committed meanwhile.
type startedChange struct {
	// revision identifies the part of the script's state the change builds on. Caller holds opMu.
	revision func() string
	// prepare builds (or picks) the version to start. Called under opMu.
	prepare func() (*version, *apiError)
	// start runs the prepared version in workerd. No lock is held.
	start func(ctx context.Context, v *version) (*workerd.Process, *apiError)
	// commit records the change; proc is its started process. Called under opMu.
	commit func(v *version, proc *workerd.Process) *apiError
}

func (s *Server) applyStartedChange(ctx context.Context, ch startedChange) *apiError {
	for {
		s.opMu.Lock()
		base := ch.revision()
		v, apiErr := ch.prepare()
		s.opMu.Unlock()
		if apiErr != nil {
			return apiErr
		}
		proc, apiErr := ch.start(ctx, v)
		if apiErr != nil {
			return apiErr
		}
		s.opMu.Lock()
		if ch.revision() != base {
			s.opMu.Unlock()
			proc.Close()
			continue // another change of this script committed meanwhile; build on top of it
		}
		apiErr = ch.commit(v, proc)
		s.opMu.Unlock()
		return apiErr
	}
}

// startNew is the start step of changes that make a new version: the start-up check, whose
// time is recorded on the (still uncommitted) version.
func (s *Server) startNew(accountID, name string) func(context.Context, *version) (*workerd.Process, *apiError) {
	return func(ctx context.Context, v *version) (*workerd.Process, *apiError) {
		return s.checkStartup(ctx, liveKey{accountID, name}, v)
	}
}

// existingScript is the script or nil; the caller holds opMu or mu.
func (s *Server) existingScript(accountID, name string) *script {
	a := s.st.Accounts[accountID]
	if a == nil {
		return nil
	}
	return a.Scripts[name]
}

// latestVersionID is the revision code uploads and content PUTs build on: the script's newest
// version (its bindings and code), "" when the script does not exist. The caller holds opMu.
func (s *Server) latestVersionID(accountID, name string) string {
	if sc := s.existingScript(accountID, name); sc != nil {
		if v := sc.latestVersion(); v != nil {
			return v.ID
		}
	}
	return ""
}

// editRevision is the revision secret and settings edits build on: the newest version and the
// active deployment, which decides whether the edit is allowed at all (10215). The caller
// holds opMu.
func (s *Server) editRevision(accountID, name string) string {
	rev := s.latestVersionID(accountID, name)
	if sc := s.existingScript(accountID, name); sc != nil {
		if d := sc.activeDeployment(); d != nil {
			rev += "/" + d.ID
		}
	}
	return rev
}

// scriptIdentity is the revision a deployment builds on: only that the script (whose versions
// never change once committed) is still the same one, not deleted or deleted and re-created.
// Deployments are absolute, so overlapping ones apply in commit order. The caller holds opMu.
func (s *Server) scriptIdentity(accountID, name string) string {
	if sc := s.existingScript(accountID, name); sc != nil {
		return sc.Tag
	}
	return ""
}
