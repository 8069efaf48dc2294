package scim_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/scim"
)

// decode turns a JSON document into the map a handler would pass on.
func decode(t testing.TB, doc string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatalf("decode %s: %v", doc, err)
	}
	return m
}

func TestNormalize(t *testing.T) {
	for _, tt := range []struct {
		name string
		rt   *scim.ResourceType
		body string
		want string
	}{
		{
			name: "OK",
			body: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen","active":true}`,
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen","active":true}`,
		},
		{
			name: "NamesFoldedToCanonicalCase",
			body: `{"SCHEMAS":["URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER"],"USERNAME":"bjensen",
				"Name":{"GIVENNAME":"Barbara"},"EMAILS":[{"VALUE":"b@example.com","Primary":true}],
				"URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER":{"EMPLOYEENUMBER":"7","Manager":{"VALUE":"m1"}}}`,
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
				"userName":"bjensen","name":{"givenName":"Barbara"},"emails":[{"value":"b@example.com","primary":true}],
				"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"7","manager":{"value":"m1"}}}`,
		},
		{
			name: "FlatExtensionAttributesFolded",
			body: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen",
				"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"7",
				"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department":"R&D",
				"urn:ietf:params:scim:schemas:core:2.0:User:title":"Boss"}`,
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
				"userName":"bjensen","title":"Boss",
				"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"7","department":"R&D"}}`,
		},
		{
			name: "ReadOnlyAndUnknownDropped",
			body: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"chosen-by-client","userName":"bjensen",
				"meta":{"resourceType":"User"},"groups":[],"shoeSize":42,"name":{"givenName":"B","nickname":"x"},
				"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"m1","displayName":"Boss"}},
				"urn:example:custom:1.0:User":{"x":1}}`,
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
				"userName":"bjensen","name":{"givenName":"B"},
				"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"m1"}}}`,
		},
		{
			name: "NullAndEmptyAreUnassigned",
			body: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
				"userName":"bjensen","title":null,"roles":[],"name":{},"emails":[null]}`,
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen"}`,
		},
		{
			name: "EntraBooleanStrings",
			body: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen","active":"False",
				"emails":[{"value":"b@example.com","primary":"True"}]}`,
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen","active":false,
				"emails":[{"value":"b@example.com","primary":true}]}`,
		},
		{
			name: "CustomTypeAccepted",
			body: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen",
				"phoneNumbers":[{"value":"+1 555","type":"satellite"}]}`,
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen",
				"phoneNumbers":[{"value":"+1 555","type":"satellite"}]}`,
		},
		{
			name: "PasswordKept",
			body: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen","password":"1mz050nq"}`,
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen","password":"1mz050nq"}`,
		},
		{
			name: "Group",
			rt:   scim.GroupResource,
			body: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"DisplayName":"Admins","externalId":"8aa1",
				"members":[{"Value":"e9e30dba-f08f-4109-8486-d5c6a331660a","display":"Babs","TYPE":"User"}]}`,
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Admins","externalId":"8aa1",
				"members":[{"value":"e9e30dba-f08f-4109-8486-d5c6a331660a","display":"Babs","type":"User"}]}`,
		},
		{
			// The same (type, value) twice, the second primary: one value,
			// primary. The same address at home is another value.
			name: "DuplicateEmailsCollapsed",
			body: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen","emails":[
				{"value":"b@example.com","type":"work","display":"first"},
				{"value":"B@Example.COM","type":"Work","primary":true,"display":"second"},
				{"value":"b@example.com","type":"home"},
				{"value":"b@example.com","type":"work"}]}`,
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen","emails":[
				{"value":"b@example.com","type":"work","display":"first","primary":true},
				{"value":"b@example.com","type":"home"}]}`,
		},
		{
			// Two primary values that are one value are not two primaries.
			name: "DuplicatePrimaryCollapsed",
			body: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen","phoneNumbers":[
				{"value":"+1 555 0100","type":"work","primary":true},{"value":"+1 555 0100","type":"work","primary":"True"}]}`,
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen","phoneNumbers":[
				{"value":"+1 555 0100","type":"work","primary":true}]}`,
		},
		{
			name: "DuplicateAddressesCollapsed",
			body: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen","addresses":[
				{"locality":"Oslo","type":"work"},{"type":"work","locality":"Oslo"},{"locality":"Bergen","type":"work"}]}`,
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen","addresses":[
				{"locality":"Oslo","type":"work"},{"locality":"Bergen","type":"work"}]}`,
		},
		{
			// A member is its id, whatever type a repeat gives it.
			name: "DuplicateMembersCollapsed",
			rt:   scim.GroupResource,
			body: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Admins","members":[
				{"value":"e9e30dba-f08f-4109-8486-d5c6a331660a"},{"value":"E9E30DBA-F08F-4109-8486-D5C6A331660A","type":"User"},
				{"value":"0b7c3a8e-3a0e-4d8f-9d44-1d7c4c3c2b10"}]}`,
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Admins","members":[
				{"value":"e9e30dba-f08f-4109-8486-d5c6a331660a"},{"value":"0b7c3a8e-3a0e-4d8f-9d44-1d7c4c3c2b10"}]}`,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rt := tt.rt
			if rt == nil {
				rt = scim.UserResource
			}
			got, err := rt.Normalize(decode(t, tt.body))
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			if want := decode(t, tt.want); !reflect.DeepEqual(roundTrip(t, got), want) {
				t.Errorf("Normalize\n got: %s\nwant: %s", mustJSON(t, got), mustJSON(t, want))
			}
		})
	}
}

