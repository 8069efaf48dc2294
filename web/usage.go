package web

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/usage"
)

// Capture limits: a request body is kept up to maxCapturedBody bytes, and
// only shown (redacted) when the request failed; an error response up to
// maxCapturedError bytes, for its scimType and detail.
const (
	maxCapturedBody  = 64 << 10
	maxCapturedError = 8 << 10
)

// observe meters every request once the handler and the error handler have
// run: Prometheus counters by route pattern and status for all of them, and
// for SCIM requests of a known tenant a usage.Event for the Meter, with the
// redacted request for the inspector when it failed. It must come after the
// request id middleware and before logRequests, which writes error
// responses.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.obs == nil {
			return next(c)
		}
		start := time.Now()
		req := c.Request()
		var cp *capture
		if s.obs.meter != nil && isSCIMPath(req.URL.Path) {
			cp = s.obs.captures.Get().(*capture)
			cp.start(req, c.Response())
			c.SetRequest(req.WithContext(store.WithDBTime(req.Context(), &cp.db)))
		}
		if err := next(c); err != nil {
			c.Error(err)
		}
		res := c.Response()
		took := time.Since(start)
		route := c.Path()
		s.obs.observeHTTP(route, req.Method, res.Status, took)
		if cp == nil {
			return nil
		}
		defer s.obs.captures.Put(cp)
		c.Response().Writer = cp.w.ResponseWriter
		resource, op := classify(route, req.Method)
		e := usage.Event{
			At:        start,
			Resource:  resource,
			Operation: op,
			Status:    res.Status,
			Refusal:   refusalOf(c, res.Status),
			Duration:  took,
			DBTime:    cp.db.Duration(),
			BytesIn:   max(cp.n, req.ContentLength),
			BytesOut:  res.Size,
			IdP:       usage.IdentifyIdP(req.UserAgent()),
		}
		if e.Refusal != "" {
			s.obs.refusals.WithLabelValues(e.Refusal).Inc()
		}
		if p := authenticated(c); p != nil {
			e.TenantID = p.Tenant.ID
		}
		if e.TenantID != "" && res.Status >= 400 {
			if c.Get(ctxBadText) != nil {
				// Refused for bytes PostgreSQL cannot store: the failure is
				// recorded without them.
				cp.buf.Reset()
				cp.truncated = false
			}
			e.Failure = cp.failure(req, res)
		}
		s.obs.meter.Record(e)
		s.recordActivity(c, e) // web/activity.go
		return nil
	}
}

// refusalOf classifies a refused request by its status and, for 403, the
// reason the refusing code left on the context.
func refusalOf(c echo.Context, status int) string {
	switch status {
	case http.StatusUnauthorized:
		return usage.RefusalAuth
	case http.StatusForbidden:
		if r, ok := c.Get(ctxRefusalReason).(string); ok && r != "" {
			return r
		}
		return usage.RefusalPermission
	case http.StatusTooManyRequests:
		return usage.RefusalRateLimit
	}
	return ""
}

// classify names the resource type and operation of a SCIM route pattern.
func classify(route, method string) (resource, op string) {
	rest, ok := strings.CutPrefix(route, "/tenants/:tenant/scim/v2")
	if !ok {
		if rest, ok = strings.CutPrefix(route, "/scim/v2"); !ok {
			return usage.ResourceOther, usage.OpOther
		}
	}
	first, tail, _ := strings.Cut(strings.TrimPrefix(rest, "/"), "/")
	switch first {
	case "Users", "Groups":
		resource = first
		switch {
		case tail == "" && method == http.MethodGet:
			return resource, usage.OpList
		case tail == "" && method == http.MethodPost:
			return resource, usage.OpCreate
		case tail == ".search":
			return resource, usage.OpSearch
		case tail == ":id":
			switch method {
			case http.MethodGet, http.MethodHead:
				return resource, usage.OpGet
			case http.MethodPut:
				return resource, usage.OpReplace
			case http.MethodPatch:
				return resource, usage.OpPatch
			case http.MethodDelete:
				return resource, usage.OpDelete
			}
		}
	case "Bulk":
		return usage.ResourceBulk, usage.OpBulk
	case ".search":
		return usage.ResourceAll, usage.OpSearch
	case "ServiceProviderConfig", "ResourceTypes", "Schemas":
		return usage.ResourceDiscovery, usage.OpDiscovery
	}
	return usage.ResourceOther, usage.OpOther
}

// capture is the per-request state of observe, pooled: the request body
// read so far (up to maxCapturedBody), the error response, and the time
// spent in tenant transactions.
type capture struct {
	body      io.ReadCloser
	buf       bytes.Buffer
	n         int64
	truncated bool
	w         errorCapture
	db        store.DBTime
}

func newCapture() any { return &capture{} }

// start resets cp and puts it between the handler and the request body and
// response writer.
func (cp *capture) start(req *http.Request, res *echo.Response) {
	cp.buf.Reset()
	cp.n, cp.truncated = 0, false
	cp.db.Reset()
	cp.body = req.Body
	req.Body = cp
	cp.w.ResponseWriter, cp.w.status = res.Writer, 0
	cp.w.buf.Reset()
	res.Writer = &cp.w
}

// Read reads from the request body, keeping a copy of the first bytes.
func (cp *capture) Read(p []byte) (int, error) {
	n, err := cp.body.Read(p)
	cp.n += int64(n)
	if room := maxCapturedBody - cp.buf.Len(); room > 0 {
		cp.buf.Write(p[:min(n, room)])
		cp.truncated = cp.truncated || n > room
	} else if n > 0 {
		cp.truncated = true
	}
	return n, err
}

// Close closes the request body.
func (cp *capture) Close() error { return cp.body.Close() }

// failure describes the failed request for the inspector, redacted.
func (cp *capture) failure(req *http.Request, res *echo.Response) *usage.Failure {
	var e scimError
	_ = json.Unmarshal(cp.w.buf.Bytes(), &e)
	f := usage.Redact(usage.Captured{
		Method:    req.Method,
		Path:      req.URL.Path,
		RawQuery:  req.URL.RawQuery,
		Body:      cp.buf.Bytes(),
		Truncated: cp.truncated,
		ScimType:  e.ScimType,
		Detail:    e.Detail,
	})
	f.RequestID = res.Header().Get(echo.HeaderXRequestID)
	return &f
}

// errorCapture passes a response through, keeping the start of its body
// when its status is 400 or more.
type errorCapture struct {
	http.ResponseWriter
	status int
	buf    bytes.Buffer
}

// WriteHeader notes the status, so that Write knows whether to keep the body.
func (w *errorCapture) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Write passes p on, keeping its start when the response is an error.
func (w *errorCapture) Write(p []byte) (int, error) {
	if w.status >= 400 {
		if room := maxCapturedError - w.buf.Len(); room > 0 {
			w.buf.Write(p[:min(len(p), room)])
		}
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *errorCapture) Unwrap() http.ResponseWriter { return w.ResponseWriter }
