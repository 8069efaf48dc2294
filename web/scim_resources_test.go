package web_test

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/bulkhead-dev/bulkhead/app/scim"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

func TestUserLifecycle(t *testing.T) {
	t.Parallel()
	c := newTenant(t)

	created := c.do("POST", "/Users", map[string]any{
		"schemas":    []string{userSchema, entSchema},
		"userName":   "bjensen@example.com",
		"externalId": "ext-701984",
		"name":       map[string]any{"givenName": "Barbara", "familyName": "Jensen"},
		"emails":     []any{map[string]any{"value": "bjensen@example.com", "type": "work", "primary": true}},
		"password":   "t1meMa$heen",
		"id":         "client-chosen-id",
		entSchema:    map[string]any{"employeeNumber": "701984", "department": "Tour Operations"},
	}).must(t, http.StatusCreated)
	id := created.str("id")
	if id == "" || id == "client-chosen-id" {
		t.Fatalf("id = %q: must be assigned by the server", id)
	}
	if loc := created.Header.Get("Location"); loc != baseURL+c.prefix+"/Users/"+id {
		t.Errorf("Location = %q", loc)
	}
	if created.Header.Get("ETag") == "" {
		t.Error("no ETag")
	}
	if _, ok := created.Body["password"]; ok {
		t.Error("password returned")
	}
	meta, _ := created.Body["meta"].(map[string]any)
	if meta["resourceType"] != "User" || meta["location"] != baseURL+c.prefix+"/Users/"+id || meta["version"] != created.Header.Get("ETag") {
		t.Errorf("meta = %v", meta)
	}
	if created.Body["externalId"] != "ext-701984" || created.Body["active"] != true {
		t.Errorf("externalId/active = %v/%v", created.Body["externalId"], created.Body["active"])
	}

	got := c.do("GET", "/Users/"+id, nil).must(t, http.StatusOK)
	if got.str("userName") != "bjensen@example.com" {
		t.Fatalf("GET = %s", got.Raw)
	}
	ext, _ := got.Body[entSchema].(map[string]any)
	if ext["employeeNumber"] != "701984" {
		t.Errorf("enterprise extension = %v", ext)
	}

	// PUT replaces: attributes left out are gone.
	put := c.do("PUT", "/Users/"+id, map[string]any{
		"schemas":  []string{userSchema},
		"userName": "barbara@example.com",
		"active":   false,
		"name":     map[string]any{"givenName": "Barbara"},
	}).must(t, http.StatusOK)
	if put.str("userName") != "barbara@example.com" || put.Body["active"] != false || put.Body["emails"] != nil || put.Body[entSchema] != nil {
		t.Fatalf("PUT = %s", put.Raw)
	}
	if put.Header.Get("ETag") == created.Header.Get("ETag") {
		t.Error("version did not change on PUT")
	}
	pmeta, _ := put.Body["meta"].(map[string]any)
	if pmeta["created"] != meta["created"] {
		t.Errorf("created changed on PUT: %v -> %v", meta["created"], pmeta["created"])
	}

	c.do("DELETE", "/Users/"+id, nil).must(t, http.StatusNoContent)
	c.do("GET", "/Users/"+id, nil).scimError(t, http.StatusNotFound, "")
	c.do("DELETE", "/Users/"+id, nil).scimError(t, http.StatusNotFound, "")
	c.do("PUT", "/Users/"+id, user("x")).scimError(t, http.StatusNotFound, "")
}

