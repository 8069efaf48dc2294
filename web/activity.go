package web

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/activity"
	"github.com/bulkhead-dev/bulkhead/app/credential"
	"github.com/bulkhead-dev/bulkhead/app/insight"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
	"github.com/bulkhead-dev/bulkhead/app/usage"
	"github.com/bulkhead-dev/bulkhead/templates"
)

// Limits of the activity feed's live streams. A stream polls the stored
// entries by id cursor: at most MaxActivityStreams indexed reads every
// activityPoll per instance, whichever instance recorded them. It lives at
// most activityStreamLife, after which the browser reconnects through the
// session check again, from where it was (Last-Event-ID).
const (
	MaxActivityStreams = 100
	activityPoll       = time.Second
	activityKeepAlive  = 15 * time.Second
	activityStreamLife = 5 * time.Minute
	activityPageSize   = 100  // entries on the page, and the API's default
	maxActivityLimit   = 1000 // most entries the API returns at once
)

// noteAuthFailure leaves on the context what observe records of a SCIM
// request whose credential did not work: the tenant its URL names and what
// may be shown of the credential (credential.Describe: a token's public prefix,
// a JWT's issuer; never a secret). Nothing here reads the database or
// changes the response: whether the tenant exists, and why the credential
// failed, the activity flush finds out later.
func (s *Server) noteAuthFailure(c echo.Context, routeTenant string) {
	if s.obs == nil || s.obs.activity == nil {
		return
	}
	req := c.Request()
	a := &activity.AuthFailure{Entry: activity.Entry{TenantID: routeTenant}}
	cred, ok := bearer(req)
	switch {
	case req.Header.Get(HeaderTenant) != "" && s.fromTrustedProxy(req):
		a.Credential, a.Reason = credential.CredentialGateway, activity.ReasonRejected
	case !ok:
		a.Reason = activity.ReasonNoCredential
	default:
		p := credential.Describe(cred)
		switch p.Kind {
		case credential.CredentialToken:
			a.Credential, a.TokenHash, a.Reason = cmp.Or(p.Prefix, tenant.TokenPrefix+"…"), p.Hash, activity.ReasonUnknownToken
		case credential.CredentialJWT:
			a.JWT, a.ClaimedTenant, a.Reason = true, p.TenantID, activity.ReasonRejectedJWT
			a.Credential = "jwt"
			if p.Issuer != "" {
				a.Credential = activity.IssuerPrefix + p.Issuer
			}
			if p.Expired {
				a.Reason = activity.ReasonExpiredJWT
			}
		default:
			a.Reason = activity.ReasonMalformed
		}
	}
	c.Set(ctxAuthFailure, a)
}

// bearer returns the credential of a request's Authorization: Bearer
// header.
func bearer(req *http.Request) (string, bool) {
	h := req.Header.Get(echo.HeaderAuthorization)
	if len(h) <= len(scimBearer) || !strings.EqualFold(h[:len(scimBearer)], scimBearer) {
		return "", false
	}
	return strings.TrimSpace(h[len(scimBearer):]), true
}

// recordActivity gives the activity feed a SCIM request worth a look: a
// write that succeeded, a request answered with 400 or more, or a failed
// authentication, redacted as the request inspector redacts.
func (s *Server) recordActivity(c echo.Context, e usage.Event) {
	rec := s.obs.activity
	if rec == nil {
		return
	}
	req := c.Request()
	redacted := func() usage.Failure {
		return usage.Redact(usage.Captured{Method: req.Method, Path: req.URL.Path, RawQuery: req.URL.RawQuery})
	}
	rid := c.Response().Header().Get(echo.HeaderXRequestID)
	if e.TenantID == "" {
		a, ok := c.Get(ctxAuthFailure).(*activity.AuthFailure)
		if !ok || e.Status != http.StatusUnauthorized {
			return
		}
		f := redacted()
		a.At, a.Kind, a.RequestID, a.Method, a.Path, a.Status, a.IdP = e.At, activity.KindAuth, rid, f.Method, f.Path, e.Status, e.IdP
		rec.RecordAuthFailure(*a)
		return
	}
	en := activity.Entry{TenantID: e.TenantID, At: e.At, RequestID: rid, Status: e.Status, Reason: e.Refusal, IdP: e.IdP}
	if p := authenticated(c); p != nil {
		en.Credential = p.TokenPrefix // the public name of the credential that worked
	}
	switch {
	case e.Status >= 400:
		en.Kind = activity.KindError
	case usage.IsWrite(e.Operation):
		en.Kind = activity.KindWrite
	default:
		return
	}
	f := e.Failure
	if f == nil {
		r := redacted()
		f = &r
	}
	en.Method, en.Path, en.ScimType, en.Detail = f.Method, f.Path, f.ScimType, f.Detail
	rec.Record(en)
}

