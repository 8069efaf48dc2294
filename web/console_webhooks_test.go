package web_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/bulkhead-dev/bulkhead/app/events"
	"github.com/bulkhead-dev/bulkhead/app/staff"
	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
	"github.com/bulkhead-dev/bulkhead/app/webhook"
	"github.com/bulkhead-dev/bulkhead/web"
)

// loopbackHooks is the allow list the tests' receivers need.
var loopbackHooks = webhook.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}

// webhookConsole is a console over a database of its own, whose webhooks
// may reach loopback receivers, with a dispatcher that gives up after
// retryFor.
func webhookConsole(t *testing.T, retryFor time.Duration) *consoleServer {
	t.Helper()
	db := storetest.NewDB(t)
	cs := &consoleServer{db: db, tenants: tenant.NewService(db)}
	cs.srv = httptest.NewServer(nil)
	cs.web = web.NewServer(web.Config{DB: db, Log: slog.New(slog.DiscardHandler), BaseURL: cs.srv.URL, Webhooks: webhook.NewService(db, loopbackHooks)})
	cs.srv.Config.Handler = cs.web
	t.Cleanup(cs.srv.Close)
	relay := events.NewService(db, 0, slog.New(slog.DiscardHandler))
	d := webhook.NewDispatcher(db, loopbackHooks, webhook.Options{RetryFor: retryFor, Backoff: 20 * time.Millisecond, Poll: 500 * time.Millisecond, Log: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()
	relayDone := make(chan struct{})
	go func() { defer close(relayDone); relay.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; <-relayDone })
	return cs
}

// scimUser creates a user over SCIM.
func (cs *consoleServer) scimUser(t *testing.T, tenantID, token, userName string) {
	t.Helper()
	body := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"` + userName + `"}`
	req, _ := http.NewRequest(http.MethodPost, cs.srv.URL+"/tenants/"+tenantID+"/scim/v2/Users", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/scim+json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create user %s: %d", userName, res.StatusCode)
	}
}

// flakyReceiver answers 500 with a body naming the event until fixed.
type flakyReceiver struct {
	mu    sync.Mutex
	fixed bool
	got   []string
}

func (f *flakyReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.fixed {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, "receiver broke on "+r.Header.Get("Bulkhead-Event-Id"))
		return
	}
	f.got = append(f.got, r.Header.Get("Bulkhead-Event-Id"))
}

// waitUntil polls cond every 20ms for up to 20s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestConsoleWebhooks: an administrator adds an endpoint in the console and
// sees its secret once; a failing receiver gets it paused, which Health
// shows; the endpoint page shows its attempts (the responses to
// administrators only) and the deliveries list their state, with "Replay
// from here" for administrators, which sends the event again.
func TestConsoleWebhooks(t *testing.T) {
	t.Parallel()
	cs := webhookConsole(t, 300*time.Millisecond)
	tn, token := cs.createTenant(t, tenant.PlanEnterprise)
	rc := &flakyReceiver{}
	recv := httptest.NewServer(rc)
	t.Cleanup(recv.Close)
	admin := cs.signedIn(t, staff.RoleAdmin)
	support := cs.signedIn(t, staff.RoleSupport)

	t.Run("ErrRefusedURL", func(t *testing.T) {
		for _, tt := range []struct{ url, tenant, want string }{
			{"https://10.0.0.1/hook", "", "not a public address"},
			{"ftp://example.com/hook", "", "Must be an https URL."},
			{recv.URL, "nosuch", `tenant "nosuch" not found`},
		} {
			p := admin.post("/admin/webhooks", url.Values{"url": {tt.url}, "tenant_id": {tt.tenant}}).must(t, http.StatusBadRequest)
			if got := p.text(`[data-testid=webhook-error]`); !strings.Contains(got, tt.want) {
				t.Errorf("%s: error %q, want %q", tt.url, got, tt.want)
			}
			if v, _ := p.Doc.Find(`[data-testid=field-url]`).Attr("value"); v != tt.url {
				t.Errorf("the form lost the URL typed: %q", v)
			}
		}
	})

	p := admin.post("/admin/webhooks", url.Values{"url": {recv.URL + "/hook"}, "tenant_id": {tn.ID}}).must(t, http.StatusOK)
	secret := p.text(`[data-testid=new-webhook-secret]`)
	if !strings.HasPrefix(secret, webhook.SecretPrefix) {
		t.Fatalf("no secret shown after adding: %q", secret)
	}
	href, _ := p.Doc.Find(`[data-testid=webhook-row] a`).First().Attr("href")
	hookID := strings.TrimPrefix(href, "/admin/webhooks/")
	list := support.get("/admin/webhooks").must(t, http.StatusOK)
	if strings.Contains(list.Body, secret) || list.Doc.Find(`[data-testid=new-webhook-form]`).Length() != 0 {
		t.Error("support sees the secret or the add form")
	}
	if got := list.text(`[data-testid=webhook-state]`); got != "Delivering" {
		t.Errorf("state %q, want Delivering", got)
	}

	cs.scimUser(t, tn.ID, token, "ada")
	waitUntil(t, "the endpoint to be paused", func() bool {
		return strings.Contains(admin.get("/admin/webhooks/"+hookID).Body, `data-testid="webhook-paused"`)
	})
	health := support.get("/admin/health").must(t, http.StatusOK)
	var row string
	health.Doc.Find(`[data-testid=checks] tr`).Each(func(_ int, s *goquery.Selection) {
		if strings.Contains(s.Text(), "Webhooks") {
			row = s.Text()
		}
	})
	if !strings.Contains(row, "1 of 1 endpoints paused") || !strings.Contains(row, recv.URL) {
		t.Errorf("Health's webhooks check: %q, want the paused endpoint", row)
	}

	for _, tt := range []struct {
		name     string
		b        *browser
		response bool
	}{{"Admin", admin, true}, {"Support", support, false}} {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.b.get("/admin/webhooks/"+hookID).must(t, http.StatusOK)
			if got := p.text(`[data-testid=webhook-scope]`); got != tn.ID {
				t.Errorf("scope %q, want %s", got, tn.ID)
			}
			if n := p.Doc.Find(`[data-testid=attempt-row]`).Length(); n < 2 {
				t.Errorf("%d attempts shown, want the retries", n)
			}
			if got := strings.Contains(p.Body, "receiver broke on"); got != tt.response {
				t.Errorf("response body shown: %v, want %v", got, tt.response)
			}
			if !strings.Contains(p.text(`[data-testid=attempt-row]`), "500") {
				t.Errorf("attempt row %q does not show the status", p.text(`[data-testid=attempt-row]`))
			}
			d := tt.b.get("/admin/webhooks/"+hookID+"/deliveries").must(t, http.StatusOK)
			if got := d.text(`[data-testid=delivery-state]`); got != "Given up" {
				t.Errorf("delivery state %q, want Given up", got)
			}
			if got := d.Doc.Find(`[data-testid=replay]`).Length() == 1; got != tt.response {
				t.Errorf("replay button shown: %v, want %v", got, tt.response)
			}
		})
	}

	rc.mu.Lock()
	rc.fixed = true
	rc.mu.Unlock()
	admin.post("/admin/webhooks/"+hookID+"/replay", url.Values{"tenant_id": {tn.ID}, "sequence": {"1"}}).must(t, http.StatusSeeOther)
	waitUntil(t, "the replayed event", func() bool {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		return len(rc.got) == 1
	})
	waitUntil(t, "the delivery to show as delivered", func() bool {
		return admin.get("/admin/webhooks/"+hookID+"/deliveries").text(`[data-testid=delivery-state]`) == "Delivered"
	})
	if got := admin.get("/admin/webhooks").text(`[data-testid=webhook-state]`); got != "Delivering" {
		t.Errorf("after replay the endpoint is %q, want Delivering again", got)
	}
}

// TestAdminAPIWebhooks: the admin API adds (secret once), lists (never the
// secret), shows with attempts (responses for administrators only) and
// removes endpoints; bad input is a 400 naming the field.
func TestAdminAPIWebhooks(t *testing.T) {
	t.Parallel()
	cs := webhookConsole(t, time.Hour)
	tn, _ := cs.createTenant(t, tenant.PlanEnterprise)
	adminKey, supportKey := cs.apiKey(t, staff.RoleAdmin), cs.apiKey(t, staff.RoleSupport)

	code, body := cs.api(t, adminKey, http.MethodPost, "/webhooks", map[string]any{"url": "http://93.184.215.14/x"})
	if fields, _ := body["fields"].(map[string]any); code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(fields["url"]), "must use https") {
		t.Errorf("plain http: %d %v, want 400 about the url", code, body)
	}
	code, body = cs.api(t, adminKey, http.MethodPost, "/webhooks", map[string]any{"url": "https://93.184.215.14/x", "tenant_id": tn.ID})
	secret, _ := body["secret"].(string)
	id, _ := body["id"].(string)
	if code != http.StatusCreated || !strings.HasPrefix(secret, webhook.SecretPrefix) || id == "" || body["tenant_id"] != tn.ID {
		t.Fatalf("add: %d %v", code, body)
	}
	code, body = cs.api(t, supportKey, http.MethodGet, "/webhooks", nil)
	if code != http.StatusOK || !strings.Contains(fmt.Sprint(body), id) || strings.Contains(fmt.Sprint(body), secret) {
		t.Errorf("list: %d %v", code, body)
	}
	if code, body = cs.api(t, supportKey, http.MethodGet, "/webhooks/"+id, nil); code != http.StatusOK || body["url"] != "https://93.184.215.14/x" {
		t.Errorf("show: %d %v", code, body)
	}
	if code, body = cs.api(t, adminKey, http.MethodPost, "/webhooks/"+id+"/replay", map[string]any{"tenant_id": tn.ID, "sequence": 0}); code != http.StatusBadRequest {
		t.Errorf("replay from 0: %d %v, want 400", code, body)
	}
	if code, _ = cs.api(t, adminKey, http.MethodDelete, "/webhooks/"+id, nil); code != http.StatusNoContent {
		t.Errorf("remove: %d", code)
	}
	if code, _ = cs.api(t, supportKey, http.MethodGet, "/webhooks/"+id, nil); code != http.StatusNotFound {
		t.Errorf("show removed: %d, want 404", code)
	}
}
