package localcf

// getQueueConsumers answers GET /workers/scripts/{script}/queue-consumers, which Alchemy reads
// before it deletes a worker (and treats 404 as "none"). localcf has no Queues, so an existing
// script has no consumers; a missing one is 10007 like every per-script read.
func (s *Server) getQueueConsumers(c *call) *apiError {
	s.mu.RLock()
	_, apiErr := s.lookupScript(c.accountID, c.param("script"))
	s.mu.RUnlock()
	if apiErr != nil {
		return apiErr
	}
	writeResult(c.w, []any{})
	return nil
}
