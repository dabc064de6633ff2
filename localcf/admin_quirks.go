package localcf

import (
	"encoding/json"
	"io"
	"net/http"
)

// quirksDoc is the body of /__localcf/quirks: the switches that are on, and (in answers) every
// switch with both of its readings.
type quirksDoc struct {
	Quirks    []string          `json:"quirks"`
	Available []quirkReadingDoc `json:"available,omitempty"`
}

type quirkReadingDoc struct {
	Name   string `json:"name"`
	Strict string `json:"strict"` // the default reading
	Other  string `json:"other"`  // the reading the switch selects
}

// serveAdminQuirks: GET shows the readings in force, PUT {"quirks":[names]} replaces them,
// DELETE goes back to all strict.
func (s *Server) serveAdminQuirks(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodPut:
		var doc quirksDoc
		body, err := io.ReadAll(io.LimitReader(r.Body, maxMetadataBytes))
		if err == nil {
			err = json.Unmarshal(body, &doc)
		}
		if err != nil {
			adminError(w, http.StatusBadRequest, "body must be {\"quirks\":[\"name\",...]}: "+err.Error())
			return
		}
		q, err := QuirksFromNames(doc.Quirks)
		if err != nil {
			adminError(w, http.StatusBadRequest, err.Error())
			return
		}
		s.SetQuirks(q)
	case http.MethodDelete:
		s.SetQuirks(Quirks{})
	default:
		adminError(w, http.StatusMethodNotAllowed, "use GET, PUT or DELETE")
		return
	}
	doc := quirksDoc{Quirks: s.Quirks().Names()}
	for _, sw := range quirkSwitches {
		doc.Available = append(doc.Available, quirkReadingDoc{Name: sw.Name, Strict: sw.Strict, Other: sw.Other})
	}
	writeJSON(w, http.StatusOK, doc)
}
