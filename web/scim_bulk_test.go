package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

func bulkBody(failOnErrors int, ops ...map[string]any) map[string]any {
	b := map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:BulkRequest"}, "Operations": ops}
	if failOnErrors > 0 {
		b["failOnErrors"] = failOnErrors
	}
	return b
}

// statuses returns the status of each operation of a BulkResponse.
func statuses(t *testing.T, r *response) []string {
	t.Helper()
	r.must(t, http.StatusOK)
	ops, _ := r.Body["Operations"].([]any)
	var out []string
	for _, o := range ops {
		out = append(out, fmt.Sprint(o.(map[string]any)["status"]))
	}
	return out
}

func TestBulk(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	// A group created in the request refers to users created in it, and
	// comes first: it waits for them.
	r := c.do("POST", "/Bulk", bulkBody(0,
		map[string]any{"method": "POST", "path": "/Groups", "bulkId": "g", "data": map[string]any{
			"schemas": []string{groupSchema}, "displayName": "Bulk Group",
			"members": []any{map[string]any{"type": "User", "value": "bulkId:u1"}, map[string]any{"type": "User", "value": "bulkId:u2"}}}},
		map[string]any{"method": "POST", "path": "/Users", "bulkId": "u1", "data": user("bulk1")},
		map[string]any{"method": "POST", "path": "/Users", "bulkId": "u2", "data": user("bulk2")},
	))
	if got := strings.Join(statuses(t, r), ","); got != "201,201,201" {
		t.Fatalf("statuses %s: %s", got, r.Raw)
	}
	ops := r.Body["Operations"].([]any)
	group := ops[0].(map[string]any)
	if group["bulkId"] != "g" || !strings.HasPrefix(group["location"].(string), baseURL+c.prefix+"/Groups/") || group["version"] == "" {
		t.Fatalf("group result: %v", group)
	}
	gid := group["location"].(string)[len(baseURL+c.prefix+"/Groups/"):]
	g := c.do("GET", "/Groups/"+gid, nil).must(t, http.StatusOK)
	if m := memberSet(g.Body["members"]); len(m) != 2 {
		t.Fatalf("bulk group members: %s", g.Raw)
	}
	u1 := ops[1].(map[string]any)["location"].(string)[len(baseURL+c.prefix+"/Users/"):]

	// PUT, PATCH and DELETE, with a version, in one request.
	r = c.do("POST", "/Bulk", bulkBody(0,
		map[string]any{"method": "PATCH", "path": "/Groups/" + gid, "data": patchBody(map[string]any{"op": "remove", "path": "members[value eq \"" + u1 + "\"]"})},
		map[string]any{"method": "PUT", "path": "/Users/" + u1, "version": `W/"1"`, "data": user("bulk1-renamed")},
		map[string]any{"method": "DELETE", "path": "/Users/" + u1, "version": `W/"1"`},
		map[string]any{"method": "DELETE", "path": "/Users/2819c223-7f76-453a-919d-413861904646"},
	))
	if got := strings.Join(statuses(t, r), ","); got != "200,200,412,404" {
		t.Fatalf("statuses %s: %s", got, r.Raw)
	}
	failed := r.Body["Operations"].([]any)[3].(map[string]any)["response"].(map[string]any)
	if failed["status"] != "404" || failed["schemas"].([]any)[0] != "urn:ietf:params:scim:api:messages:2.0:Error" {
		t.Errorf("failure response: %v", failed)
	}
	if u := c.do("GET", "/Users/"+u1, nil).must(t, http.StatusOK); u.str("userName") != "bulk1-renamed" {
		t.Errorf("after bulk PUT: %s", u.Raw)
	}

	// failOnErrors stops after that many errors.
	r = c.do("POST", "/Bulk", bulkBody(2,
		map[string]any{"method": "POST", "path": "/Users", "bulkId": "a", "data": user("fail-a")},
		map[string]any{"method": "DELETE", "path": "/Users/2819c223-7f76-453a-919d-413861904646"},
		map[string]any{"method": "POST", "path": "/Users", "data": user("no-bulk-id")},
		map[string]any{"method": "POST", "path": "/Users", "bulkId": "d", "data": user("never-run")},
	))
	if got := strings.Join(statuses(t, r), ","); got != "201,404,400" {
		t.Fatalf("failOnErrors=2: statuses %s", got)
	}
	if n := c.do("GET", "/Users?count=0&filter="+q(`userName eq "never-run"`), nil).Body["totalResults"]; n != float64(0) {
		t.Fatal("an operation after failOnErrors ran")
	}

	// Circular and unknown references fail those operations only.
	r = c.do("POST", "/Bulk", bulkBody(0,
		map[string]any{"method": "POST", "path": "/Groups", "bulkId": "x", "data": map[string]any{"schemas": []string{groupSchema}, "displayName": "X", "members": []any{map[string]any{"value": "bulkId:y"}}}},
		map[string]any{"method": "POST", "path": "/Groups", "bulkId": "y", "data": map[string]any{"schemas": []string{groupSchema}, "displayName": "Y", "members": []any{map[string]any{"value": "bulkId:x"}}}},
		map[string]any{"method": "POST", "path": "/Groups", "bulkId": "z", "data": map[string]any{"schemas": []string{groupSchema}, "displayName": "Z", "members": []any{map[string]any{"value": "bulkId:nowhere"}}}},
		map[string]any{"method": "POST", "path": "/Users", "bulkId": "ok", "data": user("fine")},
	))
	if got := strings.Join(statuses(t, r), ","); got != "409,409,409,201" {
		t.Fatalf("circular: statuses %s: %s", got, r.Raw)
	}

	// Malformed requests as a whole.
	c.do("POST", "/Bulk", map[string]any{"Operations": []any{}}).scimError(t, http.StatusBadRequest, "invalidSyntax")
	c.do("POST", "/Bulk", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":"no"}`).scimError(t, http.StatusBadRequest, "invalidSyntax")
	many := make([]map[string]any, 1001)
	for i := range many {
		many[i] = map[string]any{"method": "DELETE", "path": "/Users/x"}
	}
	c.do("POST", "/Bulk", bulkBody(0, many...)).scimError(t, http.StatusRequestEntityTooLarge, "")
	huge := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":[{"method":"POST","path":"/Users","bulkId":"h","data":{"userName":"` + strings.Repeat("h", 5<<20) + `"}}]}`
	c.do("POST", "/Bulk", huge).scimError(t, http.StatusRequestEntityTooLarge, "")
}

func TestBulkAccess(t *testing.T) {
	t.Parallel()
	// Startup tenants have Bulk off, and discovery says so.
	off := newTenant(t, func(nt *tenant.NewTenant) { nt.Plan = tenant.PlanStartup })
	off.do("POST", "/Bulk", bulkBody(0)).scimError(t, http.StatusForbidden, "")
	spc := off.do("GET", "/ServiceProviderConfig", nil).must(t, http.StatusOK)
	if bulk := spc.Body["bulk"].(map[string]any); bulk["supported"] != false {
		t.Errorf("bulk advertised to a tenant that has it off: %v", bulk)
	}

	// Permissions and quotas hold per operation.
	c := newTenant(t, func(nt *tenant.NewTenant) { nt.MaxUsers = ptr(2) })
	r := c.do("POST", "/Bulk", bulkBody(0,
		map[string]any{"method": "POST", "path": "/Users", "bulkId": "1", "data": user("q1")},
		map[string]any{"method": "POST", "path": "/Users", "bulkId": "2", "data": user("q2")},
		map[string]any{"method": "POST", "path": "/Users", "bulkId": "3", "data": user("q3")},
	))
	if got := strings.Join(statuses(t, r), ","); got != "201,201,403" {
		t.Fatalf("quota in bulk: %s: %s", got, r.Raw)
	}
	setPermissions(t, c, func(p *tenant.Permissions) { p.CanDelete = false })
	first := r.Body["Operations"].([]any)[0].(map[string]any)["location"].(string)
	r = c.do("POST", "/Bulk", bulkBody(0, map[string]any{"method": "DELETE", "path": first[len(baseURL+c.prefix):]}))
	if got := strings.Join(statuses(t, r), ","); got != "403" {
		t.Fatalf("bulk DELETE with can_delete off: %s", got)
	}
	c.do("GET", first[len(baseURL+c.prefix):], nil).must(t, http.StatusOK)
}
