package directory_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/directory"
	"github.com/bulkhead-dev/bulkhead/app/scim"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// bulkBody returns a BulkRequest of the given operations (JSON objects).
func bulkBody(t *testing.T, failOnErrors int, ops ...string) map[string]any {
	t.Helper()
	s := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":[` + strings.Join(ops, ",") + `]`
	if failOnErrors > 0 {
		s += `,"failOnErrors":` + strconv.Itoa(failOnErrors)
	}
	return body(t, s+`}`)
}

func postUser(bulkID, userName string) string {
	return `{"method":"POST","path":"/Users","bulkId":"` + bulkID + `","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"` + userName + `"}}`
}

func postGroup(bulkID, name string, memberRefs ...string) string {
	var ms []string
	for _, m := range memberRefs {
		ms = append(ms, `{"value":"`+m+`"}`)
	}
	return `{"method":"POST","path":"/Groups","bulkId":"` + bulkID + `","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"` + name + `","members":[` + strings.Join(ms, ",") + `]}}`
}

// outcomes describes each result: its method and bulkId, and the error
// code when it failed.
func outcomes(rs []directory.BulkResult) string {
	var out []string
	for _, r := range rs {
		s := strings.Fields(r.Method + " " + r.BulkID + " " + app.ErrorCode(r.Err))
		out = append(out, strings.Join(s, " "))
	}
	return strings.Join(out, ", ")
}

func (f *fixture) bulk(failOnErrors int, ops ...string) []directory.BulkResult {
	f.t.Helper()
	rs, err := f.svc.Bulk(context.Background(), f.caller, bulkBody(f.t, failOnErrors, ops...))
	if err != nil {
		f.t.Fatal(err)
	}
	return rs
}

// TestBulk: operations may refer to resources created later in the same
// request; each is written, re-read and audited as it would be alone, its
// audit record marked as Bulk's.
func TestBulk(t *testing.T) {
	t.Parallel()
	f := newTenant(t)
	ctx := context.Background()
	// The group comes first and refers to users created after it: it waits
	// for them.
	rs := f.bulk(0, postGroup("g", "Bulk Group", "bulkId:u1", "bulkId:u2"), postUser("u1", "bulk1"), postUser("u2", "bulk2"))
	if got := outcomes(rs); got != "POST g, POST u1, POST u2" {
		t.Fatalf("results: %s", got)
	}
	g := rs[0]
	if !g.Type.Is(scim.GroupResource) || g.Resource == nil || g.ID != g.Resource.ID || g.Resource.Version != 1 {
		t.Fatalf("group result: %+v", g)
	}
	got, err := f.svc.Get(ctx, f.caller, scim.GroupResource, g.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Members) != 2 {
		t.Fatalf("members: %+v", got.Members)
	}
	u1 := rs[1].ID

	// A path may refer to a created resource too; PUT, PATCH and DELETE
	// with versions.
	rs = f.bulk(0,
		postUser("u3", "bulk3"),
		`{"method":"PATCH","path":"/Users/bulkId:u3","data":{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"displayName","value":"Three"}]}}`,
		`{"method":"PUT","path":"/Users/`+u1+`","version":"W/\"1\"","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bulk1-renamed"}}`,
		`{"method":"DELETE","path":"/Users/`+u1+`","version":"W/\"1\""}`,
		`{"method":"DELETE","path":"/Users/2819c223-7f76-453a-919d-413861904646"}`,
	)
	if got := outcomes(rs); got != "POST u3, PATCH, PUT, DELETE precondition, DELETE not_found" {
		t.Fatalf("results: %s", got)
	}
	if rs[1].ID != rs[0].ID || attrs(t, rs[1].Resource)["displayName"] != "Three" || rs[2].Resource.Version != 2 {
		t.Errorf("results: %+v", rs)
	}
	if rs[3].Resource != nil || rs[3].Type != nil {
		t.Errorf("a failed operation names no resource: %+v", rs[3])
	}

	var actions []string
	for _, e := range f.trail() {
		if e.Details["bulk"] != true {
			t.Errorf("event %+v is not marked as Bulk's", e)
		}
		id, _ := e.Details["bulkId"].(string)
		actions = append(actions, e.Action+" "+id)
	}
	if got := strings.Join(actions, ", "); got != "user.create u1, user.create u2, group.create g, user.create u3, user.patch , user.replace " {
		t.Errorf("trail: %s", got)
	}
}

