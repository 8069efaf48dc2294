package web

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/templates"
)

// isConsolePath reports whether path is a console page: under /admin but
// not the JSON API under /admin/api/, whose errors are JSON.
func isConsolePath(path string) bool {
	return (path == "/admin" || strings.HasPrefix(path, "/admin/")) && !strings.HasPrefix(path, "/admin/api/")
}

// consoleError renders the error page of the console.
func (s *Server) consoleError(c echo.Context, status int, detail string) {
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	if status >= 500 {
		detail = "The server could not finish this request. It has been logged; try again in a moment."
	}
	consoleHeaders(func(echo.Context) error { return nil })(c)
	err := render(c, status, templates.Error(templates.ErrorParams{
		Page:    s.page(c, http.StatusText(status), ""),
		Status:  status,
		Message: detail,
	}))
	if err != nil {
		_ = c.String(status, detail)
	}
}
