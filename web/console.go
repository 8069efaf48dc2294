package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/a-h/templ"
	"github.com/alexedwards/scs/v2"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/audit"
	"github.com/bulkhead-dev/bulkhead/app/insight"
	"github.com/bulkhead-dev/bulkhead/app/staff"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
	"github.com/bulkhead-dev/bulkhead/templates"
)

// ConsoleData is what the console shows beyond the control plane: counts,
// usage series and health. insight.Basic computes what is known without
// usage metering; the metering and health checks plug in here.
type ConsoleData interface {
	// TenantStats returns the stats of each tenant, keyed by id.
	TenantStats(ctx context.Context, ts []*tenant.Tenant) (map[string]insight.TenantStats, error)
	// TenantUsage returns the tenant's usage over the last days days.
	TenantUsage(ctx context.Context, t *tenant.Tenant, days int) (*insight.Usage, error)
	// Health runs the health checks and lists the tenants to look at first.
	Health(ctx context.Context) (*insight.HealthReport, error)
}

// tenantChecker is a ConsoleData that can also run one tenant's health
// checks (insight.Metered does); the tenant page then lists them.
type tenantChecker interface {
	TenantChecks(ctx context.Context, t *tenant.Tenant) ([]insight.Check, error)
}

// Console session timeouts: a session ends after IdleTimeout without a
// request, and after Lifetime whatever happens.
const (
	sessionIdleTimeout = 30 * time.Minute
	sessionLifetime    = 12 * time.Hour
)

// Keys of the console's values on echo.Context and in the session.
const (
	ctxStaff       = "staff"
	ctxSession     = "console_session" // true once loadSession loaded the session
	sessionStaffID = "staff_id"
	sessionCSRF    = "csrf"
	sessionFlash   = "flash"
	csrfField      = "csrf"
	csrfHeader     = "X-CSRF-Token"
)

// console holds the console's session manager and data source.
type console struct {
	sessions *scs.SessionManager
	data     ConsoleData
}

func (s *Server) newConsole() *console {
	sm := scs.New()
	// No cleanup goroutine here, where nothing would stop it:
	// sweepSessions runs it for as long as the server's background work.
	sm.Store = s.cfg.DB.SessionStore(0)
	sm.IdleTimeout = sessionIdleTimeout
	sm.Lifetime = sessionLifetime
	sm.Cookie.Name = "bulkhead_session"
	sm.Cookie.Path = "/admin"
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Secure = s.https()
	sm.Cookie.Persist = false
	data := s.cfg.Console
	if data == nil {
		data = insight.NewBasic(s.tenants)
	}
	return &console{sessions: sm, data: data}
}

// sweepSessions deletes expired console sessions every 10 minutes until ctx
// ends, with postgresstore's own cleanup.
func (s *Server) sweepSessions(ctx context.Context) {
	st := s.cfg.DB.SessionStore(10 * time.Minute)
	<-ctx.Done()
	st.StopCleanup()
}

// consoleHeaders keeps console pages out of caches and frames, and allows
// only the console's own scripts and styles.
func consoleHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		return next(c)
	}
}

// loadSession loads the console session from its cookie and saves it, with
// a fresh idle deadline, just before the response is written, also when the
// error handler writes it.
func (s *Server) loadSession(next echo.HandlerFunc) echo.HandlerFunc {
	sm := s.console.sessions
	return func(c echo.Context) error {
		c.Response().Header().Add("Vary", "Cookie")
		var token string
		if ck, err := c.Cookie(sm.Cookie.Name); err == nil {
			token = ck.Value
		}
		ctx, err := sm.Load(c.Request().Context(), token)
		if err != nil {
			return err
		}
		c.SetRequest(c.Request().WithContext(ctx))
		c.Set(ctxSession, true)
		c.Response().Before(func() {
			switch sm.Status(ctx) {
			case scs.Modified:
				token, expiry, err := sm.Commit(ctx)
				if err != nil {
					s.cfg.Log.Error("save console session", "error", err.Error())
					return
				}
				sm.WriteSessionCookie(ctx, c.Response().Writer, token, expiry)
			case scs.Destroyed:
				sm.WriteSessionCookie(ctx, c.Response().Writer, "", time.Time{})
			}
		})
		return next(c)
	}
}

