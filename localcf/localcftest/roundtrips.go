package localcftest

import (
	"slices"
	"strings"
	"time"

	"github.com/flareform/flareform/localcf"
)

// RoundTrips is the longest chain of API calls in recs in which each starts after the one
// before it ended: what a client waits for in latency, however many calls run alongside.
func RoundTrips(recs []localcf.RequestRecord) int {
	type span struct{ start, end time.Time }
	var spans []span
	for _, r := range recs {
		if strings.Contains(r.Path, "/client/v4/") {
			spans = append(spans, span{r.Time, r.Time.Add(time.Duration(r.DurationMS * float64(time.Millisecond)))})
		}
	}
	slices.SortFunc(spans, func(a, b span) int { return a.start.Compare(b.start) })
	depth := make([]int, len(spans))
	longest := 0
	for i, s := range spans {
		depth[i] = 1
		for j := range i {
			if !spans[j].end.After(s.start) {
				depth[i] = max(depth[i], depth[j]+1)
			}
		}
		longest = max(longest, depth[i])
	}
	return longest
}