// activityPage is the tenant's activity feed: its latest SCIM writes,
// errors and failed authentications, newest first, with new ones added
// live by static/activity.js from activityStream.
func (s *Server) activityPage(c echo.Context) error {
	ctx := c.Request().Context()
	t, err := s.tenants.FindTenantSummary(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	es, err := activity.FindLatest(ctx, s.cfg.DB, t.ID, activityPageSize)
	if err != nil {
		return err
	}
	stats, err := s.console.data.TenantStats(ctx, []*tenant.Tenant{&t.Tenant})
	if err != nil {
		return err
	}
	st := stats[t.ID]
	var after int64
	if len(es) > 0 {
		after = es[len(es)-1].ID
	}
	slices.Reverse(es)
	return render(c, http.StatusOK, templates.Activity(templates.ActivityParams{
		Page:     s.page(c, t.Name+" activity", "tenants"),
		Tenant:   t,
		Health:   insight.Assess(t, &st, store.LatestVersion(s.tenants.Migrations), time.Now()),
		Entries:  es,
		After:    after,
		Recorded: s.obs != nil && s.obs.activity != nil,
	}))
}

// activityStream sends the tenant's new activity entries as Server-Sent
// Events (event "activity", id the entry's id, data its JSON), from the id
// in Last-Event-ID or ?after=, or else from now. It polls the stored
// entries every activityPoll, so that it sees those of every instance, and
// sends a comment every activityKeepAlive so that proxies keep the
// connection. It ends when the client leaves, when the server shuts down
// (the browser then reconnects, to another instance if need be) and after
// activityStreamLife. At most MaxActivityStreams are open at once per
// instance; past that it answers 429.
func (s *Server) activityStream(c echo.Context) error {
	ctx := c.Request().Context()
	t, err := s.tenants.FindTenant(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	cursor := c.Request().Header.Get("Last-Event-ID")
	if cursor == "" {
		cursor = c.QueryParam("after")
	}
	after, err := cursorParam(cursor, "after")
	if err != nil {
		return err
	}
	if cursor == "" {
		if after, err = activity.LastID(ctx, s.cfg.DB, t.ID); err != nil {
			return err
		}
	}
	select {
	case s.streams <- struct{}{}:
		defer func() { <-s.streams }()
	default:
		c.Response().Header().Set("Retry-After", "30")
		return app.Errorf(app.ETOOMANY, "too many live activity streams are open on this server; try again shortly")
	}

	w := c.Response()
	h := w.Header()
	h.Set(echo.HeaderContentType, "text/event-stream")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	send := func(s string) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(30 * time.Second)) // the server's WriteTimeout would end the stream
		if _, err := w.Write([]byte(s)); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send("retry: 2000\n: connected\n\n") {
		return nil
	}
	poll, keep := time.NewTicker(activityPoll), time.NewTicker(activityKeepAlive)
	defer poll.Stop()
	defer keep.Stop()
	end := time.After(activityStreamLife)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.closing:
			return nil
		case <-end:
			return nil
		case <-keep.C:
			if !send(": keep-alive\n\n") {
				return nil
			}
		case <-poll.C:
			es, err := activity.Find(ctx, s.cfg.DB, t.ID, after, activityPageSize)
			if err != nil {
				if ctx.Err() == nil {
					s.cfg.Log.Warn("activity stream", "tenant_id", t.ID, "error", err.Error())
				}
				continue // the next tick tries again; keep-alives go on
			}
			for _, e := range es {
				j, err := streamEvent(ctx, e)
				if err != nil {
					return err
				}
				if !send(fmt.Sprintf("id: %d\nevent: activity\ndata: %s\n\n", e.ID, j)) {
					return nil
				}
				after = e.ID
			}
		}
	}
}

// streamEvent is the data of an activity stream event: the entry as the
// API gives it, with the page's table row for it in html.
func streamEvent(ctx context.Context, e activity.Entry) ([]byte, error) {
	var row bytes.Buffer
	if err := templates.ActivityRow(time.Now(), e).Render(ctx, &row); err != nil {
		return nil, err
	}
	return json.Marshal(struct {
		activity.Entry
		HTML string `json:"html"`
	}{e, row.String()})
}

// apiActivity returns the tenant's activity entries, oldest first:
// ?after=ID those after that id, else the latest; ?limit= at most that
// many (1 to 1000, default 100). next is the cursor to ask with for newer
// ones. limit and after must be integers: anything else is 400.
func (s *Server) apiActivity(c echo.Context) error {
	ctx := c.Request().Context()
	t, err := s.tenants.FindTenant(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	limit := activityPageSize
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxActivityLimit {
			return app.Errorf(app.EINVALID, "limit must be an integer from 1 to %d", maxActivityLimit)
		}
		limit = n
	}
	after, err := cursorParam(c.QueryParam("after"), "after")
	if err != nil {
		return err
	}
	var es []activity.Entry
	if c.QueryParam("after") == "" {
		es, err = activity.FindLatest(ctx, s.cfg.DB, t.ID, limit)
	} else {
		es, err = activity.Find(ctx, s.cfg.DB, t.ID, after, limit)
	}
	if err != nil {
		return err
	}
	next := after
	if len(es) > 0 {
		next = es[len(es)-1].ID
	}
	return c.JSON(http.StatusOK, map[string]any{"activity": nonNil(es), "next": next})
}

// cursorParam reads an id cursor: "" is 0; anything but a non-negative
// integer is EINVALID.
func cursorParam(v, name string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, app.Errorf(app.EINVALID, "%s must be a non-negative integer (an entry's id)", name)
	}
	return n, nil
}