// TestBulkFailedOperationUndoneAlone: Bulk runs its operations in one
// transaction with a savepoint around each: an operation that fails in the
// database after writing part of its work (a userName taken, which
// PostgreSQL refuses and which aborts the transaction) is undone whole —
// no row, no counter, no audit record — while those before and after it
// stay done (RFC 7644 §3.7.3).
func TestBulkFailedOperationUndoneAlone(t *testing.T) {
	t.Parallel()
	f := newTenant(t)
	ctx := context.Background()
	rs := f.bulk(0,
		postUser("a", "undone-a"),
		postUser("b", "UNDONE-A"),
		postUser("c", "undone-c"),
		`{"method":"PUT","path":"/Users/bulkId:c","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"undone-a","displayName":"lost"}}`,
		`{"method":"PATCH","path":"/Users/bulkId:c","data":{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"displayName","value":"C"}]}}`,
	)
	if got := outcomes(rs); got != "POST a, POST b conflict, POST c, PUT conflict, PATCH" {
		t.Fatalf("results: %s", got)
	}
	if s := f.state(); s.Users != 2 || s.Events != 3 {
		t.Errorf("after the request: %d users, %d audit records; want 2 and 3", s.Users, s.Events)
	}
	c, err := f.svc.Get(ctx, f.caller, scim.UserResource, rs[2].ID, false)
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := c.Attributes(); data["userName"] != "undone-c" || data["displayName"] != "C" || c.Version != 2 {
		t.Errorf("user c: %+v, version %d; want undone-c, C, 2", data, c.Version)
	}
	var actions []string
	for _, e := range f.trail() {
		actions = append(actions, e.Action+" "+e.Target)
	}
	if got, want := strings.Join(actions, ", "), "user.create "+rs[0].ID+", user.create "+c.ID+", user.patch "+c.ID; got != want {
		t.Errorf("trail: %s, want %s", got, want)
	}
	// The counters the quota reads agree: a user count of 2.
	var n int
	if err := f.db.InTenant(ctx, f.tenant.Scope(), func(tx *sqlx.Tx) error {
		return tx.GetContext(ctx, &n, `SELECT value FROM counters WHERE name = 'users'`)
	}); err != nil || n != 2 {
		t.Errorf("users counter %d (%v), want 2", n, err)
	}
}

// TestBulkUnresolvable: references that cannot be resolved fail with
// ECONFLICT, leaving the other operations done.
func TestBulkUnresolvable(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		ops  []string
		want string
	}{
		{"circular", []string{postGroup("a", "A", "bulkId:b"), postGroup("b", "B", "bulkId:a"), postUser("u", "alone")},
			"POST a conflict, POST b conflict, POST u"},
		{"unknown bulkId", []string{postGroup("a", "A", "bulkId:nobody"), postUser("u", "alone")},
			"POST a conflict, POST u"},
		// The user's POST fails (no userName): what refers to it fails too,
		// even when it comes first.
		{"failed bulkId", []string{postGroup("a", "A", "bulkId:u"), `{"method":"POST","path":"/Users","bulkId":"u","data":{"displayName":"nameless"}}`,
			`{"method":"DELETE","path":"/Users/bulkId:u"}`},
			"POST a conflict, POST u invalid, DELETE conflict"},
		{"invalid operations fail alone", []string{`{"method":"GET","path":"/Users"}`, postUser("u", "alone"), `{"method":"POST","path":"/Users","data":{}}`,
			`{"method":"PATCH","path":"/Printers/1","data":{}}`},
			"GET invalid, POST u, POST invalid, PATCH invalid"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newTenant(t)
			rs := f.bulk(0, tt.ops...)
			if got := outcomes(rs); got != tt.want {
				t.Fatalf("results: %s, want %s", got, tt.want)
			}
			// Only the user that stood alone was created.
			if s := f.state(); s.Groups != 0 || s.Users != strings.Count(tt.want, "POST u")-strings.Count(tt.want, "POST u invalid") || s.Events != s.Users {
				t.Errorf("state: %+v", s)
			}
		})
	}
	t.Run("circular message", func(t *testing.T) {
		t.Parallel()
		f := newTenant(t)
		rs := f.bulk(0, postGroup("a", "A", "bulkId:b"), postGroup("b", "B", "bulkId:a"))
		if msg := app.ErrorMessage(rs[0].Err); !strings.Contains(msg, "circular") {
			t.Errorf("message: %s", msg)
		}
	})
}

