package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/staff"
	"github.com/bulkhead-dev/bulkhead/app/webhook"
	"github.com/bulkhead-dev/bulkhead/templates"
)

// webhooksPage lists the webhook endpoints, with the add form for
// administrators.
func (s *Server) webhooksPage(c echo.Context) error {
	return s.renderWebhooks(c, http.StatusOK, templates.WebhooksParams{})
}

func (s *Server) renderWebhooks(c echo.Context, status int, p templates.WebhooksParams) error {
	es, err := s.cfg.Webhooks.List(c.Request().Context(), "")
	if err != nil {
		return err
	}
	p.Page, p.Endpoints = s.page(c, "Webhooks", "webhooks"), es
	return render(c, status, templates.Webhooks(p))
}

// addWebhook registers an endpoint from the form and shows its secret
// once, in the response rather than after a redirect, so that the secret
// is never stored in the session. A refused URL or tenant comes back with
// the form.
func (s *Server) addWebhook(c echo.Context) error {
	url, tenantID := strings.TrimSpace(c.FormValue("url")), strings.TrimSpace(c.FormValue("tenant_id"))
	e, err := s.cfg.Webhooks.Add(c.Request().Context(), url, tenantID, actor(c))
	status := map[string]int{app.EINVALID: http.StatusBadRequest, app.ENOTFOUND: http.StatusBadRequest}[app.ErrorCode(err)]
	switch {
	case err != nil && status == 0:
		return err
	case err != nil:
		return s.renderWebhooks(c, status, templates.WebhooksParams{Error: app.ErrorMessage(err), URL: url, TenantID: tenantID})
	}
	return s.renderWebhooks(c, http.StatusOK, templates.WebhooksParams{New: e})
}

// webhookParams reads the endpoint :id for its pages.
func (s *Server) webhookParams(c echo.Context, title string) (templates.WebhookParams, error) {
	e, err := s.cfg.Webhooks.Find(c.Request().Context(), c.Param("hook"))
	if err != nil {
		return templates.WebhookParams{}, err
	}
	return templates.WebhookParams{Page: s.page(c, title, "webhooks"), Endpoint: e, ShowBodies: staffOf(c).Role == staff.RoleAdmin}, nil
}

// webhookPage shows an endpoint and its recent attempts; support staff see
// their status and timing, not the responses.
func (s *Server) webhookPage(c echo.Context) error {
	p, err := s.webhookParams(c, "Webhook")
	if err != nil {
		return err
	}
	if p.Attempts, err = s.cfg.Webhooks.Attempts(c.Request().Context(), p.Endpoint.ID, 50); err != nil {
		return err
	}
	if !p.ShowBodies {
		for _, a := range p.Attempts {
			a.Response = ""
		}
	}
	return render(c, http.StatusOK, templates.Webhook(p))
}

// webhookDeliveries lists an endpoint's deliveries.
func (s *Server) webhookDeliveries(c echo.Context) error {
	p, err := s.webhookParams(c, "Webhook deliveries")
	if err != nil {
		return err
	}
	if p.Deliveries, err = s.cfg.Webhooks.Deliveries(c.Request().Context(), p.Endpoint.ID, 200); err != nil {
		return err
	}
	return render(c, http.StatusOK, templates.WebhookDeliveries(p))
}

// replayWebhook re-queues the endpoint's deliveries of a tenant from the
// event chosen on.
func (s *Server) replayWebhook(c echo.Context) error {
	id := c.Param("hook")
	seq, err := strconv.ParseInt(c.FormValue("sequence"), 10, 64)
	if err != nil {
		return app.Errorf(app.EINVALID, "choose the event to replay from")
	}
	tenantID := c.FormValue("tenant_id")
	if err := s.cfg.Webhooks.Replay(c.Request().Context(), id, tenantID, seq, actor(c)); err != nil {
		return err
	}
	s.flash(c, "Replaying "+tenantID+"'s events from event "+strconv.FormatInt(seq, 10)+" on.")
	return seeOther(c, "/admin/webhooks/"+id+"/deliveries")
}

// resumeWebhook lets a paused endpoint receive again.
func (s *Server) resumeWebhook(c echo.Context) error {
	id := c.Param("hook")
	if err := s.cfg.Webhooks.Resume(c.Request().Context(), id, actor(c)); err != nil {
		return err
	}
	s.flash(c, "Resumed: deliveries go on from the event after the one given up.")
	return seeOther(c, "/admin/webhooks/"+id)
}

// removeWebhook deletes an endpoint.
func (s *Server) removeWebhook(c echo.Context) error {
	if err := s.cfg.Webhooks.Remove(c.Request().Context(), c.Param("hook"), actor(c)); err != nil {
		return err
	}
	s.flash(c, "Webhook removed.")
	return seeOther(c, "/admin/webhooks")
}

// apiWebhooks lists the endpoints: {"webhooks": […]}, never their secrets.
func (s *Server) apiWebhooks(c echo.Context) error {
	es, err := s.cfg.Webhooks.List(c.Request().Context(), c.QueryParam("tenant"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"webhooks": nonNil(es)})
}

// apiAddWebhook registers an endpoint: {"url", "tenant_id"} (tenant_id
// empty or absent: every tenant) → 201 with its id and secret, shown once.
func (s *Server) apiAddWebhook(c echo.Context) error {
	var in struct {
		URL      string `json:"url"`
		TenantID string `json:"tenant_id"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	e, err := s.cfg.Webhooks.Add(c.Request().Context(), in.URL, in.TenantID, actor(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, e)
}

// apiWebhook returns an endpoint with its latest deliveries and attempts;
// support staff get the attempts without the responses.
func (s *Server) apiWebhook(c echo.Context) error {
	ctx := c.Request().Context()
	e, err := s.cfg.Webhooks.Find(ctx, c.Param("hook"))
	if err != nil {
		return err
	}
	ds, err := s.cfg.Webhooks.Deliveries(ctx, e.ID, 100)
	if err != nil {
		return err
	}
	as, err := s.cfg.Webhooks.Attempts(ctx, e.ID, 100)
	if err != nil {
		return err
	}
	if staffOf(c).Role != staff.RoleAdmin {
		for _, a := range as {
			a.Response = ""
		}
	}
	return c.JSON(http.StatusOK, struct {
		*webhook.Endpoint
		Deliveries []*webhook.Delivery `json:"deliveries"`
		Attempts   []*webhook.Attempt  `json:"attempts"`
	}{e, nonNil(ds), nonNil(as)})
}

// apiRemoveWebhook deletes an endpoint.
func (s *Server) apiRemoveWebhook(c echo.Context) error {
	if err := s.cfg.Webhooks.Remove(c.Request().Context(), c.Param("hook"), actor(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// apiResumeWebhook lets a paused endpoint receive again.
func (s *Server) apiResumeWebhook(c echo.Context) error {
	if err := s.cfg.Webhooks.Resume(c.Request().Context(), c.Param("hook"), actor(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// apiReplayWebhook re-queues deliveries: {"tenant_id", "sequence"}.
func (s *Server) apiReplayWebhook(c echo.Context) error {
	var in struct {
		TenantID string `json:"tenant_id"`
		Sequence int64  `json:"sequence"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if err := s.cfg.Webhooks.Replay(c.Request().Context(), c.Param("hook"), in.TenantID, in.Sequence, actor(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusAccepted)
}
