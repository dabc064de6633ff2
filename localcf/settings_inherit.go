package localcf

// scriptVersion finds one version of a script by id, for an inherit binding with version_id in
// a settings PATCH (key rotation pins the version it copies API_KEY from, so a retried PATCH
// cannot copy the new key onto API_KEY_PREVIOUS). nil when either is unknown. The caller holds
// opMu.
func (s *Server) scriptVersion(accountID, name, id string) *version {
	acct := s.st.Accounts[accountID]
	if acct == nil {
		return nil
	}
	sc := acct.Scripts[name]
	if sc == nil {
		return nil
	}
	return sc.version(id)
}