func TestGroupLifecycle(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	alice := c.createUser("alice", "displayName", "Alice A")
	bob := c.createUser("bob")
	sub := c.createGroup("Sub")

	created := c.do("POST", "/Groups", map[string]any{
		"schemas":     []string{groupSchema},
		"displayName": "Tour Guides",
		"externalId":  "g-1",
		"members":     []any{map[string]any{"value": alice}, map[string]any{"value": bob}, map[string]any{"value": sub, "type": "Group"}},
	}).must(t, http.StatusCreated)
	gid := created.str("id")
	members := memberSet(created.Body["members"])
	if len(members) != 3 || members[alice] != "User" || members[sub] != "Group" {
		t.Fatalf("members = %v", created.Body["members"])
	}
	for _, m := range created.Body["members"].([]any) {
		m := m.(map[string]any)
		if m["value"] == alice && (m["display"] != "Alice A" || m["$ref"] != baseURL+c.prefix+"/Users/"+alice) ||
			m["value"] == bob && m["display"] != "bob" || m["value"] == sub && m["display"] != "Sub" {
			t.Errorf("member = %v", m)
		}
	}

	// A user shows its groups, by display name.
	admins := c.createGroup("Admins", alice)
	u := c.do("GET", "/Users/"+alice, nil).must(t, http.StatusOK)
	groups, _ := u.Body["groups"].([]any)
	if len(groups) != 2 || groups[0].(map[string]any)["value"] != admins ||
		groups[1].(map[string]any)["value"] != gid || groups[1].(map[string]any)["display"] != "Tour Guides" {
		t.Fatalf("user groups = %v", u.Body["groups"])
	}
	if g := c.do("GET", "/Users/"+bob, nil).must(t, http.StatusOK); len(g.Body["groups"].([]any)) != 1 {
		t.Fatalf("bob's groups = %v", g.Body["groups"])
	}

	// excludedAttributes=members leaves members out.
	if g := c.do("GET", "/Groups/"+gid+"?excludedAttributes=members", nil).must(t, http.StatusOK); g.Body["members"] != nil {
		t.Errorf("members returned despite excludedAttributes: %s", g.Raw)
	}

	// PUT with a different member list.
	put := c.do("PUT", "/Groups/"+gid, map[string]any{
		"schemas": []string{groupSchema}, "displayName": "Tour Guides", "members": []any{map[string]any{"value": bob}},
	}).must(t, http.StatusOK)
	if m := memberSet(put.Body["members"]); len(m) != 1 || m[bob] == "" {
		t.Fatalf("members after PUT = %v", put.Body["members"])
	}

	// Deleting a user removes its memberships.
	before := c.do("GET", "/Groups/"+gid, nil).Header.Get("ETag")
	c.do("DELETE", "/Users/"+bob, nil).must(t, http.StatusNoContent)
	after := c.do("GET", "/Groups/"+gid, nil).must(t, http.StatusOK)
	if after.Body["members"] != nil {
		t.Fatalf("members after deleting the user = %v", after.Body["members"])
	}
	if after.Header.Get("ETag") == before {
		t.Error("the group's version did not change when it lost a member")
	}

	// Members must exist in this tenant.
	other := newTenant(t)
	stranger := other.createUser("stranger")
	c.do("POST", "/Groups", map[string]any{
		"schemas": []string{groupSchema}, "displayName": "Bad", "members": []any{map[string]any{"value": stranger}},
	}).scimError(t, http.StatusBadRequest, "invalidValue")
	c.do("POST", "/Groups", map[string]any{
		"schemas": []string{groupSchema}, "displayName": "Bad", "members": []any{map[string]any{"value": "not-a-uuid"}},
	}).scimError(t, http.StatusBadRequest, "invalidValue")

	c.do("DELETE", "/Groups/"+gid, nil).must(t, http.StatusNoContent)
	c.do("GET", "/Groups/"+gid, nil).scimError(t, http.StatusNotFound, "")
}

func memberSet(v any) map[string]string {
	out := map[string]string{}
	list, _ := v.([]any)
	for _, m := range list {
		m, _ := m.(map[string]any)
		out[fmt.Sprint(m["value"])] = fmt.Sprint(m["type"])
	}
	return out
}

func TestFilters(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	ids := map[string]string{}
	for _, u := range []struct {
		name, title, email, emailType string
		active                        bool
	}{
		{"alice", "Engineer", "alice@acme.com", "work", true},
		{"bob", "Manager", "bob@globex.com", "work", true},
		{"carol", "", "carol@acme.com", "home", false},
		{"dave", "Engineer", "dave@initech.com", "work", true},
	} {
		more := []any{"active", u.active, "emails", []any{map[string]any{"value": u.email, "type": u.emailType}}}
		if u.title != "" {
			more = append(more, "title", u.title)
		}
		ids[u.name] = c.createUser(u.name, more...)
	}
	admins := c.createGroup("Admins", ids["alice"], ids["bob"])

	for _, tt := range []struct {
		filter string
		want   string // user names, sorted, comma-separated
	}{
		{`userName eq "ALICE"`, "alice"},
		{`userName ne "alice"`, "bob,carol,dave"},
		{`userName co "a"`, "alice,carol,dave"},
		{`userName sw "c"`, "carol"},
		{`userName ew "e"`, "alice,dave"},
		{`title pr`, "alice,bob,dave"},
		{`not (title pr)`, "carol"},
		{`userName gt "bob"`, "carol,dave"},
		{`userName ge "bob"`, "bob,carol,dave"},
		{`userName lt "bob"`, "alice"},
		{`userName le "bob"`, "alice,bob"},
		{`active eq false`, "carol"},
		{`title eq "engineer" and active eq true`, "alice,dave"},
		{`title eq "Manager" or emails.type eq "home"`, "bob,carol"},
		{`emails[type eq "work" and value co "@acme.com"]`, "alice"},
		{`emails.value ew "acme.com"`, "alice,carol"},
		{`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "dave"`, "dave"},
		{`USERNAME EQ "bob"`, "bob"},
		{`groups.value eq "` + admins + `"`, "alice,bob"},
		{`meta.created gt "2000-01-01T00:00:00Z"`, "alice,bob,carol,dave"},
		{`meta.lastModified lt "2000-01-01T00:00:00Z"`, ""},
		{`id eq "` + ids["carol"] + `"`, "carol"},
		{`id eq "not-a-uuid"`, ""},
		{`userName eq "x' OR '1'='1"`, ""},
		{`userName eq "alice\"); DROP TABLE users; --"`, ""},
	} {
		t.Run(tt.filter, func(t *testing.T) {
			r := c.do("GET", "/Users?sortBy=userName&filter="+q(tt.filter), nil).must(t, http.StatusOK)
			var names []string
			for _, u := range r.resources() {
				names = append(names, u["userName"].(string))
			}
			if got := strings.Join(names, ","); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			if r.Body["totalResults"] != float64(len(names)) {
				t.Errorf("totalResults = %v, want %d", r.Body["totalResults"], len(names))
			}
		})
	}

	// Groups by displayName (case-insensitive) and by member.
	for _, f := range []string{`displayName eq "admins"`, `members[value eq "` + ids["bob"] + `"]`, `members.value eq "` + ids["alice"] + `"`} {
		r := c.do("GET", "/Groups?excludedAttributes=members&filter="+q(f), nil).must(t, http.StatusOK)
		if rs := r.resources(); len(rs) != 1 || rs[0]["id"] != admins {
			t.Errorf("%s: %s", f, r.Raw)
		}
	}

	for _, bad := range []string{`userName eq`, `nosuch eq "x"`, `userName xx "a"`, `(userName eq "a"`, `password eq "x"`, `active gt true`, `meta.created gt "yesterday"`} {
		c.do("GET", "/Users?filter="+q(bad), nil).scimError(t, http.StatusBadRequest, "invalidFilter")
	}
}

