package localcf

import (
	"errors"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/flareform/flareform/localcf/ai"
)

// runAI is Workers AI over REST: raw bytes for images (Content-Type from the model), the
// envelope {result} for JSON outputs, raw SSE for streams.
func (s *Server) runAI(c *call) *apiError {
	body, err := io.ReadAll(io.LimitReader(c.r.Body, ai.MaxInputBytes+1))
	if err != nil {
		return newAPIError(http.StatusBadRequest, ai.CodeMissingBody, "Could not read the request body.")
	}
	out, err := s.ai.RunRequest(c.r.Context(), c.param("model"), c.r.Header.Get("Content-Type"), body)
	if err != nil {
		var aiErr *ai.Error
		if errors.As(err, &aiErr) {
			return newAPIError(aiErr.Status, aiErr.Code, "%s", aiErr.Message)
		}
		return errInternal(err)
	}
	s.recordNeurons(c.accountID, c.param("model"), out.Usage)
	if out.JSON != nil {
		writeResult(c.w, out.JSON)
		return nil
	}
	c.w.Header().Set("Content-Type", out.ContentType)
	c.w.Header().Set("Content-Length", strconv.Itoa(len(out.Body)))
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write(out.Body)
	return nil
}

func (s *Server) searchModels(c *call) *apiError {
	q, err := ai.ParseSearchQuery(c.r.URL.Query())
	if err != nil {
		return newAPIError(http.StatusBadRequest, 7400, "%v", err)
	}
	models, total := s.ai.SearchPage(q)
	page, perPage := q.Page, q.PerPage
	if page < 1 {
		page = 1
	}
	if perPage < 1 {
		perPage = ai.DefaultPerPage
	}
	if models == nil {
		models = []ai.Model{}
	}
	writeResultInfo(c.w, models, pageInfo{Page: page, PerPage: perPage, Count: len(models), TotalCount: total,
		TotalPages: int(math.Ceil(float64(total) / float64(perPage)))})
	return nil
}

// modelSchema: GET ai/models/schema?model=<name> -> the model's published {input, output}
// JSON schemas (the ones the local Workers AI validates inputs against).
func (s *Server) modelSchema(c *call) *apiError {
	name := c.r.URL.Query().Get("model")
	schema, ok := s.ai.Schema(name)
	if !ok {
		return newAPIError(http.StatusBadRequest, ai.CodeNoSuchModel, "No such model %s or task", name)
	}
	writeResult(c.w, schema)
	return nil
}

func (s *Server) searchTasks(c *call) *apiError {
	seen := map[string]ai.Task{}
	for _, m := range s.ai.Models() {
		seen[m.Task.ID] = m.Task
	}
	tasks := make([]ai.Task, 0, len(seen))
	for _, t := range seen {
		tasks = append(tasks, t)
	}
	sort.Slice(tasks, func(i, j int) bool { return tasks[i].Name < tasks[j].Name })
	writeResult(c.w, tasks)
	return nil
}

func (s *Server) searchAuthors(c *call) *apiError {
	seen := map[string]bool{}
	authors := []map[string]string{}
	for _, m := range s.ai.Models() {
		parts := strings.Split(m.Name, "/") // @cf/<author>/<model>
		if len(parts) >= 3 && !seen[parts[1]] {
			seen[parts[1]] = true
			authors = append(authors, map[string]string{"name": parts[1]})
		}
	}
	writeResult(c.w, authors)
	return nil
}
