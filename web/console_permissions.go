package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/audit"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
	"github.com/bulkhead-dev/bulkhead/templates"
)

// updatePermissions saves the permissions editor. Invalid numbers bring the
// form back with a message beside each field and nothing saved. The change
// is recorded with the permissions before and after; SCIM enforces it
// within a second.
func (s *Server) updatePermissions(c echo.Context) error {
	ctx := c.Request().Context()
	id := c.Param("id")
	before, err := s.tenants.FindPermissions(ctx, id)
	if err != nil {
		return err
	}
	p := tenant.Permissions{
		CanCreate:   c.FormValue("can_create") != "",
		CanRead:     c.FormValue("can_read") != "",
		CanUpdate:   c.FormValue("can_update") != "",
		CanDelete:   c.FormValue("can_delete") != "",
		CanList:     c.FormValue("can_list") != "",
		BulkEnabled: c.FormValue("bulk_enabled") != "",
	}
	values := map[string]string{}
	errs := map[string]string{}
	for _, f := range []struct {
		name string
		dst  *int
	}{
		{"max_users", &p.MaxUsers},
		{"max_groups", &p.MaxGroups},
		{"requests_per_minute", &p.RequestsPerMinute},
		{"burst", &p.Burst},
	} {
		raw := strings.TrimSpace(c.FormValue(f.name))
		values[f.name] = raw
		n, err := strconv.Atoi(strings.ReplaceAll(raw, ",", ""))
		if err != nil {
			errs[f.name] = "Enter a whole number."
			continue
		}
		*f.dst = n
	}
	if len(errs) > 0 {
		err = p.Validate() // to show every field's message at once
	} else {
		err = s.tenants.UpdatePermissions(audit.WithDetails(ctx, map[string]any{"before": before}), id, p, actor(c))
	}
	fields := app.ErrorFields(err)
	if err != nil && fields == nil {
		return err
	}
	for k, v := range fields {
		if errs[k] == "" {
			errs[k] = v
		}
	}
	if len(errs) > 0 {
		tp, err := s.tenantParams(c, id, templates.SectionPermissions)
		if err != nil {
			return err
		}
		tp.Perms, tp.PermValues, tp.PermErrors = p, values, errs
		return render(c, http.StatusBadRequest, templates.Tenant(*tp))
	}
	s.console.sessions.Put(ctx, sessionSaved, id)
	s.flash(c, "Permissions of "+id+" saved.")
	return seeOther(c, templates.TenantURL(id, templates.SectionPermissions))
}