// csrfToken returns the session's CSRF token, creating one when the
// session has none.
func (s *Server) csrfToken(c echo.Context) string {
	ctx := c.Request().Context()
	tok := s.console.sessions.GetString(ctx, sessionCSRF)
	if tok == "" {
		tok = randomToken()
		s.console.sessions.Put(ctx, sessionCSRF, tok)
	}
	return tok
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// checkCSRF refuses any console request that could change something unless
// it carries the session's CSRF token, in a header or in the form body; never
// from the query string, where it would leak into logs, history and
// Referer headers.
func (s *Server) checkCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		switch c.Request().Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(c)
		}
		want := s.console.sessions.GetString(c.Request().Context(), sessionCSRF)
		got := c.Request().Header.Get(csrfHeader)
		if got == "" {
			got = c.Request().PostFormValue(csrfField)
		}
		if want == "" || subtle.ConstantTimeCompare([]byte(want), []byte(got)) != 1 {
			return app.Errorf(app.EFORBIDDEN, "this form has expired or did not come from the console; reload the page and try again")
		}
		return next(c)
	}
}

// requireStaff lets signed-in staff through, reading the account afresh so
// that a changed role takes effect at once and a disabled or deleted
// account is signed out on its next request: its session is destroyed.
// Anyone else is sent to the sign-in page, coming back here afterwards.
func (s *Server) requireStaff(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		id, err := uuid.Parse(s.console.sessions.GetString(ctx, sessionStaffID))
		if err == nil {
			st, err := staff.FindStaffByID(ctx, s.cfg.DB, id)
			if err == nil && st.Active() {
				c.Set(ctxStaff, st)
				c.SetRequest(c.Request().WithContext(audit.WithDetails(ctx, requestInfo(c))))
				return next(c)
			}
			if err != nil && app.ErrorCode(err) != app.ENOTFOUND {
				return err
			}
			_ = s.console.sessions.Destroy(ctx)
		}
		if c.Request().Method != http.MethodGet {
			return app.Errorf(app.EUNAUTHORIZED, "your session has ended; sign in again")
		}
		return c.Redirect(http.StatusSeeOther, "/admin/signin?next="+url.QueryEscape(c.Request().URL.RequestURI()))
	}
}

// requireAdmin refuses staff who are not administrators. It runs after
// requireStaff or apiAuth.
func requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if st := staffOf(c); st == nil || st.Role != staff.RoleAdmin {
			return app.Errorf(app.EFORBIDDEN, "only administrators may do this; your role is read-only")
		}
		return next(c)
	}
}

func staffOf(c echo.Context) *staff.Staff {
	st, _ := c.Get(ctxStaff).(*staff.Staff)
	return st
}

// actor is the audit actor of the signed-in staff member.
func actor(c echo.Context) string { return staffOf(c).Actor() }

// requestInfo is what staff actions record beside the change: where the
// request came from and its id, to find it in the logs.
func requestInfo(c echo.Context) map[string]any {
	return map[string]any{"client": clientAddr(c), "request_id": c.Response().Header().Get(echo.HeaderXRequestID)}
}

// clientAddr is the address the request came from. Forwarding headers are
// not trusted: anyone can send them, and sign-in throttling counts by it.
func clientAddr(c echo.Context) string {
	host, _, err := net.SplitHostPort(c.Request().RemoteAddr)
	if err != nil {
		return c.Request().RemoteAddr
	}
	return host
}

// flash keeps a message for the next page the person sees.
func (s *Server) flash(c echo.Context, msg string) {
	s.console.sessions.Put(c.Request().Context(), sessionFlash, msg)
}

// page returns what the layout needs for the current request.
func (s *Server) page(c echo.Context, title, nav string) templates.Page {
	p := templates.Page{Title: title, Nav: nav, Staff: staffOf(c), Now: time.Now()}
	if loaded, _ := c.Get(ctxSession).(bool); loaded {
		p.CSRF = s.csrfToken(c)
		p.Flash = s.console.sessions.PopString(c.Request().Context(), sessionFlash)
	}
	return p
}

// render writes an HTML page. It renders into a buffer first, so that a
// failure gives an error page rather than half a page.
func render(c echo.Context, status int, comp templ.Component) error {
	var buf bytes.Buffer
	if err := comp.Render(c.Request().Context(), &buf); err != nil {
		return err
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// seeOther redirects after a successful form, so that reloading the page
// does not send the form again.
func seeOther(c echo.Context, path string) error { return c.Redirect(http.StatusSeeOther, path) }
