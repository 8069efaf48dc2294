package web_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/bulkhead-dev/bulkhead/app/insight"
	"github.com/bulkhead-dev/bulkhead/app/staff"
	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
	"github.com/bulkhead-dev/bulkhead/app/usage"
	"github.com/bulkhead-dev/bulkhead/web"
)

// newMeteredConsole starts a console server wired as serve wires it: a
// Meter (flushed only when the test says) and insight.Metered.
func newMeteredConsole(t testing.TB) (*consoleServer, *usage.Meter) {
	t.Helper()
	db := storetest.NewDB(t)
	meter := usage.NewMeter(db, usage.Options{FlushEvery: time.Hour})
	cs := &consoleServer{db: db, tenants: tenant.NewService(db)}
	cs.srv = httptest.NewUnstartedServer(nil)
	cs.srv.Start()
	cs.srv.Config.Handler = web.NewServer(web.Config{DB: db, Log: slog.New(slog.DiscardHandler), BaseURL: cs.srv.URL,
		Meter: meter, Console: insight.NewMetered(tenant.NewService(db))})
	t.Cleanup(cs.srv.Close)
	return cs, meter
}

// scim sends one SCIM request with the tenant's token and returns its
// status and request id.
func (cs *consoleServer) scim(t testing.TB, tenantID, token, method, path string, body any) (int, string) {
	t.Helper()
	var r *strings.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		r = strings.NewReader(string(j))
	} else {
		r = strings.NewReader("")
	}
	req, _ := http.NewRequest(method, cs.srv.URL+"/tenants/"+tenantID+"/scim/v2"+path, r)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/scim+json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode, res.Header.Get("X-Request-Id")
}

