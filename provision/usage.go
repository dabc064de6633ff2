package provision

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flareform/flareform/internal/textwait"
	"github.com/flareform/flareform/provision/cfapi"
	"github.com/flareform/flareform/provision/spec"
)

// What `flareform usage` reports: per worker and consumer, the requests the workers counted in
// Analytics Engine (dataset flareform_usage, written by the templates' src/lib/auth.js; layout
// in docs/consumers.md), and the account's Workers AI neurons today from the GraphQL Analytics
// API. Two reads made at once; nothing is written. The neuron read uses a dataset Cloudflare
// does not document (cloudflare-operations.md 4.2, UNCONFIRMED), so when it does not answer
// as expected the report says neurons are unknown, and why, instead of failing.

// UsageDataset is the Analytics Engine dataset the templates write one data point per request to.
const UsageDataset = "flareform_usage"

// Workers AI pricing (cloudflare-operations.md 4.1): the first FreeNeuronsPerDay neurons of a
// UTC day are free, the rest cost USDPerThousandNeurons per 1,000.
const (
	FreeNeuronsPerDay     = 10000
	USDPerThousandNeurons = 0.011
)

// The window `usage` may look back over: Analytics Engine keeps data points for three months
// (cloudflare-operations.md 3.2), so 90 days; a minute is the finest step the query takes.
const (
	MinUsageSince = time.Minute
	MaxUsageSince = 90 * 24 * time.Hour
)

// UsageReport is `flareform usage`: one entry per worker asked about, in the order asked (a
// worker with no data points has no consumers), and the account's neurons today.
type UsageReport struct {
	Since   time.Duration `json:"-"` // the window the counts cover, ending now
	Workers []WorkerUsage `json:"workers"`
	Neurons NeuronUsage   `json:"neurons"`
}

// WorkerUsage is one worker's counts per consumer: owner first, then by name.
type WorkerUsage struct {
	Worker    string          `json:"worker"`
	Consumers []ConsumerUsage `json:"consumers"`
}

// ConsumerUsage is one consumer's counts over the window. Requests counts every request,
// Unauthorized (status class 401) and RateLimited (429) included.
type ConsumerUsage struct {
	Consumer     string `json:"consumer"`
	Requests     int64  `json:"requests"`
	Unauthorized int64  `json:"unauthorized"`
	RateLimited  int64  `json:"rate_limited"`
	AICalls      int64  `json:"ai_calls"`
	Tokens       int64  `json:"tokens"`
}

// NeuronUsage is the account's Workers AI neurons since 00:00 UTC. Today is nil when they are
// unknown, and Unknown then says why in one line.
type NeuronUsage struct {
	Today     *float64 `json:"today"`
	FreeDaily int      `json:"free_daily"`
	Unknown   string   `json:"unknown,omitempty"`
}

// Excess is how many of today's neurons are beyond the free allocation (0 when unknown).
func (n NeuronUsage) Excess() float64 {
	if n.Today == nil {
		return 0
	}
	return max(0, *n.Today-float64(n.FreeDaily))
}

// NeuronCostUSD is what neurons beyond the free allocation cost: $0.011 per 1,000.
func NeuronCostUSD(excess float64) float64 {
	return max(0, excess) * USDPerThousandNeurons / 1000
}

// Usage reads the usage of the scripts workers (names already checked against the spec) over
// the last since, in the account accountID (the spec's account_id; "" for the configured one).
// Only the Analytics Engine read can fail the call; the neurons read is reported unknown.
func (e *Engine) Usage(ctx context.Context, accountID string, workers []string, since time.Duration) (*UsageReport, error) {
	if err := CheckUsageSince(since); err != nil {
		return nil, err
	}
	for _, w := range workers {
		if problem, _ := spec.CheckWorkerName(w); problem != "" {
			return nil, errors.New(problem)
		}
	}
	account, err := e.accountID(accountID)
	if err != nil {
		return nil, err
	}
	var rows []map[string]any
	var sqlErr error
	var neurons NeuronUsage
	parallel(
		func() { rows, sqlErr = e.api.SQL(ctx, account, usageQuery(since)) },
		func() { neurons = e.neuronsToday(ctx, account) },
	)
	if sqlErr != nil {
		return nil, fmt.Errorf("read usage from Analytics Engine (dataset %s): %w", UsageDataset, sqlErr)
	}
	perWorker, err := aggregateUsage(rows, workers)
	if err != nil {
		return nil, fmt.Errorf("read usage from Analytics Engine (dataset %s): %w", UsageDataset, err)
	}
	return &UsageReport{Since: since, Workers: perWorker, Neurons: neurons}, nil
}

