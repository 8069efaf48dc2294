package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/audit"
	"github.com/bulkhead-dev/bulkhead/templates"
)

// auditEvents is how many events one page of the audit log shows.
const auditEvents = 50

// auditPage shows the audit log, of one tenant or of all, filtered by
// actor, action and time range and paged by cursor. An unknown tenant is
// said to be unknown, with a 404, rather than shown as an empty trail.
func (s *Server) auditPage(c echo.Context) error {
	f, err := s.trailFilter(c, strings.TrimSpace(c.QueryParam("tenant")), auditEvents)
	if err != nil {
		return err
	}
	p := templates.AuditParams{
		Page:   s.page(c, "Audit log", "audit"),
		Tenant: f.TenantID,
		Actor:  f.Actor,
		Action: f.Action,
		Since:  c.QueryParam("since"),
		Until:  c.QueryParam("until"),
	}
	page, err := audit.FindTrailPage(c.Request().Context(), s.cfg.DB, f)
	if app.ErrorCode(err) == app.ENOTFOUND {
		p.TenantError = app.ErrorMessage(err)
		return render(c, http.StatusNotFound, templates.Audit(p))
	} else if err != nil {
		return err
	}
	p.Events, p.Older, p.Newer = page.Events, page.Older, page.Newer
	return render(c, http.StatusOK, templates.Audit(p))
}

// trailFilter reads the audit filters of a request: tenant (given),
// actor, action, since and until (RFC 3339, or a date: until a date means
// to the end of that day), before/after (cursors) and limit (1 to 1000,
// default def). A malformed value is EINVALID.
func (s *Server) trailFilter(c echo.Context, tenantID string, def int) (audit.TrailFilter, error) {
	f := audit.TrailFilter{
		TenantID: tenantID,
		Actor:    strings.TrimSpace(c.QueryParam("actor")),
		Action:   strings.TrimSpace(c.QueryParam("action")),
		Before:   c.QueryParam("before"),
		After:    c.QueryParam("after"),
	}
	var err error
	if f.Limit, err = queryInt(c, "limit", def, 1, 1000); err != nil {
		return f, err
	}
	if f.Since, err = queryTime(c, "since", false); err != nil {
		return f, err
	}
	if f.Until, err = queryTime(c, "until", true); err != nil {
		return f, err
	}
	if f.Before != "" && f.After != "" {
		return f, app.Errorf(app.EINVALID, "give before or after, not both")
	}
	return f, nil
}

// queryTime reads the query parameter name as an RFC 3339 time or a date
// (YYYY-MM-DD, UTC); with endOfDay a date means the start of the next day,
// so that until=2024-05-01 includes all of that day.
func queryTime(c echo.Context, name string, endOfDay bool) (time.Time, error) {
	v := strings.TrimSpace(c.QueryParam(name))
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, app.Errorf(app.EINVALID, "%s must be a date (2006-01-02) or a time (2006-01-02T15:04:05Z)", name)
	}
	if endOfDay {
		t = t.AddDate(0, 0, 1)
	}
	return t, nil
}
