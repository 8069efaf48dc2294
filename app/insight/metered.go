package insight

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/bulkhead-dev/bulkhead/app/health"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
	"github.com/bulkhead-dev/bulkhead/app/usage"
)

// Metered is the console's data with usage metering on: Basic's counts,
// storage and badges, plus the request numbers of the usage roll-ups
// (control.usage_hourly and usage_daily, written by usage.Meter) and the
// checks of package health.
type Metered struct {
	*Basic
	Checker *health.Checker
}

// NewMetered returns a Metered over the tenants' database.
func NewMetered(tenants *tenant.Service) *Metered {
	return &Metered{Basic: NewBasic(tenants), Checker: health.NewChecker(tenants)}
}

// Status classes of the request series. Informational and redirect
// statuses (SCIM has none in practice; a 304 at most) count as 2xx: they are
// not errors, and the charts draw three classes.
var statusClasses = []string{"2xx", "4xx", "5xx"}

func statusClass(status int) string {
	switch {
	case status >= 500:
		return "5xx"
	case status >= 400:
		return "4xx"
	}
	return "2xx"
}

// TenantStats adds to Basic's stats the requests of the last 24 hours and
// the last activity, read for all of ts in one query. The last activity is
// the later of the last successful write and the start of the latest hour
// with any request: reads are rolled up by the hour, so it may be up to an
// hour early when the tenant only read since its last write.
func (m *Metered) TenantStats(ctx context.Context, ts []*tenant.Tenant) (map[string]TenantStats, error) {
	out, err := m.Basic.TenantStats(ctx, ts)
	if err != nil {
		return nil, err
	}
	if err := m.addRequests(ctx, out, ts); err != nil {
		return nil, err
	}
	return out, nil
}

func (m *Metered) addRequests(ctx context.Context, out map[string]TenantStats, ts []*tenant.Tenant) error {
	ids := make([]string, len(ts))
	for i, t := range ts {
		ids[i] = t.ID
	}
	const q = `
		SELECT t.id, COALESCE(r.requests, 0), GREATEST(w.at, r.last_hour)
		FROM unnest($1::text[]) AS t(id)
		LEFT JOIN (
			SELECT tenant_id, sum(requests)::bigint AS requests, max(hour) AS last_hour
			FROM control.usage_hourly
			WHERE tenant_id = ANY($1) AND hour > now() - interval '24 hours'
			GROUP BY tenant_id
		) r ON r.tenant_id = t.id
		LEFT JOIN control.usage_last_write w ON w.tenant_id = t.id`
	rows, err := m.DB.QueryContext(ctx, q, pq.Array(ids))
	if err != nil {
		return fmt.Errorf("find requests of %d tenants: %w", len(ids), store.Unavailable(err))
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var n int64
		var last *time.Time
		if err := rows.Scan(&id, &n, &last); err != nil {
			return fmt.Errorf("find requests of %d tenants: %w", len(ids), err)
		}
		st := out[id]
		st.Requests24h, st.LastActivity = &n, last
		out[id] = st
	}
	return rows.Err()
}

// perHourWindow is how far back the per-hour series of TenantUsage goes.
const perHourWindow = 48 * time.Hour