// TestFiltersMergedOr: value filters on one attribute joined by or, which
// the compiler merges into one subquery, find the same users as the same
// filter written so that it cannot merge (by De Morgan's law), and and is
// never merged: two values may pass one test each.
func TestFiltersMergedOr(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	email := func(typ, value string) map[string]any { return map[string]any{"type": typ, "value": value} }
	c.createUser("alice", "emails", []any{email("work", "alice@acme.com"), email("home", "al@home.example")}, "ims", []any{email("xmpp", "alice@jabber.example")})
	c.createUser("bob", "emails", []any{email("work", "bob@globex.com")}, "ims", []any{email("aim", "bobby")})
	c.createUser("carol", "emails", []any{email("home", "carol@acme.com")})
	c.createUser("dave", "ims", []any{email("xmpp", "dave@jabber.example")})
	names := func(t *testing.T, filter string) string {
		t.Helper()
		r := c.do("GET", "/Users?sortBy=userName&filter="+q(filter), nil).must(t, http.StatusOK)
		var names []string
		for _, u := range r.resources() {
			names = append(names, u["userName"].(string))
		}
		return strings.Join(names, ",")
	}
	for _, tt := range []struct {
		a, b string // merged as a or b
		want string
	}{
		{`emails[value co "acme"]`, `emails[value co "globex"]`, "alice,bob,carol"},
		{`emails[type eq "home"]`, `emails.value sw "bob"`, "alice,bob,carol"},
		{`emails[type eq "work" and value co "acme"]`, `emails[type eq "home" and value co "acme"]`, "alice,carol"},
		{`ims[type eq "xmpp"]`, `ims[value eq "bobby"]`, "alice,bob,dave"},
		{`emails[value co "zzz"]`, `emails[type eq "other"]`, ""},
	} {
		merged := tt.a + " or " + tt.b
		t.Run(merged, func(t *testing.T) {
			if got := names(t, merged); got != tt.want {
				t.Errorf("%s: got %q, want %q", merged, got, tt.want)
			}
			apart := "not (not (" + tt.a + ") and not (" + tt.b + "))"
			if got := names(t, apart); got != tt.want {
				t.Errorf("%s: got %q, want %q", apart, got, tt.want)
			}
		})
	}
	if got := names(t, `not (emails[value co "acme"] or emails[value co "globex"])`); got != "dave" {
		t.Errorf("negated merge: got %q, want dave", got)
	}
	if got := names(t, `emails[type eq "home"] and emails[value co "alice@"]`); got != "alice" {
		t.Errorf("and of value filters: got %q, want alice", got)
	}
	if got := names(t, `emails[type eq "home" and value co "alice@"]`); got != "" {
		t.Errorf("one value filter: got %q, want none", got)
	}
}

