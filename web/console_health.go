package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/templates"
)

// healthPage shows the health checks and the tenants to look at first.
func (s *Server) healthPage(c echo.Context) error {
	r, err := s.console.data.Health(c.Request().Context())
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, templates.Health(templates.HealthParams{Page: s.page(c, "Health", "health"), Report: r}))
}
