package web

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/staff"
	"github.com/bulkhead-dev/bulkhead/templates"
)

// signInForm shows the sign-in page; signed-in staff go straight on.
func (s *Server) signInForm(c echo.Context) error {
	if s.console.sessions.GetString(c.Request().Context(), sessionStaffID) != "" {
		return seeOther(c, safeNext(c.QueryParam("next")))
	}
	return render(c, http.StatusOK, templates.SignIn(templates.SignInParams{
		Page: s.page(c, "Sign in", ""),
		Next: c.QueryParam("next"),
	}))
}

// signIn checks the email and password. On success the session gets a new
// token (so that a token planted before sign-in is worthless) and a new CSRF
// token; on failure the form comes back with one message for a wrong email or
// a wrong password.
func (s *Server) signIn(c echo.Context) error {
	ctx := c.Request().Context()
	email := strings.TrimSpace(c.Request().PostFormValue("email"))
	st, err := staff.Authenticate(ctx, s.cfg.DB, staff.SignIn{
		Email:     email,
		Password:  c.Request().PostFormValue("password"), // never from the URL, which logs keep
		Client:    clientAddr(c),
		RequestID: c.Response().Header().Get(echo.HeaderXRequestID),
	})
	if code := app.ErrorCode(err); code == app.EUNAUTHORIZED || code == app.EFORBIDDEN {
		status := http.StatusUnauthorized
		if code == app.EFORBIDDEN {
			status = http.StatusTooManyRequests
		}
		return render(c, status, templates.SignIn(templates.SignInParams{
			Page:  s.page(c, "Sign in", ""),
			Email: email,
			Next:  c.FormValue("next"),
			Error: app.ErrorMessage(err),
		}))
	} else if err != nil {
		return err
	}
	if err := s.console.sessions.RenewToken(ctx); err != nil {
		return err
	}
	s.console.sessions.Put(ctx, sessionStaffID, st.ID.String())
	s.console.sessions.Put(ctx, sessionCSRF, randomToken())
	return seeOther(c, safeNext(c.FormValue("next")))
}

// signOut ends the session.
func (s *Server) signOut(c echo.Context) error {
	if err := s.console.sessions.Destroy(c.Request().Context()); err != nil {
		return err
	}
	return seeOther(c, "/admin/signin")
}

// safeNext keeps redirects after sign-in inside the console, so that a
// crafted link cannot send someone elsewhere.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/admin/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") ||
		strings.HasPrefix(next, "/admin/signin") {
		return "/admin/tenants"
	}
	return next
}
