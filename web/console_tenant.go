package web

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/audit"
	"github.com/bulkhead-dev/bulkhead/app/insight"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
	"github.com/bulkhead-dev/bulkhead/templates"
)

// tenantAuditEvents is how many events the tenant page shows.
const tenantAuditEvents = 25

// sessionSaved marks, for the next tenant page, that the permissions were
// saved.
const sessionSaved = "saved"

// tenantPage shows one tenant.
func (s *Server) tenantPage(c echo.Context) error {
	p, err := s.tenantParams(c, c.Param("id"))
	if err != nil {
		return err
	}
	p.PermSaved = s.console.sessions.PopString(c.Request().Context(), sessionSaved) == p.Tenant.ID
	return render(c, http.StatusOK, templates.Tenant(*p))
}

// tenantParams gathers everything the tenant page shows.
func (s *Server) tenantParams(c echo.Context, id string) (*templates.TenantParams, error) {
	ctx := c.Request().Context()
	t, err := s.tenants.FindTenantSummary(ctx, id)
	if err != nil {
		return nil, err
	}
	perms, err := s.tenants.FindPermissions(ctx, id)
	if err != nil {
		return nil, err
	}
	tokens, err := s.tenants.FindTokens(ctx, id)
	if err != nil {
		return nil, err
	}
	stats, err := s.console.data.TenantStats(ctx, []*tenant.Tenant{&t.Tenant})
	if err != nil {
		return nil, err
	}
	events, err := audit.FindTrail(ctx, s.cfg.DB, id, time.Time{}, tenantAuditEvents)
	if err != nil {
		return nil, store.Unavailable(err)
	}
	st := stats[id]
	var checks []insight.Check
	if tc, ok := s.console.data.(tenantChecker); ok {
		if checks, err = tc.TenantChecks(ctx, &t.Tenant); err != nil {
			return nil, err
		}
	}
	creds, err := s.tenants.FindCredentials(ctx, id, s.modes())
	if err != nil {
		return nil, err
	}
	exts, err := s.tenants.FindSchemaExtensions(ctx, id)
	if err != nil {
		return nil, err
	}
	return &templates.TenantParams{
		Extensions:  exts,
		Creds:       creds,
		Page:        s.page(c, t.Name, "tenants"),
		Tenant:      t,
		Perms:       *perms,
		Tokens:      tokens,
		SCIMBase:    s.cfg.BaseURL + "/tenants/" + t.ID + "/scim/v2",
		SCIMBaseAlt: s.cfg.BaseURL + "/scim/v2",
		Stats:       st,
		Health:      insight.Assess(t, &st, store.LatestVersion(s.tenants.Migrations), time.Now()),
		Events:      events,
		Checks:      checks,
	}, nil
}

// setStatus suspends or resumes a tenant.
func (s *Server) setStatus(active bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		status, verb := tenant.StatusSuspended, "suspended: its SCIM clients are refused until you resume it"
		if active {
			status, verb = tenant.StatusActive, "resumed: its SCIM clients are served again"
		}
		t, changed, err := s.tenants.SetStatus(c.Request().Context(), c.Param("id"), status, actor(c))
		if err != nil {
			return err
		}
		if !changed {
			verb = "already " + t.Status + "; nothing changed"
		}
		s.flash(c, t.Name+" is "+verb+".")
		return seeOther(c, "/admin/tenants/"+t.ID)
	}
}

// deleteTenantForm asks for the tenant's id before deleting it.
func (s *Server) deleteTenantForm(c echo.Context) error {
	t, err := s.tenants.FindTenantSummary(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, templates.DeleteTenant(templates.DeleteTenantParams{
		Page:   s.page(c, "Delete "+t.Name, "tenants"),
		Tenant: t,
	}))
}

// deleteTenant deletes the tenant when the typed id matches it.
func (s *Server) deleteTenant(c echo.Context) error {
	ctx := c.Request().Context()
	t, err := s.tenants.FindTenantSummary(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	if typed := c.FormValue("confirm"); typed != t.ID {
		return render(c, http.StatusBadRequest, templates.DeleteTenant(templates.DeleteTenantParams{
			Page:   s.page(c, "Delete "+t.Name, "tenants"),
			Tenant: t,
			Typed:  typed,
			Error:  "Type the tenant id " + t.ID + " exactly to confirm.",
		}))
	}
	if err := s.tenants.DeleteTenant(ctx, t.ID, actor(c)); err != nil {
		return err
	}
	s.flash(c, "Tenant "+t.ID+" was deleted, with all its users, groups and tokens.")
	return seeOther(c, "/admin/tenants")
}

// createToken issues a token and shows it once, on the tenant page. The
// page is rendered in the response rather than after a redirect, so that
// the secret is never stored, not even in the session.
func (s *Server) createToken(c echo.Context) error {
	id := c.Param("id")
	tok, err := s.tenants.CreateToken(c.Request().Context(), id, c.FormValue("name"), nil, actor(c))
	if err != nil && app.ErrorCode(err) != app.EINVALID {
		return err
	}
	p, perr := s.tenantParams(c, id)
	if perr != nil {
		return perr
	}
	if err != nil {
		p.TokenError = app.ErrorMessage(err)
		return render(c, http.StatusBadRequest, templates.Tenant(*p))
	}
	p.NewToken = tok
	return render(c, http.StatusOK, templates.Tenant(*p))
}

// revokeToken revokes a token; SCIM refuses it from then on.
func (s *Server) revokeToken(c echo.Context) error {
	id := c.Param("id")
	revoked, err := s.tenants.RevokeToken(c.Request().Context(), id, c.Param("token"), actor(c))
	if err != nil {
		return err
	}
	if revoked {
		s.flash(c, "Token revoked. Clients using it are refused from now on.")
	} else {
		s.flash(c, "That token was already revoked; nothing changed.")
	}
	return seeOther(c, "/admin/tenants/"+id+"#tokens")
}