// TenantUsage returns the tenant's counts and storage today and its
// requests over the last days days: per hour (the last 48 hours) and per
// day by status class, by operation, and the median and p95 latency of each
// day from the summed latency histograms. Recorded is true once any
// roll-up of the tenant exists.
//
// Users and groups have no history table: their series hold today's count
// only, and the console says so.
func (m *Metered) TenantUsage(ctx context.Context, t *tenant.Tenant, days int) (*Usage, error) {
	u, err := m.Basic.TenantUsage(ctx, t, days)
	if err != nil {
		return nil, err
	}
	stats := map[string]TenantStats{t.ID: u.Stats}
	if err := m.addRequests(ctx, stats, []*tenant.Tenant{t}); err != nil {
		return nil, err
	}
	u.Stats = stats[t.ID]

	const recorded = `SELECT EXISTS (SELECT 1 FROM control.usage_hourly WHERE tenant_id = $1)
		OR EXISTS (SELECT 1 FROM control.usage_daily WHERE tenant_id = $1)`
	if err := m.DB.GetContext(ctx, &u.Recorded, recorded, t.ID); err != nil {
		return nil, fmt.Errorf("find usage of %q: %w", t.ID, store.Unavailable(err))
	}
	u.Metered = true
	if !u.Recorded {
		return u, nil
	}

	now := time.Now().UTC()
	today := now.Truncate(24 * time.Hour)
	since := today.AddDate(0, 0, -(max(days, 1) - 1))
	hourSince := now.Truncate(time.Hour).Add(-perHourWindow + time.Hour)

	// Hours older than the retention live in usage_daily, a row per UTC day.
	const counts = `
		SELECT hour AS at, false AS daily, resource, operation, status, sum(requests)::bigint
		FROM control.usage_hourly WHERE tenant_id = $1 AND hour >= $2
		GROUP BY hour, resource, operation, status
		UNION ALL
		SELECT day::timestamp AT TIME ZONE 'UTC', true, resource, operation, status, sum(requests)::bigint
		FROM control.usage_daily WHERE tenant_id = $1 AND day >= ($2::timestamptz AT TIME ZONE 'UTC')::date
		GROUP BY day, resource, operation, status`
	rows, err := m.DB.QueryContext(ctx, counts, t.ID, since)
	if err != nil {
		return nil, fmt.Errorf("find usage of %q: %w", t.ID, store.Unavailable(err))
	}
	perHour := newClassSeries(hourSince, now, time.Hour)
	perDay := newClassSeries(since, now, 24*time.Hour)
	type opKey struct{ op, class string }
	ops := map[opKey]int64{}
	for rows.Next() {
		var at time.Time
		var daily bool
		var resource, op string
		var status int
		var n int64
		if err := rows.Scan(&at, &daily, &resource, &op, &status, &n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("find usage of %q: %w", t.ID, err)
		}
		class := statusClass(status)
		perDay.add(at, class, n)
		if !daily {
			perHour.add(at, class, n)
		}
		ops[opKey{operationLabel(resource, op), class}] += n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find usage of %q: %w", t.ID, err)
	}
	u.PerHour, u.PerDay = perHour.series(), perDay.series()
	for k, n := range ops {
		u.ByOperation = append(u.ByOperation, OperationCount{Operation: k.op, Status: k.class, Count: n})
	}
	slices.SortFunc(u.ByOperation, func(a, b OperationCount) int {
		return strings.Compare(a.Operation+" "+a.Status, b.Operation+" "+b.Status)
	})

	if err := m.latency(ctx, u, t.ID, since); err != nil {
		return nil, err
	}
	return u, nil
}

// latency fills the per-day median and p95 from the hourly histograms
// summed per UTC day. Daily totals keep no histogram: days older than the
// hourly retention have no latency point.
func (m *Metered) latency(ctx context.Context, u *Usage, tenantID string, since time.Time) error {
	const q = `
		SELECT date_trunc('day', hour AT TIME ZONE 'UTC') AS day, i, sum(v)::bigint
		FROM control.usage_hourly, unnest(latency) WITH ORDINALITY AS z(v, i)
		WHERE tenant_id = $1 AND hour >= $2
		GROUP BY 1, 2 ORDER BY 1, 2`
	rows, err := m.DB.QueryContext(ctx, q, tenantID, since)
	if err != nil {
		return fmt.Errorf("find latency of %q: %w", tenantID, store.Unavailable(err))
	}
	defer rows.Close()
	var days []time.Time
	hists := map[time.Time]usage.Histogram{}
	for rows.Next() {
		var day time.Time
		var i, n int64
		if err := rows.Scan(&day, &i, &n); err != nil {
			return fmt.Errorf("find latency of %q: %w", tenantID, err)
		}
		day = time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC)
		h, ok := hists[day]
		if !ok {
			days = append(days, day)
			h = make(usage.Histogram, len(usage.LatencyBuckets)+1)
		}
		for int(i) > len(h) {
			h = append(h, 0)
		}
		if i >= 1 {
			h[i-1] += n
		}
		hists[day] = h
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("find latency of %q: %w", tenantID, err)
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	for _, day := range days {
		h := hists[day]
		if h.Count() == 0 {
			continue
		}
		u.LatencyP50.Points = append(u.LatencyP50.Points, Point{At: day, Value: ms(h.Percentile(50))})
		u.LatencyP95.Points = append(u.LatencyP95.Points, Point{At: day, Value: ms(h.Percentile(95))})
	}
	u.LatencyP50.Name, u.LatencyP95.Name = "p50", "p95"
	return nil
}

