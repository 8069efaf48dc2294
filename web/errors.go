package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/app"
)

// statusOf maps app error codes to HTTP statuses.
var statusOf = map[string]int{
	app.EINVALID:              http.StatusBadRequest,
	app.EUNAUTHORIZED:         http.StatusUnauthorized,
	app.EFORBIDDEN:            http.StatusForbidden,
	app.ENOTFOUND:             http.StatusNotFound,
	app.ECONFLICT:             http.StatusConflict,
	app.EPRECONDITION:         http.StatusPreconditionFailed,
	app.EPRECONDITIONREQUIRED: http.StatusPreconditionRequired,
	app.ETOOLARGE:             http.StatusRequestEntityTooLarge,
	app.ETOOMANY:              http.StatusTooManyRequests,
	app.ENOTIMPL:              http.StatusNotImplemented,
	app.EUNAVAILABLE:          http.StatusServiceUnavailable,
	app.EINTERNAL:             http.StatusInternalServerError,
}

// scimError is the body of every SCIM error response (RFC 7644 §3.12).
type scimError struct {
	Schemas  []string `json:"schemas"`
	Status   string   `json:"status"`
	ScimType string   `json:"scimType,omitempty"`
	Detail   string   `json:"detail,omitempty"`
}

const scimErrorSchema = "urn:ietf:params:scim:api:messages:2.0:Error"