// TestFilterTooExpensive: issue #20's 4,000-character chain of value
// filters is refused at once with invalidFilter naming the limit, on a
// list and on a search.
func TestFilterTooExpensive(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	var parts []string
	for i := 0; len(strings.Join(parts, " or ")) < 3900; i++ {
		parts = append(parts, fmt.Sprintf(`emails[value co "%d"]`, i%100))
	}
	filter := strings.Join(parts, " or ")
	for _, r := range []*response{
		c.do("GET", "/Users?filter="+q(filter), nil),
		c.do("POST", "/Users/.search", map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"}, "filter": filter}),
	} {
		r.scimError(t, http.StatusBadRequest, "invalidFilter")
		want := fmt.Sprintf("substring matches (co, sw, ew) that no index serves, at most %d", scim.MaxFilterScans)
		if d := r.str("detail"); !strings.HasPrefix(d, "filter too expensive: ") || !strings.Contains(d, want) {
			t.Errorf("detail %q, want it to name the limit (%q)", d, want)
		}
	}
}

// TestPaging walks 250 users in pages: every user exactly once, in a stable
// order, with totalResults and itemsPerPage right on every page.
func TestPaging(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	for i := 0; i < 250; i++ {
		c.createUser(fmt.Sprintf("user%03d", 249-i))
	}
	seen := map[string]bool{}
	var order []string
	for start := 1; start <= 250; start += 30 {
		r := c.do("GET", fmt.Sprintf("/Users?startIndex=%d&count=30&attributes=userName", start), nil).must(t, http.StatusOK)
		want := min(30, 250-start+1)
		if r.Body["totalResults"] != float64(250) || r.Body["startIndex"] != float64(start) || r.Body["itemsPerPage"] != float64(want) || len(r.resources()) != want {
			t.Fatalf("page at %d: total %v, startIndex %v, itemsPerPage %v, %d resources", start, r.Body["totalResults"], r.Body["startIndex"], r.Body["itemsPerPage"], len(r.resources()))
		}
		for _, u := range r.resources() {
			name := u["userName"].(string)
			if seen[name] {
				t.Fatalf("%s on two pages", name)
			}
			seen[name] = true
			order = append(order, name)
		}
	}
	if len(seen) != 250 {
		t.Fatalf("saw %d users, want 250", len(seen))
	}
	// Without sortBy, creation order: user249 was created first.
	if order[0] != "user249" || order[249] != "user000" {
		t.Errorf("default order starts %s, ends %s", order[0], order[249])
	}

	sorted := c.do("GET", "/Users?sortBy=userName&sortOrder=descending&count=3&attributes=userName", nil).must(t, http.StatusOK)
	var names []string
	for _, u := range sorted.resources() {
		names = append(names, u["userName"].(string))
	}
	if strings.Join(names, ",") != "user249,user248,user247" {
		t.Errorf("descending by userName: %v", names)
	}

	// count=0 gives only the total; startIndex past the end an empty page.
	r := c.do("GET", "/Users?count=0", nil).must(t, http.StatusOK)
	if r.Body["totalResults"] != float64(250) || len(r.resources()) != 0 {
		t.Errorf("count=0: %s", r.Raw)
	}
	if rs, ok := r.Body["Resources"].([]any); !ok || len(rs) != 0 {
		t.Errorf("count=0: Resources must be an empty list, got %v", r.Body["Resources"])
	}
	r = c.do("GET", "/Users?startIndex=1000", nil).must(t, http.StatusOK)
	if r.Body["totalResults"] != float64(250) || len(r.resources()) != 0 {
		t.Errorf("startIndex past the end: %s", r.Raw)
	}
	// Out-of-range values are clamped, as RFC 7644 §3.4.2.4 says.
	r = c.do("GET", "/Users?startIndex=-5&count=100000&attributes=id", nil).must(t, http.StatusOK)
	if r.Body["startIndex"] != float64(1) || r.Body["totalResults"] != float64(250) || len(r.resources()) != 250 {
		t.Errorf("clamped: startIndex %v, total %v, %d resources", r.Body["startIndex"], r.Body["totalResults"], len(r.resources()))
	}
	// A filter matching nothing, and one whose matches end before the page.
	r = c.do("GET", "/Users?filter="+q(`userName eq "nobody"`), nil).must(t, http.StatusOK)
	if r.Body["totalResults"] != float64(0) || len(r.resources()) != 0 {
		t.Errorf("no match: %s", r.Raw)
	}
	r = c.do("GET", "/Users?startIndex=5&count=10&filter="+q(`userName sw "user00"`), nil).must(t, http.StatusOK)
	if r.Body["totalResults"] != float64(10) || len(r.resources()) != 6 {
		t.Errorf("user000–user009 from the fifth: total %v, %d resources", r.Body["totalResults"], len(r.resources()))
	}
	c.do("GET", "/Users?count=ten", nil).scimError(t, http.StatusBadRequest, "invalidValue")
	c.do("GET", "/Users?sortBy=nosuch", nil).scimError(t, http.StatusBadRequest, "invalidValue")
	c.do("GET", "/Users?sortBy=userName&sortOrder=sideways", nil).scimError(t, http.StatusBadRequest, "invalidValue")
}

func TestProjection(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	id := c.createUser("proj", "name", map[string]any{"givenName": "P", "familyName": "Q"},
		"emails", []any{map[string]any{"value": "p@x.com", "type": "work"}}, "password", "secret-secret")

	r := c.do("GET", "/Users/"+id+"?attributes=userName,name.givenName", nil).must(t, http.StatusOK)
	if r.Body["id"] != id || r.Body["schemas"] == nil || r.Body["userName"] != "proj" || r.Body["emails"] != nil || r.Body["meta"] != nil {
		t.Errorf("attributes=userName,name.givenName: %s", r.Raw)
	}
	if name, _ := r.Body["name"].(map[string]any); name["givenName"] != "P" || name["familyName"] != nil {
		t.Errorf("name = %v", r.Body["name"])
	}
	r = c.do("GET", "/Users/"+id+"?excludedAttributes=emails,name", nil).must(t, http.StatusOK)
	if r.Body["emails"] != nil || r.Body["name"] != nil || r.Body["userName"] != "proj" || r.Body["id"] != id {
		t.Errorf("excludedAttributes: %s", r.Raw)
	}
	r = c.do("GET", "/Users/"+id+"?attributes=password", nil).must(t, http.StatusOK)
	if _, ok := r.Body["password"]; ok {
		t.Error("password returned when asked for")
	}
	r = c.do("GET", "/Users?attributes=emails.value&filter="+q(`userName eq "proj"`), nil).must(t, http.StatusOK)
	if rs := r.resources(); len(rs) != 1 || rs[0]["userName"] != nil || fmt.Sprint(rs[0]["emails"]) != "[map[value:p@x.com]]" {
		t.Errorf("list attributes=emails.value: %s", r.Raw)
	}
}

func TestSearch(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	c.createUser("searcher", "displayName", "Admins Friend")
	c.createGroup("Admins")
	body := map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"},
		"attributes": []string{"displayName", "userName"},
		"filter":     `userName sw "search"`,
		"startIndex": 1,
		"count":      10,
	}
	r := c.do("POST", "/Users/.search", body).must(t, http.StatusOK)
	if rs := r.resources(); len(rs) != 1 || rs[0]["userName"] != "searcher" || rs[0]["meta"] != nil {
		t.Fatalf("/Users/.search: %s", r.Raw)
	}
	// At the root, across resource types: displayName exists on both.
	body["filter"] = `displayName sw "admins"`
	r = c.do("POST", "/.search", body).must(t, http.StatusOK)
	if r.Body["totalResults"] != float64(2) {
		t.Fatalf("root search: %s", r.Raw)
	}
	// userName exists on Users only: Groups contribute nothing.
	body["filter"] = `userName eq "searcher"`
	r = c.do("POST", "/.search", body).must(t, http.StatusOK)
	if r.Body["totalResults"] != float64(1) {
		t.Fatalf("root search by userName: %s", r.Raw)
	}
	body["filter"] = `nosuch eq "x"`
	c.do("POST", "/.search", body).scimError(t, http.StatusBadRequest, "invalidFilter")
	body["count"] = "ten"
	c.do("POST", "/Users/.search", body).scimError(t, http.StatusBadRequest, "invalidValue")
}

