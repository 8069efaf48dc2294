package web

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
	"github.com/bulkhead-dev/bulkhead/templates"
)

// newTenantForm shows the create-tenant form.
func (s *Server) newTenantForm(c echo.Context) error {
	return render(c, http.StatusOK, templates.NewTenant(templates.NewTenantParams{
		Page:    s.page(c, "New tenant", "tenants"),
		Plan:    tenant.PlanStartup,
		Profile: tenant.ProfileEntra,
		Presets: planPresets(),
	}))
}

// createTenant creates a tenant from the form. Errors come back beside their
// fields; on success the tenant's page is rendered in the response with its
// SCIM base URL and first token, shown once and never stored.
func (s *Server) createTenant(c echo.Context) error {
	ctx := c.Request().Context()
	form := templates.NewTenantParams{
		ID:        strings.TrimSpace(c.FormValue("id")),
		Name:      strings.TrimSpace(c.FormValue("name")),
		Plan:      c.FormValue("plan"),
		MaxUsers:  strings.TrimSpace(c.FormValue("max_users")),
		MaxGroups: strings.TrimSpace(c.FormValue("max_groups")),
		Strict:    c.FormValue("strict") != "",
		Profile:   c.FormValue("profile"),
		Errors:    map[string]string{},
	}
	nt := tenant.NewTenant{ID: form.ID, Name: form.Name, Plan: form.Plan, Strict: form.Strict, Profile: form.Profile}
	nt.MaxUsers = optionalLimit(form.MaxUsers, "max_users", form.Errors)
	nt.MaxGroups = optionalLimit(form.MaxGroups, "max_groups", form.Errors)
	var err error
	if len(form.Errors) > 0 {
		err = nt.Validate() // to show every field's message at once
	} else {
		t, tok, cerr := s.tenants.CreateTenant(ctx, nt, actor(c))
		if cerr == nil {
			p, err := s.tenantParams(c, t.ID, templates.SectionOverview)
			if err != nil {
				return err
			}
			p.NewToken, p.Created = tok, true
			p.Page.Flash = "Tenant " + t.ID + " created."
			return render(c, http.StatusCreated, templates.Tenant(*p))
		}
		err = cerr
	}
	fields := app.ErrorFields(err)
	if err != nil && fields == nil {
		return err
	}
	for k, v := range fields {
		if form.Errors[k] == "" {
			form.Errors[k] = v
		}
	}
	form.Page = s.page(c, "New tenant", "tenants")
	form.Presets = planPresets()
	status := http.StatusBadRequest
	if err != nil {
		status = statusOf[app.ErrorCode(err)]
	}
	return render(c, status, templates.NewTenant(form))
}

// optionalLimit parses a limit that may be left empty for the plan's.
func optionalLimit(raw, field string, errs map[string]string) *int {
	if raw == "" {
		return nil
	}
	n, err := strconv.Atoi(strings.ReplaceAll(raw, ",", ""))
	switch {
	case err != nil:
		errs[field] = "Enter a whole number, or leave it empty for the plan's limit."
	case n < 0:
		errs[field] = "Must be 0 or more."
	case n > tenant.MaxLimit:
		errs[field] = "Must be at most 2,000,000,000."
	default:
		return &n
	}
	return nil
}

// planPresets is the plans' default limits as JSON, for the form's hints.
func planPresets() string {
	m := map[string]map[string]int{}
	for name, p := range tenant.Plans {
		m[name] = map[string]int{"max_users": p.Permissions.MaxUsers, "max_groups": p.Permissions.MaxGroups}
	}
	b, _ := json.Marshal(m)
	return string(b)
}
