package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

const patchSchema = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

func patchBody(ops ...map[string]any) map[string]any {
	return map[string]any{"schemas": []string{patchSchema}, "Operations": ops}
}

// TestPatchOkta sends Okta's PATCH requests byte for byte.
func TestPatchOkta(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	uid := c.createUser("test.user@okta.local", "active", true)
	other := c.createUser("other.user@okta.local")

	r := c.do("PATCH", "/Users/"+uid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`).must(t, http.StatusOK)
	if r.Body["active"] != false || r.str("userName") != "test.user@okta.local" {
		t.Fatalf("deactivate: %s", r.Raw)
	}

	gid := c.createGroup("Okta Group", other)
	rename := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"id":"%s","displayName":"Test SCIMv2"}}]}`, gid)
	c.do("PATCH", "/Groups/"+gid, rename).must(t, http.StatusNoContent)
	if g := c.do("GET", "/Groups/"+gid, nil).must(t, http.StatusOK); g.str("displayName") != "Test SCIMv2" {
		t.Fatalf("rename: %s", g.Raw)
	}

	membership := fmt.Sprintf(`{
  "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
  "Operations": [
    {"op": "remove", "path": "members[value eq \"%[1]s\"]"},
    {"op": "add", "path": "members", "value": [{"value": "%[2]s", "display": "test.user@okta.local"}]},
    {"op": "replace", "path": "members", "value": [
      {"value": "%[2]s", "display": "test.user@okta.local"},
      {"value": "%[1]s", "display": "test.user@okta.local"}
    ]}
  ]
}`, other, uid)
	c.do("PATCH", "/Groups/"+gid, membership).must(t, http.StatusNoContent)
	g := c.do("GET", "/Groups/"+gid, nil).must(t, http.StatusOK)
	if m := memberSet(g.Body["members"]); len(m) != 2 || m[uid] != "User" || m[other] != "User" {
		t.Fatalf("members after Okta's sequence: %v", g.Body["members"])
	}
	// Okta removes a member that is gone already: not an error.
	c.do("PATCH", "/Groups/"+gid, fmt.Sprintf(`{"schemas":["%s"],"Operations":[{"op":"remove","path":"members[value eq \"%s\"]"},{"op":"remove","path":"members[value eq \"%s\"]"}]}`, patchSchema, other, other)).must(t, http.StatusNoContent)
}

