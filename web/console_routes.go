package web

import (
	"fmt"
	"io/fs"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/static"
	"github.com/bulkhead-dev/bulkhead/templates"
)

// role is who may use a console or admin-API route. A route without one
// (the zero role) stops the server at start: registering it panics.
type role string

// Who may use a console route.
const (
	anyone  role = "anyone"  // signed in or not: the sign-in page
	support role = "support" // any signed-in staff: reading
	admin   role = "admin"   // administrators only: every change
)

// staffRoute is one row of the console's or the admin API's route table:
// a method and a path, who may use it and its handler.
type staffRoute struct {
	method, path string
	who          role
	h            echo.HandlerFunc
}

// consoleRoutes registers the console under /admin/ and its JSON API under
// /admin/api/v1/, in one table each (consolePages, adminAPI). Every route
// names who may use it; the server checks it on every request, whatever the
// page showed. TestConsoleRouteRoles sends every route of both tables a
// support person's and a stranger's requests.
func (s *Server) consoleRoutes() {
	s.console = s.newConsole()
	e := s.echo

	files := http.StripPrefix("/admin/static/", http.FileServerFS(filesOnly{static.FS}))
	e.GET("/admin/static/*", func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(c.Response(), c.Request())
		return nil
	})
	e.GET("/admin", func(c echo.Context) error { return seeOther(c, "/admin/tenants") })

	// Forms are small; without a limit Go reads up to 10 MB of one before
	// anyone is signed in.
	g := e.Group("/admin", middleware.BodyLimit("1M"), consoleHeaders, s.loadSession, s.checkCSRF)
	for _, r := range s.consolePages() {
		var mw []echo.MiddlewareFunc
		switch r.who {
		case anyone:
		case support:
			mw = []echo.MiddlewareFunc{s.requireStaff}
		case admin:
			mw = []echo.MiddlewareFunc{s.requireStaff, requireAdmin}
		default:
			panic(fmt.Sprintf("console route %s %s: role %q is none of anyone, support, admin", r.method, r.path, r.who))
		}
		g.Add(r.method, r.path, r.h, mw...)
	}
	g.RouteNotFound("/*", func(c echo.Context) error {
		return app.Errorf(app.ENOTFOUND, "there is no console page at %s", c.Request().URL.Path)
	}, s.requireStaff)

	api := e.Group("/admin/api/v1", s.apiAuth)
	for _, r := range s.adminAPI() {
		var mw []echo.MiddlewareFunc
		switch r.who {
		case support:
		case admin:
			mw = []echo.MiddlewareFunc{requireAdmin}
		default: // every API call needs a key: there is no "anyone" here
			panic(fmt.Sprintf("admin API route %s %s: role %q is neither support nor admin", r.method, r.path, r.who))
		}
		api.Add(r.method, r.path, r.h, mw...)
	}
	api.RouteNotFound("/*", func(c echo.Context) error {
		return app.Errorf(app.ENOTFOUND, "no admin API endpoint at %s %s", c.Request().Method, c.Request().URL.Path)
	})
}

// consolePages is the console's route table, under /admin.
func (s *Server) consolePages() []staffRoute {
	return []staffRoute{
		{http.MethodGet, "/", support, func(c echo.Context) error { return seeOther(c, "/admin/tenants") }},
		{http.MethodGet, "/signin", anyone, s.signInForm},
		{http.MethodPost, "/signin", anyone, s.signIn},
		{http.MethodPost, "/signout", support, s.signOut},

		{http.MethodGet, "/tenants", support, s.tenantsPage},
		{http.MethodGet, "/tenants/new", admin, s.newTenantForm},
		{http.MethodPost, "/tenants", admin, s.createTenant},
		{http.MethodGet, "/tenants/:id", support, s.tenantSection(templates.SectionOverview)},
		{http.MethodGet, "/tenants/:id/tokens", support, s.tenantSection(templates.SectionTokens)},
		{http.MethodGet, "/tenants/:id/permissions", support, s.tenantSection(templates.SectionPermissions)},
		{http.MethodGet, "/tenants/:id/schema", support, s.tenantSection(templates.SectionSchema)},
		{http.MethodGet, "/tenants/:id/health", support, s.tenantSection(templates.SectionHealth)},
		{http.MethodGet, "/tenants/:id/audit", support, s.tenantSection(templates.SectionAudit)},
		{http.MethodGet, "/tenants/:id/usage", support, s.usagePage},
		{http.MethodGet, "/tenants/:id/requests", support, s.requestsPage},
		{http.MethodGet, "/tenants/:id/activity", support, s.activityPage},
		{http.MethodGet, "/tenants/:id/activity/stream", support, s.activityStream},
		{http.MethodPost, "/tenants/:id/permissions", admin, s.updatePermissions},
		{http.MethodPost, "/tenants/:id/behaviour", admin, s.updateBehaviour},
		{http.MethodPost, "/tenants/:id/tokens", admin, s.createToken},
		{http.MethodPost, "/tenants/:id/tokens/:token/revoke", admin, s.revokeToken},
		{http.MethodPost, "/tenants/:id/schemas", admin, s.putSchema},
		{http.MethodPost, "/tenants/:id/schemas/remove", admin, s.removeSchema},
		{http.MethodPost, "/tenants/:id/schemas/purge", admin, s.purgeSchema},
		{http.MethodPost, "/tenants/:id/suspend", admin, s.setStatus(false)},
		{http.MethodPost, "/tenants/:id/resume", admin, s.setStatus(true)},
		{http.MethodGet, "/tenants/:id/delete", admin, s.deleteTenantForm},
		{http.MethodPost, "/tenants/:id/delete", admin, s.deleteTenant},

		{http.MethodGet, "/health", support, s.healthPage},
		{http.MethodGet, "/audit", support, s.auditPage},
		{http.MethodGet, "/account", support, s.accountPage},
		{http.MethodPost, "/account/password", support, s.changePassword},
		{http.MethodPost, "/account/keys", admin, s.createAPIKey},
		{http.MethodGet, "/staff", admin, s.staffPage},
		{http.MethodPost, "/staff", admin, s.createStaff},
		{http.MethodPost, "/staff/:id/disable", admin, s.staffAction("disable")},
		{http.MethodPost, "/staff/:id/enable", admin, s.staffAction("enable")},
		{http.MethodPost, "/staff/:id/role", admin, s.staffAction("role")},
		{http.MethodPost, "/staff/:id/unlock", admin, s.staffAction("unlock")},
		{http.MethodPost, "/account/keys/:key/revoke", admin, s.revokeAPIKey},

		{http.MethodGet, "/webhooks", support, s.webhooksPage},
		{http.MethodPost, "/webhooks", admin, s.addWebhook},
		{http.MethodGet, "/webhooks/:hook", support, s.webhookPage},
		{http.MethodGet, "/webhooks/:hook/deliveries", support, s.webhookDeliveries},
		{http.MethodPost, "/webhooks/:hook/replay", admin, s.replayWebhook},
		{http.MethodPost, "/webhooks/:hook/resume", admin, s.resumeWebhook},
		{http.MethodPost, "/webhooks/:hook/remove", admin, s.removeWebhook},
	}
}