func TestNormalizeErrors(t *testing.T) {
	const core = `"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]`
	for _, tt := range []struct {
		name string
		rt   *scim.ResourceType
		body string
	}{
		{"ErrSchemasMissing", nil, `{"userName":"bjensen"}`},
		{"ErrSchemasWrong", nil, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"userName":"bjensen"}`},
		{"ErrSchemasNotArray", nil, `{"schemas":"urn:ietf:params:scim:schemas:core:2.0:User","userName":"bjensen"}`},
		{"ErrUserNameMissing", nil, `{` + core + `,"displayName":"Babs"}`},
		{"ErrUserNameEmpty", nil, `{` + core + `,"userName":"  "}`},
		{"ErrUserNameNull", nil, `{` + core + `,"userName":null}`},
		{"ErrUserNameNumber", nil, `{` + core + `,"userName":42}`},
		{"ErrDisplayNameMissing", scim.GroupResource, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"members":[]}`},
		{"ErrTwoPrimaries", nil, `{` + core + `,"userName":"b","emails":[{"value":"a@x","primary":true},{"value":"b@x","primary":"True"}]}`},
		{"ErrMultiValuedNotArray", nil, `{` + core + `,"userName":"b","emails":{"value":"a@x"}}`},
		{"ErrComplexNotObject", nil, `{` + core + `,"userName":"b","name":"Babs Jensen"}`},
		{"ErrBooleanString", nil, `{` + core + `,"userName":"b","active":"yes"}`},
		{"ErrBooleanNumber", nil, `{` + core + `,"userName":"b","active":1}`},
		{"ErrSubAttributeType", nil, `{` + core + `,"userName":"b","emails":[{"value":5}]}`},
		{"ErrBinary", nil, `{` + core + `,"userName":"b","x509Certificates":[{"value":"not base64!"}]}`},
		{"ErrExtensionNotObject", nil, `{` + core + `,"userName":"b","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":"x"}`},
		{"ErrGivenTwice", nil, `{` + core + `,"userName":"b","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"a"},
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department":"b"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rt := tt.rt
			if rt == nil {
				rt = scim.UserResource
			}
			_, err := rt.Normalize(decode(t, tt.body))
			var e *app.Error
			if !errors.As(err, &e) || e.Code != app.EINVALID || e.ScimType != app.ScimInvalidValue {
				t.Fatalf("Normalize error = %#v, want EINVALID invalidValue", err)
			}
		})
	}
}

func TestNormalizeIdPCaptures(t *testing.T) {
	// What Okta and Entra ID send on create, in substance.
	for _, tt := range []struct {
		name string
		body string
	}{
		{"Okta", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"test.user@okta.local",
			"name":{"givenName":"Test","familyName":"User"},"emails":[{"primary":true,"value":"test.user@okta.local","type":"work"}],
			"displayName":"Test User","locale":"en-US","externalId":"00ujl29u0le5T6Aj10h7","groups":[],"password":"1mz050nq","active":true}`},
		{"Entra", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
			"externalId":"0a21f0f2","userName":"Test_User_ab64","active":true,
			"emails":[{"primary":true,"type":"work","value":"Test_User_fd0e@testuser.com"}],
			"meta":{"resourceType":"User"},"name":{"formatted":"givenName familyName","familyName":"familyName","givenName":"givenName"},"roles":[]}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := scim.UserResource.Normalize(decode(t, tt.body))
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			for _, dropped := range []string{"meta", "groups", "roles", "id"} {
				if _, ok := got[dropped]; ok {
					t.Errorf("Normalize kept %q", dropped)
				}
			}
		})
	}
}

