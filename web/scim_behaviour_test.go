package web_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app/audit"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// profile creates the tenant with the named profile.
func profile(name string) func(*tenant.NewTenant) {
	return func(nt *tenant.NewTenant) { nt.Profile = name }
}

// setFlag changes one flag of the client's tenant as staff would, and
// waits until the server has dropped what it cached.
func (c *client) setFlag(t *testing.T, name, value string) {
	t.Helper()
	b, err := env.tenants.FindBehaviour(context.Background(), c.tenant)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Set(name, value); err != nil {
		t.Fatal(err)
	}
	if err := env.tenants.UpdateBehaviour(context.Background(), c.tenant, *b, "test"); err != nil {
		t.Fatal(err)
	}
	synced(t)
}

func TestFlagRequireIfMatch(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprint(on), func(t *testing.T) {
			t.Parallel()
			c := newTenant(t)
			c.setFlag(t, "require_if_match", fmt.Sprint(on))
			uid := c.createUser(fmt.Sprintf("ifmatch%v@example.com", on))
			patch := patchBody(map[string]any{"op": "replace", "path": "title", "value": "T"})
			put := user(fmt.Sprintf("ifmatch%v@example.com", on), "title", "P")
			for _, req := range []struct {
				method string
				body   any
			}{{"PATCH", patch}, {"PUT", put}, {"DELETE", nil}} {
				r := c.do(req.method, "/Users/"+uid, req.body)
				if on {
					r.scimError(t, http.StatusPreconditionRequired, "")
					// If-Match: * prevents no lost update: refused too.
					c.do(req.method, "/Users/"+uid, req.body, "If-Match", "*").scimError(t, http.StatusPreconditionRequired, "")
					etag := c.do("GET", "/Users/"+uid, nil).must(t, http.StatusOK).Header.Get("ETag")
					r = c.do(req.method, "/Users/"+uid, req.body, "If-Match", etag)
				}
				want := http.StatusOK
				if req.method == "DELETE" {
					want = http.StatusNoContent
				}
				r.must(t, want)
			}
			// Bulk operations need their version too.
			bulk := map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:BulkRequest"}, "Operations": []any{
				map[string]any{"method": "POST", "path": "/Users", "bulkId": "u", "data": user("bulk.ifmatch@example.com")},
				map[string]any{"method": "PATCH", "path": "/Users/bulkId:u", "data": patch},
			}}
			res := c.do("POST", "/Bulk", bulk).must(t, http.StatusOK)
			ops, _ := res.Body["Operations"].([]any)
			want := "200"
			if on {
				want = "428"
			}
			if len(ops) != 2 || ops[1].(map[string]any)["status"] != want {
				t.Fatalf("bulk PATCH without version, require_if_match %v: %s", on, res.Raw)
			}
		})
	}
}

