package web_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/bulkhead-dev/bulkhead/app/insight"
	"github.com/bulkhead-dev/bulkhead/app/staff"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
	"github.com/bulkhead-dev/bulkhead/web"
)

// meter stands in for usage metering, which another branch builds: it
// records every SCIM request the server answers in a table of the test
// database and serves the console's request numbers from it, through the
// same web.ConsoleData seam the real metering will use. Users, groups and
// storage still come from insight.Basic.
type meter struct {
	*insight.Basic
	db *store.DB
}

var _ web.ConsoleData = (*meter)(nil)

func newMeter(t testing.TB, db *store.DB) *meter {
	t.Helper()
	const ddl = `
		CREATE TABLE IF NOT EXISTS public.test_scim_requests (
			tenant_id text NOT NULL,
			at        timestamptz NOT NULL DEFAULT now(),
			operation text NOT NULL,
			status    integer NOT NULL,
			ms        double precision NOT NULL
		);
		CREATE TABLE IF NOT EXISTS public.test_tenant_sizes (
			tenant_id text NOT NULL,
			day       date NOT NULL,
			users     integer NOT NULL,
			groups    integer NOT NULL
		)`
	if _, err := db.ExecContext(context.Background(), ddl); err != nil {
		t.Fatal(err)
	}
	return &meter{Basic: insight.NewBasic(tenant.NewService(db)), db: db}
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) { w.status = code; w.ResponseWriter.WriteHeader(code) }

// wrap records the SCIM requests under /tenants/{id}/scim/v2/.
func (m *meter) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, "/tenants/")
		id, after, _ := strings.Cut(rest, "/scim/v2")
		if !ok || id == "" || strings.Contains(id, "/") {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		resource, _, _ := strings.Cut(strings.TrimPrefix(after, "/"), "/")
		op := r.Method + " " + resource
		_, _ = m.db.ExecContext(r.Context(), `INSERT INTO public.test_scim_requests (tenant_id, operation, status, ms) VALUES ($1, $2, $3, $4)`,
			id, op, sw.status, float64(time.Since(start).Microseconds())/1000)
	})
}

// TenantStats adds the requests of the last 24 hours and the last activity.
func (m *meter) TenantStats(ctx context.Context, ts []*tenant.Tenant) (map[string]insight.TenantStats, error) {
	out, err := m.Basic.TenantStats(ctx, ts)
	if err != nil {
		return nil, err
	}
	for id, st := range out {
		var row struct {
			N    int64      `db:"n"`
			Last *time.Time `db:"last"`
		}
		const q = `SELECT count(*) FILTER (WHERE at > now() - interval '24 hours') AS n, max(at) AS last
			FROM public.test_scim_requests WHERE tenant_id = $1`
		if err := m.db.GetContext(ctx, &row, q, id); err != nil {
			return nil, err
		}
		st.Requests24h, st.LastActivity = &row.N, row.Last
		out[id] = st
	}
	return out, nil
}