func TestTakePassword(t *testing.T) {
	res, err := scim.UserResource.Normalize(decode(t, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"b","PASSWORD":"s3cret"}`))
	if err != nil {
		t.Fatal(err)
	}
	if pw, ok := scim.TakePassword(res); !ok || pw != "s3cret" {
		t.Errorf("TakePassword = %q, %v; want s3cret, true", pw, ok)
	}
	if _, ok := res["password"]; ok {
		t.Error("password still in the resource")
	}
	if _, ok := scim.TakePassword(res); ok {
		t.Error("TakePassword found a password twice")
	}
}

// roundTrip passes v through JSON, as the store and the response do.
func roundTrip(t testing.TB, v any) map[string]any {
	t.Helper()
	return decode(t, mustJSON(t, v))
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestNormalizeIndexedLength: an attribute kept under a btree index is
// refused, naming it and the limit, once longer than MaxIndexedChars
// characters (not bytes); at the limit it is accepted.
func TestNormalizeIndexedLength(t *testing.T) {
	ext, err := scim.ParseExtension([]byte(`{"schema":"urn:ietf:params:scim:schemas:extension:acme:2.0:User",
		"attributes":[{"name":"badge","type":"string","indexed":true},{"name":"seat","type":"string","uniqueness":"server"},
		{"name":"notes","type":"string"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	users := scim.UserResource.Extend([]*scim.Extension{ext})
	at, over := strings.Repeat("é", scim.MaxIndexedChars), strings.Repeat("x", scim.MaxIndexedChars+1)
	const acme = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"
	user := func(attrs map[string]any) map[string]any {
		body := map[string]any{"schemas": []any{scim.UserSchemaURN}, "userName": "u"}
		for k, v := range attrs {
			body[k] = v
		}
		return body
	}
	for _, tt := range []struct {
		name string
		rt   *scim.ResourceType
		body map[string]any
		path string // named in the error; "" when accepted
	}{
		{"AtLimit", users, user(map[string]any{"userName": at, "displayName": at, "externalId": at,
			"emails": []any{map[string]any{"value": at}}, acme: map[string]any{"badge": at, "seat": at}}), ""},
		{"UserName", users, user(map[string]any{"userName": over}), "userName"},
		{"DisplayName", users, user(map[string]any{"displayName": over}), "displayName"},
		{"ExternalID", users, user(map[string]any{"externalId": over}), "externalId"},
		{"EmailValue", users, user(map[string]any{"emails": []any{map[string]any{"value": "a@b.c"}, map[string]any{"value": over}}}), "emails.value"},
		{"IndexedExtension", users, user(map[string]any{acme: map[string]any{"badge": over}}), acme + ":badge"},
		{"UniqueExtension", users, user(map[string]any{acme: map[string]any{"seat": over}}), acme + ":seat"},
		{"UnindexedExtension", users, user(map[string]any{acme: map[string]any{"notes": over}}), ""},
		{"UnindexedCore", users, user(map[string]any{"title": over, "name": map[string]any{"formatted": over}}), ""},
		{"GroupDisplayName", scim.GroupResource, map[string]any{"schemas": []any{scim.GroupSchemaURN}, "displayName": over}, "displayName"},
		{"GroupExternalID", scim.GroupResource, map[string]any{"schemas": []any{scim.GroupSchemaURN}, "displayName": "g", "externalId": over}, "externalId"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.rt.Normalize(tt.body)
			if tt.path == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var e *app.Error
			if !errors.As(err, &e) || e.Code != app.EINVALID || e.ScimType != app.ScimInvalidValue {
				t.Fatalf("err = %v, want EINVALID invalidValue", err)
			}
			if want := `"` + tt.path + `" has 513 characters; at most 512`; !strings.Contains(e.Message, want) {
				t.Fatalf("message %q does not say %q", e.Message, want)
			}
		})
	}
}
