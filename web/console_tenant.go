package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/audit"
	"github.com/bulkhead-dev/bulkhead/app/insight"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
	"github.com/bulkhead-dev/bulkhead/templates"
)

// tenantAuditEvents is how many events the tenant's audit section shows;
// its "See all" link opens the audit log filtered to the tenant.
const tenantAuditEvents = 25

// sessionSaved marks, for the next permissions section, that the
// permissions were saved.
const sessionSaved = "saved"

// tenantSection shows one section of a tenant's page.
func (s *Server) tenantSection(section string) echo.HandlerFunc {
	return func(c echo.Context) error {
		p, err := s.tenantParams(c, c.Param("id"), section)
		if err != nil {
			return err
		}
		if section == templates.SectionPermissions {
			p.PermSaved = s.console.sessions.PopString(c.Request().Context(), sessionSaved) == p.Tenant.ID
		}
		return render(c, http.StatusOK, templates.Tenant(*p))
	}
}

// tenantParams gathers what one section of the tenant page shows: the head
// (tenant, stats, badge) always, and the section's own data only, so that
// the overview does not run the health checks nor read the audit trail.
func (s *Server) tenantParams(c echo.Context, id, section string) (*templates.TenantParams, error) {
	ctx := c.Request().Context()
	t, err := s.tenants.FindTenantSummary(ctx, id)
	if err != nil {
		return nil, err
	}
	stats, err := s.console.data.TenantStats(ctx, []*tenant.Tenant{&t.Tenant})
	if err != nil {
		return nil, err
	}
	st := stats[id]
	p := &templates.TenantParams{
		Page:        s.page(c, t.Name, "tenants"),
		Section:     section,
		Tenant:      t,
		SCIMBase:    s.cfg.BaseURL + "/tenants/" + t.ID + "/scim/v2",
		SCIMBaseAlt: s.cfg.BaseURL + "/scim/v2",
		Stats:       st,
		Health:      insight.Assess(t, &st, store.LatestVersion(s.tenants.Migrations), time.Now()),
	}
	switch section {
	case templates.SectionTokens:
		if p.Tokens, err = s.tenants.FindTokens(ctx, id); err != nil {
			return nil, err
		}
		if p.Creds, err = s.creds.FindCredentials(ctx, id, s.modes()); err != nil {
			return nil, err
		}
	case templates.SectionPermissions:
		perms, err := s.tenants.FindPermissions(ctx, id)
		if err != nil {
			return nil, err
		}
		p.Perms = *perms
		bh, err := s.tenants.FindBehaviour(ctx, id)
		if err != nil {
			return nil, err
		}
		p.Behaviour = *bh
	case templates.SectionSchema:
		if p.Extensions, err = s.tenants.FindSchemaExtensions(ctx, id); err != nil {
			return nil, err
		}
	case templates.SectionHealth:
		if tc, ok := s.console.data.(tenantChecker); ok {
			if p.Checks, err = tc.TenantChecks(ctx, &t.Tenant); err != nil {
				return nil, err
			}
		}
	case templates.SectionAudit:
		if p.Events, err = audit.FindTrail(ctx, s.cfg.DB, id, time.Time{}, tenantAuditEvents); err != nil {
			return nil, store.Unavailable(err)
		}
	}
	return p, nil
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

// createToken issues a token, with the expiry chosen, and shows it once,
// in the tokens section. The section is rendered in the response rather
// than after a redirect, so that the secret is never stored, not even in
// the session.
func (s *Server) createToken(c echo.Context) error {
	id := c.Param("id")
	choice := c.FormValue("expires_in")
	expires, err := tokenExpiry(choice, time.Now())
	var tok *tenant.NewToken
	if err == nil {
		tok, err = s.tenants.CreateToken(c.Request().Context(), id, c.FormValue("name"), expires, actor(c))
	}
	if err != nil && app.ErrorCode(err) != app.EINVALID {
		return err
	}
	p, perr := s.tenantParams(c, id, templates.SectionTokens)
	if perr != nil {
		return perr
	}
	if err != nil {
		p.TokenError, p.TokenExpiry = app.ErrorMessage(err), choice
		return render(c, http.StatusBadRequest, templates.Tenant(*p))
	}
	p.NewToken = tok
	return render(c, http.StatusOK, templates.Tenant(*p))
}

// maxTokenDays is the longest expiry the console accepts, ten years.
const maxTokenDays = 3650

// tokenExpiry reads a new token's expiry, a number of days from now; empty
// means the token never expires. It returns EINVALID for anything else.
func tokenExpiry(days string, now time.Time) (*time.Time, error) {
	if days = strings.TrimSpace(days); days == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(days)
	if err != nil || n < 1 || n > maxTokenDays {
		return nil, app.Errorf(app.EINVALID, "the expiry must be a number of days from 1 to %d, or empty for never", maxTokenDays)
	}
	at := now.Add(time.Duration(n) * 24 * time.Hour)
	return &at, nil
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
	return seeOther(c, templates.TenantURL(id, templates.SectionTokens))
}
