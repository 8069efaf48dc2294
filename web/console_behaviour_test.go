package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/bulkhead-dev/bulkhead/app/audit"
	"github.com/bulkhead-dev/bulkhead/app/staff"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// TestConsoleBehaviour: an admin changes a tenant's SCIM flags and profile
// on the permissions page, the change is audited, flags that differ from
// the profile are marked, and support staff see them read-only.
func TestConsoleBehaviour(t *testing.T) {
	t.Parallel()
	cs := sharedConsole(t)
	ctx := context.Background()
	b := cs.signedIn(t, staff.RoleAdmin)
	tn, _ := cs.createTenant(t, tenant.PlanStartup)
	path := "/admin/tenants/" + tn.ID + "/permissions"
	post := "/admin/tenants/" + tn.ID + "/behaviour"

	p := b.get(path).must(t, http.StatusOK)
	if v, _ := p.Doc.Find(`[data-testid=flag-profile] option[selected]`).Attr("value"); v != "entra" {
		t.Fatalf("profile shown %q, want entra", v)
	}
	if p.Doc.Find(`[data-testid^=differs-]`).Length() != 0 {
		t.Fatal("a fresh entra tenant shows flags differing from its profile")
	}

	t.Run("ErrBadValue", func(t *testing.T) {
		p := b.post(post, url.Values{"profile": {"entra"}, "replace_no_target": {"ignore"}}).must(t, http.StatusBadRequest)
		if got := p.text(`[data-testid=error-replace_no_target]`); got != "Must be add or error." {
			t.Errorf("message %q", got)
		}
		if bh, _ := cs.tenants.FindBehaviour(ctx, tn.ID); bh.ReplaceNoTarget != tenant.ReplaceAdd {
			t.Error("saved although the form had an error")
		}
	})
	t.Run("ErrBadProfile", func(t *testing.T) {
		b.post(post, url.Values{"profile": {"azure"}}).must(t, http.StatusBadRequest)
	})

	// A flag changed under the same profile: saved, marked as differing.
	res := b.post(post, url.Values{"profile": {"entra"}, "replace_no_target": {"add"}, "require_if_match": {"true"}}).must(t, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); loc != path+"#behaviour" {
		t.Errorf("lands on %s", loc)
	}
	bh, _ := cs.tenants.FindBehaviour(ctx, tn.ID)
	if *bh != (tenant.Behaviour{Profile: "entra", Flags: tenant.Flags{RequireIfMatch: true, ReplaceNoTarget: "add"}}) {
		t.Fatalf("saved %+v", *bh)
	}
	p = b.get(path).must(t, http.StatusOK)
	if got := p.text(`[data-testid=differs-require_if_match]`); got != "differs from entra: false" {
		t.Errorf("differs mark %q", got)
	}
	events, _ := audit.FindEvents(ctx, cs.db, tn.ID, 10)
	if e := events[0]; e.Action != "tenant.behaviour" || !strings.HasPrefix(e.Actor, "staff:") ||
		e.Details["before"].(map[string]any)["require_if_match"] != false || e.Details["behaviour"].(map[string]any)["require_if_match"] != true {
		t.Errorf("audit event %+v", e)
	}

	// Another profile sets every flag to its values.
	b.post(post, url.Values{"profile": {"rfc"}, "replace_no_target": {"add"}, "require_if_match": {"true"}}).must(t, http.StatusSeeOther)
	bh, _ = cs.tenants.FindBehaviour(ctx, tn.ID)
	if *bh != (tenant.Behaviour{Profile: "rfc", Flags: tenant.Profiles["rfc"]}) {
		t.Fatalf("after choosing rfc: %+v", *bh)
	}

	// Support reads, marked differences included, and cannot change.
	if err := cs.tenants.UpdateBehaviour(ctx, tn.ID, tenant.Behaviour{Profile: "rfc", Flags: tenant.Flags{ReplaceNoTarget: "add"}}, "test"); err != nil {
		t.Fatal(err)
	}
	sup := cs.signedIn(t, staff.RoleSupport)
	p = sup.get(path).must(t, http.StatusOK)
	if p.Doc.Find(`[data-testid=behaviour-form]`).Length() != 0 || p.text(`[data-testid=behaviour-readonly] [data-testid=flag-profile]`) != "rfc" {
		t.Fatal("support does not get the read-only view")
	}
	if got := p.text(`[data-testid=differs-strict_schemas]`); got != "differs from rfc: true" {
		t.Errorf("support's differs mark for strict_schemas %q", got)
	}
	if got := p.text(`[data-testid=differs-replace_no_target]`); got != "differs from rfc: error" {
		t.Errorf("support's differs mark for replace_no_target %q", got)
	}
}

// TestAPIBehaviour: the admin API reads and changes the SCIM profile and
// flags, and creates tenants with a profile.
func TestAPIBehaviour(t *testing.T) {
	t.Parallel()
	cs := sharedConsole(t)
	admin, support := cs.apiKey(t, staff.RoleAdmin), cs.apiKey(t, staff.RoleSupport)
	id := uniq("apiprofile")
	if code, body := cs.api(t, admin, http.MethodPost, "/tenants", map[string]any{"id": id, "profile": "okta"}); code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, body)
	}
	code, body := cs.api(t, support, http.MethodGet, "/tenants/"+id+"/behaviour", nil)
	if code != http.StatusOK || body["profile"] != "okta" || body["replace_no_target"] != "error" || len(body["differs_from_profile"].([]any)) != 0 {
		t.Fatalf("get: %d %v", code, body)
	}
	if code, _ := cs.api(t, support, http.MethodPut, "/tenants/"+id+"/behaviour", map[string]any{"strict_schemas": true}); code != http.StatusForbidden {
		t.Fatalf("support changed flags: %d", code)
	}
	code, body = cs.api(t, admin, http.MethodPut, "/tenants/"+id+"/behaviour", map[string]any{"profile": "entra", "strict_schemas": true})
	if code != http.StatusOK || body["profile"] != "entra" || body["replace_no_target"] != "add" || body["strict_schemas"] != true ||
		len(body["differs_from_profile"].([]any)) != 1 {
		t.Fatalf("put: %d %v", code, body)
	}
	code, body = cs.api(t, admin, http.MethodPut, "/tenants/"+id+"/behaviour", map[string]any{"replace_no_target": "ignore"})
	if fields, _ := body["fields"].(map[string]any); code != http.StatusBadRequest || fields["replace_no_target"] == nil {
		t.Fatalf("bad value: %d %v", code, body)
	}
	if code, body := cs.api(t, admin, http.MethodPost, "/tenants", map[string]any{"id": uniq("apiprofile"), "profile": "azure"}); code != http.StatusBadRequest {
		t.Fatalf("create with a bad profile: %d %v", code, body)
	}
}
