package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/insight"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
	"github.com/bulkhead-dev/bulkhead/templates"
)

// tenantsPageSize is how many tenants one page of the list shows.
const tenantsPageSize = 25

// tenantsPage lists tenants: search by id or name, filter by status and
// plan, sorted (needs attention first unless asked otherwise), 25 to a page
// with page numbers, each with its counts against quota and its health.
func (s *Server) tenantsPage(c echo.Context) error {
	pageNo, err := queryInt(c, "page", 1, 1, 1<<20)
	if err != nil {
		return err
	}
	f := tenant.TenantFilter{
		Query:  c.QueryParam("q"),
		Status: oneOf(c.QueryParam("status"), tenant.StatusActive, tenant.StatusSuspended),
		Plan:   oneOf(c.QueryParam("plan"), tenant.PlanEnterprise, tenant.PlanStartup, tenant.PlanTrial),
		Sort:   oneOf(c.QueryParam("sort"), tenant.SortName, tenant.SortUsers, tenant.SortRequests, tenant.SortActivity, tenant.SortAttention),
		Asc:    c.QueryParam("dir") == "reverse",
		Offset: (pageNo - 1) * tenantsPageSize,
		Limit:  tenantsPageSize,
	}
	rows, total, err := s.tenantRows(c, f)
	if err != nil {
		return err
	}
	p := templates.TenantsParams{
		Page:     s.page(c, "Tenants", "tenants"),
		Query:    f.Query,
		Status:   f.Status,
		Plan:     f.Plan,
		Sort:     f.Sort,
		Reverse:  f.Asc,
		Rows:     rows,
		Total:    total,
		Offset:   f.Offset,
		PageSize: tenantsPageSize,
	}
	for _, r := range rows {
		p.Metered = p.Metered || r.Stats.Requests24h != nil
	}
	return render(c, http.StatusOK, templates.Tenants(p))
}

// tenantRows finds one page of tenants with their stats and health.
func (s *Server) tenantRows(c echo.Context, f tenant.TenantFilter) ([]templates.TenantRow, int, error) {
	ctx := c.Request().Context()
	page, err := s.tenants.SearchTenants(ctx, f)
	if err != nil {
		return nil, 0, err
	}
	ts := make([]*tenant.Tenant, len(page.Tenants))
	for i, t := range page.Tenants {
		ts[i] = &t.Tenant
	}
	stats, err := s.console.data.TenantStats(ctx, ts)
	if err != nil {
		return nil, 0, err
	}
	latest := store.LatestVersion(s.tenants.Migrations)
	now := time.Now()
	rows := make([]templates.TenantRow, len(page.Tenants))
	for i, t := range page.Tenants {
		st := stats[t.ID]
		rows[i] = templates.TenantRow{Tenant: t, Stats: st, Health: insight.Assess(t, &st, latest, now)}
	}
	return rows, page.Total, nil
}

// queryInt reads the query parameter name as an integer from lo to hi,
// def when it is absent. Anything else is EINVALID (400), never quietly
// replaced: a script that sends limit=abc learns so.
func queryInt(c echo.Context, name string, def, lo, hi int) (int, error) {
	v := c.QueryParam(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, app.Errorf(app.EINVALID, "%s must be a whole number from %d to %d", name, lo, hi)
	}
	return n, nil
}

// oneOf returns v when it is one of allowed, and "" otherwise.
func oneOf(v string, allowed ...string) string {
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	return ""
}