func TestFlagStrictSchemas(t *testing.T) {
	t.Parallel()
	const core = "urn:ietf:params:scim:schemas:core:2.0:User"
	for _, tt := range []struct {
		name string
		body string
	}{
		{"ExtensionNotDeclared", `{"schemas":["` + core + `"],"userName":"%s","` + entSchema + `":{"department":"Sales"}}`},
		{"ExtensionAttrNotDeclared", `{"schemas":["` + core + `"],"userName":"%s","` + entSchema + `:department":"Sales"}`},
		{"UnknownURNKey", `{"schemas":["` + core + `"],"userName":"%s","urn:example:params:scim:schemas:extension:acme:2.0:User":{"badge":"7"}}`},
		{"UnknownURNInSchemas", `{"schemas":["` + core + `","urn:example:params:scim:schemas:extension:acme:2.0:User"],"userName":"%s"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newTenant(t)
			// Off (entra): accepted, what is not served ignored.
			c.do("POST", "/Users", fmt.Sprintf(tt.body, "lenient")).must(t, http.StatusCreated)
			c.setFlag(t, "strict_schemas", "true")
			c.do("POST", "/Users", fmt.Sprintf(tt.body, "strict")).scimError(t, http.StatusBadRequest, "invalidSyntax")
			uid := c.createUser("replaced")
			c.do("PUT", "/Users/"+uid, fmt.Sprintf(tt.body, "replaced")).scimError(t, http.StatusBadRequest, "invalidSyntax")
		})
	}
	// Declared, the same extension is fine when strict.
	c := newTenant(t, profile(tenant.ProfileRFC))
	r := c.do("POST", "/Users", `{"schemas":["`+core+`","`+entSchema+`"],"userName":"declared","`+entSchema+`":{"department":"Sales"}}`).must(t, http.StatusCreated)
	if ext, _ := r.Body[entSchema].(map[string]any); ext["department"] != "Sales" {
		t.Fatalf("declared extension: %s", r.Raw)
	}
}

func TestFlagReplaceNoTarget(t *testing.T) {
	t.Parallel()
	for _, value := range []string{tenant.ReplaceAdd, tenant.ReplaceError} {
		t.Run(value, func(t *testing.T) {
			t.Parallel()
			c := newTenant(t)
			c.setFlag(t, "replace_no_target", value)
			uid := c.createUser("nowork", "emails", []any{map[string]any{"value": "home@example.com", "type": "home"}})
			r := c.do("PATCH", "/Users/"+uid, `{"schemas":["`+patchSchema+`"],"Operations":[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"work@example.com"}]}`)
			if value == tenant.ReplaceError {
				r.scimError(t, http.StatusBadRequest, "noTarget")
				// add still builds the element from the filter.
				r = c.do("PATCH", "/Users/"+uid, `{"schemas":["`+patchSchema+`"],"Operations":[{"op":"Add","path":"emails[type eq \"work\"].value","value":"work@example.com"}]}`)
			}
			r.must(t, http.StatusOK)
			if m := fmt.Sprint(r.Body["emails"]); m != "[map[type:home value:home@example.com] map[type:work value:work@example.com]]" {
				t.Fatalf("emails: %s", m)
			}
		})
	}
}

// TestProfileIdPSequences replays the requests Microsoft Entra ID and Okta
// send while provisioning (their captured bodies, with this run's ids)
// against tenants of the entra and okta profiles.
func TestProfileIdPSequences(t *testing.T) {
	t.Parallel()
	for _, p := range []string{tenant.ProfileEntra, tenant.ProfileOkta} {
		t.Run(p, func(t *testing.T) {
			t.Parallel()
			t.Run("Entra", func(t *testing.T) {
				c := newTenant(t, profile(p))
				c.do("GET", "/Users?filter=userName+eq+%22non-existent+user%22", nil).must(t, http.StatusOK)
				u := c.do("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],"externalId":"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef","userName":"Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1","active":true,"emails":[{"primary":true,"type":"work","value":"Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com"}],"meta":{"resourceType":"User"},"name":{"formatted":"givenName familyName","familyName":"familyName","givenName":"givenName"},"roles":[]}`).must(t, http.StatusCreated)
				uid := u.str("id")
				found := c.do("GET", "/Users?filter=userName+eq+%22Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1%22", nil).must(t, http.StatusOK)
				if found.Body["totalResults"] != float64(1) {
					t.Fatalf("lookup: %s", found.Raw)
				}
				r := c.do("PATCH", "/Users/"+uid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"updatedEmail@microsoft.com"},{"op":"Replace","path":"name.familyName","value":"updatedFamilyName"},{"op":"Replace","path":"userName","value":"5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"},{"op":"Replace","path":"active","value":false}]}`).must(t, http.StatusOK)
				if fmt.Sprint(r.Body["emails"]) != "[map[primary:true type:work value:updatedEmail@microsoft.com]]" || r.Body["active"] != false {
					t.Fatalf("user PATCH: %s", r.Raw)
				}
				c.do("GET", "/Groups?filter=displayName+eq+%22displayName%22", nil).must(t, http.StatusOK)
				g := c.do("POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"externalId":"8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159","displayName":"displayName","meta":{"resourceType":"Group"}}`).must(t, http.StatusCreated)
				gid := g.str("id")
				c.do("PATCH", "/Groups/"+gid, fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"displayName","value":"1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"},{"op":"Add","path":"members","value":[{"$ref":null,"value":"%[1]s"}]},{"op":"Remove","path":"members","value":[{"$ref":null,"value":"%[1]s"}]}]}`, uid)).must(t, http.StatusNoContent)
				c.do("DELETE", "/Users/"+uid, nil).must(t, http.StatusNoContent)
				c.do("GET", "/Users/"+uid, nil).must(t, http.StatusNotFound)
			})
			t.Run("Okta", func(t *testing.T) {
				c := newTenant(t, profile(p))
				c.do("GET", "/Users?filter=userName+eq+%22test.user%40okta.local%22&startIndex=1&count=100", nil).must(t, http.StatusOK)
				u := c.do("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"test.user@okta.local","name":{"givenName":"Test","familyName":"User"},"emails":[{"primary":true,"value":"test.user@okta.local","type":"work"}],"displayName":"Test User","locale":"en-US","externalId":"00ujl29u0le5T6Aj10h7","groups":[],"password":"1mz050nq","active":true}`).must(t, http.StatusCreated)
				uid := u.str("id")
				c.do("GET", "/Users/"+uid, nil).must(t, http.StatusOK)
				r := c.do("PUT", "/Users/"+uid, fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"%s","userName":"test.user@okta.local","name":{"givenName":"Another","middleName":"Excited","familyName":"User"},"emails":[{"primary":true,"value":"test.user@okta.local","type":"work","display":"test.user@okta.local"}],"active":true,"groups":[],"meta":{"resourceType":"User"}}`, uid)).must(t, http.StatusOK)
				if name, _ := r.Body["name"].(map[string]any); name["middleName"] != "Excited" {
					t.Fatalf("PUT: %s", r.Raw)
				}
				other := c.createUser("other.user@okta.local")
				g := c.do("POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Test SCIMv2","members":[]}`).must(t, http.StatusCreated)
				gid := g.str("id")
				c.do("PATCH", "/Groups/"+gid, fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"id":"%s","displayName":"Test SCIMv2 renamed"}}]}`, gid)).must(t, http.StatusNoContent)
				c.do("PATCH", "/Groups/"+gid, fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"%[1]s\"]"},{"op":"add","path":"members","value":[{"value":"%[2]s","display":"test.user@okta.local"}]},{"op":"replace","path":"members","value":[{"value":"%[2]s","display":"test.user@okta.local"},{"value":"%[1]s","display":"test.user@okta.local"}]}]}`, other, uid)).must(t, http.StatusNoContent)
				if m := memberSet(c.do("GET", "/Groups/"+gid, nil).must(t, http.StatusOK).Body["members"]); len(m) != 2 {
					t.Fatalf("members: %v", m)
				}
				// Okta deprovisions by deactivating, never by DELETE.
				r = c.do("PATCH", "/Users/"+uid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`).must(t, http.StatusOK)
				if r.Body["active"] != false {
					t.Fatalf("deactivate: %s", r.Raw)
				}
				if g := c.do("GET", "/Users/"+uid, nil).must(t, http.StatusOK); g.Body["active"] != false {
					t.Fatalf("deactivated user: %s", g.Raw)
				}
			})
		})
	}
}

// TestProfileRFC: a tenant of the rfc profile answers every PATCH error
// case the project checks as RFC 7644 says, an unmatched filtered replace
// included, and refuses undeclared extensions.
func TestProfileRFC(t *testing.T) {
	t.Parallel()
	c := newTenant(t, profile(tenant.ProfileRFC))
	uid := c.createUser("rfc.user", "title", "Before", "emails", []any{map[string]any{"value": "home@example.com", "type": "home"}})
	c.createUser("taken")
	gid := c.createGroup("G")
	for _, tt := range []struct {
		name     string
		path     string
		body     any
		status   int
		scimType string
	}{
		{"ReplaceUnmatchedEqFilter", "/Users/" + uid, patchBody(map[string]any{"op": "replace", "path": `emails[type eq "work"].value`, "value": "w@example.com"}), 400, "noTarget"},
		{"ReplaceUnmatchedWhole", "/Users/" + uid, patchBody(map[string]any{"op": "replace", "path": `emails[type eq "work"]`, "value": map[string]any{"value": "w@example.com"}}), 400, "noTarget"},
		{"ReplaceNoMatch", "/Users/" + uid, patchBody(map[string]any{"op": "replace", "path": `emails[value co "nobody"].type`, "value": "home"}), 400, "noTarget"},
		{"RemoveWithoutPath", "/Users/" + uid, patchBody(map[string]any{"op": "remove"}), 400, "noTarget"},
		{"ReadOnlyID", "/Users/" + uid, patchBody(map[string]any{"op": "replace", "path": "id", "value": "x"}), 400, "mutability"},
		{"UnknownPath", "/Users/" + uid, patchBody(map[string]any{"op": "replace", "path": "nosuch", "value": "x"}), 400, "invalidPath"},
		{"WrongType", "/Users/" + uid, patchBody(map[string]any{"op": "replace", "path": "active", "value": "maybe"}), 400, "invalidValue"},
		{"UnknownOp", "/Users/" + uid, patchBody(map[string]any{"op": "merge", "path": "title", "value": "x"}), 400, "invalidSyntax"},
		{"DuplicateUserName", "/Users/" + uid, patchBody(map[string]any{"op": "replace", "path": "userName", "value": "TAKEN"}), 409, "uniqueness"},
		{"MemberNotUUID", "/Groups/" + gid, patchBody(map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": "nope"}}}), 400, "invalidValue"},
		{"UndeclaredExtension", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"undeclared","` + entSchema + `":{"department":"Sales"}}`, 400, "invalidSyntax"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			method := "PATCH"
			if tt.path == "/Users" {
				method = "POST"
			}
			c.do(method, tt.path, tt.body).scimError(t, tt.status, tt.scimType)
		})
	}
	// The replace that matches, and the add that builds, still work.
	r := c.do("PATCH", "/Users/"+uid, patchBody(
		map[string]any{"op": "add", "path": `emails[type eq "work"].value`, "value": "w@example.com"},
		map[string]any{"op": "replace", "path": `emails[type eq "work"].value`, "value": "w2@example.com"},
	)).must(t, http.StatusOK)
	if m := fmt.Sprint(r.Body["emails"]); m != "[map[type:home value:home@example.com] map[type:work value:w2@example.com]]" {
		t.Fatalf("emails: %s", m)
	}
	if r := c.do("GET", "/Users/"+uid, nil).must(t, http.StatusOK); r.str("title") != "Before" {
		t.Fatalf("a refused PATCH changed the user: %s", r.Raw)
	}
}

