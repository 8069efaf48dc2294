package web

import (
	"strings"

	"github.com/bulkhead-dev/bulkhead/app/credential"
)

// AuthOf is s's token cache, so that tests can wait for its change
// listener (Listening) and for a change to be in force (Sync).
func AuthOf(s *Server) *credential.Auth { return s.auth }

// WithoutObservability turns the observe middleware off, so that a
// benchmark can measure what metering costs.
func WithoutObservability(s *Server) *Server {
	s.obs = nil
	return s
}

// StaffRoute is a route Echo serves under /admin and the role its route
// table gives it.
type StaffRoute struct{ Method, Path, Role string }

// StaffRoutes is every route s's Echo serves under /admin, from Echo's own
// list, each with the role the console's or the admin API's table gives it:
// "" for a route in neither (static files, redirects, not-found handlers).
func StaffRoutes(s *Server) []StaffRoute {
	roles := map[string]role{}
	for prefix, table := range map[string][]staffRoute{"/admin": s.consolePages(), "/admin/api/v1": s.adminAPI()} {
		for _, r := range table {
			roles[r.method+" "+prefix+r.path] = r.who
		}
	}
	var out []StaffRoute
	for _, r := range s.echo.Routes() {
		if r.Path == "/admin" || strings.HasPrefix(r.Path, "/admin/") {
			out = append(out, StaffRoute{r.Method, r.Path, string(roles[r.Method+" "+r.Path])})
		}
	}
	return out
}
