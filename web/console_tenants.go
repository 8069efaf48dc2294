package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/app/insight"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
	"github.com/bulkhead-dev/bulkhead/templates"
)

// tenantsPageSize is how many tenants one page of the list shows.
const tenantsPageSize = 25

// tenantsPage lists tenants: search by id or name, filter by status and
// plan, 25 to a page, each with its counts against quota and its health.
func (s *Server) tenantsPage(c echo.Context) error {
	offset, _ := strconv.Atoi(c.QueryParam("offset"))
	f := tenant.TenantFilter{
		Query:  c.QueryParam("q"),
		Status: oneOf(c.QueryParam("status"), tenant.StatusActive, tenant.StatusSuspended),
		Plan:   oneOf(c.QueryParam("plan"), tenant.PlanEnterprise, tenant.PlanStartup, tenant.PlanTrial),
		Offset: max(offset, 0),
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

// oneOf returns v when it is one of allowed, and "" otherwise.
func oneOf(v string, allowed ...string) string {
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	return ""
}
