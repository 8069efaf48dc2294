package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/audit"
	"github.com/bulkhead-dev/bulkhead/app/insight"
	"github.com/bulkhead-dev/bulkhead/app/staff"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// The admin JSON API under /admin/api/v1/ does what the console does, for
// scripts. It is authenticated by staff API keys (Authorization: Bearer
// bhk_…), acts with the key owner's role, and needs no CSRF token because it
// never reads cookies. Errors are {"error": "…"}, with "fields" by JSON key
// when the app.Error has field errors (handleError).

// maxAPIBody bounds the body of an admin API request.
const maxAPIBody = 1 << 20

// apiAuth authenticates an admin API request by its staff API key.
func (s *Server) apiAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-store")
		h := c.Request().Header.Get(echo.HeaderAuthorization)
		if len(h) <= len(scimBearer) || !strings.EqualFold(h[:len(scimBearer)], scimBearer) {
			return app.Errorf(app.EUNAUTHORIZED, "send a staff API key: Authorization: Bearer bhk_…")
		}
		st, err := staff.AuthenticateAPIKey(c.Request().Context(), s.cfg.DB, strings.TrimSpace(h[len(scimBearer):]))
		if err != nil {
			return err
		}
		c.Set(ctxStaff, st)
		c.SetRequest(c.Request().WithContext(audit.WithDetails(c.Request().Context(), requestInfo(c))))
		return next(c)
	}
}

// apiTenant is a tenant as the API returns it.
type apiTenant struct {
	*tenant.TenantSummary
	Stats       insight.TenantStats  `json:"stats"`
	Health      insight.TenantHealth `json:"health"`
	SCIMBaseURL string               `json:"scim_base_url"`
}

func (s *Server) apiTenantOf(t *tenant.TenantSummary, st insight.TenantStats) apiTenant {
	return apiTenant{
		TenantSummary: t,
		Stats:         st,
		Health:        insight.Assess(t, &st, store.LatestVersion(s.tenants.Migrations), time.Now()),
		SCIMBaseURL:   s.cfg.BaseURL + "/tenants/" + t.ID + "/scim/v2",
	}
}

// apiTenants lists tenants: ?q=&status=&plan=&sort=&dir=reverse&offset=&limit=
// (limit 1 to 100, default 100; sort as the console's list, default
// attention). A limit or offset that is not a number in range is a 400.
func (s *Server) apiTenants(c echo.Context) error {
	offset, err := queryInt(c, "offset", 0, 0, 1<<30)
	if err != nil {
		return err
	}
	limit, err := queryInt(c, "limit", 100, 1, 100)
	if err != nil {
		return err
	}
	rows, total, err := s.tenantRows(c, tenant.TenantFilter{
		Query:  c.QueryParam("q"),
		Status: c.QueryParam("status"),
		Plan:   c.QueryParam("plan"),
		Sort:   c.QueryParam("sort"),
		Asc:    c.QueryParam("dir") == "reverse",
		Offset: offset,
		Limit:  limit,
	})
	if err != nil {
		return err
	}
	out := make([]apiTenant, len(rows))
	for i, r := range rows {
		out[i] = s.apiTenantOf(r.Tenant, r.Stats)
	}
	return c.JSON(http.StatusOK, map[string]any{"tenants": out, "total": total, "offset": offset, "limit": limit})
}

