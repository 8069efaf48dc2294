package web

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
	"github.com/bulkhead-dev/bulkhead/templates"
)

// newTenantForm shows the create-tenant form.
func (s *Server) newTenantForm(c echo.Context) error {
	return render(c, http.StatusOK, templates.NewTenant(templates.NewTenantParams{
		Page:    s.page(c, "New tenant", "tenants"),
		Plan:    tenant.PlanStartup,
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
		Errors:    map[string]string{},
	}
	nt := tenant.NewTenant{ID: form.ID, Name: form.Name, Plan: form.Plan, Strict: form.Strict}
	switch {
	case form.ID == "":
		form.Errors["id"] = "Enter an id for the tenant, e.g. acme."
	case !store.ValidTenantID(form.ID):
		form.Errors["id"] = "Use a lowercase letter first, then up to 39 lowercase letters, digits or underscores."
	}
	if len(form.Name) > 200 {
		form.Errors["name"] = "Use at most 200 characters."
	}
	if _, ok := tenant.Plans[form.Plan]; !ok {
		form.Errors["plan"] = "Choose one of the plans."
	}
	nt.MaxUsers = optionalLimit(form.MaxUsers, "max_users", form.Errors)
	nt.MaxGroups = optionalLimit(form.MaxGroups, "max_groups", form.Errors)
	if len(form.Errors) == 0 {
		t, tok, err := s.tenants.CreateTenant(ctx, nt, actor(c))
		switch app.ErrorCode(err) {
		case "":
			p, err := s.tenantParams(c, t.ID, templates.SectionOverview)
			if err != nil {
				return err
			}
			p.NewToken, p.Created = tok, true
			p.Page.Flash = "Tenant " + t.ID + " created."
			return render(c, http.StatusCreated, templates.Tenant(*p))
		case app.ECONFLICT:
			form.Errors["id"] = "A tenant with the id " + form.ID + " already exists. Choose another id."
		case app.EINVALID:
			form.Errors["id"] = app.ErrorMessage(err)
		default:
			return err
		}
	}
	form.Page = s.page(c, "New tenant", "tenants")
	form.Presets = planPresets()
	status := http.StatusBadRequest
	if _, taken := form.Errors["id"]; taken && strings.Contains(form.Errors["id"], "already exists") {
		status = http.StatusConflict
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
	case n > maxLimit:
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
