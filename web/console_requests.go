package web

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/app/insight"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
	"github.com/bulkhead-dev/bulkhead/app/usage"
	"github.com/bulkhead-dev/bulkhead/templates"
)

// requestsPage is the request inspector: the tenant's latest failed SCIM
// requests, redacted when they were recorded.
func (s *Server) requestsPage(c echo.Context) error {
	ctx := c.Request().Context()
	t, err := s.tenants.FindTenantSummary(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	fs, err := usage.FindFailures(ctx, s.cfg.DB, t.ID, usage.MaxFailures)
	if err != nil {
		return err
	}
	stats, err := s.console.data.TenantStats(ctx, []*tenant.Tenant{&t.Tenant})
	if err != nil {
		return err
	}
	st := stats[t.ID]
	return render(c, http.StatusOK, templates.Requests(templates.RequestsParams{
		Page:     s.page(c, t.Name+" failed requests", "tenants"),
		Tenant:   t,
		Health:   insight.Assess(t, &st, store.LatestVersion(s.tenants.Migrations), time.Now()),
		Failures: fs,
		Metered:  s.cfg.Meter != nil || len(fs) > 0,
	}))
}

// apiRequests returns the tenant's latest failed SCIM requests, newest
// first, redacted.
func (s *Server) apiRequests(c echo.Context) error {
	ctx := c.Request().Context()
	t, err := s.tenants.FindTenant(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	fs, err := usage.FindFailures(ctx, s.cfg.DB, t.ID, usage.MaxFailures)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"requests": nonNil(fs)})
}
