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

// TestConsoleSchemaExtensions: an admin adds, replaces, removes and purges
// a tenant's extension from its page; a definition Bulkhead cannot serve
// comes back with its message and the text as typed; support reads the
// extensions but sees no control, and the server refuses its changes.
func TestConsoleSchemaExtensions(t *testing.T) {
	t.Parallel()
	cs := sharedConsole(t)
	ctx := context.Background()
	tn, _ := cs.createTenant(t, tenant.PlanStartup)
	b := cs.signedIn(t, staff.RoleAdmin)
	page := "/admin/tenants/" + tn.ID
	section := page + "/schema" // the tenant page's schema section
	const urn = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"
	def := `{"schema": "` + urn + `", "attributes": [{"name": "costCenter", "type": "string", "indexed": true}, {"name": "badge", "type": "integer", "uniqueness": "server"}]}`

	if p := b.get(section).must(t, http.StatusOK); p.Doc.Find(`#schema .empty, #schema [data-testid=empty]`).Length() == 0 && !strings.Contains(p.text(`#schema`), "No extensions") {
		t.Error("no empty state for a tenant without extensions")
	}
	t.Run("ErrInvalid", func(t *testing.T) {
		bad := `{"schema": "` + urn + `", "attributes": [{"name": "cost center", "type": "string"}]}`
		p := b.post(page+"/schemas", url.Values{"definition": {bad}}).must(t, http.StatusBadRequest)
		if msg := p.text(`[data-testid=schema-error]`); !strings.Contains(msg, `"cost center"`) {
			t.Errorf("message %q does not name the attribute", msg)
		}
		if typed := p.text(`[data-testid=schema-definition]`); typed != bad {
			t.Errorf("the definition typed is not kept: %q", typed)
		}
		if v, _ := p.Doc.Find(`[data-testid=schema-definition]`).Attr("aria-invalid"); v != "true" {
			t.Error("the field is not marked invalid")
		}
		if list, _ := cs.tenants.FindSchemaExtensions(ctx, tn.ID); len(list) != 0 {
			t.Errorf("saved although invalid: %+v", list)
		}
	})
	t.Run("Add", func(t *testing.T) {
		if loc := b.post(page+"/schemas", url.Values{"definition": {def}}).must(t, http.StatusSeeOther).Header.Get("Location"); loc != section {
			t.Errorf("saving lands on %s, want the schema section %s", loc, section)
		}
		p := b.get(section).must(t, http.StatusOK)
		row := p.Doc.Find(`[data-testid=extensions] tr[data-schema="` + urn + `"]`)
		if row.Length() != 1 || !strings.Contains(row.Text(), "costCenter") || !strings.Contains(row.Text(), "integer, unique") || !strings.Contains(row.Text(), "In service") {
			t.Fatalf("extension row: %q", row.Text())
		}
		events, _ := audit.FindEvents(ctx, cs.db, tn.ID, 5)
		if len(events) == 0 || events[0].Action != "schema_extension.add" || events[0].Details["schema"] != urn || !strings.HasPrefix(events[0].Actor, "staff:") {
			t.Errorf("no audit event: %+v", events)
		}
	})
	t.Run("SupportReadsOnly", func(t *testing.T) {
		sb := cs.signedIn(t, staff.RoleSupport)
		p := sb.get(section).must(t, http.StatusOK)
		if p.Doc.Find(`[data-testid=extensions] tr[data-schema]`).Length() != 1 {
			t.Error("support does not see the extension")
		}
		if p.Doc.Find(`[data-testid=save-schema], [data-testid=remove-schema], [data-testid=purge-schema]`).Length() != 0 {
			t.Error("support sees a schema control")
		}
	})
	t.Run("RemoveThenPurge", func(t *testing.T) {
		b.post(page+"/schemas/purge", url.Values{"schema": {urn}}).must(t, http.StatusBadRequest) // in service
		b.post(page+"/schemas/remove", url.Values{"schema": {urn}}).must(t, http.StatusSeeOther)
		p := b.get(section).must(t, http.StatusOK)
		if row := p.Doc.Find(`tr[data-schema="` + urn + `"]`); !strings.Contains(row.Text(), "Removed") || row.Find(`[data-testid=purge-schema]`).Length() != 1 {
			t.Fatalf("removed extension row: %q", row.Text())
		}
		b.post(page+"/schemas/purge", url.Values{"schema": {urn}}).must(t, http.StatusSeeOther)
		if list, _ := cs.tenants.FindSchemaExtensions(ctx, tn.ID); len(list) != 0 {
			t.Errorf("after purge: %+v", list)
		}
	})
}

func TestAdminAPISchemaExtensions(t *testing.T) {
	t.Parallel()
	cs := sharedConsole(t)
	tn, _ := cs.createTenant(t, tenant.PlanStartup)
	adminKey, supportKey := cs.apiKey(t, staff.RoleAdmin), cs.apiKey(t, staff.RoleSupport)
	base := "/tenants/" + tn.ID + "/schemas"
	const urn = "urn:ietf:params:scim:schemas:extension:hr:2.0:Group"
	def := map[string]any{"schema": urn, "attributes": []any{map[string]any{"name": "region", "type": "string", "required": true}}}

	if code, body := cs.api(t, adminKey, http.MethodPost, base, map[string]any{"schema": urn, "attributes": []any{map[string]any{"name": "region", "type": "text"}}}); code != http.StatusBadRequest || !strings.Contains(body["error"].(string), "text") {
		t.Errorf("invalid definition: %d %v", code, body)
	}
	if code, body := cs.api(t, adminKey, http.MethodPost, base, def); code != http.StatusOK || body["schema"] != urn {
		t.Fatalf("add: %d %v", code, body)
	}
	code, body := cs.api(t, supportKey, http.MethodGet, base, nil)
	if list, _ := body["extensions"].([]any); code != http.StatusOK || len(list) != 1 {
		t.Fatalf("list: %d %v", code, body)
	}
	if code, _ := cs.api(t, adminKey, http.MethodDelete, base+"/"+urn, nil); code != http.StatusNoContent {
		t.Fatalf("remove: %d", code)
	}
	if code, body := cs.api(t, adminKey, http.MethodPost, base+"/"+urn+"/purge", nil); code != http.StatusOK || body["purged_resources"] != float64(0) {
		t.Fatalf("purge: %d %v", code, body)
	}
	if code, _ := cs.api(t, adminKey, http.MethodDelete, base+"/"+urn, nil); code != http.StatusNotFound {
		t.Errorf("remove a purged extension: %d, want 404", code)
	}
}

// TestConsoleBodyLimit: a console form of over a megabyte is refused
// before it is read, signed in or not.
func TestConsoleBodyLimit(t *testing.T) {
	t.Parallel()
	cs := sharedConsole(t)
	b := cs.browser(t)
	b.get("/admin/signin")
	p := b.post("/admin/signin", url.Values{"email": {"a@example.test"}, "password": {strings.Repeat("x", 2<<20)}})
	if p.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a 2 MB sign-in form: status %d, want 413", p.StatusCode)
	}
}