// TenantUsage draws its series from the recorded requests and sizes.
func (m *meter) TenantUsage(ctx context.Context, t *tenant.Tenant, days int) (*insight.Usage, error) {
	u, err := m.Basic.TenantUsage(ctx, t, days)
	if err != nil {
		return nil, err
	}
	stats, err := m.TenantStats(ctx, []*tenant.Tenant{t})
	if err != nil {
		return nil, err
	}
	u.Stats = stats[t.ID]
	u.Recorded = true
	byClass := func(trunc, since string) ([]insight.Series, error) {
		var rows []struct {
			At    time.Time `db:"at"`
			Class string    `db:"class"`
			N     float64   `db:"n"`
		}
		q := `SELECT date_trunc('` + trunc + `', at) AS at, (status / 100)::text || 'xx' AS class, count(*) AS n
			FROM public.test_scim_requests WHERE tenant_id = $1 AND at > now() - interval '` + since + `'
			GROUP BY 1, 2 ORDER BY 1, 2`
		if err := m.db.SelectContext(ctx, &rows, q, t.ID); err != nil {
			return nil, err
		}
		var series []insight.Series
		index := map[string]int{}
		for _, r := range rows {
			i, ok := index[r.Class]
			if !ok {
				i = len(series)
				index[r.Class] = i
				series = append(series, insight.Series{Name: r.Class})
			}
			series[i].Points = append(series[i].Points, insight.Point{At: r.At, Value: r.N})
		}
		return series, nil
	}
	if u.PerDay, err = byClass("day", fmt.Sprintf("%d days", days)); err != nil {
		return nil, err
	}
	if u.PerHour, err = byClass("hour", "48 hours"); err != nil {
		return nil, err
	}
	const ops = `SELECT operation, (status / 100)::text || 'xx' AS status, count(*) AS count
		FROM public.test_scim_requests WHERE tenant_id = $1 AND at > now() - $2::interval GROUP BY 1, 2`
	if err := m.db.SelectContext(ctx, &u.ByOperation, ops, t.ID, fmt.Sprintf("%d days", days)); err != nil {
		return nil, err
	}
	var lat []struct {
		At  time.Time `db:"at"`
		P50 float64   `db:"p50"`
		P95 float64   `db:"p95"`
	}
	const latency = `SELECT date_trunc('day', at) AS at,
			percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50, percentile_cont(0.95) WITHIN GROUP (ORDER BY ms) AS p95
		FROM public.test_scim_requests WHERE tenant_id = $1 AND at > now() - $2::interval GROUP BY 1 ORDER BY 1`
	if err := m.db.SelectContext(ctx, &lat, latency, t.ID, fmt.Sprintf("%d days", days)); err != nil {
		return nil, err
	}
	for _, l := range lat {
		u.LatencyP50.Points = append(u.LatencyP50.Points, insight.Point{At: l.At, Value: l.P50})
		u.LatencyP95.Points = append(u.LatencyP95.Points, insight.Point{At: l.At, Value: l.P95})
	}
	var sizes []struct {
		Day    time.Time `db:"day"`
		Users  float64   `db:"users"`
		Groups float64   `db:"groups"`
	}
	if err := m.db.SelectContext(ctx, &sizes, `SELECT day, users, groups FROM public.test_tenant_sizes WHERE tenant_id = $1 ORDER BY day`, t.ID); err != nil {
		return nil, err
	}
	if len(sizes) > 0 {
		u.Users.Points, u.Groups.Points = nil, nil
		for _, s := range sizes {
			u.Users.Points = append(u.Users.Points, insight.Point{At: s.Day, Value: s.Users})
			u.Groups.Points = append(u.Groups.Points, insight.Point{At: s.Day, Value: s.Groups})
		}
	}
	return u, nil
}

