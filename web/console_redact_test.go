package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/bulkhead-dev/bulkhead/app/staff"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// TestInspectorRedactsOverHTTP sends failing SCIM requests full of
// personal data, in every place a client can put it, through the real
// metered server, and reads them back as support staff: the inspector page
// and the admin API show which attributes and operators failed, never a
// value. Each request's own error response is checked to hold the personal
// data, so that the inspector had it to hide.
func TestInspectorRedactsOverHTTP(t *testing.T) {
	t.Parallel()
	cs, meter := newMeteredConsole(t)
	tn, tok := cs.createTenant(t, tenant.PlanEnterprise)
	c := &client{t: t, tenant: tn.ID, token: tok, prefix: "/tenants/" + tn.ID + "/scim/v2", server: cs.srv.URL}
	id := c.createUser("ada.lovelace@example.com", "name", map[string]any{"givenName": "Augusta", "familyName": "Lovelace"})
	c.createUser("zelda.quist@example.com")

	for _, r := range []struct {
		name, method, path string
		body               any
		status             int
		inDetail           string // personal data the client's error detail holds, if any
	}{
		{"UnquotedFilterValue", "GET", "/Users?filter=" + q(`userName eq zelda.quist@example.com and`), nil, 400, "zelda.quist"},
		{"BadDateTimeValue", "GET", "/Users?filter=" + q(`meta.created gt "Margaret Hamilton"`), nil, 400, "Margaret Hamilton"},
		{"PathSegmentName", "GET", "/Users/Grace%20Hopper", nil, 404, "Grace Hopper"},
		{"PathSegmentEmail", "DELETE", "/Users/grace.hopper@example.com", nil, 404, "grace.hopper"},
		{"SearchBody", "POST", "/Users/.search", map[string]any{
			"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"},
			"filter":  `displayName eq "Barbara Liskov" or`}, 400, "Barbara Liskov"},
		{"Uniqueness", "POST", "/Users", user("ada.lovelace@example.com", "displayName", "Countess Lovelace",
			"emails", []map[string]any{{"value": "ada.lovelace@example.com", "type": "work", "primary": true}}), 409, "ada.lovelace"},
		{"PatchWithValues", "PATCH", "/Users/" + id, map[string]any{
			"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []map[string]any{
				{"op": "replace", "path": "name.givenName", "value": "Byron"},
				{"op": "add", "path": `emails[value eq "ada@analytical.example"].nickname`, "value": "Enchantress"},
			}}, 400, "ada@analytical"},
		{"Bulk", "POST", "/Bulk", map[string]any{
			"schemas":      []string{"urn:ietf:params:scim:api:messages:2.0:BulkRequest"},
			"failOnErrors": "Alan Turing",
			"Operations": []map[string]any{
				{"method": "POST", "path": "/Users", "bulkId": "turing", "data": user("alan.turing@example.com", "title", "Codebreaker")},
				{"method": "DELETE", "path": "/Users/Joan%20Clarke"},
			}}, 400, ""},
	} {
		res := c.do(r.method, r.path, r.body)
		if res.Status != r.status {
			t.Fatalf("%s: status %d, want %d: %s", r.name, res.Status, r.status, res.Raw)
		}
		if !strings.Contains(res.str("detail"), r.inDetail) {
			t.Fatalf("%s: the client's detail %q lacks %q", r.name, res.str("detail"), r.inDetail)
		}
	}
	if err := meter.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}

	personal := []string{"ada@", "ada.", "Augusta", "Lovelace", "Countess", "zelda", "quist", "Margaret", "Hamilton",
		"Grace", "Hopper", "Barbara", "Liskov", "Byron", "analytical", "Enchantress", "Alan", "Turing", "alan",
		"Codebreaker", "Joan", "Clarke", "example.com", id}
	p := cs.signedIn(t, staff.RoleSupport).get("/admin/tenants/"+tn.ID+"/requests").must(t, http.StatusOK)
	if n := p.Doc.Find(`[data-testid=failed-request]`).Length(); n != 8 {
		t.Fatalf("%d failed requests shown, want 8", n)
	}
	_, api := cs.api(t, cs.apiKey(t, staff.RoleSupport), "GET", "/tenants/"+tn.ID+"/requests", nil)
	j, _ := json.Marshal(api)
	apiText := strings.ToLower(string(j))
	for _, s := range personal {
		if strings.Contains(strings.ToLower(p.Body), strings.ToLower(s)) {
			t.Errorf("the inspector page shows %q", s)
		}
		if strings.Contains(apiText, strings.ToLower(s)) {
			t.Errorf("the admin API's requests show %q", s)
		}
	}
	shown := p.Doc.Find(`[data-testid=failed-requests]`).Text()
	for _, s := range []string{
		`userName eq …(`,                               // unquoted value: attribute and operator kept
		`meta.created gt "…"(17)`,                      // a value the server refused, in the filter and its detail
		`/scim/v2/Users/…(12)`,                         // a name in the path
		`displayName eq "…"(14)`,                       // a .search body's filter
		`"userName":"…"(24)`,                           // a body's keys
		`"path":"emails[value eq \"…\"(22)].nickname"`, // a PATCH path
		`"op":"add"`,
		`"method":"DELETE","path":"/Users/…(13)"`, // a Bulk operation
		`filter does not parse: userName eq …(`,   // a parse error's detail
	} {
		if !strings.Contains(shown, s) {
			t.Errorf("the inspector lacks %s:\n%s", s, shown)
		}
	}
}
