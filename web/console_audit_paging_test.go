package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bulkhead-dev/bulkhead/app/audit"
	"github.com/bulkhead-dev/bulkhead/app/staff"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// TestAuditPagingAndFilters pages a tenant's merged trail (control-plane
// events and SCIM writes) both ways by cursor in the admin API and the
// console, filters it, and says "not found" for a tenant that never was.
func TestAuditPagingAndFilters(t *testing.T) {
	t.Parallel()
	cs := sharedConsole(t)
	ctx := context.Background()
	tn, tok := cs.createTenant(t, tenant.PlanEnterprise) // audits tenant.create
	for i := 0; i < 7; i++ {
		actor := "staff:alice@example.test"
		if i%2 == 1 {
			actor = "staff:bob@example.test"
		}
		if err := audit.Record(ctx, cs.db, actor, fmt.Sprintf("tenant.note%d", i), tn.ID, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 4; i++ { // four SCIM writes in the tenant's own trail
		req, _ := http.NewRequest("POST", cs.srv.URL+"/tenants/"+tn.ID+"/scim/v2/Users",
			strings.NewReader(fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"p%d@x.test"}`, i)))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/scim+json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	all, err := audit.FindTrail(ctx, cs.db, tn.ID, time.Time{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 12 {
		t.Fatalf("trail has %d events, want at least 12", len(all))
	}
	key := cs.apiKey(t, staff.RoleSupport)
	base := "/tenants/" + tn.ID + "/audit?limit=5"

	t.Run("OlderThenNewer", func(t *testing.T) {
		var pages [][]string
		next := ""
		for {
			status, body := cs.api(t, key, "GET", base+next, nil)
			if status != http.StatusOK {
				t.Fatalf("status %d: %v", status, body)
			}
			var page []string
			for _, e := range body["events"].([]any) {
				page = append(page, e.(map[string]any)["cursor"].(string))
			}
			pages = append(pages, page)
			older, _ := body["older"].(string)
			if older == "" {
				break
			}
			next = "&before=" + url.QueryEscape(older)
		}
		var flat []string
		for _, p := range pages {
			flat = append(flat, p...)
		}
		if len(flat) != len(all) {
			t.Fatalf("paged %d events, the trail has %d", len(flat), len(all))
		}
		for i, e := range all {
			if flat[i] != e.Cursor {
				t.Fatalf("event %d: paged %s, want %s (newest first, no gap, no repeat)", i, flat[i], e.Cursor)
			}
		}
		// Back from the last page: newer gives the page before it.
		last := pages[len(pages)-1]
		status, body := cs.api(t, key, "GET", base+"&after="+url.QueryEscape(last[0]), nil)
		if status != http.StatusOK {
			t.Fatalf("status %d", status)
		}
		evs := body["events"].([]any)
		prev := pages[len(pages)-2]
		if len(evs) != len(prev) || evs[0].(map[string]any)["cursor"] != prev[0] {
			t.Errorf("newer from the last page gave %d events starting %v, want the page before (%v)", len(evs), evs[0], prev)
		}
	})

	for _, tt := range []struct {
		name, query string
		want        func(actor, action string) bool
	}{
		{"Actor", "&actor=BOB", func(a, _ string) bool { return a == "staff:bob@example.test" }},
		{"ActionExact", "&action=tenant.note3", func(_, a string) bool { return a == "tenant.note3" }},
		{"ActionPrefix", "&action=user.", func(_, a string) bool { return strings.HasPrefix(a, "user.") }},
		{"Until", "&until=2000-01-01", func(string, string) bool { return false }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, body := cs.api(t, key, "GET", "/audit?limit=100&tenant="+tn.ID+tt.query, nil)
			if status != http.StatusOK {
				t.Fatalf("status %d: %v", status, body)
			}
			n := 0
			for _, e := range all {
				if tt.want(e.Actor, e.Action) {
					n++
				}
			}
			evs := body["events"].([]any)
			if len(evs) != n {
				t.Errorf("%d events, want %d", len(evs), n)
			}
			for _, e := range evs {
				m := e.(map[string]any)
				if !tt.want(m["actor"].(string), m["action"].(string)) {
					t.Errorf("event %v does not match the filter", m)
				}
			}
		})
	}

	t.Run("BadInput", func(t *testing.T) {
		for _, q := range []string{"/audit?limit=abc", "/audit?limit=0", "/audit?limit=1001", "/audit?since=yesterday",
			"/audit?before=nonsense", "/tenants?limit=abc", "/tenants?limit=101", "/tenants?offset=-1", "/tenants?sort=nosuch"} {
			status, body := cs.api(t, key, "GET", q, nil)
			if msg, _ := body["error"].(string); status != http.StatusBadRequest || msg == "" {
				t.Errorf("GET %s: %d %v, want 400 with an error", q, status, body)
			}
		}
		status, body := cs.api(t, key, "GET", "/audit?tenant=nosuch_tenant", nil)
		if msg, _ := body["error"].(string); status != http.StatusNotFound || !strings.Contains(msg, "not found") {
			t.Errorf("unknown tenant: %d %v, want 404 not found", status, body)
		}
	})

	t.Run("Console", func(t *testing.T) {
		b := cs.signedIn(t, staff.RoleSupport)
		p := b.get("/admin/audit?limit=5&tenant="+tn.ID).must(t, http.StatusOK)
		if n := p.Doc.Find(`[data-testid=audit] tbody tr`).Length(); n != 5 {
			t.Errorf("%d rows, want 5", n)
		}
		if p.Doc.Find(`[data-testid=newer]`).Length() != 0 {
			t.Error("the newest page links to newer events")
		}
		older, ok := p.Doc.Find(`[data-testid=older]`).Attr("href")
		if !ok {
			t.Fatal("no link to older events")
		}
		p2 := b.get(older).must(t, http.StatusOK)
		if p2.Doc.Find(`[data-testid=newer]`).Length() != 1 {
			t.Error("an older page has no link back to newer events")
		}
		if u, _ := url.Parse(older); u.Query().Get("tenant") != tn.ID {
			t.Errorf("the older link %q loses the tenant filter", older)
		}
		nf := b.get("/admin/audit?tenant=nosuch_tenant").must(t, http.StatusNotFound)
		if !strings.Contains(nf.text(`[data-testid=tenant-error]`), "not found") {
			t.Errorf("unknown tenant: %q, want a not found message", nf.text(`[data-testid=tenant-error]`))
		}
		b.get("/admin/audit?until=garbage").must(t, http.StatusBadRequest)
	})
}

// TestRootRedirectsToConsole: a person who types the host lands on the
// console, not on a JSON 404.
func TestRootRedirectsToConsole(t *testing.T) {
	t.Parallel()
	cs := sharedConsole(t)
	p := cs.browser(t).get("/").must(t, http.StatusFound)
	if loc := p.Header.Get("Location"); loc != "/admin/" {
		t.Errorf("Location %q, want /admin/", loc)
	}
}
