package web

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/bulkhead-dev/bulkhead/app/directory"
	"github.com/bulkhead-dev/bulkhead/app/scim"
)

// routes registers every route of Bulkhead, in one place.
func (s *Server) routes() {
	e := s.echo
	// Before routing, Server.ServeHTTP runs scimCleanPath and securityHeaders.
	e.Use(chain(
		requestID, // web/text.go: a client's id only if short and plain
		s.observe, // usage and Prometheus: web/usage.go, web/metrics.go
		s.logRequests,
		middleware.Recover(),
		checkText, // web/text.go: no invalid UTF-8 or NUL past this point
	))

	// The root is where a person lands who typed the host: send them to
	// the console rather than a JSON 404.
	e.Match([]string{http.MethodGet, http.MethodHead}, "/", func(c echo.Context) error { return c.Redirect(http.StatusFound, "/admin/") })
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	s.consoleRoutes()
	e.GET("/metrics", s.metrics)
	e.GET("/events", s.listEvents) // the events API, for an events key

	// SCIM, at the tenant's own base URL and at /scim/v2, where the token
	// alone picks the tenant.
	for _, base := range []string{"/tenants/:tenant/scim/v2", "/scim/v2"} {
		g := e.Group(base, s.scimAuth)
		for _, rt := range []*scim.ResourceType{scim.UserResource, scim.GroupResource} {
			g.GET(rt.Endpoint, permit(directory.CanList, forType(rt, s.listResources)))
			g.POST(rt.Endpoint, permit(directory.CanCreate, forType(rt, s.createResource)))
			g.POST(rt.Endpoint+"/.search", permit(directory.CanList, forType(rt, s.searchResources)))
			g.GET(rt.Endpoint+"/:id", permit(directory.CanRead, forType(rt, s.getResource)))
			g.PUT(rt.Endpoint+"/:id", permit(directory.CanUpdate, forType(rt, s.replaceResource)))
			g.PATCH(rt.Endpoint+"/:id", permit(directory.CanUpdate, forType(rt, s.patchResource)))
			g.DELETE(rt.Endpoint+"/:id", permit(directory.CanDelete, forType(rt, s.deleteResource)))
		}
		g.POST("/.search", permit(directory.CanList, forType(nil, s.searchResources)))
		g.POST("/Bulk", permit(directory.BulkEnabled, s.bulk))
		g.GET("/ServiceProviderConfig", s.serviceProviderConfig)
		g.GET("/ResourceTypes", s.resourceTypes)
		g.GET("/ResourceTypes/:id", s.resourceType)
		g.GET("/Schemas", s.schemas)
		g.GET("/Schemas/:id", s.schema)
		g.Any("/Me", scimNoMe)
		// Anything else: 405 with Allow where the path exists (writes to the
		// discovery endpoints among them), 404 where it does not.
		g.Any("/*", scimNoRoute)
	}
}