// TestSearchByResourceType: a search at the root takes RFC 7644
// §3.4.2.1's own example, meta.resourceType eq "User", alone and with
// other terms, at both SCIM bases; /Users and /Groups take it too.
func TestSearchByResourceType(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	jane := c.createUser("jane", "displayName", "Jane Admin")
	c.createUser("bob")
	admins := c.createGroup("Admins")
	search := func(path, filter string) string {
		t.Helper()
		body := map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"}, "filter": filter}
		r := c.do("POST", path, body).must(t, http.StatusOK)
		var ids []string
		for _, res := range r.resources() {
			ids = append(ids, res["id"].(string))
		}
		if r.Body["totalResults"] != float64(len(ids)) {
			t.Errorf("%s %s: totalResults %v for %d resources", path, filter, r.Body["totalResults"], len(ids))
		}
		sort.Strings(ids)
		return strings.Join(ids, ",")
	}
	users := search("/Users/.search", `userName pr`)
	for _, tt := range []struct{ filter, want string }{
		{`meta.resourceType eq "User"`, users},
		{`meta.resourceType eq "Group"`, admins},
		{`(meta.resourceType eq "User") and userName sw "j"`, jane},
		{`meta.resourceType eq "Group" or userName sw "j"`, strings.Join(sorted(admins, jane), ",")},
		{`meta.resourceType eq "User" and displayName sw "Admin"`, ""},
		{`not (meta.resourceType eq "User")`, admins},
	} {
		for _, path := range []string{"/.search", "/scim/v2/.search"} {
			if got := search(path, tt.filter); got != tt.want {
				t.Errorf("%s %s = %s, want %s", path, tt.filter, got, tt.want)
			}
		}
	}
	// On one type's endpoint it is true of all of them, or of none.
	for _, tt := range []struct{ path, filter, want string }{
		{"/Users?filter=", `meta.resourceType eq "User"`, users},
		{"/Users?filter=", `meta.resourceType eq "Group"`, ""},
		{"/Groups?filter=", `meta.resourceType eq "Group" and displayName eq "Admins"`, admins},
	} {
		r := c.do("GET", tt.path+q(tt.filter), nil).must(t, http.StatusOK)
		var ids []string
		for _, res := range r.resources() {
			ids = append(ids, res["id"].(string))
		}
		sort.Strings(ids)
		if got := strings.Join(ids, ","); got != tt.want {
			t.Errorf("GET %s%s = %s, want %s", tt.path, tt.filter, got, tt.want)
		}
	}
	// An attribute no type has is still refused.
	body := map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"}, "filter": `meta.resourceType eq "User" or shoeSize eq 42`}
	c.do("POST", "/.search", body).scimError(t, http.StatusBadRequest, "invalidFilter")
}

func sorted(s ...string) []string { sort.Strings(s); return s }

