package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/events"
)

// listEvents serves GET /events, the events API (docs/events.md): a page
// of the feed of directory events that the events key in the
// Authorization header may see, after a cursor, long-polling up to wait
// seconds when there is none yet. A tenant the key may not see, or that
// does not exist, gives the same empty page as a quiet tenant.
func (s *Server) listEvents(c echo.Context) error {
	ctx := c.Request().Context()
	secret, ok := bearer(c.Request())
	if !ok {
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="bulkhead"`)
		return app.Refusef(app.EUNAUTHORIZED, app.ReasonAuth, "send an events key: Authorization: Bearer bhe_…")
	}
	key, err := events.AuthenticateKey(ctx, s.cfg.DB, secret)
	if err != nil {
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="bulkhead"`)
		return err
	}
	q, wait, err := eventsQuery(c)
	if err != nil {
		return err
	}
	q.Scope = key.Tenants
	page, err := s.events.Poll(ctx, q, wait) // EINVALID for a bad cursor or type
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page)
}

// eventsQuery reads the events API's parameters: after, limit, wait (in
// seconds, "30" or "30s"), tenant, and type, repeated or a comma list.
func eventsQuery(c echo.Context) (events.Query, time.Duration, error) {
	params := c.QueryParams()
	var q events.Query
	for _, name := range []string{"after", "limit", "wait", "tenant"} {
		if len(params[name]) > 1 {
			return q, 0, app.Errorf(app.EINVALID, "%s: give it once", name)
		}
	}
	q.After, q.Tenant = params.Get("after"), params.Get("tenant")
	if v := params.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > events.MaxLimit {
			return q, 0, app.Errorf(app.EINVALID, "limit must be a number from 1 to %d", events.MaxLimit)
		}
		q.Limit = n
	}
	var wait time.Duration
	if v := params.Get("wait"); v != "" {
		n, err := strconv.Atoi(strings.TrimSuffix(v, "s"))
		if err != nil || n < 0 || n > int(events.MaxWait/time.Second) {
			return q, 0, app.Errorf(app.EINVALID, "wait must be a number of seconds from 0 to %d", int(events.MaxWait/time.Second))
		}
		wait = time.Duration(n) * time.Second
	}
	for _, v := range params["type"] {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				q.Types = append(q.Types, t)
			}
		}
	}
	return q, wait, nil
}
