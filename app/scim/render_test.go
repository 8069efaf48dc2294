package scim

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// acme is a tenant's extension of User, with a complex multi-valued
// attribute and one returned only on request.
var acme = func() *Extension {
	ext, err := ParseExtension([]byte(`{"schema": "urn:ietf:params:scim:schemas:extension:acme:2.0:User", "attributes": [
		{"name": "costCenter", "type": "string"},
		{"name": "badge", "type": "string", "returned": "request"},
		{"name": "desk", "type": "complex", "multiValued": true, "subAttributes": [{"name": "floor", "type": "integer"}, {"name": "room", "type": "string"}]}]}`))
	if err != nil {
		panic(err)
	}
	return ext
}()

// general renders r with data as stored, the way every response was
// written before the stored renderer: decoded, projected, encoded.
func general(t testing.TB, r *Resource, stored []byte, p Projection) ([]byte, error) {
	t.Helper()
	var data map[string]any
	if err := json.Unmarshal(stored, &data); err != nil {
		return nil, err
	}
	return json.Marshal(p.Apply(r.render(data, testBase)))
}

// fast renders r with data as stored through the stored renderer only;
// ok false where AppendJSON would fall back to the general path.
func fast(r *Resource, stored []byte, p Projection) ([]byte, bool) {
	r.data, r.stored = nil, stored
	var w renderer
	return w.resource([]byte("prefix"), r, testBase, p)
}

const testBase = "https://scim.example.test/tenants/t1/scim/v2"

func testResources() (user, group *Resource) {
	created := time.Date(2026, 1, 2, 3, 4, 5, 600700000, time.FixedZone("CET", 3600))
	display, odd := "Jets & <Sharks>", "Zoë \u2028 \"quoted\"\n"
	user = &Resource{Type: UserResource.Extend([]*Extension{acme}), ID: "2819c223-7f76-453a-919d-413861904646", Version: 7,
		Created: created, LastModified: created.Add(time.Hour),
		Members: []Member{{Value: "g1", Type: "direct", Display: &display}, {Value: "g2", Type: "direct"}}}
	group = &Resource{Type: GroupResource, ID: "e9e30dba-f08f-4109-8486-d5c6a331660a", Version: 1, Created: created, LastModified: created,
		Members: []Member{{Value: "u1", Type: "User", Display: &odd}, {Value: "g3", Type: "Group"}}}
	return user, group
}

// storedUsers are users' attributes as PostgreSQL returns jsonb: keys by
// length, then bytes, ", " and ": " between, its own escapes.
var storedUsers = []string{
	`{"name": {"givenName": "Barbara", "familyName": "Jensen"}, "active": true, "emails": [{"type": "work", "value": "b@example.com", "primary": true}, {"type": "home", "value": "b@home.org"}], "userName": "bjensen", "externalId": "ext1", "displayName": "Babs"}`,
	// strings json.Marshal writes otherwise: HTML characters, line
	// separators, control characters, escapes, non-ASCII
	`{"title": "<b>R&D</b> \u2028 \u2029", "nickName": "tab\there \"q\" back\\slash \u0001 \b\f\r\n", "userName": "zoë 日本 🎉", "displayName": "\u00e9t\u00E9 \ud83c\udf89"}`,
	// numbers as float64 writes them
	`{"x509Certificates": [{"value": 1}, {"value": 1.50}, {"value": -0.000001}, {"value": 1e-7}, {"value": 123456789012345678901234567890}, {"value": 1E+2}, {"value": 9007199254740993}, {"value": 0.1}, {"value": -0}], "userName": "n"}`,
	// nested, multi-valued, empty and null values, unknown attributes and sub-attributes
	`{"ims": [], "name": {}, "roles": [{"value": "a", "bogus": {"z": [1, {}], "a": null}}, "not an object", {}], "emails": null, "locale": null, "userName": "e", "addresses": [{"type": "work", "region": "", "country": "DE", "formatted": "x\ny"}], "shoeSize": 44, "phoneNumbers": {"value": "1"}}`,
	// extensions, the enterprise one and a tenant's, and a URN in another case
	`{"userName": "ext", "urn:ietf:params:scim:schemas:extension:acme:2.0:User": {"desk": [{"room": "1.2", "floor": 1}, {"extra": true}], "badge": "B-7", "costCenter": "cc"}, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "m1", "$ref": "../Users/m1", "displayName": "Boss"}, "department": "<dev>", "employeeNumber": "7"}}`,
	`{"userName": "case", "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER": {"Department": "d"}, "urn:ietf:params:scim:schemas:extension:acme:2.0:User": "not an object"}`,
	// keys the server owns, stored by mistake: Render's win
	`{"id": "stored", "meta": {"version": "W/\"0\""}, "groups": [{"value": "x"}], "schemas": ["x"], "password": "never", "userName": "owned"}`,
	// keys needing escapes, and keys differing in case only
	`{"a<b": 1, "userName": "k", "USERNAME": "K", "\u00e9": 2, "tab\tkey": 3}`,
	`{}`,
}

var storedGroups = []string{
	`{"displayName": "Jets"}`,
	`{"members": [{"value": "stored"}], "displayName": "only stored members", "externalId": null}`,
}

