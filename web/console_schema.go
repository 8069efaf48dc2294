package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/scim"
	"github.com/bulkhead-dev/bulkhead/templates"
)

// A tenant's SCIM schema extensions, in the console (the tenant page's
// schema section) and in the admin API. Changes are audited by the tenant
// service and in force for SCIM within a second.

// putSchema adds or replaces an extension from the definition typed in the
// console; a definition Bulkhead cannot serve comes back with its message.
func (s *Server) putSchema(c echo.Context) error {
	id, def := c.Param("id"), c.FormValue("definition")
	var ext *scim.Extension
	err := checkJSON([]byte(def)) // "\u0000" is plain text in a form, NUL once decoded
	if err == nil {
		ext, err = scim.ParseExtension([]byte(def))
	}
	if err == nil {
		err = s.tenants.PutSchemaExtension(c.Request().Context(), id, ext, actor(c))
	}
	if code := app.ErrorCode(err); code == app.EINVALID || code == app.ECONFLICT {
		p, perr := s.tenantParams(c, id, templates.SectionSchema)
		if perr != nil {
			return perr
		}
		p.SchemaDef, p.SchemaError = def, app.ErrorMessage(err)
		return render(c, http.StatusBadRequest, templates.Tenant(*p))
	}
	if err != nil {
		return err
	}
	s.flash(c, "Schema extension "+ext.Schema.ID+" saved: this tenant's SCIM endpoints serve it within a second.")
	return seeOther(c, templates.TenantURL(id, templates.SectionSchema))
}

// removeSchema stops serving an extension; its values are kept.
func (s *Server) removeSchema(c echo.Context) error {
	id, urn := c.Param("id"), c.FormValue("schema")
	if err := s.tenants.RemoveSchemaExtension(c.Request().Context(), id, urn, actor(c)); err != nil {
		return err
	}
	s.flash(c, "Schema extension "+urn+" removed. Its stored values are kept until you purge them.")
	return seeOther(c, templates.TenantURL(id, templates.SectionSchema))
}

// purgeSchema deletes the values of a removed extension.
func (s *Server) purgeSchema(c echo.Context) error {
	id, urn := c.Param("id"), c.FormValue("schema")
	n, err := s.tenants.PurgeSchemaExtension(c.Request().Context(), id, urn, actor(c))
	if err != nil {
		return err
	}
	s.flash(c, "Schema extension "+urn+" purged: its values were deleted from "+templates.Num(int(n))+" "+
		templates.Plural(int(n), "resource", "resources")+".")
	return seeOther(c, templates.TenantURL(id, templates.SectionSchema))
}

// apiSchemas lists a tenant's extensions, removed ones included.
func (s *Server) apiSchemas(c echo.Context) error {
	list, err := s.tenants.FindSchemaExtensions(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"extensions": nonNil(list)})
}

// apiPutSchema adds an extension, or replaces the one with the same URN.
func (s *Server) apiPutSchema(c echo.Context) error {
	var def scim.ExtensionDef
	if err := decodeJSON(c, &def); err != nil {
		return err
	}
	ext, err := def.Extension()
	if err != nil {
		return err
	}
	if err := s.tenants.PutSchemaExtension(c.Request().Context(), c.Param("id"), ext, actor(c)); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, ext.Def())
}

// apiRemoveSchema stops serving an extension; its values are kept.
func (s *Server) apiRemoveSchema(c echo.Context) error {
	if err := s.tenants.RemoveSchemaExtension(c.Request().Context(), c.Param("id"), c.Param("urn"), actor(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// apiPurgeSchema deletes the values of a removed extension.
func (s *Server) apiPurgeSchema(c echo.Context) error {
	n, err := s.tenants.PurgeSchemaExtension(c.Request().Context(), c.Param("id"), c.Param("urn"), actor(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"schema": c.Param("urn"), "purged_resources": n})
}
