package web

import (
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/app/directory"
	"github.com/bulkhead-dev/bulkhead/app/scim"
)

// The SCIM resource handlers decode a request, call one method of the
// SCIM service (app/directory), which owns the operation, and encode its
// result: ETag, Location, status and the projection a client asked for are
// the wire format, and stay here.

// readerOf returns the caller of a read: reads leave no audit record.
func readerOf(c echo.Context) directory.Caller {
	return directory.Caller{Principal: principalOf(c)}
}

// writerOf returns the caller of a write, with what its audit record says
// of the request.
func writerOf(c echo.Context) directory.Caller {
	return directory.Caller{Principal: principalOf(c), RequestID: c.Response().Header().Get(echo.HeaderXRequestID), ClientAddr: c.RealIP(), BaseURL: scimBase(c)}
}

// writeResource writes one resource with its ETag, projected as asked.
func writeResource(c echo.Context, status int, r *scim.Resource, proj scim.Projection) error {
	c.Response().Header().Set("ETag", r.ETag())
	if status == http.StatusCreated {
		c.Response().Header().Set(echo.HeaderLocation, scimBase(c)+r.Type.Endpoint+"/"+r.ID)
	}
	b, err := r.AppendJSON(nil, scimBase(c), proj)
	if err != nil {
		return err
	}
	return writeSCIMBody(c, status, b)
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
	r, err := s.scim.Create(c.Request().Context(), writerOf(c), rt, body)
	if err != nil {
		return err
	}
	return writeResource(c, http.StatusCreated, r, projection(c, rt))
}

// getResource: GET /Users/{id}, GET /Groups/{id}.
func (s *Server) getResource(c echo.Context, rt *scim.ResourceType) error {
	proj := projection(c, rt)
	r, err := s.scim.Get(c.Request().Context(), readerOf(c), rt, c.Param("id"), proj.Includes(rt.MembershipsAttr()))
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
	r, err := s.scim.Replace(c.Request().Context(), writerOf(c), rt, c.Param("id"), ifMatchVersion(c), body)
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
	r, err := s.scim.Patch(c.Request().Context(), writerOf(c), rt, c.Param("id"), ifMatchVersion(c), body, wantBody && proj.Includes(rt.MembershipsAttr()))
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
	if err := s.scim.Delete(c.Request().Context(), writerOf(c), rt, c.Param("id"), ifMatchVersion(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// listResources: GET /Users, GET /Groups.
func (s *Server) listResources(c echo.Context, rt *scim.ResourceType) error {
	q, err := queryListParams(c)
	if err != nil {
		return err
	}
	return s.list(c, rt, q)
}

// searchResources: POST /Users/.search, /Groups/.search, and /.search at the
// root (rt nil), which searches Users and Groups.
func (s *Server) searchResources(c echo.Context, rt *scim.ResourceType) error {
	body, err := readJSON(c, maxBodyBytes)
	if err != nil {
		return err
	}
	q, err := searchListParams(body)
	if err != nil {
		return err
	}
	return s.list(c, rt, q)
}

// list answers a list or search of rt, or of every type when rt is nil,
// each resource projected by its own type's reading of the attributes.
func (s *Server) list(c echo.Context, rt *scim.ResourceType, q directory.Query) error {
	page, err := s.scim.List(c.Request().Context(), readerOf(c), rt, q)
	if err != nil {
		return err
	}
	resp := listResponse{Schemas: []string{listSchema}, TotalResults: page.Total, StartIndex: q.StartIndex,
		ItemsPerPage: len(page.Resources), Resources: make([]any, 0, len(page.Resources))}
	var proj scim.Projection
	var projected *scim.ResourceType // the type proj is for; resources come type after type
	var buf []byte                   // the resources' JSON, one after the other
	ends := make([]int, len(page.Resources))
	for i, r := range page.Resources {
		if r.Type != projected {
			projected, proj = r.Type, r.Type.Projection(q.Attributes, q.ExcludedAttributes)
		}
		if buf, err = r.AppendJSON(buf, scimBase(c), proj); err != nil {
			return err
		}
		ends[i] = len(buf)
	}
	start := 0
	for _, end := range ends {
		resp.Resources = append(resp.Resources, json.RawMessage(buf[start:end]))
		start = end
	}
	return writeSCIM(c, http.StatusOK, resp)
}
