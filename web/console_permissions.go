package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/app/audit"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
	"github.com/bulkhead-dev/bulkhead/templates"
)

// maxLimit is the largest limit a form or the API accepts: limits are
// stored as 32-bit integers.
const maxLimit = 2_000_000_000

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
	for k, v := range limitErrors(p) {
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
	ctx = audit.WithDetails(ctx, map[string]any{"before": before})
	if err := s.tenants.UpdatePermissions(ctx, id, p, actor(c)); err != nil {
		return err
	}
	s.console.sessions.Put(ctx, sessionSaved, id)
	s.flash(c, "Permissions of "+id+" saved.")
	return seeOther(c, templates.TenantURL(id, templates.SectionPermissions))
}

// limitErrors checks each limit and says what is wrong, by field name.
func limitErrors(p tenant.Permissions) map[string]string {
	errs := map[string]string{}
	check := func(name string, v, least int) {
		switch {
		case v < least:
			errs[name] = "Must be " + strconv.Itoa(least) + " or more."
		case v > maxLimit:
			errs[name] = "Must be at most 2,000,000,000."
		}
	}
	check("max_users", p.MaxUsers, 0)
	check("max_groups", p.MaxGroups, 0)
	check("requests_per_minute", p.RequestsPerMinute, 1)
	check("burst", p.Burst, 1)
	return errs
}