// fillUsage records 30 days of made-up traffic for a tenant: a weekday
// rhythm, some client errors, a few server errors, and growing sizes.
func fillUsage(t testing.TB, db *store.DB, tenantID string) {
	t.Helper()
	const q = `
		INSERT INTO public.test_scim_requests (tenant_id, at, operation, status, ms)
		SELECT $1, h + (i * interval '1 minute'),
			(ARRAY['GET Users', 'GET Users', 'GET Users', 'POST Users', 'PATCH Users', 'GET Groups', 'PATCH Groups', 'DELETE Users'])[1 + (i + extract(hour FROM h)::int) % 8],
			CASE WHEN (i * 7 + extract(day FROM h)::int) % 41 = 0 THEN 500
			     WHEN (i * 3 + extract(hour FROM h)::int) % 17 = 0 THEN 409 ELSE 200 END,
			4 + (i % 9) * 1.5 + CASE WHEN i % 23 = 0 THEN 60 ELSE 0 END
		FROM generate_series(date_trunc('hour', now()) - interval '30 days', date_trunc('hour', now()) - interval '1 hour', interval '1 hour') h,
			generate_series(1, 2 + (extract(dow FROM h)::int % 6) + CASE WHEN extract(hour FROM h) BETWEEN 8 AND 18 THEN 12 ELSE 0 END) i`
	const sizes = `
		INSERT INTO public.test_tenant_sizes (tenant_id, day, users, groups)
		SELECT $1, d::date, round($2 * (0.35 + 0.65 * n / 30.0)), round($3 * (0.5 + 0.5 * n / 30.0))
		FROM generate_series(current_date - 29, current_date, interval '1 day') WITH ORDINALITY AS g(d, n)`
	tn, err := tenant.NewService(db).FindTenant(context.Background(), tenantID)
	if err != nil {
		t.Fatal(err)
	}
	// Sizes grow to today's real counts.
	stats, err := insight.NewBasic(tenant.NewService(db)).TenantStats(context.Background(), []*tenant.Tenant{tn})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(context.Background(), q, tenantID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(context.Background(), sizes, tenantID, stats[tenantID].Users, stats[tenantID].Groups); err != nil {
		t.Fatal(err)
	}
}

func TestConsoleUsageCharts(t *testing.T) {
	t.Parallel()
	db := storetest.NewDB(t)
	m := newMeter(t, db)
	cs := newConsoleServer(t, db, m, m.wrap)
	tn, _ := cs.createTenant(t, tenant.PlanEnterprise)
	fillUsage(t, db, tn.ID)
	b := cs.signedIn(t, staff.RoleSupport)

	p := b.get("/admin/tenants/"+tn.ID+"/usage").must(t, http.StatusOK)
	charts := p.Doc.Find(`svg[data-testid=chart]`)
	if charts.Length() != 4 {
		t.Fatalf("%d charts, want 4 (per day, per hour, latency, users and groups)", charts.Length())
	}

	var total int64
	if err := db.GetContext(context.Background(), &total, `SELECT count(*) FROM public.test_scim_requests WHERE tenant_id = $1 AND at > now() - interval '30 days'`, tn.ID); err != nil {
		t.Fatal(err)
	}
	perDay := charts.Eq(0)
	if label, _ := perDay.Attr("aria-label"); !strings.Contains(label, formatCount(total)+" in all") {
		t.Errorf("per-day chart says %q, want the %d requests of the table", label, total)
	}
	// One bar segment per day and status class present that day, each
	// with its exact count on hover.
	var segments int
	if err := db.GetContext(context.Background(), &segments, `SELECT count(DISTINCT (date_trunc('day', at), status / 100)) FROM public.test_scim_requests WHERE tenant_id = $1 AND at > now() - interval '30 days'`, tn.ID); err != nil {
		t.Fatal(err)
	}
	if n := perDay.Find("rect").Length(); n != segments {
		t.Errorf("per-day chart has %d bar segments, want %d", n, segments)
	}
	var day time.Time
	var n int
	if err := db.QueryRowxContext(context.Background(), `SELECT date_trunc('day', at), count(*) FROM public.test_scim_requests WHERE tenant_id = $1 AND status < 300 AND at > now() - interval '30 days' GROUP BY 1 ORDER BY 1 DESC LIMIT 1 OFFSET 1`, tn.ID).Scan(&day, &n); err != nil {
		t.Fatal(err)
	}
	want := day.UTC().Format("2 Jan") + " · 2xx: " + formatCount(int64(n))
	found := false
	perDay.Find("rect title").Each(func(_ int, s *goquery.Selection) { found = found || s.Text() == want })
	if !found {
		t.Errorf("no bar titled %q", want)
	}
	if n := charts.Eq(1).Find("rect").Length(); n < 48 {
		t.Errorf("per-hour chart has %d segments, want at least one per hour of 48", n)
	}
	if n := charts.Eq(2).Find("polyline").Length(); n != 2 {
		t.Errorf("latency chart has %d lines, want median and p95", n)
	}
	if n := charts.Eq(3).Find("circle").Length(); n != 60 {
		t.Errorf("users and groups chart has %d points, want 30 days of each", n)
	}
	if rows := p.Doc.Find(`[data-testid=operations] tbody tr`).Length(); rows != 6 {
		t.Errorf("operations table has %d rows, want 6", rows)
	}
	if got := strings.TrimSpace(p.Doc.Find(`[data-testid=usage-requests]`).Text()); got == "—" || got == "" {
		t.Errorf("requests headline %q", got)
	}
}

func formatCount(n int64) string {
	s := fmt.Sprint(n)
	if n >= 10000 {
		return strings.TrimSuffix(fmt.Sprintf("%.1f", float64(n)/1000), ".0") + "k"
	}
	if len(s) > 3 {
		return s[:len(s)-3] + "," + s[len(s)-3:]
	}
	return s
}

func TestConsoleUsageNotRecorded(t *testing.T) {
	t.Parallel()
	cs := sharedConsole(t)
	tn, _ := cs.createTenant(t, tenant.PlanStartup)
	p := cs.signedIn(t, staff.RoleSupport).get("/admin/tenants/"+tn.ID+"/usage").must(t, http.StatusOK)
	if !strings.Contains(p.Doc.Find(`[data-testid=empty]`).Text(), "No usage recorded yet") {
		t.Error("no honest empty state without metering")
	}
	if p.Doc.Find(`svg[data-testid=chart]`).Length() != 0 {
		t.Error("charts drawn without data")
	}
}
