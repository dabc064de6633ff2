package ai

import (
	"fmt"
	"net/url"
	"strconv"
)

// ParseSearchQuery reads the ai/models/search query parameters (search, task,
// author, source, hide_experimental, page, per_page) so the REST layer and
// Handler parse them the same way.
func ParseSearchQuery(v url.Values) (SearchQuery, error) {
	q := SearchQuery{Search: v.Get("search"), Task: v.Get("task"), Author: v.Get("author")}
	var err error
	if q.Source, err = intParam(v, "source"); err != nil {
		return SearchQuery{}, err
	}
	if q.Page, err = intParam(v, "page"); err != nil {
		return SearchQuery{}, err
	}
	if q.PerPage, err = intParam(v, "per_page"); err != nil {
		return SearchQuery{}, err
	}
	if raw := v.Get("hide_experimental"); raw != "" {
		if q.HideExperimental, err = strconv.ParseBool(raw); err != nil {
			return SearchQuery{}, fmt.Errorf("hide_experimental: %q is not a boolean", raw)
		}
	}
	return q, nil
}

func intParam(v url.Values, name string) (int, error) {
	raw := v.Get(name)
	if raw == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s: %q is not a non-negative integer", name, raw)
	}
	return n, nil
}
