package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
	"github.com/bulkhead-dev/bulkhead/templates"
)

// updateBehaviour saves a tenant's SCIM profile and flags from the
// console. Choosing another profile sets every flag to the profile's;
// keeping it saves the flags as ticked. A bad value brings the form back
// with its message and nothing saved; SCIM follows a change within a
// second (the principal cache is evicted like for permissions).
func (s *Server) updateBehaviour(c echo.Context) error {
	ctx := c.Request().Context()
	id := c.Param("id")
	bh, err := s.tenants.FindBehaviour(ctx, id)
	if err != nil {
		return err
	}
	if profile := c.FormValue("profile"); profile != bh.Profile {
		err = bh.Set("profile", profile)
	} else {
		bh.RequireIfMatch = c.FormValue("require_if_match") != ""
		bh.StrictSchemas = c.FormValue("strict_schemas") != ""
		bh.SoftDelete = c.FormValue("soft_delete") != ""
		err = bh.Set("replace_no_target", c.FormValue("replace_no_target"))
	}
	if err == nil {
		err = s.tenants.UpdateBehaviour(ctx, id, *bh, actor(c))
	}
	if fields := app.ErrorFields(err); fields != nil {
		tp, terr := s.tenantParams(c, id, templates.SectionPermissions)
		if terr != nil {
			return terr
		}
		tp.FlagErrors = fields
		return render(c, http.StatusBadRequest, templates.Tenant(*tp))
	}
	if err != nil {
		return err
	}
	s.flash(c, "SCIM behaviour of "+id+" saved.")
	return seeOther(c, templates.TenantURL(id, templates.SectionPermissions)+"#behaviour")
}

// apiBehaviour returns a tenant's SCIM profile and flags, with the names of
// the flags that differ from the profile.
func (s *Server) apiBehaviour(c echo.Context) error {
	bh, err := s.tenants.FindBehaviour(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, behaviourJSON(bh))
}

// apiUpdateBehaviour changes a tenant's SCIM profile and flags. A profile
// given sets every flag to its values first; flags given are set over it;
// those left out keep their values.
func (s *Server) apiUpdateBehaviour(c echo.Context) error {
	ctx := c.Request().Context()
	id := c.Param("id")
	bh, err := s.tenants.FindBehaviour(ctx, id)
	if err != nil {
		return err
	}
	var in struct {
		Profile         *string `json:"profile"`
		RequireIfMatch  *bool   `json:"require_if_match"`
		StrictSchemas   *bool   `json:"strict_schemas"`
		SoftDelete      *bool   `json:"soft_delete"`
		ReplaceNoTarget *string `json:"replace_no_target"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if in.Profile != nil {
		if err := bh.Set("profile", *in.Profile); err != nil {
			return err
		}
	}
	if in.RequireIfMatch != nil {
		bh.RequireIfMatch = *in.RequireIfMatch
	}
	if in.StrictSchemas != nil {
		bh.StrictSchemas = *in.StrictSchemas
	}
	if in.SoftDelete != nil {
		bh.SoftDelete = *in.SoftDelete
	}
	if in.ReplaceNoTarget != nil {
		bh.ReplaceNoTarget = *in.ReplaceNoTarget
	}
	if err := s.tenants.UpdateBehaviour(ctx, id, *bh, actor(c)); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, behaviourJSON(bh))
}

func behaviourJSON(bh *tenant.Behaviour) any {
	differs := bh.Differs()
	if differs == nil {
		differs = []string{}
	}
	return struct {
		*tenant.Behaviour
		Differs []string `json:"differs_from_profile"`
	}{bh, differs}
}
