package templates

import (
	"sort"
	"strconv"

	"github.com/bulkhead-dev/bulkhead/app/insight"
)

// usageSummary is the headline numbers of a usage page.
type usageSummary struct {
	Requests, PerDay     float64
	Errors4xx, Errors5xx float64
	ErrorRate            string
	HasLatency           bool
	P50, P95             float64
}

func summarize(u *insight.Usage) usageSummary {
	var s usageSummary
	for _, se := range u.PerDay {
		t := se.Total()
		s.Requests += t
		switch se.Name {
		case "4xx":
			s.Errors4xx += t
		case "5xx":
			s.Errors5xx += t
		}
	}
	if u.Days > 0 {
		s.PerDay = float64(int64(s.Requests / float64(u.Days)))
	}
	s.ErrorRate = "0%"
	if s.Requests > 0 {
		s.ErrorRate = strconv.FormatFloat((s.Errors4xx+s.Errors5xx)*100/s.Requests, 'f', 1, 64) + "%"
	}
	if n := len(u.LatencyP50.Points); n > 0 {
		s.HasLatency = true
		s.P50 = u.LatencyP50.Points[n-1].Value
		if m := len(u.LatencyP95.Points); m > 0 {
			s.P95 = u.LatencyP95.Points[m-1].Value
		}
	}
	return s
}

func named(s insight.Series, name string) insight.Series {
	s.Name = name
	return s
}

type operationRow struct {
	Operation          string
	OK, Client, Server int64
	Share              int
}

// operationRows pivots counts by operation and status into one row per
// operation, busiest first, with its share of the busiest.
func operationRows(ops []insight.OperationCount) []operationRow {
	by := map[string]*operationRow{}
	var rows []*operationRow
	for _, o := range ops {
		r := by[o.Operation]
		if r == nil {
			r = &operationRow{Operation: o.Operation}
			by[o.Operation] = r
			rows = append(rows, r)
		}
		switch o.Status {
		case "2xx":
			r.OK += o.Count
		case "4xx":
			r.Client += o.Count
		default:
			r.Server += o.Count
		}
	}
	total := func(r *operationRow) int64 { return r.OK + r.Client + r.Server }
	sort.SliceStable(rows, func(i, j int) bool { return total(rows[i]) > total(rows[j]) })
	out := make([]operationRow, len(rows))
	for i, r := range rows {
		if top := total(rows[0]); top > 0 {
			r.Share = int(total(r) * 100 / top)
		}
		out[i] = *r
	}
	return out
}
