package web_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/bulkhead-dev/bulkhead/app/scim"
)

const acmeUser = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"

// acmeExtension is a tenant's own User extension with one attribute of
// each kind the tests need.
const acmeExtension = `{
  "schema": "` + acmeUser + `",
  "description": "Acme's own user attributes",
  "attributes": [
    {"name": "costCenter", "type": "string", "indexed": true},
    {"name": "badge", "type": "integer", "uniqueness": "server"},
    {"name": "clearance", "type": "boolean"},
    {"name": "hired", "type": "dateTime"},
    {"name": "pin", "type": "string", "mutability": "writeOnly", "returned": "never"},
    {"name": "desk", "type": "complex", "subAttributes": [
      {"name": "building", "type": "string"}, {"name": "floor", "type": "integer"}]}
  ]
}`

// putExtension defines an extension for c's tenant and waits until its
// SCIM endpoints serve it.
func (c *client) putExtension(t *testing.T, def string) {
	t.Helper()
	ext, err := scim.ParseExtension([]byte(def))
	if err != nil {
		t.Fatal(err)
	}
	if err := env.tenants.PutSchemaExtension(context.Background(), c.tenant, ext, "test"); err != nil {
		t.Fatal(err)
	}
	synced(t)
	c.do("GET", "/Schemas/"+ext.Schema.ID, nil).must(t, http.StatusOK)
}

func acme(attrs ...any) map[string]any {
	m := map[string]any{}
	for i := 0; i+1 < len(attrs); i += 2 {
		m[attrs[i].(string)] = attrs[i+1]
	}
	return m
}

