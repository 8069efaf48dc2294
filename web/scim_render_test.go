package web_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/bulkhead-dev/bulkhead/app/scim"
)

// TestReadShowsWhatTheWriteReturned: a write's response is rendered from
// the attributes it decoded, a GET's (and a list's) from the text
// PostgreSQL returns; a client sees the same bytes from both, whatever the
// strings, numbers and projection, and no resource Bulkhead wrote needs
// the general path to be read.
func TestReadShowsWhatTheWriteReturned(t *testing.T) {
	c := newTenant(t)
	const urn = "urn:ietf:params:scim:schemas:extension:render:2.0:User"
	c.putExtension(t, `{"schema": "`+urn+`", "attributes": [
		{"name": "ratio", "type": "decimal"}, {"name": "count", "type": "integer"},
		{"name": "tags", "type": "string", "multiValued": true},
		{"name": "desk", "type": "complex", "multiValued": true, "subAttributes": [{"name": "floor", "type": "integer"}, {"name": "room", "type": "string"}]}]}`)
	odd := `<b>R&D</b> \u2028\u2029 Zoë 日本 🎉 \"q\" back\\slash \t\n\r\b\f \u0001\u001f \u00e9`
	body := `{"schemas": ["` + userSchema + `", "` + entSchema + `", "` + urn + `"],
		"userName": "render-` + "\u00e9" + `", "displayName": "` + odd + `", "nickName": "",
		"name": {"givenName": "` + odd + `", "familyName": "Jensen", "formatted": "x"},
		"emails": [{"value": "b@example.com", "type": "work", "primary": true}, {"value": "c@example.com", "type": "home"}],
		"phoneNumbers": [{"value": "+1 555 0100", "type": "work"}],
		"addresses": [{"type": "work", "streetAddress": "1 <Main> St", "country": "DE"}],
		"` + entSchema + `": {"employeeNumber": "7", "department": "` + odd + `", "manager": {"value": "m1"}},
		"` + urn + `": {"ratio": 1.50, "count": 12, "tags": ["a", "<b>", ""], "desk": [{"floor": 3, "room": "3.14"}, {"room": "x"}]}}`
	id := c.do("POST", "/Users", body).must(t, http.StatusCreated).str("id")
	group := c.createGroup("Jets & <Sharks> \u2028", id)

	projections := []string{
		"",
		"?attributes=userName",
		"?attributes=name.givenName,emails.value",
		"?attributes=" + q(entSchema+":manager") + "," + q(urn+":desk.room"),
		"?excludedAttributes=emails,meta.location," + q(urn+":ratio"),
		"?attributes=groups.display,displayName",
		"?excludedAttributes=groups",
	}
	before := scim.Fallbacks()
	// same asks each projection of the user in a GET and in a list, and
	// compares them with the write's response w.
	same := func(step string, w *response, p string) {
		t.Helper()
		got := c.do("GET", "/Users/"+id+p, nil).must(t, http.StatusOK)
		if !bytes.Equal(got.Raw, w.Raw) {
			t.Errorf("%s%s: GET\n got %s\nwant %s", step, p, got.Raw, w.Raw)
		}
		if got.Header.Get("ETag") != w.Header.Get("ETag") {
			t.Errorf("%s%s: GET ETag %s, the write's %s", step, p, got.Header.Get("ETag"), w.Header.Get("ETag"))
		}
		sep := "?"
		if p != "" {
			sep = "&"
		}
		list := c.do("GET", "/Users"+p+sep+"filter="+q(`id eq "`+id+`"`), nil).must(t, http.StatusOK)
		var page struct{ Resources []json.RawMessage }
		if err := json.Unmarshal(list.Raw, &page); err != nil || len(page.Resources) != 1 {
			t.Fatalf("list: %s", list.Raw)
		}
		if !bytes.Equal(page.Resources[0], w.Raw) {
			t.Errorf("%s%s: in a list\n got %s\nwant %s", step, p, page.Resources[0], w.Raw)
		}
	}
	for _, p := range projections {
		// A PUT with the same body changes nothing but the version, and
		// answers under the projection asked.
		put := c.do("PUT", "/Users/"+id+p, body).must(t, http.StatusOK)
		same("PUT", put, p)
	}
	patch := `{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
		{"op": "replace", "path": "nickName", "value": "` + odd + `"},
		{"op": "add", "path": "` + urn + `:ratio", "value": 2.5e-7}, {"op": "add", "path": "` + urn + `:count", "value": 12345678901234}]}`
	for _, p := range projections {
		same("PATCH", c.do("PATCH", "/Users/"+id+p, patch).must(t, http.StatusOK), p)
	}
	// A group: its members, and their display names, are the server's.
	g := c.do("PATCH", "/Groups/"+group+"?attributes=members,displayName", `{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations": [{"op": "replace", "path": "displayName", "value": "`+odd+`"}]}`).must(t, http.StatusOK)
	if got := c.do("GET", "/Groups/"+group+"?attributes=members,displayName", nil).must(t, http.StatusOK); !bytes.Equal(got.Raw, g.Raw) {
		t.Errorf("group: GET\n got %s\nwant %s", got.Raw, g.Raw)
	}
	if n := scim.Fallbacks() - before; n != 0 {
		t.Errorf("%d reads took the general path", n)
	}
}
