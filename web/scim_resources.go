package web

import (
	"context"
	"net/http"

	"github.com/jmoiron/sqlx"
	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/scim"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// inTenant runs fn in the request's tenant transaction.
func (s *Server) inTenant(c echo.Context, fn func(ctx context.Context, tx *sqlx.Tx) error) error {
	ctx := c.Request().Context()
	return s.cfg.DB.InTenant(ctx, principalOf(c).Tenant.Scope(), func(tx *sqlx.Tx) error { return fn(ctx, tx) })
}

// quota returns the tenant's limit on resources of rt.
func quota(p tenant.Permissions, rt *scim.ResourceType) int {
	if rt.Is(scim.GroupResource) {
		return p.MaxGroups
	}
	return p.MaxUsers
}

// membersAttr is the attribute holding a resource's memberships.
func membersAttr(rt *scim.ResourceType) string {
	if rt.Is(scim.GroupResource) {
		return "members"
	}
	return "groups"
}

// writeResource writes one resource with its ETag, projected as asked.
func writeResource(c echo.Context, status int, r *scim.Resource, proj scim.Projection) error {
	c.Response().Header().Set("ETag", r.ETag())
	if status == http.StatusCreated {
		c.Response().Header().Set(echo.HeaderLocation, scimBase(c)+r.Type.Endpoint+"/"+r.ID)
	}
	return writeSCIM(c, status, proj.Apply(r.Render(scimBase(c))))
}

// projection reads attributes and excludedAttributes from the query string.
func projection(c echo.Context, rt *scim.ResourceType) scim.Projection {
	return rt.Projection(c.QueryParam("attributes"), c.QueryParam("excludedAttributes"))
}

// forType adapts a handler of User or Group requests: rt, registered as
// scim.UserResource or scim.GroupResource, becomes the tenant's own version
// with its schema extensions. rt nil stays nil.
func forType(rt *scim.ResourceType, h func(echo.Context, *scim.ResourceType) error) echo.HandlerFunc {
	return func(c echo.Context) error {
		if rt != nil {
			return h(c, typesOf(c).Of(rt))
		}
		return h(c, nil)
	}
}

// createResource: POST /Users, POST /Groups.
func (s *Server) createResource(c echo.Context, rt *scim.ResourceType) error {
	body, err := readJSON(c, maxBodyBytes)
	if err != nil {
		return err
	}
	r, err := s.create(c.Request().Context(), writerOf(c), rt, body)
	if err != nil {
		return err
	}
	return writeResource(c, http.StatusCreated, r, projection(c, rt))
}

// getResource: GET /Users/{id}, GET /Groups/{id}.
func (s *Server) getResource(c echo.Context, rt *scim.ResourceType) error {
	proj := projection(c, rt)
	var r *scim.Resource
	// Reading one resource by id is lookups only (store.Scope.LookupsOnly).
	ctx := c.Request().Context()
	scope := principalOf(c).Tenant.Scope()
	scope.LookupsOnly = true
	err := s.cfg.DB.InTenant(ctx, scope, func(tx *sqlx.Tx) (err error) {
		r, err = scim.FindResource(ctx, tx, rt, c.Param("id"), proj.Includes(membersAttr(rt)))
		return err
	})
	if err != nil {
		return err
	}
	if noneMatch(c, r.ETag()) {
		c.Response().Header().Set("ETag", r.ETag())
		return c.NoContent(http.StatusNotModified)
	}
	return writeResource(c, http.StatusOK, r, proj)
}

// replaceResource: PUT /Users/{id}, PUT /Groups/{id}.
func (s *Server) replaceResource(c echo.Context, rt *scim.ResourceType) error {
	body, err := readJSON(c, maxBodyBytes)
	if err != nil {
		return err
	}
	r, err := s.replace(c.Request().Context(), writerOf(c), rt, c.Param("id"), ifMatchVersion(c), body)
	if err != nil {
		return err
	}
	return writeResource(c, http.StatusOK, r, projection(c, rt))
}

// patchResource: PATCH /Users/{id}, PATCH /Groups/{id}. A User comes back
// whole (200). A Group comes back only when the request asks for attributes
// with attributes or excludedAttributes (200); otherwise the answer is 204
// with the new ETag, as RFC 7644 §3.5.2 allows, so that changing one member
// of a large group never loads its member list.
func (s *Server) patchResource(c echo.Context, rt *scim.ResourceType) error {
	body, err := readJSON(c, maxBodyBytes)
	if err != nil {
		return err
	}
	proj := projection(c, rt)
	wantBody := !rt.Is(scim.GroupResource) || c.QueryParam("attributes") != "" || c.QueryParam("excludedAttributes") != ""
	r, err := s.patch(c.Request().Context(), writerOf(c), rt, c.Param("id"), ifMatchVersion(c), body, wantBody && proj.Includes(membersAttr(rt)))
	if err != nil {
		return err
	}
	if !wantBody {
		c.Response().Header().Set("ETag", r.ETag())
		return c.NoContent(http.StatusNoContent)
	}
	return writeResource(c, http.StatusOK, r, proj)
}

// deleteResource: DELETE /Users/{id}, DELETE /Groups/{id}.
func (s *Server) deleteResource(c echo.Context, rt *scim.ResourceType) error {
	if err := s.delete(c.Request().Context(), writerOf(c), rt, c.Param("id"), ifMatchVersion(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// listResources: GET /Users, GET /Groups.
func (s *Server) listResources(c echo.Context, rt *scim.ResourceType) error {
	p, err := queryListParams(c)
	if err != nil {
		return err
	}
	return s.list(c, []*scim.ResourceType{rt}, p)
}

// searchResources: POST /Users/.search, /Groups/.search, and /.search at the
// root (rt nil), which searches Users and Groups.
func (s *Server) searchResources(c echo.Context, rt *scim.ResourceType) error {
	body, err := readJSON(c, maxBodyBytes)
	if err != nil {
		return err
	}
	p, err := searchListParams(body)
	if err != nil {
		return err
	}
	types := typesOf(c).All()
	if rt != nil {
		types = []*scim.ResourceType{rt}
	}
	return s.list(c, types, p)
}

// list answers a list or search over one or more resource types. Over
// several types (a root search), results come type after type, paged as one
// list; an attribute the filter names that one type lacks is unassigned in
// that type's resources, so `meta.resourceType eq "Group" or userName sw
// "j"` finds every group and the users it says.
func (s *Server) list(c echo.Context, types []*scim.ResourceType, p listParams) error {
	var across []*scim.ResourceType
	if len(types) > 1 {
		across = types
	}
	resp := listResponse{Schemas: []string{listSchema}, StartIndex: p.StartIndex, Resources: []any{}}
	start, count := p.StartIndex, p.Count
	var firstErr error
	matched := 0
	err := s.inTenant(c, func(ctx context.Context, tx *sqlx.Tx) error {
		for _, rt := range types {
			proj := rt.Projection(p.Attributes, p.ExcludedAttributes)
			res, err := scim.FindResources(ctx, tx, rt, scim.ListQuery{
				Filter: p.Filter, SortBy: p.SortBy, SortOrder: p.SortOrder,
				StartIndex: start, Count: count, Members: proj.Includes(membersAttr(rt)), Across: across,
			})
			if err != nil {
				if len(types) > 1 && app.ErrorCode(err) == app.EINVALID {
					firstErr = err
					continue
				}
				return err
			}
			matched++
			resp.TotalResults += res.Total
			for _, r := range res.Resources {
				resp.Resources = append(resp.Resources, proj.Apply(r.Render(scimBase(c))))
			}
			// The next type continues where this one ended.
			start = max(start-res.Total, 1)
			count -= len(res.Resources)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if matched == 0 && firstErr != nil {
		return firstErr
	}
	resp.ItemsPerPage = len(resp.Resources)
	return writeSCIM(c, http.StatusOK, resp)
}