// operationLabel names a metered operation for people: "create Users",
// "search all", "bulk".
func operationLabel(resource, op string) string {
	switch resource {
	case usage.ResourceBulk, usage.ResourceDiscovery, usage.ResourceOther, op:
		return op
	}
	return op + " " + resource
}

// classSeries counts requests per status class in buckets of one size from
// a start to now, every bucket present (zero when quiet), so that the
// charts show quiet hours as gaps rather than close them up.
type classSeries struct {
	start  time.Time
	step   time.Duration
	counts map[string][]float64
	n      int
}

func newClassSeries(start, now time.Time, step time.Duration) *classSeries {
	n := int(now.Sub(start)/step) + 1
	c := &classSeries{start: start, step: step, n: n, counts: map[string][]float64{}}
	for _, class := range statusClasses {
		c.counts[class] = make([]float64, n)
	}
	return c
}

func (c *classSeries) add(at time.Time, class string, n int64) {
	if i := int(at.Sub(c.start) / c.step); !at.Before(c.start) && i < c.n {
		c.counts[class][i] += float64(n)
	}
}

func (c *classSeries) series() []Series {
	out := make([]Series, 0, len(statusClasses))
	for _, class := range statusClasses {
		s := Series{Name: class, Points: make([]Point, c.n)}
		for i, v := range c.counts[class] {
			s.Points[i] = Point{At: c.start.Add(time.Duration(i) * c.step), Value: v}
		}
		out = append(out, s)
	}
	return out
}

// MinHourRequests is the fewest requests in the last hour on which an error
// rate is judged, here and by the tenant checks of package health.
const MinHourRequests = health.MinRequests

// Thresholds of the traffic checks of Health.
const (
	errorRateWarn = 0.1             // share of failed requests flagged
	slowP95       = 1 * time.Second // p95 flagged
	slowestShown  = 3
)

// Health runs Basic's checks and adds the SCIM traffic of the last hour
// (requests, error rate, the slowest tenants by p95) from the roll-ups, and
// names the tenants behind on migrations. Tenants with a high error rate or
// a slow p95 in the last hour join the tenants that need attention. The
// per-tenant checks of package health, which probe each schema, are not run
// for every tenant here: see TenantChecks.
func (m *Metered) Health(ctx context.Context) (*HealthReport, error) {
	r, err := m.Basic.Health(ctx)
	if err != nil {
		return nil, err
	}
	hourAgo := r.At.Truncate(time.Hour).Add(-time.Hour) // the current and the previous clock hour
	traffic := m.timed("SCIM traffic", func() (health.Level, string, []Attention) { return m.traffic(ctx, hourAgo) })
	slowest := m.timed("Slowest tenants", func() (health.Level, string, []Attention) { return m.slowest(ctx) })
	var attention []Attention
	for i, c := range r.Checks {
		switch c.Name {
		case "SCIM traffic":
			r.Checks[i] = traffic.Check
			attention = append(attention, traffic.attention...)
		case "Tenant schemas":
			if c.Level == health.Warn {
				if bs, err := health.TenantsBehind(ctx, m.Tenants); err == nil && len(bs) > 0 {
					ids := make([]string, 0, 5)
					for _, b := range bs[:min(5, len(bs))] {
						ids = append(ids, fmt.Sprintf("%s (at %d)", b.TenantID, b.Version))
					}
					more := ""
					if len(bs) > 5 {
						more = ", …"
					}
					r.Checks[i].Detail += ": " + strings.Join(ids, ", ") + more
				}
			}
		}
	}
	r.Checks = append(r.Checks, slowest.Check)
	attention = append(attention, slowest.attention...)
	for _, a := range attention {
		r.Attention = mergeAttention(r.Attention, a)
	}
	for i, a := range r.Attention {
		if a.TenantName == "" {
			if t, err := m.Tenants.FindTenant(ctx, a.TenantID); err == nil {
				r.Attention[i].TenantName = t.Name
			} else {
				r.Attention[i].TenantName = a.TenantID
			}
		}
	}
	slices.SortStableFunc(r.Attention, func(a, b Attention) int { return b.Health.Level.Rank() - a.Health.Level.Rank() })
	return r, nil
}