// CheckUsageSince refuses a window Analytics Engine cannot answer for: shorter than a minute,
// longer than its 90 days of retention, or not whole minutes (the query's finest unit).
func CheckUsageSince(since time.Duration) error {
	switch {
	case since < MinUsageSince:
		return fmt.Errorf("--since %s: want at least 1m", since)
	case since > MaxUsageSince:
		return fmt.Errorf("--since %s: want at most 90d (Analytics Engine keeps data points for 3 months)", since)
	case since%time.Minute != 0:
		return fmt.Errorf("--since %s: want whole minutes", since)
	}
	return nil
}

// usageQuery is the one SQL query of Usage (docs/consumers.md). Every sum is weighted by
// _sample_interval: Analytics Engine may sample on write and on read, and a kept data point
// then stands for that many. Nothing from the user is in it: the window is a number this
// function writes, and the workers are picked from the rows (aggregateUsage), so no name is
// ever quoted into SQL.
func usageQuery(since time.Duration) string {
	n, unit := sqlInterval(since)
	return fmt.Sprintf(`SELECT blob1 AS worker, blob2 AS consumer, blob4 AS status_class,
       SUM(_sample_interval * double1) AS requests, SUM(_sample_interval * double2) AS ai_calls,
       SUM(_sample_interval * double3) AS tokens
FROM %s
WHERE timestamp > NOW() - INTERVAL '%d' %s
GROUP BY worker, consumer, status_class
FORMAT JSON`, UsageDataset, n, unit)
}

// sqlInterval writes since (whole minutes, CheckUsageSince) in the largest unit that divides
// it, as the SQL dialect's INTERVAL takes one number and one unit.
func sqlInterval(since time.Duration) (int64, string) {
	const day = 24 * time.Hour
	switch {
	case since%day == 0:
		return int64(since / day), "DAY"
	case since%time.Hour == 0:
		return int64(since / time.Hour), "HOUR"
	}
	return int64(since / time.Minute), "MINUTE"
}

// Status classes the data points carry in blob4 that the report counts apart.
const (
	statusUnauthorized = "401"
	statusRateLimited  = "429"
)

// aggregateUsage sums the query's rows (one per worker, consumer and status class) per
// worker and consumer, keeping only the workers asked for, in that order.
func aggregateUsage(rows []map[string]any, workers []string) ([]WorkerUsage, error) {
	byWorker := make(map[string]map[string]*ConsumerUsage, len(workers))
	for _, w := range workers {
		byWorker[w] = map[string]*ConsumerUsage{}
	}
	for i, row := range rows {
		consumers, ok := byWorker[rowString(row["worker"])]
		if !ok {
			continue // another worker writing to the dataset, or one not asked about
		}
		if err := addUsageRow(consumers, row); err != nil {
			return nil, fmt.Errorf("row %d: %w", i+1, err)
		}
	}
	out := make([]WorkerUsage, 0, len(workers))
	for _, w := range workers {
		out = append(out, WorkerUsage{Worker: w, Consumers: sortedConsumers(byWorker[w])})
	}
	return out, nil
}

// addUsageRow adds one row's weighted sums to its consumer's counts.
func addUsageRow(consumers map[string]*ConsumerUsage, row map[string]any) error {
	var sums [3]int64
	for i, col := range []string{"requests", "ai_calls", "tokens"} {
		v, err := rowCount(row[col])
		if err != nil {
			return fmt.Errorf("column %s: %w", col, err)
		}
		sums[i] = v
	}
	name := rowString(row["consumer"])
	c := consumers[name]
	if c == nil {
		c = &ConsumerUsage{Consumer: name}
		consumers[name] = c
	}
	c.Requests += sums[0]
	c.AICalls += sums[1]
	c.Tokens += sums[2]
	switch rowString(row["status_class"]) {
	case statusUnauthorized:
		c.Unauthorized += sums[0]
	case statusRateLimited:
		c.RateLimited += sums[0]
	}
	return nil
}