var projections = [][2]string{
	{"", ""},
	{"userName", ""},
	{"USERNAME,ID", ""},
	{"name.givenName,emails.value", ""},
	{"emails", "emails.primary"},
	{"", "emails,name.familyName,meta"},
	{"meta.location,meta.version", ""},
	{"", "meta.created"},
	{"groups", ""},
	{"groups.display", ""},
	{"", "groups"},
	{"members.value,displayName", ""},
	{"", "members"},
	{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", ""},
	{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName", ""},
	{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", ""},
	{"", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"},
	{"urn:ietf:params:scim:schemas:extension:acme:2.0:User:badge", ""},
	{"urn:ietf:params:scim:schemas:extension:acme:2.0:User:desk.floor,password", ""},
	{"x509Certificates.value,roles,addresses.region,phoneNumbers,ims,name", ""},
	{"nonsense,userName", "nonsense"},
}

// TestStoredRender: a resource read as stored is rendered to the same
// bytes as the general path writes, for users and groups, under every
// projection, without falling back.
func TestStoredRender(t *testing.T) {
	user, group := testResources()
	for _, tt := range []struct {
		name   string
		r      *Resource
		stored []string
	}{
		{"User", user, storedUsers},
		{"Group", group, storedGroups},
		{"UserWithoutGroups", &Resource{Type: user.Type, ID: user.ID, Version: 1, Created: user.Created, LastModified: user.Created}, storedUsers},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, stored := range tt.stored {
				for _, pr := range projections {
					p := tt.r.Type.Projection(pr[0], pr[1])
					want, err := general(t, tt.r, []byte(stored), p)
					if err != nil {
						t.Fatal(err)
					}
					got, ok := fast(tt.r, []byte(stored), p)
					if !ok {
						t.Fatalf("fell back for %s (attributes %q, excludedAttributes %q)", stored, pr[0], pr[1])
					}
					if !bytes.Equal(got, append([]byte("prefix"), want...)) {
						t.Errorf("stored %s, attributes %q, excludedAttributes %q:\n got %s\nwant prefix%s", stored, pr[0], pr[1], got, want)
					}
				}
			}
		})
	}
}

// TestStoredRenderFallsBack: what the stored renderer does not reproduce
// exactly goes to the general path, which AppendJSON then takes, and
// counts.
func TestStoredRenderFallsBack(t *testing.T) {
	user, _ := testResources()
	p := user.Type.Projection("", "")
	for _, stored := range []string{
		`{"userName": "a", "userName": "b"}`, // duplicate keys: the last wins
		`{"userName": "a", "title": 1e400}`,  // beyond float64: the general path's error
		`{"name": {"givenName": "a", "givenName": "b"}, "userName": "x"}`,
		`{"userName": "a", "shoeSize": [{"x": 1e700}]}`, // refused even where the projection drops it
		`["not", "an", "object"]`,
	} {
		if _, ok := fast(user, []byte(stored), p); ok {
			t.Errorf("%s: rendered by the stored renderer", stored)
		}
		user.data, user.stored = nil, []byte(stored)
		before := Fallbacks()
		got, err := user.AppendJSON(nil, testBase, p)
		want, wantErr := general(t, user, []byte(stored), p)
		if (err != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
			t.Errorf("%s: AppendJSON %s, %v; want %s, %v", stored, got, err, want, wantErr)
		}
		if Fallbacks() != before+1 {
			t.Errorf("%s: fallback not counted", stored)
		}
	}
}

// FuzzStoredRender compares the stored renderer with the general path on
// arbitrary JSON objects and projections: where it renders, the bytes are
// the same; it falls back only for text the general path would have
// merged (duplicate keys) or refused.
func FuzzStoredRender(f *testing.F) {
	for _, s := range append(storedUsers, storedGroups...) {
		for _, pr := range projections[:6] {
			f.Add([]byte(s), pr[0], pr[1], false)
		}
	}
	f.Add([]byte(`{"members":[{"value":"x","display":"<"}],"displayName":"g"}`), "members.display", "", true)
	user, group := testResources()
	f.Fuzz(func(t *testing.T, stored []byte, attributes, excluded string, isGroup bool) {
		if !json.Valid(stored) || bytes.TrimSpace(stored)[0] != '{' {
			return // the stored attributes are an object
		}
		r := user
		if isGroup {
			r = group
		}
		p := r.Type.Projection(attributes, excluded)
		want, err := general(t, r, stored, p)
		got, ok := fast(r, stored, p)
		if ok && err != nil {
			t.Fatalf("rendered %s, which the general path refuses: %v", stored, err)
		}
		if ok && !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Fatalf("stored %s, attributes %q, excludedAttributes %q:\n got %s\nwant prefix%s", stored, attributes, excluded, got, want)
		}
		if !ok && err == nil {
			// Only duplicate keys may send a decodable object back:
			// without them, it renders.
			var data map[string]any
			_ = json.Unmarshal(stored, &data)
			canonical, _ := json.Marshal(data)
			if _, ok := fast(r, canonical, p); !ok {
				t.Fatalf("fell back for %s, without duplicate keys", canonical)
			}
		}
	})
}

// TestAppendKey: the projection looks attributes up by keys built on the
// stack; they are the keys its maps hold (AttrPath.key), for every
// attribute and sub-attribute of every schema.
func TestAppendKey(t *testing.T) {
	rt := UserResource.Extend([]*Extension{acme})
	n := 0
	for _, rt := range []*ResourceType{rt, GroupResource} {
		for _, s := range rt.schemas() {
			if got := string(AttrPath{Schema: s}.appendKey(nil)); got != (AttrPath{Schema: s}).key() {
				t.Errorf("%s: %q, want %q", s.ID, got, AttrPath{Schema: s}.key())
			}
			for _, a := range rt.attrsOf(s) {
				paths := []AttrPath{{Schema: s, Attr: a}}
				for _, sub := range a.SubAttributes {
					paths = append(paths, AttrPath{Schema: s, Attr: a, Sub: sub})
				}
				for _, p := range paths {
					n++
					if got := string(p.appendKey([]byte("x"))); got != "x"+p.key() {
						t.Errorf("%q, want x%q", got, p.key())
					}
				}
			}
		}
	}
	if n < 50 {
		t.Errorf("only %d paths", n)
	}
}