type timedCheck struct {
	Check
	attention []Attention
}

func (m *Metered) timed(name string, fn func() (level health.Level, detail string, att []Attention)) timedCheck {
	start := time.Now()
	level, detail, att := fn()
	return timedCheck{Check: Check{Name: name, Level: level, Detail: detail, Took: time.Since(start)}, attention: att}
}

// traffic sums every tenant's requests since hourAgo and flags the tenants
// whose error rate (not counting 404, 409 and 412, see usage.Totals) is high.
func (m *Metered) traffic(ctx context.Context, hourAgo time.Time) (health.Level, string, []Attention) {
	ts, err := usage.Summarize(ctx, m.DB, usage.RollupFilter{Since: hourAgo})
	if err != nil {
		return health.Fail, "cannot read the usage roll-ups", nil
	}
	var all usage.Totals
	var att []Attention
	for _, t := range ts {
		all.Requests += t.Requests
		all.Errors += t.Errors
		if t.Requests >= MinHourRequests && t.ErrorRate() >= errorRateWarn {
			att = append(att, Attention{TenantID: t.TenantID, Health: TenantHealth{Level: health.Warn,
				Reasons: []string{fmt.Sprintf("%.0f%% of SCIM requests failed in the last hour", t.ErrorRate()*100)}}})
		}
	}
	tenants := "tenants"
	if len(ts) == 1 {
		tenants = "tenant"
	}
	detail := fmt.Sprintf("%d requests from %d %s since %s UTC, %.1f%% failed (not counting 404, 409, 412)",
		all.Requests, len(ts), tenants, hourAgo.UTC().Format("15:04"), all.ErrorRate()*100)
	if all.Requests >= MinHourRequests && all.ErrorRate() >= errorRateWarn {
		return health.Warn, detail, att
	}
	return health.OK, detail, att
}

// slowest lists the tenants with the highest p95 in the last hour.
func (m *Metered) slowest(ctx context.Context) (health.Level, string, []Attention) {
	ls, err := health.SlowestTenants(ctx, m.DB, slowestShown)
	if err != nil {
		return health.Fail, "cannot read the usage roll-ups", nil
	}
	if len(ls) == 0 {
		return health.OK, "no tenant made enough requests in the last hour to judge", nil
	}
	level := health.OK
	var parts []string
	var att []Attention
	for _, l := range ls {
		parts = append(parts, fmt.Sprintf("%s p95 %s (%d requests)", l.TenantID, l.P95, l.Requests))
		if l.P95 >= slowP95 {
			level = health.Warn
			att = append(att, Attention{TenantID: l.TenantID, Health: TenantHealth{Level: health.Warn,
				Reasons: []string{fmt.Sprintf("SCIM p95 of %s in the last hour", l.P95)}}})
		}
	}
	return level, strings.Join(parts, "; "), att
}

// mergeAttention adds a's reasons to the tenant's entry in as, or a new one.
func mergeAttention(as []Attention, a Attention) []Attention {
	for i := range as {
		if as[i].TenantID == a.TenantID {
			if a.Health.Level.Rank() > as[i].Health.Level.Rank() {
				as[i].Health.Level = a.Health.Level
			}
			as[i].Health.Reasons = append(as[i].Health.Reasons, a.Health.Reasons...)
			return as
		}
	}
	return append(as, a)
}

// TenantChecks runs package health's checks of one tenant (schema,
// migrations, a rolled-back read/write probe, quota, error rate, latency,
// tokens, last write, noisy neighbour), cached briefly by the Checker. It
// returns ENOTFOUND for an unknown tenant and EUNAVAILABLE when the control
// plane cannot be read.
func (m *Metered) TenantChecks(ctx context.Context, t *tenant.Tenant) ([]Check, error) {
	r, err := m.Checker.TenantHealth(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	out := make([]Check, len(r.Checks))
	for i, c := range r.Checks {
		out[i] = Check{Name: c.Name, Level: c.Status, Detail: c.Reason, Took: c.Took}
	}
	return out, nil
}
