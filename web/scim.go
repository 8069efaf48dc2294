package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/credential"
	"github.com/bulkhead-dev/bulkhead/app/directory"
	"github.com/bulkhead-dev/bulkhead/app/scim"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// SCIM limits, advertised in ServiceProviderConfig.
const (
	maxResults      = 1000        // largest page a list returns
	defaultCount    = 100         // page size when the client gives none
	maxBodyBytes    = 16 << 20    // largest request body
	scimBearer      = "bearer "   // the Authorization scheme, lower-cased
	ctxPrincipal    = "principal" // *credential.Principal whose credential worked, even if its tenant is then refused
	ctxSCIMBase     = "scim_base" // the tenant's SCIM base URL as the client reached it
	listSchema      = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	searchSchema    = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
	trialExpiredMsg = "the tenant's trial has expired; contact your provider to continue"
)

// scimAuth authenticates a SCIM request and resolves the tenant. The
// credential is an opaque token or a JWT, or a trusted gateway's signed
// X-Tenant-ID (scim_tenancy.go). Under /tenants/{tenant}/scim/v2 and on a
// tenant's subdomain the credential must belong to that tenant; a
// credential of another tenant gets the same 401 as an unknown one, so that
// nobody learns which tenants exist. Suspended tenants and expired trials
// get 403; a tenant over its request rate gets 429 with Retry-After.
func (s *Server) scimAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		rt, err := s.routeOf(c)
		if err != nil {
			return err
		}
		p, err := s.authenticate(c)
		if err != nil {
			s.noteAuthFailure(c, rt.tenant)
			return err
		}
		if rt.tenant != "" && rt.tenant != p.Tenant.ID {
			s.noteAuthFailure(c, rt.tenant)
			return errNoTenant
		}
		c.Set(ctxPrincipal, p) // for the handlers, and for observe and logRequests even if refused below
		switch {
		case p.Tenant.Status == tenant.StatusSuspended:
			return app.Refusef(app.EFORBIDDEN, app.ReasonSuspended, "the tenant is suspended; its data is kept: contact your provider to resume it")
		case p.Tenant.TrialEndsAt != nil && p.Tenant.TrialEndsAt.Before(time.Now()):
			return app.Refusef(app.EFORBIDDEN, app.ReasonSuspended, trialExpiredMsg)
		}
		if ok, wait := s.limiter.Allow(p.Tenant.ID, p.Permissions); !ok {
			c.Response().Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			return app.Refusef(app.ETOOMANY, app.ReasonRateLimit, "too many requests: this tenant may send %d per minute", p.Permissions.RequestsPerMinute)
		}
		c.Set(ctxSCIMBase, s.base(rt, p.Tenant.ID))
		return next(c)
	}
}

// permit runs h unless the tenant's permissions do not allow perm, which
// gets 403. The SCIM service checks it too; checking here first refuses
// before the request's body is read. It wraps the handler once, where it is
// registered: Echo would compose route middleware anew for every request.
func permit(perm directory.Permission, h echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := directory.Permit(principalOf(c).Permissions, perm); err != nil {
			return err
		}
		return h(c)
	}
}

// principalOf returns the principal of a SCIM request that scimAuth let
// through, for its handler.
func principalOf(c echo.Context) *credential.Principal {
	return c.Get(ctxPrincipal).(*credential.Principal)
}

// authenticated returns the principal whose credential worked (scimAuth),
// also when its tenant was then refused; nil for a request with no working
// SCIM credential. Its tenant is the one a request is logged and metered
// for.
func authenticated(c echo.Context) *credential.Principal {
	p, _ := c.Get(ctxPrincipal).(*credential.Principal)
	return p
}
func typesOf(c echo.Context) tenant.ResourceTypes { return principalOf(c).Types }
func scimBase(c echo.Context) string              { return c.Get(ctxSCIMBase).(string) }

// readJSON decodes the request body into a JSON object. Numbers stay
// json.Number, so that large integers survive. Malformed JSON, anything but
// one object, and invalid UTF-8 give 400 invalidSyntax; a body over limit
// bytes gives 413, before it is read when its Content-Length says so.
func readJSON(c echo.Context, limit int64) (map[string]any, error) {
	if c.Request().ContentLength > limit {
		return nil, app.Errorf(app.ETOOLARGE, "the request body is larger than %d bytes", limit)
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, limit))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, app.Errorf(app.ETOOLARGE, "the request body is larger than %d bytes", limit)
	}
	if err != nil {
		return nil, app.ScimErrorf(app.EINVALID, app.ScimInvalidSyntax, "could not read the request body")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, app.ScimErrorf(app.EINVALID, app.ScimInvalidSyntax, "the request body is empty; send a JSON object")
	}
	if err := checkJSON(body); err != nil {
		c.Set(ctxBadText, "body") // observe keeps the body out of usage records
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, app.ScimErrorf(app.EINVALID, app.ScimInvalidSyntax, "the request body is not valid JSON: %s", jsonProblem(err))
	}
	if dec.More() {
		return nil, app.ScimErrorf(app.EINVALID, app.ScimInvalidSyntax, "the request body has data after its JSON object")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, app.ScimErrorf(app.EINVALID, app.ScimInvalidSyntax, "the request body must be a JSON object")
	}
	return obj, nil
}