// TestDuplicateValuesCollapsed: a multi-valued attribute keeps each value
// once (RFC 7643 §2.4), on POST, PUT and PATCH: emails by (type, value),
// the first kept and primary if a repeat was; members by value.
func TestDuplicateValuesCollapsed(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	dupEmails := []any{
		map[string]any{"value": "dup@example.com", "type": "work"},
		map[string]any{"value": "DUP@example.com", "type": "work", "primary": true},
		map[string]any{"value": "dup@example.com", "type": "home"},
		map[string]any{"value": "dup@example.com", "type": "work", "primary": true},
	}
	const want = "[map[primary:true type:work value:dup@example.com] map[type:home value:dup@example.com]]"
	emailsOf := func(r *response) string { t.Helper(); return fmt.Sprint(r.Body["emails"]) }

	r := c.do("POST", "/Users", user("dup", "emails", dupEmails)).must(t, http.StatusCreated)
	id := r.str("id")
	if got := emailsOf(r); got != want {
		t.Errorf("POST emails = %s, want %s", got, want)
	}
	if got := emailsOf(c.do("GET", "/Users/"+id, nil).must(t, http.StatusOK)); got != want {
		t.Errorf("GET after POST: emails = %s", got)
	}
	if got := emailsOf(c.do("PUT", "/Users/"+id, user("dup", "emails", dupEmails)).must(t, http.StatusOK)); got != want {
		t.Errorf("PUT emails = %s, want %s", got, want)
	}
	r = c.do("PATCH", "/Users/"+id, patchBody(map[string]any{"op": "replace", "path": "emails", "value": dupEmails})).must(t, http.StatusOK)
	if got := emailsOf(r); got != want {
		t.Errorf("PATCH replace emails = %s, want %s", got, want)
	}
	other := c.createUser("other")
	r = c.do("PATCH", "/Users/"+other, patchBody(map[string]any{"op": "add", "path": "emails", "value": dupEmails})).must(t, http.StatusOK)
	if got := emailsOf(r); got != want {
		t.Errorf("PATCH add emails = %s, want %s", got, want)
	}
	// The filter index holds each email once too: two users, two results.
	found := c.do("GET", "/Users?filter="+q(`emails[type eq "work" and value eq "dup@example.com"]`), nil).must(t, http.StatusOK)
	if found.Body["totalResults"] != float64(2) || len(found.resources()) != 2 {
		t.Errorf("filter on the email: %s", found.Raw)
	}

	// A member listed twice is one member.
	twice := []any{map[string]any{"value": id}, map[string]any{"value": id, "type": "User"}, map[string]any{"value": other}}
	g := c.do("POST", "/Groups", map[string]any{"schemas": []string{groupSchema}, "displayName": "Dups", "members": twice}).must(t, http.StatusCreated)
	if m, ok := g.Body["members"].([]any); !ok || len(m) != 2 {
		t.Errorf("POST group members = %v, want 2", g.Body["members"])
	}
	g = c.do("PUT", "/Groups/"+g.str("id"), map[string]any{"schemas": []string{groupSchema}, "displayName": "Dups", "members": twice}).must(t, http.StatusOK)
	if m, ok := g.Body["members"].([]any); !ok || len(m) != 2 {
		t.Errorf("PUT group members = %v, want 2", g.Body["members"])
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	id := c.createUser("Taken@Example.com")
	c.createGroup("Taken Group")

	for _, tt := range []struct {
		name, method, path string
		body               any
		status             int
		scimType           string
	}{
		{"DuplicateUserNameAnyCase", "POST", "/Users", user("taken@example.COM"), 409, "uniqueness"},
		{"DuplicateGroupNameAnyCase", "POST", "/Groups", map[string]any{"schemas": []string{groupSchema}, "displayName": "TAKEN group"}, 409, "uniqueness"},
		{"MalformedJSON", "POST", "/Users", `{"schemas": [`, 400, "invalidSyntax"},
		{"NotAnObject", "POST", "/Users", `["a"]`, 400, "invalidSyntax"},
		{"EmptyBody", "POST", "/Users", ``, 400, "invalidSyntax"},
		{"TrailingData", "POST", "/Users", `{"userName":"x"} {}`, 400, "invalidSyntax"},
		{"MissingUserName", "POST", "/Users", map[string]any{"schemas": []string{userSchema}}, 400, "invalidValue"},
		{"MissingSchemas", "POST", "/Users", map[string]any{"userName": "x"}, 400, "invalidValue"},
		{"WrongType", "POST", "/Users", user("typed", "active", map[string]any{"a": 1}), 400, "invalidValue"},
		{"TwoPrimaries", "POST", "/Users", user("prim", "emails", []any{map[string]any{"value": "a@x", "primary": true}, map[string]any{"value": "b@x", "primary": true}}), 400, "invalidValue"},
		{"UnknownUser", "GET", "/Users/2819c223-7f76-453a-919d-413861904646", nil, 404, ""},
		{"MalformedID", "GET", "/Users/..%2F..%2Fetc", nil, 404, ""},
		{"UnknownEndpoint", "GET", "/Widgets", nil, 404, ""},
		{"PutDuplicate", "PUT", "/Users/" + id, user("other"), 200, ""},
		{"WriteToSchemas", "PUT", "/Schemas", map[string]any{}, 405, ""},
		{"WriteToServiceProviderConfig", "POST", "/ServiceProviderConfig", map[string]any{}, 405, ""},
		{"DeleteResourceType", "DELETE", "/ResourceTypes/User", nil, 405, ""},
		{"PatchWithoutSchemas", "PATCH", "/Users/" + id, map[string]any{}, 400, "invalidSyntax"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := c.do(tt.method, tt.path, tt.body)
			if tt.status < 300 {
				r.must(t, tt.status)
				return
			}
			r.scimError(t, tt.status, tt.scimType)
		})
	}
	c.createUser("someone")
	c.do("PUT", "/Users/"+id, user("SOMEONE")).scimError(t, http.StatusConflict, "uniqueness")
}

