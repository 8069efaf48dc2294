package web_test

import (
	"fmt"
	"net/http"
	"testing"
)

// One test per request shape that a real identity provider sends, each
// asserting what was stored.

func TestEntraPatchNoPathDottedAndURNKeys(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	uid := c.createUser("dotted@contoso.com", "name", map[string]any{"givenName": "Old", "familyName": "Keep"})
	c.do("PATCH", "/Users/"+uid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","value":{"name.givenName":"New","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"42","active":"False"}}]}`).must(t, http.StatusOK)
	u := c.do("GET", "/Users/"+uid, nil).must(t, http.StatusOK)
	name := u.Body["name"].(map[string]any)
	ext, _ := u.Body[entSchema].(map[string]any)
	if name["givenName"] != "New" || name["familyName"] != "Keep" || ext["employeeNumber"] != "42" || u.Body["active"] != false {
		t.Fatalf("stored: %s", u.Raw)
	}
}

func TestEntraReplaceFilteredPathMatchingNothingAdds(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	uid := c.createUser("nowork@contoso.com", "emails", []any{map[string]any{"value": "home@contoso.com", "type": "home"}})
	c.do("PATCH", "/Users/"+uid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"work@contoso.com"},{"op":"Replace","path":"phoneNumbers[type eq \"mobile\"].value","value":"+1 555 0100"}]}`).must(t, http.StatusOK)
	u := c.do("GET", "/Users/"+uid, nil).must(t, http.StatusOK)
	if m := fmt.Sprint(u.Body["emails"]); m != "[map[type:home value:home@contoso.com] map[type:work value:work@contoso.com]]" {
		t.Errorf("emails: %s", m)
	}
	if m := fmt.Sprint(u.Body["phoneNumbers"]); m != "[map[type:mobile value:+1 555 0100]]" {
		t.Errorf("phoneNumbers: %s", m)
	}
}

func TestEntraManagerAsBareString(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	boss := c.createUser("boss@contoso.com")
	uid := c.createUser("report@contoso.com")
	for _, value := range []string{`"` + boss + `"`, `{"value":"` + boss + `"}`} {
		c.do("PATCH", "/Users/"+uid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":`+value+`}]}`).must(t, http.StatusOK)
		u := c.do("GET", "/Users/"+uid, nil).must(t, http.StatusOK)
		ext, _ := u.Body[entSchema].(map[string]any)
		if m, _ := ext["manager"].(map[string]any); m["value"] != boss {
			t.Fatalf("manager from %s: %s", value, u.Raw)
		}
	}
	// Also on create.
	r := c.do("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],"userName":"created@contoso.com","active":"True","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":"`+boss+`"}}`).must(t, http.StatusCreated)
	if ext, _ := r.Body[entSchema].(map[string]any); fmt.Sprint(ext["manager"]) != "map[value:"+boss+"]" || r.Body["active"] != true {
		t.Fatalf("create with bare manager: %s", r.Raw)
	}
}

func TestEntraGroupWithADSCIMSchema(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	r := c.do("POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group","http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],"externalId":"e-1","displayName":"Entra Extra Schema","members":[]}`).must(t, http.StatusCreated)
	g := c.do("GET", "/Groups/"+r.str("id")+"?excludedAttributes=members", nil).must(t, http.StatusOK)
	if g.str("displayName") != "Entra Extra Schema" || g.str("externalId") != "e-1" {
		t.Fatalf("stored: %s", g.Raw)
	}
}

func TestEntraPatchEmptyOrNullClears(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	uid := c.createUser("clear@contoso.com", "title", "Engineer", "nickName", "Nick")
	c.do("PATCH", "/Users/"+uid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"title","value":""},{"op":"Replace","path":"nickName","value":null}]}`).must(t, http.StatusOK)
	u := c.do("GET", "/Users/"+uid, nil).must(t, http.StatusOK)
	if u.Body["title"] != nil || u.Body["nickName"] != nil {
		t.Fatalf("stored: %s", u.Raw)
	}
}

func TestEntraLookupsAnyCaseAndUnquoted(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	uid := c.createUser("Test_User_ab6490ee@contoso.com", "externalId", "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef")
	for _, f := range []string{
		`userName eq "test_user_AB6490EE@CONTOSO.com"`,
		`externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"`,
		`userName eq Test_User_ab6490ee@contoso.com`,
		`externalId eq 0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef`,
	} {
		r := c.do("GET", "/Users?filter="+q(f), nil).must(t, http.StatusOK)
		if rs := r.resources(); len(rs) != 1 || rs[0]["id"] != uid {
			t.Errorf("%s: %s", f, r.Raw)
		}
	}
}

