package web

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/templates"
)

// signInError shows the sign-in form again with the message of a refused
// sign-in (a form that is not plain text, or has expired), so that the
// person can try again from where they are, before anyone is signed in. The
// session is loaded for the form's CSRF token unless its cookie is what was
// refused.
func (s *Server) signInError(c echo.Context, status int, detail string) {
	show := func(c echo.Context) error {
		return render(c, status, templates.SignIn(templates.SignInParams{
			Page:  s.page(c, "Sign in", ""),
			Error: detail,
		}))
	}
	if loaded, _ := c.Get(ctxSession).(bool); !loaded && c.Get(ctxBadText) != "header" {
		show = s.loadSession(show)
	}
	if err := show(c); err != nil {
		_ = c.String(status, detail)
	}
}

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
	if c.Request().URL.Path == "/admin/signin" && status < 500 {
		s.signInError(c, status, detail)
		return
	}
	err := render(c, status, templates.Error(templates.ErrorParams{
		Page:    s.page(c, http.StatusText(status), ""),
		Status:  status,
		Message: detail,
	}))
	if err != nil {
		_ = c.String(status, detail)
	}
}