func TestSchemaExtensions(t *testing.T) {
	c := newTenant(t)
	other := newTenant(t) // no extensions
	third := newTenant(t) // the same extension as c
	c.putExtension(t, acmeExtension)
	third.putExtension(t, acmeExtension)
	withAcme := func(userName string, ext map[string]any) map[string]any {
		u := user(userName, acmeUser, ext)
		u["schemas"] = []string{userSchema, acmeUser}
		return u
	}

	t.Run("Discovery", func(t *testing.T) {
		s := c.do("GET", "/Schemas/"+acmeUser, nil).must(t, http.StatusOK)
		attrs, _ := s.Body["attributes"].([]any)
		if len(attrs) != 6 {
			t.Fatalf("attributes = %v", s.Body["attributes"])
		}
		if first := attrs[0].(map[string]any); first["name"] != "costCenter" || first["mutability"] != "readWrite" || first["returned"] != "default" {
			t.Errorf("costCenter = %v, want the defaults of RFC 7643 filled in", first)
		}
		if _, leaked := attrs[0].(map[string]any)["indexed"]; leaked {
			t.Error("/Schemas shows Bulkhead's indexed flag")
		}
		rt := c.do("GET", "/ResourceTypes/User", nil).must(t, http.StatusOK)
		if !strings.Contains(string(rt.Raw), acmeUser) {
			t.Errorf("ResourceTypes/User lacks the extension: %s", rt.Raw)
		}
		list := c.do("GET", "/Schemas", nil).must(t, http.StatusOK)
		if list.Body["totalResults"] != float64(4) {
			t.Errorf("totalResults = %v, want 4", list.Body["totalResults"])
		}
		// Another tenant's discovery is unchanged.
		other.do("GET", "/Schemas/"+acmeUser, nil).must(t, http.StatusNotFound)
		if rt := other.do("GET", "/ResourceTypes/User", nil).must(t, http.StatusOK); strings.Contains(string(rt.Raw), acmeUser) {
			t.Errorf("another tenant advertises the extension: %s", rt.Raw)
		}
		if list := other.do("GET", "/Schemas", nil).must(t, http.StatusOK); list.Body["totalResults"] != float64(3) {
			t.Errorf("another tenant's totalResults = %v, want 3", list.Body["totalResults"])
		}
	})

	var ids []string
	t.Run("Create", func(t *testing.T) {
		for i, cc := range []string{"Sales", "ops", "OPS"} {
			r := c.do("POST", "/Users", withAcme(fmt.Sprintf("ext%d@example.com", i), acme(
				"costCenter", cc, "BADGE", 100+i, "clearance", "True", "hired", "2024-0"+string(rune('1'+i))+"-01T09:00:00Z",
				"pin", "1234", "desk", acme("building", "B"+cc, "floor", i)))).must(t, http.StatusCreated)
			ext, _ := r.Body[acmeUser].(map[string]any)
			if ext["costCenter"] != cc || ext["badge"] != float64(100+i) || ext["clearance"] != true {
				t.Fatalf("extension as returned: %v", r.Body[acmeUser])
			}
			if _, ok := ext["pin"]; ok {
				t.Error("a returned-never attribute came back")
			}
			if !strings.Contains(string(r.Raw), `"schemas":["`+userSchema+`","`+acmeUser+`"]`) {
				t.Errorf("schemas: %s", r.Raw)
			}
			ids = append(ids, r.str("id"))
		}
		third.do("POST", "/Users", withAcme("x@example.com", acme("costCenter", "x", "badge", 100))).must(t, http.StatusCreated)
	})

	t.Run("WrongType", func(t *testing.T) {
		for _, ext := range []map[string]any{
			acme("badge", "seven"), acme("badge", 1.5), acme("clearance", "maybe"), acme("hired", "yesterday"),
			acme("costCenter", 42), acme("desk", acme("floor", "top")),
		} {
			r := c.do("POST", "/Users", withAcme("wrong@example.com", ext))
			r.scimError(t, http.StatusBadRequest, "invalidValue")
			var named bool
			for k := range ext {
				named = named || strings.Contains(r.str("detail"), k)
			}
			if !named {
				t.Errorf("%v: detail %q does not name the attribute", ext, r.str("detail"))
			}
		}
	})

	t.Run("Unique", func(t *testing.T) {
		r := c.do("POST", "/Users", withAcme("dup@example.com", acme("badge", 100)))
		r.scimError(t, http.StatusConflict, "uniqueness")
		if !strings.Contains(r.str("detail"), "badge") {
			t.Errorf("detail %q does not name the attribute", r.str("detail"))
		}
		// Unique within the tenant only: third has badge 100 too.
		third.do("POST", "/Users", withAcme("dup@example.com", acme("badge", 200))).must(t, http.StatusCreated)
	})

	t.Run("FilterAndSort", func(t *testing.T) {
		r := c.do("GET", "/Users?filter="+q(acmeUser+`:costCenter eq "OPS"`)+"&sortBy="+q(acmeUser+":badge")+"&sortOrder=descending", nil).must(t, http.StatusOK)
		if got := r.resources(); len(got) != 2 || got[0]["id"] != ids[2] || got[1]["id"] != ids[1] {
			t.Fatalf("costCenter eq OPS sorted by badge descending: %s", r.Raw)
		}
		for filter, want := range map[string]int{
			acmeUser + `:badge gt 100`:                           2,
			acmeUser + `:costCenter sw "s"`:                      1,
			`BADGE ge 101`:                                       2, // no other schema has badge: no URN needed
			acmeUser + `:clearance eq true`:                      3,
			acmeUser + `:hired ge "2024-02-01T09:00:00Z"`:        2,
			acmeUser + `:desk.floor eq 2`:                        1,
			acmeUser + `:desk.building co "ops" and userName pr`: 2,
		} {
			r := c.do("GET", "/Users?filter="+q(filter), nil).must(t, http.StatusOK)
			if r.Body["totalResults"] != float64(want) {
				t.Errorf("%s: totalResults %v, want %d", filter, r.Body["totalResults"], want)
			}
		}
		r = c.do("GET", "/Users?filter="+q(acmeUser+`:pin eq "1234"`), nil)
		r.scimError(t, http.StatusBadRequest, "invalidFilter")
		r = c.do("GET", "/Users/"+ids[0]+"?attributes="+q(acmeUser+":costCenter"), nil).must(t, http.StatusOK)
		if ext, _ := r.Body[acmeUser].(map[string]any); len(ext) != 1 || r.Body["userName"] != nil {
			t.Errorf("attributes=costCenter: %s", r.Raw)
		}
	})

	t.Run("Patch", func(t *testing.T) {
		patch := map[string]any{
			"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{
				map[string]any{"op": "Replace", "path": acmeUser + ":costCenter", "value": "Finance"},
				map[string]any{"op": "add", "path": acmeUser + ":desk.floor", "value": 7},
			},
		}
		r := c.do("PATCH", "/Users/"+ids[0], patch).must(t, http.StatusOK)
		ext, _ := r.Body[acmeUser].(map[string]any)
		if ext["costCenter"] != "Finance" || ext["desk"].(map[string]any)["floor"] != float64(7) {
			t.Fatalf("after PATCH: %v", r.Body[acmeUser])
		}
		patch["Operations"] = []any{map[string]any{"op": "replace", "path": acmeUser + ":badge", "value": "many"}}
		c.do("PATCH", "/Users/"+ids[0], patch).scimError(t, http.StatusBadRequest, "invalidValue")
		patch["Operations"] = []any{map[string]any{"op": "replace", "path": acmeUser + ":badge", "value": 101}}
		c.do("PATCH", "/Users/"+ids[0], patch).scimError(t, http.StatusConflict, "uniqueness")
		r = c.do("GET", "/Users?filter="+q(acmeUser+`:costCenter eq "finance"`), nil).must(t, http.StatusOK)
		if r.Body["totalResults"] != float64(1) {
			t.Errorf("filter after PATCH: %s", r.Raw)
		}
	})

	t.Run("Required", func(t *testing.T) {
		d := newTenant(t)
		d.putExtension(t, `{"schema": "urn:ietf:params:scim:schemas:extension:hr:2.0:Group", "required": true,
			"attributes": [{"name": "region", "type": "string", "required": true}]}`)
		hr := "urn:ietf:params:scim:schemas:extension:hr:2.0:Group"
		group := func(ext map[string]any) map[string]any {
			g := map[string]any{"schemas": []string{groupSchema, hr}, "displayName": "g"}
			if ext != nil {
				g[hr] = ext
			}
			return g
		}
		r := d.do("POST", "/Groups", group(nil))
		r.scimError(t, http.StatusBadRequest, "invalidValue")
		r = d.do("POST", "/Groups", group(acme("region", "")))
		r.scimError(t, http.StatusBadRequest, "invalidValue")
		if !strings.Contains(r.str("detail"), "region") {
			t.Errorf("detail %q does not name the attribute", r.str("detail"))
		}
		d.do("POST", "/Groups", group(acme("region", "EMEA"))).must(t, http.StatusCreated)
		// Users are untouched by a Group extension.
		d.createUser("plain@example.com")
	})

	t.Run("RemoveKeepsDataUntilPurge", func(t *testing.T) {
		ctx := context.Background()
		if err := env.tenants.RemoveSchemaExtension(ctx, c.tenant, acmeUser, "test"); err != nil {
			t.Fatal(err)
		}
		synced(t)
		c.do("GET", "/Schemas/"+acmeUser, nil).must(t, http.StatusNotFound)
		r := c.do("GET", "/Users/"+ids[1], nil).must(t, http.StatusOK)
		if _, ok := r.Body[acmeUser]; ok || strings.Contains(string(r.Raw), acmeUser) {
			t.Errorf("a removed extension is still returned: %s", r.Raw)
		}
		// A replace of the user keeps the values of the removed extension.
		c.do("PUT", "/Users/"+ids[1], user("ext1@example.com", "displayName", "Ops")).must(t, http.StatusOK)
		c.putExtension(t, acmeExtension)
		r = c.do("GET", "/Users/"+ids[1], nil).must(t, http.StatusOK)
		if ext, _ := r.Body[acmeUser].(map[string]any); ext["costCenter"] != "ops" || r.Body["displayName"] != "Ops" {
			t.Fatalf("after remove, PUT and add again: %s", r.Raw)
		}

		if _, err := env.tenants.PurgeSchemaExtension(ctx, c.tenant, acmeUser, "test"); err == nil {
			t.Fatal("purged an extension in service")
		}
		if err := env.tenants.RemoveSchemaExtension(ctx, c.tenant, acmeUser, "test"); err != nil {
			t.Fatal(err)
		}
		n, err := env.tenants.PurgeSchemaExtension(ctx, c.tenant, acmeUser, "test")
		if err != nil || n != 3 {
			t.Fatalf("purge: %d resources, %v; want 3", n, err)
		}
		c.putExtension(t, acmeExtension)
		r = c.do("GET", "/Users/"+ids[1], nil).must(t, http.StatusOK)
		if _, ok := r.Body[acmeUser]; ok {
			t.Errorf("purged values came back: %s", r.Raw)
		}
		// The other tenant's values are untouched.
		r = third.do("GET", "/Users?filter="+q(`userName eq "x@example.com"`), nil).must(t, http.StatusOK)
		if !strings.Contains(string(r.Raw), `"costCenter":"x"`) {
			t.Errorf("another tenant's values: %s", r.Raw)
		}
	})
}
