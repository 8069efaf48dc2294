package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/app/staff"
	"github.com/bulkhead-dev/bulkhead/templates"
)

// accountPage shows the signed-in account and its API keys.
func (s *Server) accountPage(c echo.Context) error {
	p, err := s.accountParams(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, templates.Account(*p))
}

func (s *Server) accountParams(c echo.Context) (*templates.AccountParams, error) {
	keys, err := staff.FindAPIKeys(c.Request().Context(), s.cfg.DB, staffOf(c).ID)
	if err != nil {
		return nil, err
	}
	return &templates.AccountParams{Page: s.page(c, "Account", "account"), Keys: keys, BaseURL: s.cfg.BaseURL}, nil
}

// createAPIKey issues an API key and shows it once, in the response.
func (s *Server) createAPIKey(c echo.Context) error {
	k, err := staff.CreateAPIKey(c.Request().Context(), s.cfg.DB, staffOf(c).ID, c.FormValue("name"), actor(c))
	if err != nil {
		return err
	}
	p, err := s.accountParams(c)
	if err != nil {
		return err
	}
	p.NewKey = k
	return render(c, http.StatusOK, templates.Account(*p))
}

// revokeAPIKey revokes one of the account's keys.
func (s *Server) revokeAPIKey(c echo.Context) error {
	if err := staff.RevokeAPIKey(c.Request().Context(), s.cfg.DB, staffOf(c).ID, c.Param("key"), actor(c)); err != nil {
		return err
	}
	s.flash(c, "API key revoked.")
	return seeOther(c, "/admin/account")
}