// TestPatchEntra sends Entra ID's PATCH requests byte for byte.
func TestPatchEntra(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	uid := c.createUser("entra.user@contoso.com", "emails", []any{map[string]any{"value": "old@contoso.com", "type": "work", "primary": true}},
		"name", map[string]any{"givenName": "Given", "familyName": "Family"})
	r := c.do("PATCH", "/Users/"+uid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"updatedEmail@microsoft.com"},{"op":"Replace","path":"name.familyName","value":"updatedFamilyName"},{"op":"Replace","path":"userName","value":"5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"},{"op":"Replace","path":"active","value":false}]}`).must(t, http.StatusOK)
	name, _ := r.Body["name"].(map[string]any)
	emails, _ := r.Body["emails"].([]any)
	if r.str("userName") != "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com" || r.Body["active"] != false ||
		name["familyName"] != "updatedFamilyName" || name["givenName"] != "Given" ||
		len(emails) != 1 || emails[0].(map[string]any)["value"] != "updatedEmail@microsoft.com" {
		t.Fatalf("Entra user PATCH: %s", r.Raw)
	}
	// The new email is found by filter: the index rows followed.
	found := c.do("GET", "/Users?filter="+q(`emails.value eq "updatedemail@microsoft.com"`), nil).must(t, http.StatusOK)
	if found.Body["totalResults"] != float64(1) {
		t.Fatalf("filter on the patched email: %s", found.Raw)
	}
	// Entra adds a work email to a user who has none.
	bare := c.createUser("bare@contoso.com")
	r = c.do("PATCH", "/Users/"+bare, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"emails[type eq \"work\"].value","value":"bare@contoso.com"},{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"Sales"},{"op":"Replace","path":"active","value":"False"}]}`).must(t, http.StatusOK)
	if fmt.Sprint(r.Body["emails"]) != "[map[type:work value:bare@contoso.com]]" || r.Body["active"] != false {
		t.Fatalf("Entra add work email: %s", r.Raw)
	}

	member := c.createUser("member@contoso.com")
	gid := c.createGroup("Entra Group")
	c.do("PATCH", "/Groups/"+gid, fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"displayName","value":"1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"},{"op":"Add","path":"members","value":[{"$ref":null,"value":"%[1]s"}]},{"op":"Remove","path":"members","value":[{"$ref":null,"value":"%[1]s"}]}]}`, member)).must(t, http.StatusNoContent)
	g := c.do("GET", "/Groups/"+gid, nil).must(t, http.StatusOK)
	if g.str("displayName") != "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName" || g.Body["members"] != nil {
		t.Fatalf("Entra group PATCH: %s", g.Raw)
	}
	c.do("PATCH", "/Groups/"+gid, fmt.Sprintf(`{"schemas":["%s"],"Operations":[{"op":"Add","path":"members","value":[{"value":"%s"}]}]}`, patchSchema, member)).must(t, http.StatusNoContent)
	// Asked for, the group comes back with the answer.
	r = c.do("PATCH", "/Groups/"+gid+"?attributes=members", patchBody(map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": member}}})).must(t, http.StatusOK)
	if m := memberSet(r.Body["members"]); len(m) != 1 || m[member] != "User" {
		t.Fatalf("PATCH ?attributes=members: %s", r.Raw)
	}
}

func TestPatchErrors(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	uid := c.createUser("patcher", "title", "Before")
	c.createUser("taken")
	gid := c.createGroup("G")
	for _, tt := range []struct {
		name     string
		path     string
		body     any
		status   int
		scimType string
	}{
		{"ReadOnlyID", "/Users/" + uid, patchBody(map[string]any{"op": "replace", "path": "id", "value": "x"}), 400, "mutability"},
		{"ReadOnlyMeta", "/Users/" + uid, patchBody(map[string]any{"op": "replace", "path": "meta.created", "value": "2020-01-01T00:00:00Z"}), 400, "mutability"},
		{"UnknownPath", "/Users/" + uid, patchBody(map[string]any{"op": "replace", "path": "nosuch", "value": "x"}), 400, "invalidPath"},
		{"MalformedPath", "/Users/" + uid, patchBody(map[string]any{"op": "replace", "path": "emails[type eq", "value": "x"}), 400, "invalidPath"},
		{"RemoveWithoutPath", "/Users/" + uid, patchBody(map[string]any{"op": "remove"}), 400, "noTarget"},
		{"ReplaceNoMatch", "/Users/" + uid, patchBody(map[string]any{"op": "replace", "path": `emails[value co "nobody"].type`, "value": "home"}), 400, "noTarget"},
		{"WrongType", "/Users/" + uid, patchBody(map[string]any{"op": "replace", "path": "active", "value": "maybe"}), 400, "invalidValue"},
		{"UnknownOp", "/Users/" + uid, patchBody(map[string]any{"op": "merge", "path": "title", "value": "x"}), 400, "invalidSyntax"},
		{"NoOperations", "/Users/" + uid, patchBody(), 400, "invalidSyntax"},
		{"DuplicateUserName", "/Users/" + uid, patchBody(map[string]any{"op": "replace", "path": "userName", "value": "TAKEN"}), 409, "uniqueness"},
		{"RemoveRequired", "/Users/" + uid, patchBody(map[string]any{"op": "remove", "path": "userName"}), 400, "invalidValue"},
		{"MemberNotUUID", "/Groups/" + gid, patchBody(map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": "nope"}}}), 400, "invalidValue"},
		{"MemberUnknown", "/Groups/" + gid, patchBody(map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": "2819c223-7f76-453a-919d-413861904646"}}}), 400, "invalidValue"},
		{"MemberSelf", "/Groups/" + gid, patchBody(map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": gid}}}), 400, "invalidValue"},
		{"UnknownResource", "/Users/2819c223-7f76-453a-919d-413861904646", patchBody(map[string]any{"op": "replace", "path": "title", "value": "x"}), 404, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c.do("PATCH", tt.path, tt.body).scimError(t, tt.status, tt.scimType)
		})
	}
	// All or nothing: a bad operation after a good one leaves the user as it was.
	c.do("PATCH", "/Users/"+uid, patchBody(
		map[string]any{"op": "replace", "path": "title", "value": "After"},
		map[string]any{"op": "replace", "path": "id", "value": "x"},
	)).scimError(t, http.StatusBadRequest, "mutability")
	if r := c.do("GET", "/Users/"+uid, nil).must(t, http.StatusOK); r.str("title") != "Before" {
		t.Fatalf("a failed PATCH changed the user: %s", r.Raw)
	}
	// If-Match.
	etag := c.do("GET", "/Users/"+uid, nil).Header.Get("ETag")
	c.do("PATCH", "/Users/"+uid, patchBody(map[string]any{"op": "replace", "path": "title", "value": "X"}), "If-Match", `W/"999"`).scimError(t, http.StatusPreconditionFailed, "")
	r := c.do("PATCH", "/Users/"+uid, patchBody(map[string]any{"op": "replace", "path": "title", "value": "X"}), "If-Match", etag).must(t, http.StatusOK)
	if r.Header.Get("ETag") == etag {
		t.Error("PATCH kept the version")
	}
	// Too many operations.
	ops := make([]map[string]any, 10001)
	for i := range ops {
		ops[i] = map[string]any{"op": "replace", "path": "title", "value": "x"}
	}
	c.do("PATCH", "/Users/"+uid, patchBody(ops...)).scimError(t, http.StatusRequestEntityTooLarge, "")
}

// TestPatchConcurrentMembers: PATCHes adding members to one group at the
// same time never lose one.
func TestPatchConcurrentMembers(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	gid := c.createGroup("Busy")
	ids := make([]string, 20)
	for i := range ids {
		ids[i] = c.createUser(fmt.Sprintf("busy%02d", i))
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := c.do("PATCH", "/Groups/"+gid, patchBody(map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": id}}}))
			if r.Status != http.StatusNoContent {
				t.Errorf("add %s: %d %s", id, r.Status, r.Raw)
			}
		}()
	}
	wg.Wait()
	g := c.do("GET", "/Groups/"+gid, nil).must(t, http.StatusOK)
	if m := memberSet(g.Body["members"]); len(m) != len(ids) {
		t.Fatalf("%d members after %d concurrent adds", len(m), len(ids))
	}
	// Adding present members again is no error and changes nothing.
	c.do("PATCH", "/Groups/"+gid, patchBody(map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": ids[0]}, map[string]any{"value": ids[0]}}})).must(t, http.StatusNoContent)
	if m := memberSet(c.do("GET", "/Groups/"+gid, nil).Body["members"]); len(m) != len(ids) {
		t.Fatalf("%d members after re-adding", len(m))
	}
}

// TestPatchNoChange: a PATCH that leaves the resource as it was (an add of
// a value it holds, a replace with the same value, a remove of what is
// absent) succeeds and keeps meta.version, the ETag and meta.lastModified
// (RFC 7644 §3.5.2.1); the audit trail records it as unchanged. A PATCH
// that changes something still moves them.
func TestPatchNoChange(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	uid := c.createUser("same@example.com", "title", "Engineer", "active", true,
		"emails", []any{map[string]any{"value": "same@example.com", "type": "work", "primary": true}},
		entSchema, map[string]any{"employeeNumber": "42"})
	stamp := func(r *response) string {
		t.Helper()
		meta, _ := r.Body["meta"].(map[string]any)
		if r.Header.Get("ETag") != meta["version"] {
			t.Errorf("ETag %q, meta.version %v", r.Header.Get("ETag"), meta["version"])
		}
		return fmt.Sprint(meta["version"], " ", meta["lastModified"])
	}
	before := stamp(c.do("GET", "/Users/"+uid, nil).must(t, http.StatusOK))
	for _, tt := range []struct {
		name string
		ops  []map[string]any
	}{
		{"AddPresentEmail", []map[string]any{{"op": "add", "path": "emails", "value": []any{map[string]any{"value": "same@example.com", "type": "work"}}}}},
		{"AddPresentEmailByFilter", []map[string]any{{"op": "Add", "path": `emails[type eq "work"].value`, "value": "same@example.com"}}},
		{"ReplaceSameTitle", []map[string]any{{"op": "replace", "path": "title", "value": "Engineer"}}},
		{"OktaReplaceActive", []map[string]any{{"op": "replace", "value": map[string]any{"active": true}}}},
		{"EntraReplaceActiveString", []map[string]any{{"op": "Replace", "path": "active", "value": "True"}}},
		{"ReplaceSameExtension", []map[string]any{{"op": "replace", "path": entSchema + ":employeeNumber", "value": "42"}}},
		{"RemoveAbsent", []map[string]any{{"op": "remove", "path": "nickName"}}},
		{"RemoveUnmatched", []map[string]any{{"op": "remove", "path": `emails[type eq "home"]`}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := c.do("PATCH", "/Users/"+uid, patchBody(tt.ops...)).must(t, http.StatusOK)
			if got := stamp(r); got != before {
				t.Errorf("PATCH answered version and lastModified %s, want %s as before", got, before)
			}
			if got := stamp(c.do("GET", "/Users/"+uid, nil).must(t, http.StatusOK)); got != before {
				t.Errorf("GET after the PATCH: %s, want %s", got, before)
			}
		})
	}
	// The same with If-Match: the version asked for is still current.
	etag := c.do("GET", "/Users/"+uid, nil).Header.Get("ETag")
	c.do("PATCH", "/Users/"+uid, patchBody(map[string]any{"op": "replace", "path": "title", "value": "Engineer"}), "If-Match", etag).must(t, http.StatusOK)
	// A change moves them.
	changed := c.do("PATCH", "/Users/"+uid, patchBody(map[string]any{"op": "replace", "path": "title", "value": "Manager"}), "If-Match", etag).must(t, http.StatusOK)
	if stamp(changed) == before || changed.Header.Get("ETag") == etag {
		t.Fatalf("a PATCH that changed the title kept %s", before)
	}

	// A group: adding a member it has, removing one it lacks, renaming it
	// to its name, and Entra ID's add-then-remove of a non-member.
	member, other := c.createUser("member@example.com"), c.createUser("other@example.com")
	gid := c.createGroup("Same", member)
	getGroup := func() string { return c.do("GET", "/Groups/"+gid, nil).must(t, http.StatusOK).Header.Get("ETag") }
	gtag := getGroup()
	for _, ops := range [][]map[string]any{
		{{"op": "add", "path": "members", "value": []any{map[string]any{"value": member}}}},
		{{"op": "remove", "path": fmt.Sprintf(`members[value eq "%s"]`, other)}},
		{{"op": "replace", "path": "displayName", "value": "Same"}},
		{{"op": "Replace", "path": "displayName", "value": "Same"},
			{"op": "Add", "path": "members", "value": []any{map[string]any{"value": other}}},
			{"op": "Remove", "path": "members", "value": []any{map[string]any{"value": other}}}},
		{{"op": "replace", "path": "members", "value": []any{map[string]any{"value": member}}}},
	} {
		r := c.do("PATCH", "/Groups/"+gid, patchBody(ops...)).must(t, http.StatusNoContent)
		if r.Header.Get("ETag") != gtag || getGroup() != gtag {
			t.Errorf("%v: ETag %s, want %s as before", ops, r.Header.Get("ETag"), gtag)
		}
	}
	r := c.do("PATCH", "/Groups/"+gid, patchBody(map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": other}}})).must(t, http.StatusNoContent)
	if r.Header.Get("ETag") == gtag || getGroup() == gtag {
		t.Fatalf("adding a member kept the group's ETag %s", gtag)
	}

	// The trail says which PATCHes changed nothing: 9 on the user (one
	// with If-Match) and 5 on the group, then one change each.
	outcomes := map[string]int{}
	for _, e := range scimAudit(t, c) {
		if strings.HasSuffix(e.Action, ".patch") {
			outcomes[e.Action+" "+e.Outcome]++
		}
	}
	want := map[string]int{"user.patch unchanged": 9, "user.patch success": 1, "group.patch unchanged": 5, "group.patch success": 1}
	if fmt.Sprint(outcomes) != fmt.Sprint(want) {
		t.Errorf("audit outcomes %v, want %v", outcomes, want)
	}
}