// apiCreateTenant creates a tenant and returns it with its first token,
// shown once.
func (s *Server) apiCreateTenant(c echo.Context) error {
	var in struct {
		ID        string `json:"id"`
		Name      string `json:"name"`
		Plan      string `json:"plan"`
		MaxUsers  *int   `json:"max_users"`
		MaxGroups *int   `json:"max_groups"`
		Strict    bool   `json:"strict"`
		Profile   string `json:"profile"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if in.Plan == "" {
		in.Plan = tenant.PlanStartup
	}
	t, tok, err := s.tenants.CreateTenant(c.Request().Context(), tenant.NewTenant{
		ID: in.ID, Name: in.Name, Plan: in.Plan, Strict: in.Strict, MaxUsers: in.MaxUsers, MaxGroups: in.MaxGroups,
		Profile: in.Profile,
	}, actor(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{
		"tenant":        t,
		"scim_base_url": s.cfg.BaseURL + "/tenants/" + t.ID + "/scim/v2",
		"token_id":      tok.ID,
		"token":         tok.Secret,
	})
}

// apiTenant returns one tenant with its permissions, tokens and stats.
func (s *Server) apiTenant(c echo.Context) error {
	ctx := c.Request().Context()
	t, err := s.tenants.FindTenantSummary(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	perms, err := s.tenants.FindPermissions(ctx, t.ID)
	if err != nil {
		return err
	}
	tokens, err := s.tenants.FindTokens(ctx, t.ID)
	if err != nil {
		return err
	}
	stats, err := s.console.data.TenantStats(ctx, []*tenant.Tenant{&t.Tenant})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{
		"tenant":      s.apiTenantOf(t, stats[t.ID]),
		"permissions": perms,
		"tokens":      nonNil(tokens),
	})
}

// apiDeleteTenant deletes a tenant.
func (s *Server) apiDeleteTenant(c echo.Context) error {
	if err := s.tenants.DeleteTenant(c.Request().Context(), c.Param("id"), actor(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// apiSetStatus suspends or resumes a tenant. Asking again for the status it
// has answers the same and records nothing (tenant.SetStatus).
func (s *Server) apiSetStatus(active bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		status := tenant.StatusSuspended
		if active {
			status = tenant.StatusActive
		}
		t, _, err := s.tenants.SetStatus(c.Request().Context(), c.Param("id"), status, actor(c))
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, t)
	}
}

// apiPermissions returns a tenant's permissions.
func (s *Server) apiPermissions(c echo.Context) error {
	p, err := s.tenants.FindPermissions(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

// apiUpdatePermissions replaces a tenant's permissions. Fields left out
// keep their values.
func (s *Server) apiUpdatePermissions(c echo.Context) error {
	ctx := c.Request().Context()
	id := c.Param("id")
	before, err := s.tenants.FindPermissions(ctx, id)
	if err != nil {
		return err
	}
	p := *before
	if err := decodeJSON(c, &p); err != nil {
		return err
	}
	ctx = audit.WithDetails(ctx, map[string]any{"before": before})
	if err := s.tenants.UpdatePermissions(ctx, id, p, actor(c)); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

// apiTokens lists a tenant's tokens, without secrets.
func (s *Server) apiTokens(c echo.Context) error {
	ctx := c.Request().Context()
	if _, err := s.tenants.FindTenant(ctx, c.Param("id")); err != nil {
		return err
	}
	ts, err := s.tenants.FindTokens(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"tokens": nonNil(ts)})
}

// apiCreateToken issues a token, shown once.
func (s *Server) apiCreateToken(c echo.Context) error {
	var in struct {
		Name      string     `json:"name"`
		ExpiresAt *time.Time `json:"expires_at"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	tok, err := s.tenants.CreateToken(c.Request().Context(), c.Param("id"), in.Name, in.ExpiresAt, actor(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, tok)
}

// apiRevokeToken revokes a token; revoking it again answers the same and
// records nothing.
func (s *Server) apiRevokeToken(c echo.Context) error {
	if _, err := s.tenants.RevokeToken(c.Request().Context(), c.Param("id"), c.Param("token"), actor(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// apiAudit returns one page of audit events: of one tenant under
// /tenants/{id}/audit, else of all or of ?tenant=, filtered by ?actor=,
// ?action=, ?since= and ?until=, newest first. ?limit= is 1 to 1000
// (default 100); "older" and "newer" in the answer are cursors for
// ?before= and ?after=. An unknown tenant is a 404, a bad limit a 400.
func (s *Server) apiAudit(c echo.Context) error {
	tid := c.Param("id")
	if tid == "" {
		tid = strings.TrimSpace(c.QueryParam("tenant"))
	}
	f, err := s.trailFilter(c, tid, 100)
	if err != nil {
		return err
	}
	page, err := audit.FindTrailPage(c.Request().Context(), s.cfg.DB, f)
	if err != nil {
		return err
	}
	page.Events = nonNil(page.Events)
	return c.JSON(http.StatusOK, page)
}

// apiUsage returns a tenant's usage over the last 30 days.
func (s *Server) apiUsage(c echo.Context) error {
	ctx := c.Request().Context()
	t, err := s.tenants.FindTenant(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	u, err := s.console.data.TenantUsage(ctx, t, usageDays)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, u)
}

// apiHealth returns the health report.
func (s *Server) apiHealth(c echo.Context) error {
	r, err := s.console.data.Health(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}

// decodeJSON reads a JSON object into v. An empty body leaves v as it is.
// The body goes through checkJSON first, as SCIM bodies do, so that invalid
// UTF-8, NUL characters and duplicate keys are refused rather than stored.
func decodeJSON(c echo.Context, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, maxAPIBody))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return app.Errorf(app.ETOOLARGE, "the request body is larger than %d bytes", maxAPIBody)
	}
	if err != nil {
		return app.Errorf(app.EINVALID, "could not read the request body")
	}
	if err := checkJSON(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return app.Errorf(app.EINVALID, "the request body is not the JSON object expected: %s", jsonProblem(err))
	}
	return nil
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
