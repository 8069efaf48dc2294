package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bulkhead-dev/bulkhead/app/audit"
	"github.com/bulkhead-dev/bulkhead/app/staff"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// TestConsoleTenantSections: each section of a tenant's page has its own
// address, marks its tab, and shows its part and not the others'.
func TestConsoleTenantSections(t *testing.T) {
	t.Parallel()
	cs := sharedConsole(t)
	tn, _ := cs.createTenant(t, tenant.PlanStartup)
	b := cs.signedIn(t, staff.RoleAdmin)
	base := "/admin/tenants/" + tn.ID
	parts := []string{"overview", "tokens", "permissions-form", "schema-definition", "tenant-checks", "audit-see-all"}
	for _, tt := range []struct {
		name, path, tab, shows string
	}{
		{"Overview", base, "overview", "overview"},
		{"Tokens", base + "/tokens", "tokens", "tokens"},
		{"Permissions", base + "/permissions", "permissions", "permissions-form"},
		{"Schema", base + "/schema", "schema", "schema-definition"},
		{"Health", base + "/health", "health", "empty"}, // no checks without metering, and it says so
		{"Audit", base + "/audit", "audit", "audit-see-all"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := b.get(tt.path).must(t, http.StatusOK)
			cur := p.Doc.Find(`[data-testid=tenant-tabs] a[aria-current=page]`)
			if id, _ := cur.Attr("data-testid"); cur.Length() != 1 || id != tt.tab+"-tab" {
				t.Errorf("current tab %q, want %s", id, tt.tab)
			}
			if p.Doc.Find(`[data-testid=`+tt.shows+`]`).Length() == 0 {
				t.Errorf("%s does not show %s", tt.path, tt.shows)
			}
			for _, other := range parts {
				if other != tt.shows && p.Doc.Find(`[data-testid=`+other+`]`).Length() > 0 {
					t.Errorf("%s also shows %s: the sections are not split", tt.path, other)
				}
			}
			for _, tab := range []string{"overview", "tokens", "permissions", "schema", "health", "usage", "requests", "activity", "audit"} {
				if p.Doc.Find(`[data-testid=tenant-tabs] [data-testid=`+tab+`-tab]`).Length() != 1 {
					t.Errorf("no %s tab", tab)
				}
			}
		})
	}
	t.Run("AuditSeeAll", func(t *testing.T) {
		p := b.get(base+"/audit").must(t, http.StatusOK)
		if href, _ := p.Doc.Find(`[data-testid=audit-see-all]`).Attr("href"); href != "/admin/audit?tenant="+tn.ID {
			t.Errorf("See all goes to %q", href)
		}
		if !strings.Contains(p.Doc.Find(`[data-testid=audit]`).Text(), "tenant.create") {
			t.Error("the audit section does not list the tenant's creation")
		}
	})
	t.Run("ErrUnknownTenant", func(t *testing.T) {
		for _, s := range []string{"", "/tokens", "/permissions", "/schema", "/health", "/audit"} {
			b.get("/admin/tenants/nosuchtenant"+s).must(t, http.StatusNotFound)
		}
	})
}

// TestConsoleTokenExpiry: a token created with an expiry shows its date
// and, within 14 days, a badge; a bad expiry comes back with a message and
// creates nothing; revoking lands on the tokens section.
func TestConsoleTokenExpiry(t *testing.T) {
	t.Parallel()
	cs := sharedConsole(t)
	ctx := context.Background()
	tn, _ := cs.createTenant(t, tenant.PlanStartup)
	b := cs.signedIn(t, staff.RoleAdmin)
	section := "/admin/tenants/" + tn.ID + "/tokens"
	b.get(section).must(t, http.StatusOK)

	t.Run("ErrBadExpiry", func(t *testing.T) {
		p := b.post("/admin/tenants/"+tn.ID+"/tokens", url.Values{"name": {"bad"}, "expires_in": {"forever"}}).must(t, http.StatusBadRequest)
		if got := p.text(`.form-errors`); !strings.Contains(got, "number of days") {
			t.Errorf("message %q", got)
		}
		if toks, _ := cs.tenants.FindTokens(ctx, tn.ID); len(toks) != 1 {
			t.Errorf("%d tokens after a refused form, want the first only", len(toks))
		}
	})
	for _, tt := range []struct {
		name, days string
		badge      bool
	}{
		{"ThirtyDays", "30", false},
		{"SevenDays", "7", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := b.post("/admin/tenants/"+tn.ID+"/tokens", url.Values{"name": {tt.name}, "expires_in": {tt.days}}).must(t, http.StatusOK)
			if !strings.HasPrefix(p.text(`[data-testid=new-token]`), tenant.TokenPrefix) {
				t.Fatal("the new token is not shown")
			}
			if got := p.text(`[data-testid=new-token-expires]`); !strings.HasPrefix(got, "Expires in "+tt.days+" days") {
				t.Errorf("new token expiry %q", got)
			}
			row := p.Doc.Find(`[data-testid=tokens] tbody tr`).First()
			if got := strings.TrimSpace(row.Find(`td:first-child`).Text()); got != tt.name {
				t.Fatalf("newest token %q", got)
			}
			days := map[string]int{"30": 30, "7": 7}[tt.days]
			if got, want := strings.TrimSpace(row.Find(`[data-testid=token-expires-at] time`).Text()), time.Now().AddDate(0, 0, days).UTC().Format("2 Jan 2006"); got != want {
				t.Errorf("Expires column %q, want %q", got, want)
			}
			if got := row.Find(`[data-testid=token-expiring]`).Length() == 1; got != tt.badge {
				t.Errorf("expiring badge shown %v, want %v: %q", got, tt.badge, row.Find(`[data-testid=token-state]`).Text())
			}
			events, _ := audit.FindEvents(ctx, cs.db, tn.ID, 1)
			if len(events) != 1 || events[0].Action != "token.create" || events[0].Details["expires_at"] == nil {
				t.Errorf("audit event %+v does not say when the token expires", events)
			}
		})
	}
	t.Run("ExpiredBadge", func(t *testing.T) {
		if _, err := cs.db.ExecContext(ctx, `UPDATE control.tokens SET expires_at = now() - interval '1 hour' WHERE tenant_id = $1 AND name = 'SevenDays'`, tn.ID); err != nil {
			t.Fatal(err)
		}
		p := b.get(section).must(t, http.StatusOK)
		if got := strings.TrimSpace(p.Doc.Find(`[data-testid=tokens] tr:has(td:first-child:contains("SevenDays")) [data-testid=token-state]`).Text()); got != "Expired" {
			t.Errorf("state of an expired token %q", got)
		}
	})
	t.Run("RevokeLandsOnTokens", func(t *testing.T) {
		toks, _ := cs.tenants.FindTokens(ctx, tn.ID)
		p := b.post("/admin/tenants/"+tn.ID+"/tokens/"+toks[0].ID.String()+"/revoke", nil).must(t, http.StatusSeeOther)
		if loc := p.Header.Get("Location"); loc != section {
			t.Errorf("revoking lands on %s, want %s", loc, section)
		}
	})
}