// TestBulkFailOnErrors: after failOnErrors errors the remaining operations
// are not run, and have no result.
func TestBulkFailOnErrors(t *testing.T) {
	t.Parallel()
	f := newTenant(t)
	missing := `{"method":"DELETE","path":"/Users/2819c223-7f76-453a-919d-413861904646"}`
	rs := f.bulk(2, postUser("a", "fail-a"), missing, postUser("b", "fail-b"), missing, postUser("c", "fail-c"))
	if got := outcomes(rs); got != "POST a, DELETE not_found, POST b, DELETE not_found" {
		t.Fatalf("results: %s", got)
	}
	if s := f.state(); s.Users != 2 {
		t.Errorf("users: %d, want 2 (c not run)", s.Users)
	}
	// Unresolvable references count towards failOnErrors too.
	rs = f.bulk(1, postGroup("x", "X", "bulkId:y"), postGroup("y", "Y", "bulkId:x"), postUser("d", "fail-d"))
	if got := outcomes(rs); got != "POST x conflict, POST d" {
		t.Fatalf("results: %s", got)
	}
}

// TestBulkPermissions: an operation the tenant may not do fails alone.
func TestBulkPermissions(t *testing.T) {
	t.Parallel()
	f := newTenant(t)
	u := f.createUser("undeletable")
	c := f.with(func(p *tenant.Permissions) { p.CanDelete = false })
	rs, err := f.svc.Bulk(context.Background(), c, bulkBody(t, 0, `{"method":"DELETE","path":"/Users/`+u.ID+`"}`, postUser("n", "new")))
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomes(rs); got != "DELETE forbidden, POST n" {
		t.Fatalf("results: %s", got)
	}
	if s := f.state(); s.Users != 2 {
		t.Errorf("users: %d, want 2", s.Users)
	}
}

// TestBulkRequestErrors: a malformed request fails whole, before any
// operation runs.
func TestBulkRequestErrors(t *testing.T) {
	t.Parallel()
	f := newTenant(t)
	many := make([]string, directory.MaxBulkOperations+1)
	for i := range many {
		many[i] = postUser("u"+strconv.Itoa(i), "u"+strconv.Itoa(i))
	}
	for _, tt := range []struct {
		name string
		body map[string]any
		code string
	}{
		{"no schemas", body(t, `{"Operations":[]}`), app.EINVALID},
		{"no Operations", body(t, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"]}`), app.EINVALID},
		{"negative failOnErrors", body(t, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"failOnErrors":-1,"Operations":[]}`), app.EINVALID},
		{"too many operations", bulkBody(t, 0, many...), app.ETOOLARGE},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.Bulk(context.Background(), f.caller, tt.body)
			wantCode(t, err, tt.code)
			if s := f.state(); s.Users != 0 {
				t.Errorf("users: %d", s.Users)
			}
		})
	}
}