// sortedConsumers lists a worker's consumers, owner first, then by name.
func sortedConsumers(m map[string]*ConsumerUsage) []ConsumerUsage {
	out := make([]ConsumerUsage, 0, len(m))
	for _, c := range m {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b ConsumerUsage) int {
		if (a.Consumer == "owner") != (b.Consumer == "owner") {
			if a.Consumer == "owner" {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Consumer, b.Consumer)
	})
	return out
}

// rowString is a string column's value ("" when absent or not a string).
func rowString(v any) string {
	s, _ := v.(string)
	return s
}

// rowCount is a weighted sum as a whole number. The JSON output may write a number as a number
// or, for 64-bit integers, as a quoted string (ClickHouse's habit); a sum over sampled data
// points can come out fractional, and is rounded. Absent or null is 0.
func rowCount(v any) (int64, error) {
	var f float64
	switch x := v.(type) {
	case nil:
		return 0, nil
	case json.Number:
		g, err := x.Float64()
		if err != nil {
			return 0, fmt.Errorf("not a number: %q", x)
		}
		f = g
	case float64:
		f = x
	case string:
		g, err := strconv.ParseFloat(x, 64)
		if err != nil {
			return 0, fmt.Errorf("not a number: %q", x)
		}
		f = g
	default:
		return 0, fmt.Errorf("not a number: %v", v)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > math.MaxInt64/2 {
		return 0, fmt.Errorf("out of range: %v", f)
	}
	return int64(math.Round(f)), nil
}

// neuronsQuery asks for the account's neurons of one UTC date, summed over every model
// (cloudflare-operations.md 4.2). No dimensions: one group for the whole day.
const neuronsQuery = `query($a: String!, $d: Date!) { viewer { accounts(filter: {accountTag: $a}) {
  aiInferenceAdaptiveGroups(limit: 10000, filter: {date: $d}) { sum { totalNeurons } } } } }`

// neuronsToday reads the account's neurons since 00:00 UTC (when the free allocation resets).
// Any failure makes them unknown, with the reason, never an error: the dataset is
// undocumented and the usage counts are worth showing without it.
func (e *Engine) neuronsToday(ctx context.Context, accountID string) NeuronUsage {
	n := NeuronUsage{FreeDaily: FreeNeuronsPerDay}
	today := e.cfg.Now().UTC().Format(time.DateOnly)
	data, err := e.api.GraphQL(ctx, neuronsQuery, map[string]any{"a": accountID, "d": today})
	if err != nil {
		n.Unknown = neuronsFailure(err)
		return n
	}
	total, why := sumNeurons(data, accountID)
	if why != "" {
		n.Unknown = why
		return n
	}
	n.Today = &total
	return n
}

// neuronsFailure says in one line why the GraphQL read failed.
func neuronsFailure(err error) string {
	var gqlErr *cfapi.GraphQLError
	if errors.As(err, &gqlErr) {
		return oneLineReason("the GraphQL API answered with errors: " + strings.Join(gqlErr.Messages, "; "))
	}
	return oneLineReason("the GraphQL API failed: " + err.Error())
}

// sumNeurons adds up the day's groups of the GraphQL answer; why is not "" when the answer
// does not have the shape asked for (no such account, dataset or field).
func sumNeurons(data json.RawMessage, accountID string) (total float64, why string) {
	var answer struct {
		Viewer *struct {
			Accounts []struct {
				Groups *[]struct {
					Sum *struct {
						TotalNeurons *float64 `json:"totalNeurons"`
					} `json:"sum"`
				} `json:"aiInferenceAdaptiveGroups"`
			} `json:"accounts"`
		} `json:"viewer"`
	}
	if err := json.Unmarshal(data, &answer); err != nil {
		return 0, oneLineReason("the GraphQL answer is not the shape asked for: " + err.Error())
	}
	if answer.Viewer == nil || len(answer.Viewer.Accounts) == 0 {
		return 0, "the GraphQL API returned no data for account " + accountID
	}
	groups := answer.Viewer.Accounts[0].Groups
	if groups == nil {
		return 0, "the GraphQL API returned no aiInferenceAdaptiveGroups"
	}
	for _, g := range *groups {
		if g.Sum == nil || g.Sum.TotalNeurons == nil {
			return 0, "the GraphQL API returned aiInferenceAdaptiveGroups without sum.totalNeurons"
		}
		total += *g.Sum.TotalNeurons
	}
	return total, ""
}

// oneLineReason keeps an API's words to one printable line of bounded length.
func oneLineReason(s string) string {
	return textwait.Snippet([]byte(s), 200)
}