// adminAPI is the admin JSON API's route table, under /admin/api/v1. Its
// callers authenticate with a staff API key (apiAuth).
func (s *Server) adminAPI() []staffRoute {
	return []staffRoute{
		{http.MethodGet, "/tenants", support, s.apiTenants},
		{http.MethodPost, "/tenants", admin, s.apiCreateTenant},
		{http.MethodGet, "/tenants/:id", support, s.apiTenant},
		{http.MethodDelete, "/tenants/:id", admin, s.apiDeleteTenant},
		{http.MethodPost, "/tenants/:id/suspend", admin, s.apiSetStatus(false)},
		{http.MethodPost, "/tenants/:id/resume", admin, s.apiSetStatus(true)},
		{http.MethodGet, "/tenants/:id/permissions", support, s.apiPermissions},
		{http.MethodPut, "/tenants/:id/permissions", admin, s.apiUpdatePermissions},
		{http.MethodGet, "/tenants/:id/behaviour", support, s.apiBehaviour},
		{http.MethodPut, "/tenants/:id/behaviour", admin, s.apiUpdateBehaviour},
		{http.MethodGet, "/tenants/:id/tokens", support, s.apiTokens},
		{http.MethodPost, "/tenants/:id/tokens", admin, s.apiCreateToken},
		{http.MethodDelete, "/tenants/:id/tokens/:token", admin, s.apiRevokeToken},
		{http.MethodGet, "/tenants/:id/schemas", support, s.apiSchemas},
		{http.MethodPost, "/tenants/:id/schemas", admin, s.apiPutSchema},
		{http.MethodDelete, "/tenants/:id/schemas/:urn", admin, s.apiRemoveSchema},
		{http.MethodPost, "/tenants/:id/schemas/:urn/purge", admin, s.apiPurgeSchema},
		{http.MethodGet, "/tenants/:id/audit", support, s.apiAudit},
		{http.MethodGet, "/tenants/:id/usage", support, s.apiUsage},
		{http.MethodGet, "/tenants/:id/requests", support, s.apiRequests},
		{http.MethodGet, "/tenants/:id/activity", support, s.apiActivity},
		{http.MethodGet, "/health", support, s.apiHealth},
		{http.MethodGet, "/audit", support, s.apiAudit},
		{http.MethodGet, "/webhooks", support, s.apiWebhooks},
		{http.MethodPost, "/webhooks", admin, s.apiAddWebhook},
		{http.MethodGet, "/webhooks/:hook", support, s.apiWebhook},
		{http.MethodDelete, "/webhooks/:hook", admin, s.apiRemoveWebhook},
		{http.MethodPost, "/webhooks/:hook/resume", admin, s.apiResumeWebhook},
		{http.MethodPost, "/webhooks/:hook/replay", admin, s.apiReplayWebhook},
	}
}

// filesOnly serves the files of an FS and hides its folders, so that
// http.FileServer answers 404 where it would list one.
type filesOnly struct{ fs.FS }

func (f filesOnly) Open(name string) (fs.File, error) {
	file, err := f.FS.Open(name)
	if err != nil {
		return nil, err
	}
	if st, err := file.Stat(); err != nil || st.IsDir() {
		file.Close()
		return nil, fs.ErrNotExist
	}
	return file, nil
}
