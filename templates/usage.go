package templates

import (
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bulkhead-dev/bulkhead/app/insight"
)

// usageSummary is the headline numbers of a usage page.
type usageSummary struct {
	Requests             float64
	PerDay               string // the average, in words: "0.4 a day on average"
	Errors4xx, Errors5xx float64
	ErrorRate            string
	HasLatency           bool
	P50, P95             float64
	LastHour             int64 // requests in the current and the previous clock hour
}

// summarize adds up a usage page's headline numbers. The average a day is
// over the days the tenant existed in the period, so a tenant created
// yesterday is not averaged over 30 days.
func summarize(u *insight.Usage, created time.Time) usageSummary {
	var s usageSummary
	days := 0
	for _, se := range u.PerDay {
		t := se.Total()
		s.Requests += t
		switch se.Name {
		case "4xx":
			s.Errors4xx += t
		case "5xx":
			s.Errors5xx += t
		}
		n := 0
		for _, p := range se.Points {
			if !p.At.Before(created.UTC().Truncate(24 * time.Hour)) {
				n++
			}
		}
		days = max(days, n)
	}
	if days == 0 {
		days = max(u.Days, 1)
	}
	s.PerDay = perDay(s.Requests / float64(days))
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
	for _, se := range u.PerHour {
		for _, p := range se.Points[max(0, len(se.Points)-2):] {
			s.LastHour += int64(p.Value)
		}
	}
	return s
}

// perDay writes an average a day so that a few requests do not read as
// none: "0.4 a day", "12 a day", "1.2k a day".
func perDay(avg float64) string {
	switch {
	case avg == 0:
		return "none a day on average"
	case avg < 0.1:
		return "under 0.1 a day on average"
	case avg < 10:
		return strings.TrimSuffix(strconv.FormatFloat(avg, 'f', 1, 64), ".0") + " a day on average"
	}
	return shortNum(math.Round(avg)) + " a day on average"
}

// judgement says whether the last hour had requests enough for the health
// checks to judge its error rate, and if not, how far it is from that.
func judgement(s usageSummary) string {
	if s.LastHour >= insight.MinHourRequests {
		return ""
	}
	return "Too few requests to judge the error rate (" + Num(s.LastHour) + " of at least " + Num(int64(insight.MinHourRequests)) + " in the last hour)"
}

// notRecorded is the note beside a number the usage page cannot show.
func notRecorded(u *insight.Usage) string {
	if u.Metered {
		return "No requests yet"
	}
	return "Not recorded yet"
}

// dayAxis is the days of the requests chart and of the daily counts of
// users and groups, for the charts drawn beside it: a day without requests,
// such as today before its first, keeps its count.
func dayAxis(u *insight.Usage) []time.Time {
	return buckets(append(slices.Clip(u.PerDay), u.Users, u.Groups))
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
