package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bulkhead-dev/bulkhead/app/scim"
)

// TestHostileInput sends what attackers and broken clients send. Each case
// must get a SCIM 4xx with a detail, never a 5xx, and must leave the
// tenant's data as it was.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	victim := newTenant(t)
	victim.createUser("victim-user")
	uid := c.createUser("target", "title", "Unchanged")
	gid := c.createGroup("Target Group", uid)
	before := c.do("GET", "/Users/"+uid, nil).must(t, http.StatusOK).Raw

	nested := strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000)
	wide := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"wide","emails":[` +
		strings.TrimSuffix(strings.Repeat(`{"value":"x@y.z"},`, 200000), ",") + `]}`
	patchOps := make([]map[string]any, 10000)
	for i := range patchOps {
		patchOps[i] = map[string]any{"op": "replace", "path": "title", "value": fmt.Sprint(i)}
	}
	for _, tt := range []struct {
		name, method, path string
		body               any
		status             int
	}{
		// Injection-shaped filters and attribute names.
		{"FilterQuote", "GET", "/Users?filter=" + q(`userName eq "x' OR 1=1 --"`), nil, 200},
		{"FilterSemicolon", "GET", "/Users?filter=" + q(`userName eq "a"; DROP TABLE users; --`), nil, 400},
		{"FilterCloseParen", "GET", "/Users?filter=" + q(`userName eq "a")) OR ((1=1`), nil, 400},
		{"FilterSchemaName", "GET", "/Users?filter=" + q(`tenant_`+victim.tenant+`.users.user_name pr`), nil, 400},
		{"FilterSchemaNameValue", "GET", "/Users?filter=" + q(`userName eq "tenant_`+victim.tenant+`.users"`), nil, 200},
		{"FilterPgSleep", "GET", "/Users?filter=" + q(`userName eq "a" or pg_sleep(10) pr`), nil, 400},
		{"FilterPgSleepValue", "GET", "/Users?filter=" + q(`userName eq "'||pg_sleep(10)||'"`), nil, 200},
		{"FilterComment", "GET", "/Users?filter=" + q(`userName eq "a" /* x */`), nil, 400},
		{"FilterNUL", "GET", "/Users?filter=" + q("userName eq \"a\x00b\""), nil, 400},
		{"FilterHuge", "GET", "/Users?filter=" + q(strings.Repeat(`userName eq "a" or `, 2000)+`userName eq "b"`), nil, 400},
		{"FilterDeep", "GET", "/Users?filter=" + q(strings.Repeat("(", 500)+`userName eq "a"`+strings.Repeat(")", 500)), nil, 400},
		{"SortByInjection", "GET", "/Users?sortBy=" + q(`userName; DROP TABLE users`), nil, 400},
		{"SortOrderInjection", "GET", "/Users?sortBy=userName&sortOrder=" + q(`asc; SELECT 1`), nil, 400},
		{"AttributesInjection", "GET", "/Users?attributes=" + q(`userName,"); DROP TABLE users; --`), nil, 200},
		// Bodies.
		{"DeeplyNested", "POST", "/Users", nested, 400},
		{"VeryWide", "POST", "/Users", wide, 400},
		{"InvalidUTF8", "POST", "/Users", "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"bad\xc3\x28\"}", 400},
		{"NULInValue", "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"nul\u0000byte"}`, 400},
		{"NULInPatch", "PATCH", "/Users/" + uid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"title","value":"a\u0000"}]}`, 400},
		{"DuplicateKeys", "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a","userName":"b"}`, 400},
		{"NotJSON", "POST", "/Users", `userName=a&x=1`, 400},
		{"JSONNull", "POST", "/Users", `null`, 400},
		{"HugeNumber", "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"n","active":1e999999}`, 400},
		// Paging.
		{"HugeCount", "GET", "/Users?count=99999999999999999999999", nil, 200},
		{"NegativeStartIndex", "GET", "/Users?startIndex=-99999999999999999999", nil, 200},
		{"CountNotANumber", "GET", "/Users?count=" + q("1;DROP"), nil, 400},
		// Operations.
		{"TenThousandPatchOps", "PATCH", "/Users/" + uid, patchBody(patchOps...), 413},
		{"PathTraversalID", "GET", "/Users/..%2F..%2F..%2Fetc%2Fpasswd", nil, 404},
		{"PathTraversalDotDot", "GET", "/Users/../Groups", nil, 404},
		{"IDWithQuote", "GET", "/Users/" + q(`1' OR '1'='1`), nil, 404},
		{"IDOfOtherType", "GET", "/Groups/" + uid, nil, 404},
		{"PutOnCollection", "PUT", "/Users", user("x"), 405},
		{"DeleteOnCollection", "DELETE", "/Groups", nil, 405},
		{"PostOnResource", "POST", "/Users/" + uid, user("x"), 405},
		{"UnknownMethod", "BREW", "/Users", nil, 405},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			r := c.do(tt.method, tt.path, tt.body)
			if r.Status >= 500 {
				t.Fatalf("%d: %.500s", r.Status, r.Raw)
			}
			if time.Since(start) > 9*time.Second {
				t.Fatalf("took %s", time.Since(start))
			}
			if tt.status >= 400 {
				r.scimError(t, tt.status, scimTypeOf(r))
				return
			}
			r.must(t, tt.status)
		})
	}

	// Wrong types for every attribute of every schema: 400, never 500.
	for _, sc := range []struct {
		rt   *scim.ResourceType
		base map[string]any
	}{
		{scim.UserResource, map[string]any{"schemas": []string{userSchema, entSchema}, "userName": "typed"}},
		{scim.GroupResource, map[string]any{"schemas": []string{groupSchema}, "displayName": "Typed"}},
	} {
		for _, schema := range append([]*scim.Schema{sc.rt.CoreSchema()}, sc.rt.Extensions()...) {
			for _, a := range schema.Attributes {
				if a.Mutability == scim.ReadOnly {
					continue
				}
				for _, wrong := range wrongValues(a) {
					body := map[string]any{}
					for k, v := range sc.base {
						body[k] = v
					}
					if schema.ID == sc.rt.Schema {
						body[a.Name] = wrong
					} else {
						body[schema.ID] = map[string]any{a.Name: wrong}
					}
					r := c.do("POST", sc.rt.Endpoint, body)
					if r.Status != http.StatusBadRequest {
						t.Errorf("%s %s = %#v: status %d, want 400: %.300s", sc.rt.Name, a.Name, wrong, r.Status, r.Raw)
					}
				}
			}
		}
	}

	// Nothing changed, here or in the other tenant.
	if after := c.do("GET", "/Users/"+uid, nil).must(t, http.StatusOK).Raw; string(after) != string(before) {
		t.Fatalf("the user changed:\n%s\n%s", before, after)
	}
	if n := c.do("GET", "/Users?count=0", nil).Body["totalResults"]; n != float64(1) {
		t.Fatalf("%v users after the attack, want 1", n)
	}
	c.do("GET", "/Groups/"+gid, nil).must(t, http.StatusOK)
	if n := victim.do("GET", "/Users?count=0", nil).Body["totalResults"]; n != float64(1) {
		t.Fatalf("the other tenant has %v users", n)
	}
}

func scimTypeOf(r *response) string { return r.str("scimType") }

// wrongValues returns values of the wrong JSON type for a.
func wrongValues(a *scim.Attribute) []any {
	if a.MultiValued {
		return []any{"not a list", 42, true}
	}
	switch a.Type {
	case scim.TypeBoolean:
		return []any{"maybe", 3, []any{true}, map[string]any{}}
	case scim.TypeComplex:
		return []any{42, true, []any{1}}
	case scim.TypeInteger, scim.TypeDecimal:
		return []any{"x", true}
	case scim.TypeDateTime:
		return []any{"yesterday", 7}
	default: // string, reference, binary
		return []any{42, true, []any{"a"}, map[string]any{"a": "b"}}
	}
}