func TestFlagSoftDelete(t *testing.T) {
	t.Parallel()
	t.Run("Off", func(t *testing.T) {
		t.Parallel()
		c := newTenant(t)
		uid := c.createUser("gone@example.com")
		c.do("DELETE", "/Users/"+uid, nil).must(t, http.StatusNoContent)
		c.do("GET", "/Users/"+uid, nil).must(t, http.StatusNotFound)
		if r := c.do("GET", "/Users?filter="+q(`active eq false`), nil).must(t, http.StatusOK); r.Body["totalResults"] != float64(0) {
			t.Fatalf("a hard-deleted user is listed: %s", r.Raw)
		}
		if again := c.createUser("gone@example.com"); again == uid {
			t.Fatal("a hard-deleted user came back under its id")
		}
	})
	t.Run("On", func(t *testing.T) {
		t.Parallel()
		c := newTenant(t)
		c.setFlag(t, "soft_delete", "true")
		uid := c.createUser("kept@example.com", "title", "Before")
		other := c.createUser("other@example.com")
		gid := c.createGroup("Team", uid, other)
		c.do("DELETE", "/Users/"+uid, nil).must(t, http.StatusNoContent)

		// Hidden from GETs, lists and writes (RFC 7644 §3.6: 404 for every
		// operation on it) ...
		c.do("GET", "/Users/"+uid, nil).scimError(t, http.StatusNotFound, "")
		c.do("PATCH", "/Users/"+uid, patchBody(map[string]any{"op": "replace", "path": "title", "value": "X"})).must(t, http.StatusNotFound)
		c.do("PUT", "/Users/"+uid, user("kept@example.com")).must(t, http.StatusNotFound)
		c.do("DELETE", "/Users/"+uid, nil).must(t, http.StatusNotFound)
		for _, f := range []string{`userName eq "kept@example.com"`, ``} {
			r := c.do("GET", "/Users?filter="+q(f), nil).must(t, http.StatusOK)
			for _, res := range r.resources() {
				if res["id"] == uid {
					t.Fatalf("list with filter %q shows the deleted user: %s", f, r.Raw)
				}
			}
		}
		// ... but a filter on active finds it, inactive.
		r := c.do("GET", "/Users?filter="+q(`active eq false`), nil).must(t, http.StatusOK)
		if res := r.resources(); len(res) != 1 || res[0]["id"] != uid || res[0]["active"] != false {
			t.Fatalf("filter on active: %s", r.Raw)
		}
		// Its memberships are gone.
		if m := memberSet(c.do("GET", "/Groups/"+gid, nil).must(t, http.StatusOK).Body["members"]); len(m) != 1 || m[other] == "" {
			t.Fatalf("members after the soft delete: %v", m)
		}
		// and it cannot become a member again while deleted.
		c.do("PATCH", "/Groups/"+gid, patchBody(map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": uid}}})).scimError(t, http.StatusBadRequest, "invalidValue")

		// A POST with its userName restores it, under its id, as posted.
		r = c.do("POST", "/Users", user("KEPT@example.com", "displayName", "Back")).must(t, http.StatusCreated)
		if r.str("id") != uid || r.Body["active"] != true || r.str("displayName") != "Back" || r.Body["title"] != nil {
			t.Fatalf("restore: %s", r.Raw)
		}
		c.do("GET", "/Users/"+uid, nil).must(t, http.StatusOK)

		// Staff purge: then the userName makes a new user.
		c.do("DELETE", "/Users/"+uid, nil).must(t, http.StatusNoContent)
		n, err := env.tenants.PurgeDeletedUsers(context.Background(), c.tenant, 0, "test")
		if err != nil || n != 1 {
			t.Fatalf("purge: %d, %v", n, err)
		}
		if again := c.createUser("kept@example.com"); again == uid {
			t.Fatal("a purged user came back under its id")
		}
	})
	t.Run("TurnedOff", func(t *testing.T) {
		t.Parallel()
		c := newTenant(t)
		c.setFlag(t, "soft_delete", "true")
		uid := c.createUser("dormant@example.com")
		c.do("DELETE", "/Users/"+uid, nil).must(t, http.StatusNoContent)
		// Turned off, the flag hides nothing more: the kept user is an
		// inactive user again (purge first to be rid of it).
		c.setFlag(t, "soft_delete", "false")
		if r := c.do("GET", "/Users/"+uid, nil).must(t, http.StatusOK); r.Body["active"] != false {
			t.Fatalf("after turning soft_delete off: %s", r.Raw)
		}
	})
}

// TestSoftDeletePurgedInBackground: a user kept longer than the retention
// goes without the tenant deleting anyone else (the background purge, as
// every server runs it); one deleted recently stays restorable. The purge
// is audited when it removed someone, and only then.
func TestSoftDeletePurgedInBackground(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newTenant(t)
	c.setFlag(t, "soft_delete", "true")
	old := c.createUser("old@example.com")
	recent := c.createUser("recent@example.com")
	c.createUser("live@example.com")
	c.do("DELETE", "/Users/"+old, nil).must(t, http.StatusNoContent)
	c.do("DELETE", "/Users/"+recent, nil).must(t, http.StatusNoContent)
	tn, err := env.tenants.FindTenant(ctx, c.tenant)
	if err != nil {
		t.Fatal(err)
	}
	err = env.db.InTenant(ctx, tn.Scope(), func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE users SET deleted_at = now() - CASE id WHEN $1 THEN interval '31 days' ELSE interval '1 day' END
			WHERE id IN ($1, $2)`, old, recent)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	// Another instance's pass: this tenant was looked at by the server's
	// own purger at most a moment ago, so look again at once.
	purger := &tenant.Purger{Tenants: env.tenants, Every: time.Nanosecond}
	if _, err := purger.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	r := c.do("GET", "/Users?filter="+q(`active eq false`), nil).must(t, http.StatusOK)
	if res := r.resources(); len(res) != 1 || res[0]["id"] != recent {
		t.Fatalf("kept users after the purge: %s", r.Raw)
	}
	if back := c.do("POST", "/Users", user("old@example.com")).must(t, http.StatusCreated).str("id"); back == old {
		t.Fatal("the purged user came back under its id")
	}
	if back := c.do("POST", "/Users", user("recent@example.com")).must(t, http.StatusCreated).str("id"); back != recent {
		t.Fatal("the recently deleted user was not restored")
	}

	if _, err := purger.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	p, err := audit.FindTrailPage(ctx, env.db, audit.TrailFilter{TenantID: c.tenant, Action: "tenant.purge_deleted"})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Events) != 1 || p.Events[0].Actor != "system" || p.Events[0].Details["users"] != float64(1) {
		t.Fatalf("purge audit records: %+v, want one by system of 1 user", p.Events)
	}
}