// handleError writes the response for an error a handler returned: a SCIM
// Error under the SCIM base paths, an HTML page in the console, JSON elsewhere
// (the admin API included). Internal errors are logged
// once with the request and tenant ids; clients see a plain message.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, scimType, detail := s.describeError(err, c)
	if isSCIMPath(c.Request().URL.Path) {
		if status == http.StatusUnauthorized {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="bulkhead"`)
		}
		h := c.Response().Header()
		switch {
		case status == http.StatusServiceUnavailable:
			h.Set("Retry-After", "5")
		case status == http.StatusTooManyRequests && h.Get("Retry-After") == "":
			h.Set("Retry-After", "1") // the tenant's share of connections was full
		}
		writeSCIM(c, status, scimError{
			Schemas:  []string{scimErrorSchema},
			Status:   strconv.Itoa(status),
			ScimType: scimType,
			Detail:   detail,
		})
		return
	}
	if isConsolePath(c.Request().URL.Path) {
		s.consoleError(c, status, detail)
		return
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	if fields := app.ErrorFields(err); fields != nil {
		_ = c.JSON(status, map[string]any{"error": detail, "fields": fields})
		return
	}
	_ = c.JSON(status, map[string]string{"error": detail})
}

func (s *Server) describeError(err error, c echo.Context) (status int, scimType, detail string) {
	var he *echo.HTTPError
	if errors.As(err, &he) && (he.Code == http.StatusNotFound || he.Code == http.StatusMethodNotAllowed) && isSCIMPath(c.Request().URL.Path) {
		err = scimNoRoute(c) // a method Echo does not route at all
	}
	if errors.As(err, &he) {
		detail = http.StatusText(he.Code)
		if m, ok := he.Message.(string); ok {
			detail = m
		}
		if he.Code == http.StatusRequestEntityTooLarge {
			detail = "the request body is too large"
		}
		return he.Code, "", detail
	}
	code := app.ErrorCode(err)
	status = statusOf[code]
	if code == app.EINTERNAL || code == app.EUNAVAILABLE {
		attrs := []any{"request_id", c.Response().Header().Get(echo.HeaderXRequestID), "error", err.Error()}
		if p := authenticated(c); p != nil {
			attrs = append(attrs, "tenant_id", p.Tenant.ID)
		}
		s.cfg.Log.Error("request failed", attrs...)
	}
	var ae *app.Error
	if errors.As(err, &ae) {
		scimType = ae.ScimType
		if ae.Reason != "" {
			c.Set(ctxRefusalReason, ae.Reason)
		}
	}
	return status, scimType, app.ErrorMessage(err)
}

// isSCIMPath reports whether path is under a SCIM base URL: /scim/v2 or
// /tenants/{id}/scim/v2.
func isSCIMPath(path string) bool {
	if strings.HasPrefix(path, "/scim/v2") {
		return true
	}
	rest, ok := strings.CutPrefix(path, "/tenants/")
	if !ok {
		return false
	}
	_, after, ok := strings.Cut(rest, "/")
	return ok && strings.HasPrefix(after, "scim/v2")
}

// scimContentType is the media type of SCIM responses (RFC 7644 §3.1).
const scimContentType = "application/scim+json; charset=utf-8"

// writeSCIM writes v as application/scim+json.
func writeSCIM(c echo.Context, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return writeSCIMBody(c, status, b)
}

// writeSCIMBody writes b, a SCIM JSON body, as writeSCIM does.
func writeSCIMBody(c echo.Context, status int, b []byte) error {
	ct := responseType(c.Request().Header.Get(echo.HeaderAccept))
	if c.Request().Method == http.MethodHead {
		c.Response().Header().Set(echo.HeaderContentType, ct)
		return c.NoContent(status)
	}
	return c.Blob(status, ct, b)
}

// responseType is application/scim+json, or application/json for a client
// that accepts only that (RFC 7644 §8.1: providers SHOULD honour it).
func responseType(accept string) string {
	if accept != "" && !strings.Contains(accept, "application/scim+json") && !strings.Contains(accept, "*/*") &&
		strings.Contains(accept, "application/json") {
		return "application/json; charset=utf-8"
	}
	return scimContentType
}

// scimNoRoute answers a SCIM request that no route takes: 405 with Allow
// when the path exists for other methods, 404 otherwise.
func scimNoRoute(c echo.Context) error {
	path := c.Request().URL.Path
	if i := strings.Index(path, "/scim/v2"); i >= 0 {
		path = path[i+len("/scim/v2"):]
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	discovery := parts[0] == "ServiceProviderConfig" || parts[0] == "ResourceTypes" || parts[0] == "Schemas"
	allow := ""
	switch {
	case discovery && (len(parts) == 1 || (len(parts) == 2 && parts[0] != "ServiceProviderConfig")):
		allow = "GET"
	case len(parts) == 1 && (parts[0] == "Users" || parts[0] == "Groups"):
		allow = "GET, POST"
	case len(parts) == 2 && (parts[0] == "Users" || parts[0] == "Groups") && parts[1] == ".search",
		len(parts) == 1 && (parts[0] == "Bulk" || parts[0] == ".search"):
		allow = "POST"
	case len(parts) == 2 && (parts[0] == "Users" || parts[0] == "Groups"):
		allow = "GET, PUT, PATCH, DELETE"
	}
	if allow == "" {
		return app.Errorf(app.ENOTFOUND, "no SCIM endpoint at %s", c.Request().URL.Path)
	}
	c.Response().Header().Set(echo.HeaderAllow, allow)
	return echo.NewHTTPError(http.StatusMethodNotAllowed, c.Request().Method+" is not allowed here; use "+allow)
}

// scimNoMe answers /Me, which Bulkhead does not offer: its credentials
// belong to a tenant's provisioning client, not to a user (RFC 7644 §3.11:
// 501 Not Implemented).
func scimNoMe(c echo.Context) error {
	return app.Errorf(app.ENOTIMPL, "/Me is not offered: Bulkhead's credentials stand for a tenant's provisioning client, not for a user")
}

// scimCleanPath serves SCIM paths with a trailing or doubled slash
// (/Users/, //Users) as their clean form: clients join a base URL that
// may end with a slash. Other paths are left as they are. It runs before
// routing (Server.ServeHTTP).
func scimCleanPath(u *url.URL) {
	if strings.Contains(u.Path, "/scim/v2/") && (strings.HasSuffix(u.Path, "/") || strings.Contains(u.Path, "//")) {
		u.Path, u.RawPath = path.Clean(u.Path), ""
	}
}