// TestConsoleMetered sends SCIM requests through the real server with
// metering on and finds them in the console: the tenants list, the usage
// charts and the request inspector, which shows the failure but not the
// personal data that was in its body.
func TestConsoleMetered(t *testing.T) {
	t.Parallel()
	cs, meter := newMeteredConsole(t)
	tn, tok := cs.createTenant(t, tenant.PlanEnterprise)
	quiet, _ := cs.createTenant(t, tenant.PlanEnterprise)

	person := user("barbara.jensen@example.com", "name", map[string]any{"givenName": "Barbara", "familyName": "Jensen"})
	want := []struct {
		method, path string
		body         any
		status       int
	}{
		{"POST", "/Users", person, 201},
		{"GET", "/Users", nil, 200},
		{"GET", "/Users?filter=" + q(`userName eq "barbara.jensen@example.com"`), nil, 200},
		{"POST", "/Users", person, 409},
	}
	var conflictID string
	for _, r := range want {
		status, id := cs.scim(t, tn.ID, tok, r.method, r.path, r.body)
		if status != r.status {
			t.Fatalf("%s %s: status %d, want %d", r.method, r.path, status, r.status)
		}
		if status == 409 {
			conflictID = id
		}
	}
	if err := meter.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	b := cs.signedIn(t, staff.RoleSupport)

	t.Run("TenantsList", func(t *testing.T) {
		p := b.get("/admin/tenants").must(t, http.StatusOK)
		for id, n := range map[string]string{tn.ID: "4", quiet.ID: "0"} {
			if got := strings.TrimSpace(p.Doc.Find(`tr[data-tenant=` + id + `] [data-testid=requests]`).Text()); got != n {
				t.Errorf("tenant %s: requests in 24 h %q, want %s", id, got, n)
			}
		}
	})

	t.Run("TenantPage", func(t *testing.T) {
		p := b.get("/admin/tenants/"+tn.ID).must(t, http.StatusOK)
		if got := p.text(`[data-testid=requests-count]`); got != "4" {
			t.Errorf("requests count %q, want 4", got)
		}
		if _, ok := p.Doc.Find(`[data-testid=requests-tab]`).Attr("href"); !ok {
			t.Error("no link to the request inspector")
		}
		p = b.get("/admin/tenants/"+tn.ID+"/health").must(t, http.StatusOK)
		if n := p.Doc.Find(`[data-testid=tenant-checks] tbody tr`).Length(); n < 5 {
			t.Errorf("%d health checks listed, want the tenant's checks", n)
		}
		if _, ok := p.Doc.Find(`[data-testid=requests-tab]`).Attr("href"); !ok {
			t.Error("no link to the request inspector")
		}
	})

	t.Run("Usage", func(t *testing.T) {
		p := b.get("/admin/tenants/"+tn.ID+"/usage").must(t, http.StatusOK)
		if strings.Contains(p.Doc.Find(`[data-testid=empty]`).Text(), "No usage recorded") {
			t.Fatal("usage says nothing is recorded")
		}
		charts := p.Doc.Find(`svg[data-testid=chart]`)
		if charts.Length() < 3 {
			t.Fatalf("%d charts, want per day, per hour and latency", charts.Length())
		}
		for i, name := range []string{"per day", "per hour"} {
			c := charts.Eq(i)
			if label, _ := c.Attr("aria-label"); !strings.Contains(label, ": 4 in all") {
				t.Errorf("%s chart says %q, want 4 requests", name, label)
			}
			var titles []string
			c.Find("rect title").Each(func(_ int, s *goquery.Selection) { titles = append(titles, s.Text()) })
			if len(titles) != 2 || !strings.HasSuffix(titles[0], "2xx: 3") || !strings.HasSuffix(titles[1], "4xx: 1") {
				t.Errorf("%s chart bars %q, want 3 2xx and 1 4xx", name, titles)
			}
		}
		if got := p.text(`[data-testid=usage-requests]`); got != "4" {
			t.Errorf("requests headline %q, want 4", got)
		}
		if got := p.Doc.Find(`[data-testid=operations] tbody tr td.mono`).Map(func(_ int, s *goquery.Selection) string { return s.Text() }); strings.Join(got, ",") != "create Users,list Users" {
			t.Errorf("operations %q, want create Users and list Users, two requests each", got)
		}
	})

	t.Run("Inspector", func(t *testing.T) {
		p := b.get("/admin/tenants/"+tn.ID+"/requests").must(t, http.StatusOK)
		rows := p.Doc.Find(`[data-testid=failed-request]`)
		if rows.Length() != 1 {
			t.Fatalf("%d failed requests shown, want the conflict", rows.Length())
		}
		if got := strings.TrimSpace(rows.Find(`[data-testid=failed-status]`).Text()); got != "409" {
			t.Errorf("status %q, want 409", got)
		}
		if got := strings.TrimSpace(rows.Find(`[data-testid=failed-request-id]`).Text()); got == "" || got != conflictID {
			t.Errorf("request id %q, want %q", got, conflictID)
		}
		if rows.Find(`details [data-testid=failed-body]`).Length() != 1 {
			t.Error("the redacted body is not behind a <details>")
		}
		for _, pii := range []string{"barbara", "Barbara", "Jensen", "example.com"} {
			if strings.Contains(p.Body, pii) {
				t.Errorf("the inspector page shows %q", pii)
			}
		}
	})

	t.Run("Health", func(t *testing.T) {
		p := b.get("/admin/health").must(t, http.StatusOK)
		checks := p.Doc.Find(`[data-testid=checks]`).Text()
		for _, want := range []string{"SCIM traffic", "4 requests from 1 tenant ", "Slowest tenants"} {
			if !strings.Contains(checks, want) {
				t.Errorf("health checks lack %q:\n%s", want, checks)
			}
		}
	})

	t.Run("API", func(t *testing.T) {
		status, body := cs.api(t, cs.apiKey(t, staff.RoleSupport), "GET", "/tenants/"+tn.ID+"/requests", nil)
		reqs, _ := body["requests"].([]any)
		if status != http.StatusOK || len(reqs) != 1 {
			t.Fatalf("status %d, %d requests: %v", status, len(reqs), body)
		}
		if r, _ := reqs[0].(map[string]any); r["request_id"] != conflictID || r["status"] != float64(409) {
			t.Errorf("request %v", r)
		}
	})
}
