package web

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// Keys of values the middleware keeps on echo.Context.
const (
	ctxRefusalReason = "refusal_reason" // app.Reason* of a refused request
	ctxAuthFailure   = "auth_failure"   // *activity.AuthFailure of a SCIM credential that did not work
)

// chain composes mw once, the first outermost, into one middleware for
// e.Use. Echo composes e.Use middleware anew for every request, a closure
// each, around the handler its router chose for the request; the composed
// chain ends in that handler itself, c.Handler(), and ignores the one Echo
// passes, which is the same. For e.Use only: group and route middleware
// wrap other handlers than c.Handler().
func chain(mw ...echo.MiddlewareFunc) echo.MiddlewareFunc {
	h := func(c echo.Context) error { return c.Handler()(c) }
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return func(echo.HandlerFunc) echo.HandlerFunc { return h }
}

// logRequests writes one structured line per request, with its request id and
// tenant id, so that a support engineer can follow one request end to end.
func (s *Server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			// Let the error handler write the response now, so that the
			// logged status is the one the client gets.
			c.Error(err)
		}
		res := c.Response()
		attrs := make([]slog.Attr, 0, 7) // the six below and tenant_id, so that appending it does not copy them to the heap
		attrs = append(attrs,
			slog.String("request_id", res.Header().Get(echo.HeaderXRequestID)),
			slog.String("method", c.Request().Method),
			slog.String("path", c.Request().URL.Path),
			slog.Int("status", res.Status),
			slog.Duration("duration", time.Since(start)),
			slog.Int64("bytes_out", res.Size),
		)
		if p := authenticated(c); p != nil {
			attrs = append(attrs, slog.String("tenant_id", p.Tenant.ID))
		}
		level := slog.LevelInfo
		if res.Status >= 500 {
			level = slog.LevelError
		}
		// The handler itself rather than Logger.LogAttrs, which would look up
		// its caller for a source field that the request log does not have.
		ctx, h := c.Request().Context(), s.cfg.Log.Handler()
		if h.Enabled(ctx, level) {
			r := slog.NewRecord(time.Now(), level, "request", 0)
			r.AddAttrs(attrs...)
			_ = h.Handle(ctx, r)
		}
		return nil
	}
}

// securityHeaders sets what every response needs, whatever answers it and
// errors included: Strict-Transport-Security when the public base URL is
// https (TLS usually ends at a proxy in front, so the request itself cannot
// tell), and Cache-Control: no-store on SCIM responses, which carry
// personal data that no browser or shared cache may keep. It runs before
// routing (Server.ServeHTTP), on the response's headers h and the request's
// path.
func (s *Server) securityHeaders(h http.Header, path string) {
	if s.https() {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	if isSCIMPath(path) {
		h.Set("Cache-Control", "no-store")
	}
}

// https reports whether clients reach the server over https, as its
// configured base URL says.
func (s *Server) https() bool { return strings.HasPrefix(s.cfg.BaseURL, "https://") }
