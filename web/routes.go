package web

import "github.com/labstack/echo/v4/middleware"

// routes registers every route of Bulkhead, in one place.
func (s *Server) routes() {
	e := s.echo
	e.Use(middleware.RequestID())
	e.Use(s.logRequests)
	e.Use(middleware.Recover())

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
}
