package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/app/audit"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/templates"
)

// auditEvents is how many events the audit log shows.
const auditEvents = 200

// auditPage shows the audit log, of one tenant or of all.
func (s *Server) auditPage(c echo.Context) error {
	tid := strings.TrimSpace(c.QueryParam("tenant"))
	events, err := audit.FindTrail(c.Request().Context(), s.cfg.DB, tid, time.Time{}, auditEvents)
	if err != nil {
		return store.Unavailable(err)
	}
	return render(c, http.StatusOK, templates.Audit(templates.AuditParams{
		Page:   s.page(c, "Audit log", "audit"),
		Events: events,
		Tenant: tid,
	}))
}
