package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bulkhead-dev/bulkhead/app/audit"
	"github.com/bulkhead-dev/bulkhead/app/staff"
)

// TestRepeatedActionsAuditedOnce: suspending a suspended tenant and
// revoking a revoked token, through the console or the admin API, succeed,
// say so in the console, and leave one audit event each.
func TestRepeatedActionsAuditedOnce(t *testing.T) {
	t.Parallel()
	cs := sharedConsole(t)
	ctx := context.Background()
	tn, _ := cs.createTenant(t, "startup")
	tok, err := cs.tenants.CreateToken(ctx, tn.ID, "okta", nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	b := cs.signedIn(t, staff.RoleAdmin)
	for i, want := range []string{"is suspended", "is already suspended"} {
		b.post("/admin/tenants/"+tn.ID+"/suspend", nil).must(t, http.StatusSeeOther)
		if flash := b.get("/admin/tenants/"+tn.ID).must(t, http.StatusOK).text(`[data-testid=flash]`); !strings.Contains(flash, want) {
			t.Fatalf("suspend #%d: flash %q, want %q", i+1, flash, want)
		}
	}
	for i, want := range []string{"Token revoked", "already revoked"} {
		b.post("/admin/tenants/"+tn.ID+"/tokens/"+tok.ID.String()+"/revoke", nil).must(t, http.StatusSeeOther)
		if flash := b.get("/admin/tenants/"+tn.ID).must(t, http.StatusOK).text(`[data-testid=flash]`); !strings.Contains(flash, want) {
			t.Fatalf("revoke #%d: flash %q, want %q", i+1, flash, want)
		}
	}
	key := cs.apiKey(t, staff.RoleAdmin)
	if status, body := cs.api(t, key, "POST", "/tenants/"+tn.ID+"/suspend", nil); status != http.StatusOK || body["status"] != "suspended" {
		t.Fatalf("API suspend of a suspended tenant: %d %v", status, body)
	}
	if status, _ := cs.api(t, key, "DELETE", "/tenants/"+tn.ID+"/tokens/"+tok.ID.String(), nil); status != http.StatusNoContent {
		t.Fatalf("API revoke of a revoked token: %d", status)
	}
	events, err := audit.FindTrail(ctx, cs.db, tn.ID, time.Time{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, e := range events {
		counts[e.Action]++
	}
	if counts["tenant.suspend"] != 1 || counts["token.revoke"] != 1 {
		t.Fatalf("audit events %v; want one suspend and one revoke", counts)
	}
}
