package web

import (
	"crypto/rand"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/app"
)

// maxFormBytes bounds a console form read by checkText, as the console's
// body limit does: forms are small.
const maxFormBytes = 1 << 20

// ctxBadText notes on the context which part of a request checkText refused
// ("path", "query", "header" or "form"), for the sign-in page.
const ctxBadText = "bad_text"

// checkText is the one boundary for text: it refuses, with 400, any request
// whose path, path parameters, query parameters, headers or (in the
// console) form fields are not valid UTF-8 or contain a NUL character,
// before any handler or query sees them. PostgreSQL cannot store either, and
// refusing them here keeps them out of every query, log line and usage
// record, whatever route they were sent to. Under the SCIM base paths the
// error is invalidFilter for the filter parameter and invalidValue for
// anything else; JSON bodies are checked by checkJSON where they are read.
//
// It runs before authentication, so a refused request is never attributed
// to a tenant: its bytes do not reach the usage meter.
func checkText(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := textProblem(c); err != nil {
			return err
		}
		return next(c)
	}
}

// textProblem returns the 400 for the first part of the request that is not
// plain text, or nil.
func textProblem(c echo.Context) error {
	req := c.Request()
	refuse := func(part, scimType, what string) error {
		c.Set(ctxBadText, part)
		return app.ScimErrorf(app.EINVALID, scimType, "%s is not valid UTF-8 text or contains a NUL character", what)
	}
	if !plainText(req.URL.Path) || !plainText(req.Host) {
		return refuse("path", app.ScimInvalidValue, "the request path")
	}
	for _, v := range c.ParamValues() {
		if !plainText(v) {
			return refuse("path", app.ScimInvalidValue, "the request path")
		}
	}
	if bad := badValue(c.QueryParams()); bad != "" {
		scimType := app.ScimInvalidValue
		if bad == "filter" {
			scimType = app.ScimInvalidFilter
		}
		return refuse("query", scimType, what("query parameter", bad))
	}
	if !plainText(req.URL.RawQuery) {
		return refuse("query", app.ScimInvalidValue, "the query string")
	}
	for name, vs := range req.Header {
		for _, v := range vs {
			if !plainText(v) {
				return refuse("header", app.ScimInvalidValue, what("header", name))
			}
		}
	}
	if isConsolePath(req.URL.Path) {
		form, err := readForm(c)
		if err != nil {
			return err
		}
		if bad := badValue(form); bad != "" {
			return refuse("form", app.ScimInvalidValue, what("form field", bad))
		}
	}
	return nil
}

// readForm parses a console form body (URL-encoded or multipart), at most
// maxFormBytes of it, so that its fields can be checked before a handler
// reads them; the handler then reads the parsed form. Other bodies are left
// unread.
func readForm(c echo.Context) (url.Values, error) {
	req := c.Request()
	ct, _, _ := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType))
	if ct != echo.MIMEApplicationForm && ct != echo.MIMEMultipartForm {
		return nil, nil
	}
	if req.ContentLength > maxFormBytes {
		return nil, app.Errorf(app.ETOOLARGE, "the form is larger than %d bytes", maxFormBytes)
	}
	req.Body = http.MaxBytesReader(c.Response(), req.Body, maxFormBytes)
	var err error
	if ct == echo.MIMEMultipartForm {
		err = req.ParseMultipartForm(maxFormBytes)
	} else {
		err = req.ParseForm()
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, app.Errorf(app.ETOOLARGE, "the form is larger than %d bytes", maxFormBytes)
	}
	if err != nil {
		return nil, app.Errorf(app.EINVALID, "the form could not be read")
	}
	if req.MultipartForm != nil {
		return req.MultipartForm.Value, nil
	}
	return req.PostForm, nil
}

// badValue returns the name of the first key whose name or values are not
// plain text, "" when all are; a key whose own name is not plain text is
// returned as "\x00".
func badValue(vs url.Values) string {
	for k, list := range vs {
		if !plainText(k) {
			return "\x00"
		}
		for _, v := range list {
			if !plainText(v) {
				return k
			}
		}
	}
	return ""
}

// what names a query parameter, header or form field in a message, without
// echoing a name that is itself not plain text, nor a long one.
func what(kind, name string) string {
	if name == "\x00" || len(name) > 64 {
		return "the name of a " + kind
	}
	return "the " + kind + " " + `"` + name + `"`
}

// plainText reports whether s is valid UTF-8 without NUL characters.
func plainText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// maxRequestID is the longest X-Request-Id kept from a client.
const maxRequestID = 128

// requestID gives the request its id, in the response's X-Request-Id:
// the client's own X-Request-Id when it is at most maxRequestID characters
// of [A-Za-z0-9._:-], otherwise a new one (newRequestID), the client's
// removed from the request. The id goes into logs, the audit trail and
// usage records verbatim: a client must not be able to write anything else
// there.
func requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header
		id := h.Get(echo.HeaderXRequestID)
		if id != "" && !plainID(id) {
			h.Del(echo.HeaderXRequestID)
			id = ""
		}
		if id == "" {
			id = newRequestID()
		}
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		return next(c)
	}
}

// newRequestID returns 32 random letters [A-Za-z] from crypto/rand, the
// ids Echo's RequestID middleware made before requestID took its place.
func newRequestID() string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var id [32]byte
	var random [40]byte // 32 letters take about 40 random bytes
	for n := 0; n < len(id); {
		rand.Read(random[:])
		for _, b := range random {
			// Below 208 (4×52), b%52 favours no letter; above, it would.
			if int(b) < 4*len(letters) && n < len(id) {
				id[n] = letters[int(b)%len(letters)]
				n++
			}
		}
	}
	return string(id[:])
}

func plainID(id string) bool {
	if len(id) > maxRequestID {
		return false
	}
	for i := 0; i < len(id); i++ {
		b := id[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '.' || b == '_' || b == ':' || b == '-') {
			return false
		}
	}
	return true
}