func TestETags(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	created := c.do("POST", "/Users", user("etag")).must(t, http.StatusCreated)
	id, v1 := created.str("id"), created.Header.Get("ETag")
	if !strings.HasPrefix(v1, `W/"`) {
		t.Fatalf("ETag %q is not a weak tag", v1)
	}
	c.do("GET", "/Users/"+id, nil, "If-None-Match", v1).must(t, http.StatusNotModified)
	c.do("GET", "/Users/"+id, nil, "If-None-Match", `W/"999"`).must(t, http.StatusOK)

	c.do("PUT", "/Users/"+id, user("etag2"), "If-Match", `W/"999"`).scimError(t, http.StatusPreconditionFailed, "")
	c.do("PUT", "/Users/"+id, user("etag2"), "If-Match", "garbage").scimError(t, http.StatusPreconditionFailed, "")
	put := c.do("PUT", "/Users/"+id, user("etag2"), "If-Match", v1).must(t, http.StatusOK)
	v2 := put.Header.Get("ETag")
	if v2 == v1 {
		t.Fatal("version unchanged after PUT")
	}
	c.do("GET", "/Users/"+id, nil, "If-None-Match", v1).must(t, http.StatusOK)
	c.do("DELETE", "/Users/"+id, nil, "If-Match", v1).scimError(t, http.StatusPreconditionFailed, "")
	c.do("DELETE", "/Users/"+id, nil, "If-Match", v2).must(t, http.StatusNoContent)
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	a := newTenant(t)
	b := newTenant(t)
	userOfA := a.createUser("only-in-a")

	unknown := func(r *response) {
		t.Helper()
		r.scimError(t, http.StatusUnauthorized, "")
		if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("WWW-Authenticate = %q", r.Header.Get("WWW-Authenticate"))
		}
	}
	withToken := func(token string) *client { return &client{t: t, tenant: a.tenant, token: token, prefix: a.prefix} }
	unknown(withToken("").do("GET", "/Users", nil))
	unknown(withToken("bh_nottherealtoken").do("GET", "/Users", nil))
	unknown(withToken("Basic abc").do("GET", "/Users", nil))
	// B's token on A's URL: the same answer as an unknown token, byte for
	// byte, and for a tenant that does not exist at all.
	wrongTenant := (&client{t: t, token: b.token, prefix: a.prefix}).do("GET", "/Users", nil)
	noTenant := (&client{t: t, token: b.token, prefix: "/tenants/nosuchtenant/scim/v2"}).do("GET", "/Users", nil)
	badToken := withToken("bh_nottherealtoken").do("GET", "/Users", nil)
	unknown(wrongTenant)
	if string(wrongTenant.Raw) != string(badToken.Raw) || string(noTenant.Raw) != string(badToken.Raw) {
		t.Errorf("bodies differ:\n%s\n%s\n%s", wrongTenant.Raw, noTenant.Raw, badToken.Raw)
	}

	// The token alone picks the tenant at /scim/v2, and locations follow.
	r := (&client{t: t, token: a.token, prefix: "/scim/v2"}).do("GET", "/Users/"+userOfA, nil).must(t, http.StatusOK)
	if meta := r.Body["meta"].(map[string]any); meta["location"] != baseURL+"/scim/v2/Users/"+userOfA {
		t.Errorf("location via /scim/v2 = %v", meta["location"])
	}
	(&client{t: t, token: b.token, prefix: "/scim/v2"}).do("GET", "/Users/"+userOfA, nil).scimError(t, http.StatusNotFound, "")

	// Suspended tenants and expired trials are refused; their data stays.
	ctx := context.Background()
	if _, _, err := env.tenants.SetStatus(ctx, a.tenant, tenant.StatusSuspended, "test"); err != nil {
		t.Fatal(err)
	}
	synced(t)
	a.do("GET", "/Users", nil).scimError(t, http.StatusForbidden, "")
	if _, _, err := env.tenants.SetStatus(ctx, a.tenant, tenant.StatusActive, "test"); err != nil {
		t.Fatal(err)
	}
	synced(t)
	a.do("GET", "/Users/"+userOfA, nil).must(t, http.StatusOK)

	trial := newTenant(t, func(nt *tenant.NewTenant) { nt.Plan = tenant.PlanTrial })
	if _, err := env.db.ExecContext(ctx, `UPDATE control.tenants SET trial_ends_at = now() - interval '1 day' WHERE id = $1`, trial.tenant); err != nil {
		t.Fatal(err)
	}
	r = trial.do("GET", "/Users", nil)
	r.scimError(t, http.StatusForbidden, "")
	if !strings.Contains(r.str("detail"), "trial") {
		t.Errorf("detail = %q", r.str("detail"))
	}
}

// TestTenantsNeverCross: however a filter is written, a list never returns
// another tenant's users.
func TestTenantsNeverCross(t *testing.T) {
	t.Parallel()
	a := newTenant(t)
	b := newTenant(t)
	a.createUser("secret-of-a")
	b.createUser("visible-to-b")
	for _, f := range []string{
		`userName pr`,
		`userName eq "secret-of-a"`,
		`userName eq "x" or userName pr`,
		`userName eq "a\") OR (1=1"`,
		`userName co "'; SELECT * FROM tenant_` + a.tenant + `.users; --"`,
	} {
		r := b.do("GET", "/Users?filter="+q(f), nil)
		if r.Status != http.StatusOK && r.Status != http.StatusBadRequest {
			t.Fatalf("%s: status %d", f, r.Status)
		}
		if strings.Contains(string(r.Raw), "secret-of-a") {
			t.Fatalf("%s: tenant b saw tenant a's user: %s", f, r.Raw)
		}
	}
	for _, attr := range []string{`tenant_` + a.tenant + `.users.user_name`, `userName) or (1=1`, `"userName"`} {
		b.do("GET", "/Users?filter="+q(attr+` eq "x"`), nil).scimError(t, http.StatusBadRequest, "invalidFilter")
	}
}