func TestOktaPutWithoutActiveKeepsState(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	uid := c.createUser("okta.put@okta.local", "active", false)
	put := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"` + uid + `","userName":"okta.put@okta.local","name":{"givenName":"Another","middleName":"Excited","familyName":"User"},"emails":[{"primary":true,"value":"okta.put@okta.local","type":"work","display":"okta.put@okta.local"}],"groups":[],"meta":{"resourceType":"User"}}`
	u := c.do("PUT", "/Users/"+uid, put).must(t, http.StatusOK)
	if u.Body["active"] != false {
		t.Fatalf("a PUT without active changed it: %s", u.Raw)
	}
	c.do("PATCH", "/Users/"+uid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":true}}]}`).must(t, http.StatusOK)
	u = c.do("PUT", "/Users/"+uid, put).must(t, http.StatusOK)
	if u.Body["active"] != true || u.Body["name"].(map[string]any)["middleName"] != "Excited" {
		t.Fatalf("a PUT without active deactivated: %s", u.Raw)
	}
}

func TestOktaTestConnection(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	c.createUser("a@okta.local")
	c.createUser("b@okta.local")
	c.createUser("c@okta.local")
	r := c.do("GET", "/Users?startIndex=1&count=2", nil).must(t, http.StatusOK)
	// JSON numbers, not strings.
	if r.Body["totalResults"] != float64(3) || r.Body["startIndex"] != float64(1) || r.Body["itemsPerPage"] != float64(2) {
		t.Fatalf("Test Connection: %s", r.Raw)
	}
}

func TestJumpCloudRepeatedAddMember(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	uid := c.createUser("jc@jumpcloud.local")
	gid := c.createGroup("JumpCloud Group")
	add := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"` + uid + `"}]},{"op":"add","path":"members","value":[{"value":"` + uid + `"}]}]}`
	for i := 0; i < 3; i++ {
		c.do("PATCH", "/Groups/"+gid, add).must(t, http.StatusNoContent)
	}
	if m := memberSet(c.do("GET", "/Groups/"+gid, nil).Body["members"]); len(m) != 1 || m[uid] != "User" {
		t.Fatalf("members: %v", m)
	}
}

func TestGoogleProbe(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	c.createUser("g1@google.local")
	c.createUser("g2@google.local")
	r := c.do("GET", "/Users?count=1", nil).must(t, http.StatusOK)
	if len(r.resources()) != 1 || r.Body["totalResults"] != float64(2) {
		t.Fatalf("probe: %s", r.Raw)
	}
}

func TestOneLoginPutForEveryChange(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	uid := c.createUser("ol@onelogin.local", "name", map[string]any{"givenName": "One", "familyName": "Login"})
	for i, title := range []string{"First", "Second", "Third"} {
		r := c.do("PUT", "/Users/"+uid, user("ol@onelogin.local", "title", title, "name", map[string]any{"givenName": "One", "familyName": "Login"}, "active", true)).must(t, http.StatusOK)
		if r.str("title") != title || r.Body["meta"].(map[string]any)["version"] != fmt.Sprintf(`W/"%d"`, i+2) {
			t.Fatalf("PUT %d: %s", i, r.Raw)
		}
	}
}

func TestUnknownAndReadOnlyAttributesTolerated(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	r := c.do("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User","urn:ietf:params:scim:schemas:core:2.0:User"],"id":"mine","meta":{"resourceType":"User","created":"2001-01-01T00:00:00Z"},"userName":"tolerant","favouriteColour":"blue","urn:example:custom:1.0:User":{"x":1}}`).must(t, http.StatusCreated)
	if r.str("id") == "mine" || r.Body["favouriteColour"] != nil || r.Body["meta"].(map[string]any)["created"] == "2001-01-01T00:00:00Z" {
		t.Fatalf("stored: %s", r.Raw)
	}
}
