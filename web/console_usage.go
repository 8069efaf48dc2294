package web

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/app/insight"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/templates"
)

// usageDays is the period the usage page covers.
const usageDays = 30

// usagePage shows a tenant's usage as charts.
func (s *Server) usagePage(c echo.Context) error {
	ctx := c.Request().Context()
	t, err := s.tenants.FindTenantSummary(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	u, err := s.console.data.TenantUsage(ctx, &t.Tenant, usageDays)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, templates.Usage(templates.UsageParams{
		Page:   s.page(c, t.Name+" usage", "tenants"),
		Tenant: t,
		Health: insight.Assess(t, &u.Stats, store.LatestVersion(s.tenants.Migrations), time.Now()),
		Usage:  u,
	}))
}