// TestIdPCreateShapes sends user and group creates shaped exactly as Okta
// and Entra ID send them.
func TestIdPCreateShapes(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	okta := `{
  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
  "userName": "test.user@okta.local",
  "name": {"givenName": "Test", "familyName": "User"},
  "emails": [{"primary": true, "value": "test.user@okta.local", "type": "work"}],
  "displayName": "Test User",
  "locale": "en-US",
  "externalId": "00ujl29u0le5T6Aj10h7",
  "groups": [],
  "password": "1mz050nq",
  "active": true
}`
	r := c.do("POST", "/Users", okta).must(t, http.StatusCreated)
	if r.str("userName") != "test.user@okta.local" || r.str("locale") != "en-US" || r.str("externalId") != "00ujl29u0le5T6Aj10h7" {
		t.Fatalf("Okta user: %s", r.Raw)
	}
	// Okta then looks the user up by userName.
	found := c.do("GET", "/Users?filter="+q(`userName eq "test.user@okta.local"`)+"&startIndex=1&count=100", nil).must(t, http.StatusOK)
	if found.Body["totalResults"] != float64(1) {
		t.Fatalf("Okta lookup: %s", found.Raw)
	}

	entra := `{
  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
  "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
  "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
  "active": "True",
  "emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com"}],
  "meta": {"resourceType": "User"},
  "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
  "roles": [],
  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Engineering"}
}`
	r = c.do("POST", "/Users", entra).must(t, http.StatusCreated)
	if r.Body["active"] != true {
		t.Errorf(`Entra "active": "True" stored as %v`, r.Body["active"])
	}
	entraLookup := c.do("GET", "/Users?filter="+q(`userName eq "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1"`), nil).must(t, http.StatusOK)
	if entraLookup.Body["totalResults"] != float64(1) {
		t.Fatalf("Entra lookup: %s", entraLookup.Raw)
	}
	// Entra's probe for a user that does not exist: an empty list, not null.
	none := c.do("GET", "/Users?filter="+q(`userName eq "`+"00000000-0000-0000-0000-000000000000"+`"`), nil).must(t, http.StatusOK)
	if rs, ok := none.Body["Resources"].([]any); !ok || len(rs) != 0 || none.Body["totalResults"] != float64(0) {
		t.Errorf("empty result: %s", none.Raw)
	}

	group := `{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Test SCIMv2", "members": []}`
	c.do("POST", "/Groups", group).must(t, http.StatusCreated)
	entraGroup := `{"externalId":"8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159","displayName":"Group1DisplayName","meta":{"resourceType":"Group"},"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"]}`
	g := c.do("POST", "/Groups", entraGroup).must(t, http.StatusCreated)
	byName := c.do("GET", "/Groups?excludedAttributes=members&filter="+q(`displayName eq "Group1DisplayName"`), nil).must(t, http.StatusOK)
	if rs := byName.resources(); len(rs) != 1 || rs[0]["id"] != g.str("id") {
		t.Errorf("Entra group lookup: %s", byName.Raw)
	}
}

// TestPathShapes: a base URL joined with a trailing slash still reaches
// the endpoint; /Me, which Bulkhead does not offer, is 501 (RFC 7644 §3.11).
func TestPathShapes(t *testing.T) {
	c := newTenant(t)
	id := c.createUser("slash@example.com")
	for _, path := range []string{"/Users/", "//Users", "/Users/" + id + "/", "/Schemas/"} {
		c.do("GET", path, nil).must(t, http.StatusOK)
	}
	c.do("POST", "/Groups/", map[string]any{"schemas": []string{groupSchema}, "displayName": "slashed"}).must(t, http.StatusCreated)
	r := c.do("GET", "/Me", nil)
	r.must(t, http.StatusNotImplemented)
	if r.Body["status"] != "501" || r.str("detail") == "" {
		t.Errorf("/Me: %s", r.Raw)
	}
	// Without a valid credential /Me is 401, like everything else.
	c.token = "bh_nope"
	c.do("GET", "/Me", nil).must(t, http.StatusUnauthorized)
}

// TestAcceptJSON: a client that accepts only application/json gets it
// (RFC 7644 §8.1); everyone else gets application/scim+json.
func TestAcceptJSON(t *testing.T) {
	c := newTenant(t)
	for accept, want := range map[string]string{
		"":                      "application/scim+json",
		"application/scim+json": "application/scim+json",
		"application/json":      "application/json",
		"application/json, application/scim+json": "application/scim+json",
		"*/*": "application/scim+json",
	} {
		r := c.do("GET", "/Users?count=1", nil, "Accept", accept).must(t, http.StatusOK)
		if got := r.Header.Get("Content-Type"); !strings.HasPrefix(got, want+";") {
			t.Errorf("Accept %q: Content-Type %q, want %s", accept, got, want)
		}
	}
	r := c.do("GET", "/Users/nope", nil, "Accept", "application/json")
	if got := r.Header.Get("Content-Type"); r.Status != http.StatusNotFound || !strings.HasPrefix(got, "application/json;") {
		t.Errorf("error with Accept application/json: %d %q", r.Status, got)
	}
}
