package web

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/app/store"
)

// healthz says the process is alive. It touches nothing else, so that an
// orchestrator does not restart a healthy process during a database outage.
func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz says whether this instance can serve: the database answers and the
// control schema is at the version this binary expects.
func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	v, err := s.cfg.DB.ControlVersion(ctx)
	switch {
	case err != nil:
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": "database unreachable"})
	case v != store.LatestVersion(store.ControlMigrations):
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": "control schema not migrated"})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}