// jsonProblem describes a decoding error without echoing the input.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return syn.Error() + " at byte " + strconv.FormatInt(syn.Offset, 10)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of input"
	}
	return err.Error()
}

// listResponse is the body of a list (RFC 7644 §3.4.2).
type listResponse struct {
	Schemas      []string `json:"schemas"`
	TotalResults int      `json:"totalResults"`
	StartIndex   int      `json:"startIndex"`
	ItemsPerPage int      `json:"itemsPerPage"`
	Resources    []any    `json:"Resources"`
}

// queryListParams reads list parameters from the query string. startIndex
// below 1 counts as 1 and a negative count as 0 (RFC 7644 §3.4.2.4); count
// above maxResults is lowered to it. Non-numbers give 400 invalidValue.
func queryListParams(c echo.Context) (directory.Query, error) {
	p := directory.Query{
		Filter:             c.QueryParam("filter"),
		SortBy:             c.QueryParam("sortBy"),
		SortOrder:          c.QueryParam("sortOrder"),
		Attributes:         c.QueryParam("attributes"),
		ExcludedAttributes: c.QueryParam("excludedAttributes"),
	}
	var err error
	if p.StartIndex, err = intParam(c.QueryParam("startIndex"), "startIndex", 1); err != nil {
		return p, err
	}
	if p.Count, err = intParam(c.QueryParam("count"), "count", defaultCount); err != nil {
		return p, err
	}
	return clamp(p), nil
}

func clamp(p directory.Query) directory.Query {
	p.StartIndex = max(p.StartIndex, 1)
	p.Count = min(max(p.Count, 0), maxResults)
	return p
}

func intParam(s, name string, def int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			if strings.HasPrefix(strings.TrimSpace(s), "-") {
				return 0, nil
			}
			return maxResults * 1000, nil
		}
		return 0, app.ScimErrorf(app.EINVALID, app.ScimInvalidValue, "%s must be an integer", name)
	}
	const limit = 1 << 31
	return int(max(min(n, limit), -limit)), nil
}

// searchListParams reads list parameters from a POST /.search body
// (RFC 7644 §3.4.3).
func searchListParams(body map[string]any) (directory.Query, error) {
	p := directory.Query{StartIndex: 1, Count: defaultCount}
	for k, v := range body {
		var err error
		switch strings.ToLower(k) {
		case "schemas":
		case "filter":
			p.Filter, err = stringField(v, k)
		case "sortby":
			p.SortBy, err = stringField(v, k)
		case "sortorder":
			p.SortOrder, err = stringField(v, k)
		case "attributes":
			p.Attributes, err = stringList(v, k)
		case "excludedattributes":
			p.ExcludedAttributes, err = stringList(v, k)
		case "startindex":
			p.StartIndex, err = intField(v, k)
		case "count":
			p.Count, err = intField(v, k)
		}
		if err != nil {
			return p, err
		}
	}
	return clamp(p), nil
}

func stringField(v any, name string) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", app.ScimErrorf(app.EINVALID, app.ScimInvalidValue, "%s must be a string", name)
	}
	return s, nil
}

// stringList accepts an array of strings (as RFC 7644 §3.4.3 has it) or one
// comma-separated string, and returns the comma-separated form.
func stringList(v any, name string) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return "", app.ScimErrorf(app.EINVALID, app.ScimInvalidValue, "%s must be an array of strings", name)
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), nil
	}
	return "", app.ScimErrorf(app.EINVALID, app.ScimInvalidValue, "%s must be an array of strings", name)
}

func intField(v any, name string) (int, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, app.ScimErrorf(app.EINVALID, app.ScimInvalidValue, "%s must be an integer", name)
	}
	return intParam(n.String(), name, 0)
}

// ifMatchVersion reads the If-Match header (scim.IfMatchVersion).
func ifMatchVersion(c echo.Context) int64 {
	return scim.IfMatchVersion(c.Request().Header.Get("If-Match"))
}

// noneMatch reports whether If-None-Match lists etag (or is "*"), comparing
// weakly as RFC 9110 §13.1.2 asks.
func noneMatch(c echo.Context, etag string) bool {
	h := c.Request().Header.Get("If-None-Match")
	if h == "" {
		return false
	}
	weak := strings.TrimPrefix(etag, "W/")
	for _, tag := range strings.Split(h, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || strings.TrimPrefix(tag, "W/") == weak {
			return true
		}
	}
	return false
}
