package scim

// These tests live inside the package so that one of them can build a
// resource type with an immutable attribute, which the real schemas have
// only under Group members (handled apart, as member changes).

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/bulkhead-dev/bulkhead/app"
)

// Ids of users and groups in the fixtures.
const (
	alice = "8f14e45f-ceea-467a-9c2a-6f1e2b3c4d5e"
	bob   = "c9f0f895-fb98-4b91-a4c1-0a8c3e4f5a6b"
	carol = "45c48cce-2e2d-4fbd-8a6e-1b2c3d4e5f60"
)

// storedUser is a User as the store keeps it in data.
const storedUser = `{
	"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
	"userName": "bjensen@example.com",
	"externalId": "00u1",
	"active": true,
	"title": "Tour Guide",
	"name": {"givenName": "Barbara", "familyName": "Jensen"},
	"emails": [
		{"value": "bjensen@example.com", "type": "work", "primary": true},
		{"value": "babs@example.org", "type": "home"}
	],
	"addresses": [{"type": "work", "streetAddress": "100 Universal City Plaza", "locality": "Hollywood"}],
	"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "701984", "manager": {"value": "` + bob + `"}}
}`

// storedGroup is a Group as the store keeps it in data: no members.
const storedGroup = `{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Tour Guides"}`

// object decodes a JSON object as the web layer does, numbers as json.Number.
func object(t testing.TB, doc string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decode %s: %v", doc, err)
	}
	return m
}

// fromStore decodes a JSON object as the store does, from the data column.
func fromStore(t testing.TB, doc string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatalf("decode %s: %v", doc, err)
	}
	return m
}

// patchBody wraps operations, a JSON array, into a PatchOp request body.
func patchBody(operations string) string {
	return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":` + operations + `}`
}

// patch parses the request body and applies it to data, as the handler will.
func patch(t testing.TB, rt *ResourceType, data, body string) (map[string]any, MemberChanges, error) {
	t.Helper()
	ops, err := ParsePatch(object(t, body))
	if err != nil {
		return nil, MemberChanges{}, err
	}
	return rt.ApplyPatch(fromStore(t, data), ops)
}

// asJSON returns v as indented JSON with sorted keys, for comparing
// and for readable failures.
func asJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var x any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&x); err != nil {
		t.Fatal(err)
	}
	out, _ := json.MarshalIndent(x, "", "  ")
	return string(out)
}

// checkErr fails unless err is an *app.Error with code EINVALID and the
// given SCIM type.
func checkErr(t testing.TB, err error, scimType string) {
	t.Helper()
	var e *app.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v, want *app.Error %s", err, scimType)
	}
	if e.Code != app.EINVALID || e.ScimType != scimType {
		t.Fatalf("error = %s/%s %q, want %s/%s", e.Code, e.ScimType, e.Message, app.EINVALID, scimType)
	}
}

func TestParsePatch(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		ops, err := ParsePatch(object(t, `{"SCHEMAS":["URN:IETF:PARAMS:SCIM:API:MESSAGES:2.0:PATCHOP"],"operations":[
			{"op":"Add","path":"nickName","value":"Babs"},
			{"OP":"REPLACE","Value":{"active":false}},
			{"op":"remove","path":"title"},
			{"op":"replace","path":"title","value":null}]}`))
		if err != nil {
			t.Fatal(err)
		}
		want := []PatchOp{
			{Op: "add", Path: "nickName", Value: "Babs"},
			{Op: "replace", Value: map[string]any{"active": false}},
			{Op: "remove", Path: "title"},
			{Op: "replace", Path: "title"},
		}
		if !reflect.DeepEqual(ops, want) {
			t.Fatalf("ops = %#v, want %#v", ops, want)
		}
	})

	for _, tt := range []struct {
		name     string
		body     string
		scimType string
	}{
		{"ErrNoSchemas", `{"Operations":[{"op":"add","path":"title","value":"x"}]}`, app.ScimInvalidSyntax},
		{"ErrWrongSchema", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"Operations":[{"op":"add","path":"title","value":"x"}]}`, app.ScimInvalidSyntax},
		{"ErrNoOperations", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}`, app.ScimInvalidSyntax},
		{"ErrOperationsNotArray", patchBody(`{"op":"add"}`), app.ScimInvalidSyntax},
		{"ErrOperationsEmpty", patchBody(`[]`), app.ScimInvalidSyntax},
		{"ErrOperationNotObject", patchBody(`["add"]`), app.ScimInvalidSyntax},
		{"ErrUnknownOp", patchBody(`[{"op":"move","path":"title","value":"x"}]`), app.ScimInvalidSyntax},
		{"ErrNoOp", patchBody(`[{"path":"title","value":"x"}]`), app.ScimInvalidSyntax},
		{"ErrPathNotString", patchBody(`[{"op":"add","path":7,"value":"x"}]`), app.ScimInvalidPath},
		{"ErrRemoveWithoutPath", patchBody(`[{"op":"remove","value":{"title":"x"}}]`), app.ScimNoTarget},
		{"ErrAddWithoutValue", patchBody(`[{"op":"add","path":"title"}]`), app.ScimInvalidValue},
		{"ErrAddNullValue", patchBody(`[{"op":"add","path":"title","value":null}]`), app.ScimInvalidValue},
		{"ErrReplaceWithoutValue", patchBody(`[{"op":"replace","path":"title"}]`), app.ScimInvalidValue},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePatch(object(t, tt.body))
			checkErr(t, err, tt.scimType)
		})
	}

	t.Run("ErrTooManyOperations", func(t *testing.T) {
		ops := make([]any, MaxPatchOperations+1)
		for i := range ops {
			ops[i] = map[string]any{"op": "add", "path": "title", "value": "x"}
		}
		_, err := ParsePatch(map[string]any{"schemas": []any{PatchOpSchemaURN}, "Operations": ops})
		if app.ErrorCode(err) != app.ETOOLARGE {
			t.Fatalf("error = %v, want ETOOLARGE", err)
		}
		if _, err := ParsePatch(map[string]any{"schemas": []any{PatchOpSchemaURN}, "Operations": ops[:MaxPatchOperations]}); err != nil {
			t.Fatalf("%d operations: %v", MaxPatchOperations, err)
		}
	})
}

// userCase patches storedUser. want holds the attributes that differ from
// storedUser (null: removed); scimType is the expected error instead.
type userCase struct {
	name     string
	ops      string
	want     string
	scimType string
}

func TestApplyPatchUser(t *testing.T) {
	const ext = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	for _, tt := range []userCase{
		// add
		{name: "AddNoPath", ops: `[{"op":"add","value":{"nickName":"Babs","name":{"middleName":"Jane"}}}]`,
			want: `{"nickName":"Babs","name":{"givenName":"Barbara","familyName":"Jensen","middleName":"Jane"}}`},
		{name: "AddAttribute", ops: `[{"op":"add","path":"nickName","value":"Babs"}]`, want: `{"nickName":"Babs"}`},
		{name: "AddReplacesSingleValue", ops: `[{"op":"add","path":"title","value":"Boss"}]`, want: `{"title":"Boss"}`},
		{name: "AddSubAttribute", ops: `[{"op":"add","path":"name.honorificPrefix","value":"Ms."}]`,
			want: `{"name":{"givenName":"Barbara","familyName":"Jensen","honorificPrefix":"Ms."}}`},
		{name: "AddComplexMerges", ops: `[{"op":"add","path":"name","value":{"familyName":"Doe"}}]`,
			want: `{"name":{"givenName":"Barbara","familyName":"Doe"}}`},
		{name: "AddAppends", ops: `[{"op":"add","path":"phoneNumbers","value":[{"value":"+1 555 0100","type":"work"}]}]`,
			want: `{"phoneNumbers":[{"value":"+1 555 0100","type":"work"}]}`},
		// The same email (emails are not caseExact) is merged, not added
		// again; the client's latest spelling wins.
		{name: "AddSameValueNotDuplicated", ops: `[{"op":"add","path":"emails","value":[{"value":"BJensen@Example.com","type":"work"}]}]`,
			want: `{"emails":[{"value":"BJensen@Example.com","type":"work","primary":true},{"value":"babs@example.org","type":"home"}]}`},
		{name: "AddEqualValueNoChange", ops: `[{"op":"add","path":"emails","value":[{"value":"babs@example.org","type":"home"}]}]`},
		{name: "AddPrimaryTakesPrimary", ops: `[{"op":"add","path":"emails","value":[{"value":"b@other.example","type":"other","primary":"True"}]}]`,
			want: `{"emails":[{"value":"bjensen@example.com","type":"work"},{"value":"babs@example.org","type":"home"},
				{"value":"b@other.example","type":"other","primary":true}]}`},
		{name: "AddSameValueMakesItPrimary", ops: `[{"op":"add","path":"emails","value":{"value":"babs@example.org","type":"home","primary":true}}]`,
			want: `{"emails":[{"value":"bjensen@example.com","type":"work"},{"value":"babs@example.org","type":"home","primary":true}]}`},
		{name: "AddFilterMatches", ops: `[{"op":"add","path":"emails[type eq \"work\"].value","value":"barbara@example.com"}]`,
			want: `{"emails":[{"value":"barbara@example.com","type":"work","primary":true},{"value":"babs@example.org","type":"home"}]}`},
		{name: "AddFilterCreates", ops: `[{"op":"add","path":"phoneNumbers[type eq \"mobile\" and primary eq true].value","value":"+1 555 0199"}]`,
			want: `{"phoneNumbers":[{"value":"+1 555 0199","type":"mobile","primary":true}]}`},
		{name: "ErrAddFilterCannotCreate", ops: `[{"op":"add","path":"phoneNumbers[type ne \"mobile\"].value","value":"+1 555 0199"}]`,
			scimType: app.ScimNoTarget},

		// replace
		{name: "ReplaceNoPath", ops: `[{"op":"replace","value":{"title":"Boss","name":{"givenName":"Babs"},"emails":[{"value":"b@example.net"}]}}]`,
			want: `{"title":"Boss","name":{"givenName":"Babs","familyName":"Jensen"},"emails":[{"value":"b@example.net"}]}`},
		{name: "ReplaceAttribute", ops: `[{"op":"replace","path":"userName","value":"barbara"}]`, want: `{"userName":"barbara"}`},
		{name: "ReplaceMissingAttributeAdds", ops: `[{"op":"replace","path":"nickName","value":"Babs"}]`, want: `{"nickName":"Babs"}`},
		{name: "ReplaceComplexKeepsOtherSubAttributes", ops: `[{"op":"replace","path":"name","value":{"formatted":"Ms. Barbara Jensen"}}]`,
			want: `{"name":{"givenName":"Barbara","familyName":"Jensen","formatted":"Ms. Barbara Jensen"}}`},
		{name: "ReplaceSubAttribute", ops: `[{"op":"replace","path":"name.familyName","value":"Doe"}]`,
			want: `{"name":{"givenName":"Barbara","familyName":"Doe"}}`},
		{name: "ReplaceList", ops: `[{"op":"replace","path":"emails","value":[{"value":"b@example.net","type":"work"}]}]`,
			want: `{"emails":[{"value":"b@example.net","type":"work"}]}`},
		{name: "ReplaceFiltered", ops: `[{"op":"replace","path":"emails[type eq \"home\"]","value":{"value":"b@home.example","type":"home"}}]`,
			want: `{"emails":[{"value":"bjensen@example.com","type":"work","primary":true},{"value":"b@home.example","type":"home"}]}`},
		{name: "ReplaceFilteredSubAttribute", ops: `[{"op":"replace","path":"addresses[type eq \"work\"].streetAddress","value":"1 Main St"}]`,
			want: `{"addresses":[{"type":"work","streetAddress":"1 Main St","locality":"Hollywood"}]}`},
		{name: "ReplacePrimaryMovesIt", ops: `[{"op":"replace","path":"emails[type eq \"home\"].primary","value":true}]`,
			want: `{"emails":[{"value":"bjensen@example.com","type":"work"},{"value":"babs@example.org","type":"home","primary":true}]}`},
		{name: "ReplaceFilterOr", ops: `[{"op":"replace","path":"emails[type eq \"home\" or value ew \"example.com\"].display","value":"mail"}]`,
			want: `{"emails":[{"value":"bjensen@example.com","type":"work","primary":true,"display":"mail"},{"value":"babs@example.org","type":"home","display":"mail"}]}`},
		{name: "FilterThreeTermsAndParentheses", ops: `[{"op":"remove","path":"emails[(type eq \"home\" or type eq \"other\" or value eq \"x\") and not (primary eq true)]"}]`,
			want: `{"emails":[{"value":"bjensen@example.com","type":"work","primary":true}]}`},
		{name: "FilterBracketInString", ops: `[{"op":"replace","path":"emails[value eq \"babs@example.org\" or value eq \"a]b\"].display","value":"home"}]`,
			want: `{"emails":[{"value":"bjensen@example.com","type":"work","primary":true},{"value":"babs@example.org","type":"home","display":"home"}]}`},
		{name: "ReplaceNullUnassigns", ops: `[{"op":"replace","path":"title","value":null},{"op":"replace","path":"name","value":null}]`,
			want: `{"title":null,"name":null}`},
		{name: "ReplaceFilteredWithNothingRemoves", ops: `[{"op":"replace","path":"emails[type eq \"home\"]","value":null}]`,
			want: `{"emails":[{"value":"bjensen@example.com","type":"work","primary":true}]}`},
		{name: "ReplaceFilterNoMatchAdds", ops: `[{"op":"replace","path":"emails[type eq \"other\"].value","value":"x@example.com"}]`,
			want: `{"emails":[{"value":"bjensen@example.com","type":"work","primary":true},{"value":"babs@example.org","type":"home"},{"type":"other","value":"x@example.com"}]}`},
		{name: "ReplaceFilterNoMatchEmptyListAdds", ops: `[{"op":"replace","path":"phoneNumbers[type eq \"work\"]","value":{"value":"+1"}}]`,
			want: `{"phoneNumbers":[{"type":"work","value":"+1"}]}`},
		{name: "ErrReplaceFilterNoMatchCannotBuild", ops: `[{"op":"replace","path":"emails[value co \"nobody\"].type","value":"x"}]`,
			scimType: app.ScimNoTarget},
		{name: "NoPathDottedKey", ops: `[{"op":"replace","value":{"name.givenName":"Babs"}}]`,
			want: `{"name":{"givenName":"Babs","familyName":"Jensen"}}`},
		{name: "EmptyStringClears", ops: `[{"op":"replace","path":"title","value":""},{"op":"replace","path":"name.givenName","value":""}]`,
			want: `{"title":null,"name":{"familyName":"Jensen"}}`},

		// remove
		{name: "RemoveAttribute", ops: `[{"op":"remove","path":"title"}]`, want: `{"title":null}`},
		{name: "RemoveAbsentAttribute", ops: `[{"op":"remove","path":"nickName"}]`},
		{name: "RemoveSubAttribute", ops: `[{"op":"remove","path":"name.givenName"}]`, want: `{"name":{"familyName":"Jensen"}}`},
		{name: "RemoveList", ops: `[{"op":"remove","path":"emails"}]`, want: `{"emails":null}`},
		{name: "RemoveFiltered", ops: `[{"op":"remove","path":"emails[type eq \"home\"]"}]`,
			want: `{"emails":[{"value":"bjensen@example.com","type":"work","primary":true}]}`},
		{name: "RemoveFilteredLastValueUnassigns", ops: `[{"op":"remove","path":"addresses[type eq \"work\"]"}]`, want: `{"addresses":null}`},
		{name: "RemoveFilteredSubAttribute", ops: `[{"op":"remove","path":"emails[type eq \"work\"].primary"}]`,
			want: `{"emails":[{"value":"bjensen@example.com","type":"work"},{"value":"babs@example.org","type":"home"}]}`},
		{name: "RemoveFilterNoMatchIsNoChange", ops: `[{"op":"remove","path":"emails[type eq \"other\"]"}]`},
		{name: "RemoveWithValue", ops: `[{"op":"remove","path":"emails","value":[{"type":"HOME"}]}]`,
			want: `{"emails":[{"value":"bjensen@example.com","type":"work","primary":true}]}`},
		{name: "ErrRemoveRequired", ops: `[{"op":"remove","path":"userName"}]`, scimType: app.ScimInvalidValue},
		{name: "ErrRemovePassword", ops: `[{"op":"remove","path":"password"}]`, scimType: app.ScimMutability},

		// schema URNs and case
		{name: "URNPath", ops: `[{"op":"replace","path":"` + ext + `:employeeNumber","value":"7"}]`,
			want: `{"` + ext + `":{"employeeNumber":"7","manager":{"value":"` + bob + `"}}}`},
		{name: "URNSubAttributePath", ops: `[{"op":"replace","path":"` + ext + `:manager.value","value":"` + carol + `"}]`,
			want: `{"` + ext + `":{"employeeNumber":"701984","manager":{"value":"` + carol + `"}}}`},
		{name: "ManagerGivenAsID", ops: `[{"op":"add","path":"` + ext + `:manager","value":"` + carol + `"}]`,
			want: `{"` + ext + `":{"employeeNumber":"701984","manager":{"value":"` + carol + `"}}}`},
		{name: "CoreURNPath", ops: `[{"op":"replace","path":"urn:ietf:params:scim:schemas:core:2.0:User:userName","value":"barbara"}]`,
			want: `{"userName":"barbara"}`},
		{name: "URNKeysWithoutPath", ops: `[{"op":"replace","value":{"` + ext + `:department":"Tours","` + ext + `":{"costCenter":"4130"}}}]`,
			want: `{"` + ext + `":{"employeeNumber":"701984","manager":{"value":"` + bob + `"},"department":"Tours","costCenter":"4130"}}`},
		{name: "ExtensionURNPath", ops: `[{"op":"add","path":"` + ext + `","value":{"division":"West"}}]`,
			want: `{"` + ext + `":{"employeeNumber":"701984","manager":{"value":"` + bob + `"},"division":"West"}}`},
		{name: "RemoveExtension", ops: `[{"op":"remove","path":"` + strings.ToUpper(ext) + `"}]`,
			want: `{"` + ext + `":null,"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]}`},
		{name: "ExtensionAddedToSchemas", ops: `[{"op":"remove","path":"` + ext + `"},{"op":"add","path":"` + ext + `:division","value":"West"}]`,
			want: `{"` + ext + `":{"division":"West"}}`},
		{name: "NamesIgnoreCase", ops: `[{"op":"replace","path":"NAME.FAMILYNAME","value":"Doe"},{"op":"replace","path":"Emails[TYPE eq \"WORK\"].VALUE","value":"b@example.net"}]`,
			want: `{"name":{"givenName":"Barbara","familyName":"Doe"},"emails":[{"value":"b@example.net","type":"work","primary":true},{"value":"babs@example.org","type":"home"}]}`},
		{name: "Password", ops: `[{"op":"replace","path":"password","value":"s3cret!"}]`, want: `{"password":"s3cret!"}`},
		{name: "OpsApplyInOrder", ops: `[{"op":"add","path":"nickName","value":"A"},{"op":"replace","path":"nickName","value":"B"},{"op":"remove","path":"title"},{"op":"add","path":"title","value":"C"}]`,
			want: `{"nickName":"B","title":"C"}`},

		// readOnly, unknown, malformed, wrong types
		{name: "ReadOnlyIgnoredWithoutPath", ops: `[{"op":"replace","value":{"id":"x","meta":{"version":"W/\"9\""},"groups":[{"value":"` + alice + `"}],"schemas":["x"],"shoeSize":42,"title":"Boss"}}]`,
			want: `{"title":"Boss"}`},
		{name: "ErrReadOnlyID", ops: `[{"op":"replace","path":"id","value":"x"}]`, scimType: app.ScimMutability},
		{name: "ErrReadOnlyMeta", ops: `[{"op":"replace","path":"meta.lastModified","value":"2024-01-01T00:00:00Z"}]`, scimType: app.ScimMutability},
		{name: "ErrReadOnlyGroups", ops: `[{"op":"add","path":"groups","value":[{"value":"` + alice + `"}]}]`, scimType: app.ScimMutability},
		{name: "ErrReadOnlyManagerDisplayName", ops: `[{"op":"replace","path":"` + ext + `:manager.displayName","value":"Bob"}]`, scimType: app.ScimMutability},
		{name: "ErrSchemas", ops: `[{"op":"add","path":"schemas","value":["urn:x"]}]`, scimType: app.ScimMutability},
		{name: "ErrUnknownAttribute", ops: `[{"op":"add","path":"shoeSize","value":42}]`, scimType: app.ScimInvalidPath},
		{name: "ErrUnknownSubAttribute", ops: `[{"op":"add","path":"name.nickname","value":"x"}]`, scimType: app.ScimInvalidPath},
		{name: "ErrUnknownSchema", ops: `[{"op":"add","path":"urn:example:custom:1.0:User:x","value":"x"}]`, scimType: app.ScimInvalidPath},
		{name: "ErrMalformedPath", ops: `[{"op":"add","path":"emails[type eq \"work\"","value":"x"}]`, scimType: app.ScimInvalidPath},
		{name: "ErrPathTooDeep", ops: `[{"op":"add","path":"name.givenName.x","value":"x"}]`, scimType: app.ScimInvalidPath},
		{name: "ErrFilterUnknownSubAttribute", ops: `[{"op":"remove","path":"emails[kind eq \"work\"]"}]`, scimType: app.ScimInvalidPath},
		{name: "ErrFilterOnSingleValued", ops: `[{"op":"replace","path":"name[givenName eq \"Barbara\"].familyName","value":"Doe"}]`, scimType: app.ScimInvalidPath},
		{name: "ErrSubAttributeOfListWithoutFilter", ops: `[{"op":"replace","path":"emails.value","value":"x@example.com"}]`, scimType: app.ScimInvalidPath},
		{name: "ErrFilterOrdersBoolean", ops: `[{"op":"remove","path":"emails[primary gt true]"}]`, scimType: app.ScimInvalidFilter},
		{name: "ErrFilterNested", ops: `[{"op":"remove","path":"emails[type eq \"work\" and x[y eq 1]]"}]`, scimType: app.ScimInvalidFilter},
		{name: "ErrFilterEmpty", ops: `[{"op":"remove","path":"emails[]"}]`, scimType: app.ScimInvalidPath},
		{name: "ErrFilterUnclosed", ops: `[{"op":"remove","path":"emails]type eq \"work\"["}]`, scimType: app.ScimInvalidPath},
		{name: "ErrFilterThenJunk", ops: `[{"op":"remove","path":"emails[type eq \"work\"]value"}]`, scimType: app.ScimInvalidPath},
		{name: "ErrFilterAfterSubAttribute", ops: `[{"op":"remove","path":"name.givenName[type eq \"work\"]"}]`, scimType: app.ScimInvalidPath},
		{name: "ErrWrongType", ops: `[{"op":"replace","path":"active","value":"maybe"}]`, scimType: app.ScimInvalidValue},
		{name: "ErrListNotList", ops: `[{"op":"replace","path":"emails","value":"b@example.net"}]`, scimType: app.ScimInvalidValue},
		{name: "ErrNoPathValueNotObject", ops: `[{"op":"replace","value":"x"}]`, scimType: app.ScimInvalidValue},
		{name: "ErrNoPathSameAttributeTwice", ops: `[{"op":"replace","value":{"title":"a","TITLE":"b"}}]`, scimType: app.ScimInvalidValue},
		{name: "ErrTwoPrimaries", ops: `[{"op":"replace","path":"emails","value":[{"value":"a@x","primary":true},{"value":"b@x","primary":true}]}]`,
			scimType: app.ScimInvalidValue},
	} {
		t.Run(tt.name, func(t *testing.T) { checkUserCase(t, tt) })
	}
}

// checkUserCase runs one userCase and checks storedUser was not modified.
func checkUserCase(t *testing.T, tt userCase) {
	t.Helper()
	data := fromStore(t, storedUser)
	ops, err := ParsePatch(object(t, patchBody(tt.ops)))
	if err != nil {
		t.Fatal(err)
	}
	got, changes, err := UserResource.ApplyPatch(data, ops)
	if !reflect.DeepEqual(data, fromStore(t, storedUser)) {
		t.Fatalf("ApplyPatch modified its input: %s", asJSON(t, data))
	}
	if tt.scimType != "" {
		checkErr(t, err, tt.scimType)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(changes, MemberChanges{}) {
		t.Fatalf("member changes for a User: %+v", changes)
	}
	want := fromStore(t, storedUser)
	if tt.want != "" {
		for k, v := range fromStore(t, tt.want) {
			if v == nil {
				delete(want, k)
			} else {
				want[k] = v
			}
		}
	}
	if g, w := asJSON(t, got), asJSON(t, want); g != w {
		t.Fatalf("got %s\nwant %s", g, w)
	}
}

// groupCase patches storedGroup.
type groupCase struct {
	name     string
	ops      string
	want     string // the whole resulting data; "" for storedGroup
	changes  MemberChanges
	scimType string
}

func TestApplyPatchGroup(t *testing.T) {
	for _, tt := range []groupCase{
		{name: "AddMembers", ops: `[{"op":"add","path":"members","value":[{"value":"` + alice + `","display":"Alice"},{"value":"` + bob + `","type":"User"}]}]`,
			changes: MemberChanges{Add: []string{alice, bob}}},
		{name: "AddOneMemberObject", ops: `[{"op":"add","path":"members","value":{"value":"` + alice + `"}}]`,
			changes: MemberChanges{Add: []string{alice}}},
		{name: "AddDeduplicates", ops: `[{"op":"add","path":"members","value":[{"value":"` + alice + `"},{"value":"` + strings.ToUpper(alice) + `"}]},
			{"op":"add","path":"members","value":[{"value":"` + strings.ReplaceAll(alice, "-", "") + `"}]}]`,
			changes: MemberChanges{Add: []string{alice}}},
		{name: "AddWithoutPath", ops: `[{"op":"add","value":{"members":[{"value":"` + alice + `"}]}}]`,
			changes: MemberChanges{Add: []string{alice}}},
		{name: "RemoveByFilter", ops: `[{"op":"remove","path":"members[value eq \"` + alice + `\"]"}]`,
			changes: MemberChanges{Remove: []string{alice}}},
		{name: "RemoveByFilterOr", ops: `[{"op":"remove","path":"Members[VALUE EQ \"` + alice + `\" or value eq \"` + bob + `\"]"}]`,
			changes: MemberChanges{Remove: []string{alice, bob}}},
		{name: "RemoveByFilterOrThree", ops: `[{"op":"remove","path":"members[value eq \"` + alice + `\" or value eq \"` + bob + `\" or value eq \"` + carol + `\"]"}]`,
			changes: MemberChanges{Remove: []string{alice, bob, carol}}},
		{name: "RemoveByValue", ops: `[{"op":"remove","path":"members","value":[{"value":"` + alice + `"},{"value":"` + bob + `"}]}]`,
			changes: MemberChanges{Remove: []string{alice, bob}}},
		{name: "RemoveAll", ops: `[{"op":"add","path":"members","value":[{"value":"` + alice + `"}]},{"op":"remove","path":"members"}]`,
			changes: MemberChanges{ReplaceAll: true}},
		{name: "Replace", ops: `[{"op":"replace","path":"members","value":[{"value":"` + alice + `"},{"value":"` + bob + `"}]}]`,
			changes: MemberChanges{ReplaceAll: true, Add: []string{alice, bob}}},
		{name: "ReplaceWithoutPath", ops: `[{"op":"replace","value":{"displayName":"Guides","members":[{"value":"` + carol + `"}]}}]`,
			want:    `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Guides"}`,
			changes: MemberChanges{ReplaceAll: true, Add: []string{carol}}},
		{name: "ReplaceThenChange", ops: `[{"op":"replace","path":"members","value":[{"value":"` + alice + `"},{"value":"` + bob + `"}]},
			{"op":"remove","path":"members[value eq \"` + alice + `\"]"},{"op":"add","path":"members","value":[{"value":"` + carol + `"}]}]`,
			changes: MemberChanges{ReplaceAll: true, Add: []string{bob, carol}}},
		{name: "AddThenRemove", ops: `[{"op":"add","path":"members","value":[{"value":"` + alice + `"},{"value":"` + bob + `"}]},
			{"op":"remove","path":"members[value eq \"` + alice + `\"]"}]`,
			changes: MemberChanges{Add: []string{bob}, Remove: []string{alice}}},
		{name: "RemoveThenAdd", ops: `[{"op":"remove","path":"members[value eq \"` + alice + `\"]"},{"op":"add","path":"members","value":[{"value":"` + alice + `"}]}]`,
			changes: MemberChanges{Add: []string{alice}}},
		{name: "RemoveAddRemoveAdd", ops: `[{"op":"add","path":"members","value":[{"value":"` + alice + `"}]},{"op":"remove","path":"members[value eq \"` + alice + `\"]"},
			{"op":"add","path":"members","value":[{"value":"` + alice + `"}]},{"op":"remove","path":"members[value eq \"` + alice + `\"]"}]`,
			changes: MemberChanges{Remove: []string{alice}}},
		{name: "DisplayName", ops: `[{"op":"replace","path":"displayName","value":"Guides"}]`,
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Guides"}`},
		{name: "ErrMemberNotUUID", ops: `[{"op":"add","path":"members","value":[{"value":"f648f8d5ea4e4cd38e9c"}]}]`, scimType: app.ScimInvalidValue},
		{name: "ErrMemberWithoutValue", ops: `[{"op":"add","path":"members","value":[{"display":"Alice"}]}]`, scimType: app.ScimInvalidValue},
		{name: "AddMembersAsBareIDs", ops: `[{"op":"add","path":"members","value":["` + alice + `"]}]`,
			changes: MemberChanges{Add: []string{alice}}},
		{name: "ErrMembersNotObjects", ops: `[{"op":"add","path":"members","value":[7]}]`, scimType: app.ScimInvalidValue},
		{name: "ErrRemoveFilterNotUUID", ops: `[{"op":"remove","path":"members[value eq \"123abc\"]"}]`, scimType: app.ScimInvalidValue},
		{name: "ErrRemoveFilterOtherThanValue", ops: `[{"op":"remove","path":"members[display eq \"Alice\"]"}]`, scimType: app.ScimInvalidFilter},
		{name: "ErrRemoveFilterAnd", ops: `[{"op":"remove","path":"members[value eq \"` + alice + `\" and type eq \"User\"]"}]`, scimType: app.ScimInvalidFilter},
		{name: "ErrChangeMemberInPlace", ops: `[{"op":"replace","path":"members[value eq \"` + alice + `\"].value","value":"` + bob + `"}]`, scimType: app.ScimMutability},
		{name: "ErrReplaceFilteredMember", ops: `[{"op":"replace","path":"members[value eq \"` + alice + `\"]","value":{"value":"` + bob + `"}}]`, scimType: app.ScimMutability},
		{name: "ErrMemberSubAttribute", ops: `[{"op":"add","path":"members.display","value":"x"}]`, scimType: app.ScimMutability},
		{name: "ErrRemoveDisplayName", ops: `[{"op":"remove","path":"displayName"}]`, scimType: app.ScimInvalidValue},
	} {
		t.Run(tt.name, func(t *testing.T) { checkGroupCase(t, tt) })
	}
}

func checkGroupCase(t *testing.T, tt groupCase) {
	t.Helper()
	got, changes, err := patch(t, GroupResource, storedGroup, patchBody(tt.ops))
	if tt.scimType != "" {
		checkErr(t, err, tt.scimType)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	want := tt.want
	if want == "" {
		want = storedGroup
	}
	if g, w := asJSON(t, got), asJSON(t, fromStore(t, want)); g != w {
		t.Fatalf("got %s\nwant %s", g, w)
	}
	if !reflect.DeepEqual(changes, tt.changes) {
		t.Fatalf("changes = %+v, want %+v", changes, tt.changes)
	}
}

// TestApplyPatchCaptures applies the PATCH bodies Okta and Microsoft Entra
// ID send (as recorded from real tenants; ids swapped for Bulkhead's UUIDs).
func TestApplyPatchCaptures(t *testing.T) {
	t.Run("OktaDeactivateUser", func(t *testing.T) {
		checkUserCase(t, userCase{ops: `[{"op":"replace","value":{"active":false}}]`, want: `{"active":false}`})
	})
	t.Run("EntraUpdateUser", func(t *testing.T) {
		checkUserCase(t, userCase{
			ops: `[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"updated@example.com"},
				{"op":"Replace","path":"name.familyName","value":"Doe"},
				{"op":"Replace","path":"userName","value":"barbara.doe@example.com"},
				{"op":"Replace","path":"active","value":"False"}]`,
			want: `{"userName":"barbara.doe@example.com","active":false,"name":{"givenName":"Barbara","familyName":"Doe"},
				"emails":[{"value":"updated@example.com","type":"work","primary":true},{"value":"babs@example.org","type":"home"}]}`,
		})
	})
	t.Run("EntraAddWorkEmail", func(t *testing.T) {
		got, _, err := patch(t, UserResource, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"b","active":true}`,
			patchBody(`[{"op":"Replace","path":"title","value":"tester"},{"op":"Add","path":"emails[type eq \"work\"].value","value":"b@example.com"}]`))
		if err != nil {
			t.Fatal(err)
		}
		want := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"b","active":true,"title":"tester",
			"emails":[{"type":"work","value":"b@example.com"}]}`
		if g, w := asJSON(t, got), asJSON(t, fromStore(t, want)); g != w {
			t.Fatalf("got %s\nwant %s", g, w)
		}
	})
	t.Run("OktaRenameGroup", func(t *testing.T) {
		checkGroupCase(t, groupCase{
			ops:  `[{"op":"replace","value":{"id":"` + carol + `","displayName":"Tour Guides West"}}]`,
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Tour Guides West"}`,
		})
	})
	t.Run("OktaGroupMembership", func(t *testing.T) {
		checkGroupCase(t, groupCase{
			ops: `[{"op":"remove","path":"members[value eq \"` + bob + `\"]"},
				{"op":"add","path":"members","value":[{"value":"` + alice + `","display":"alice@example.com"}]},
				{"op":"replace","path":"members","value":[{"value":"` + alice + `","display":"alice@example.com"},{"value":"` + bob + `","display":"bob@example.com"}]}]`,
			changes: MemberChanges{ReplaceAll: true, Add: []string{alice, bob}},
		})
	})
	t.Run("EntraUpdateGroup", func(t *testing.T) {
		checkGroupCase(t, groupCase{
			ops: `[{"op":"Replace","path":"displayName","value":"Guides"},
				{"op":"Add","path":"members","value":[{"$ref":null,"value":"` + alice + `"}]},
				{"op":"Remove","path":"members","value":[{"$ref":null,"value":"` + alice + `"}]}]`,
			want:    `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Guides"}`,
			changes: MemberChanges{Remove: []string{alice}},
		})
	})
}

// TestApplyPatchSCIMMY holds the PATCH cases of the SCIMMY test suite in
// Bulkhead's terms. Where SCIMMY and RFC 7644 part, the RFC wins and the
// case says so.
func TestApplyPatchSCIMMY(t *testing.T) {
	const user = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"asdf"}`
	for _, tt := range []struct {
		name, data, ops, want, scimType string
	}{
		{name: "AddWithAndWithoutPath", data: user,
			ops:  `[{"op":"add","value":{"displayName":"asdf","name":{"honorificPrefix":"Mr"}}},{"op":"add","path":"nickName","value":"dsaf"}]`,
			want: `{"userName":"asdf","displayName":"asdf","nickName":"dsaf","name":{"honorificPrefix":"Mr"}}`},
		{name: "AddPassword", data: user, ops: `[{"op":"add","path":"password","value":"1234"}]`,
			want: `{"userName":"asdf","password":"1234"}`},
		{name: "AddToComplex", data: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"asdf","name":{"honorificPrefix":"Mr"}}`,
			ops:  `[{"op":"add","path":"name","value":{"formatted":"Test"}}]`,
			want: `{"userName":"asdf","name":{"honorificPrefix":"Mr","formatted":"Test"}}`},
		{name: "RemoveComplex", data: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"asdf","name":{"honorificPrefix":"Mr"}}`,
			ops: `[{"op":"remove","path":"name"}]`, want: `{"userName":"asdf"}`},
		{name: "RemoveByValue", data: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"asdf","emails":[{"type":"work","value":"test@example.com"},{"type":"home","value":"asdf@dsaf.com"}]}`,
			ops: `[{"op":"remove","path":"emails","value":{"type":"home"}}]`, want: `{"userName":"asdf","emails":[{"type":"work","value":"test@example.com"}]}`},
		{name: "RemoveFilteredLast", data: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"asdf","emails":[{"type":"work","value":"test@example.com"}]}`,
			ops: `[{"op":"remove","path":"emails[type eq \"work\"]"}]`, want: `{"userName":"asdf"}`},
		{name: "ReplaceSimple", data: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"asdf","name":{"honorificPrefix":"Mr"}}`,
			ops: `[{"op":"replace","path":"userName","value":"ghjk"}]`, want: `{"userName":"ghjk","name":{"honorificPrefix":"Mr"}}`},
		// SCIMMY drops honorificPrefix; RFC 7644 §3.5.2.3 leaves sub-attributes
		// the value does not name unchanged.
		{name: "ReplaceComplexKeepsOthers", data: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"asdf","name":{"honorificPrefix":"Mr"}}`,
			ops: `[{"op":"replace","path":"name","value":{"formatted":"Test"}}]`, want: `{"userName":"asdf","name":{"honorificPrefix":"Mr","formatted":"Test"}}`},
		{name: "ReplaceListWithOneObject", data: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"asdf","emails":[{"type":"home","value":"asdf@dsaf.com"}]}`,
			ops: `[{"op":"replace","path":"emails","value":{"type":"work","value":"test@example.com"}}]`, want: `{"userName":"asdf","emails":[{"type":"work","value":"test@example.com"}]}`},
		// SCIMMY appends; RFC 7644 §3.5.2.3 says noTarget.
		// SCIMMY appends when a replace's filter matches nothing, as Entra ID
		// expects; so does Bulkhead.
		{name: "ReplaceFilterNoMatch", data: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"asdf","emails":[{"type":"home","value":"asdf@dsaf.com"}]}`,
			ops: `[{"op":"replace","path":"emails[type eq \"work\"]","value":{"type":"work","value":"test@example.com"}}]`, want: `{"userName":"asdf","emails":[{"type":"home","value":"asdf@dsaf.com"},{"type":"work","value":"test@example.com"}]}`},
		{name: "ReplaceFiltered", data: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"asdf","emails":[{"type":"work","value":"asdf@dsaf.com"}]}`,
			ops: `[{"op":"replace","path":"emails[type eq \"work\"]","value":{"type":"work","value":"test@example.com"}}]`, want: `{"userName":"asdf","emails":[{"type":"work","value":"test@example.com"}]}`},
		{name: "ReplaceFilteredValue", data: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"asdf","emails":[{"type":"work","value":"asdf@dsaf.com"}]}`,
			ops: `[{"op":"replace","path":"emails[type eq \"work\"].value","value":"test@example.com"}]`, want: `{"userName":"asdf","emails":[{"type":"work","value":"test@example.com"}]}`},
		// SCIMMY's members cases use ids that are no UUIDs and change $ref in
		// place; Bulkhead's members are rows, changed only as a whole.
		{name: "MemberRefInPlace", data: storedGroup, ops: `[{"op":"add","path":"members[value eq \"` + alice + `\"].$ref","value":"User"}]`, scimType: app.ScimMutability},
		{name: "MemberUnquotedFilterValue", data: storedGroup, ops: `[{"op":"Remove","path":"members[value eq 123abc]"}]`, scimType: app.ScimInvalidPath},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rt := UserResource
			if tt.data == storedGroup {
				rt = GroupResource
			}
			got, _, err := patch(t, rt, tt.data, patchBody(tt.ops))
			if tt.scimType != "" {
				checkErr(t, err, tt.scimType)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			delete(got, "schemas")
			if g, w := asJSON(t, got), asJSON(t, fromStore(t, tt.want)); g != w {
				t.Fatalf("got %s\nwant %s", g, w)
			}
		})
	}
}

// TestApplyPatchImmutable checks immutable attributes on a resource type
// made for the test: set once, then never changed (RFC 7643 §7).
func TestApplyPatchImmutable(t *testing.T) {
	badge := complexAttr("badge", "A badge.", false, immutable(str("serial", "")), str("color", ""))
	rt := &ResourceType{ID: "Device", Name: "Device", Schema: "urn:example:Device", core: &Schema{
		ID: "urn:example:Device",
		Attributes: []*Attribute{
			immutable(str("serial", "")),
			str("label", ""),
			badge,
			complexAttr("ports", "Ports.", true, immutable(str("value", "")), str("type", "")),
		},
	}}
	for _, tt := range []struct {
		name, data, ops, scimType string
	}{
		{"SetOnce", `{"label":"a"}`, `[{"op":"add","path":"serial","value":"S1"},{"op":"add","path":"badge.serial","value":"B1"}]`, ""},
		{"SameValue", `{"serial":"S1"}`, `[{"op":"replace","path":"serial","value":"S1"}]`, ""},
		{"OtherSubAttribute", `{"badge":{"serial":"B1"}}`, `[{"op":"replace","path":"badge","value":{"color":"red"}}]`, ""},
		{"NewElement", `{"ports":[{"value":"p1"}]}`, `[{"op":"add","path":"ports","value":[{"value":"p2"}]}]`, ""},
		{"ErrReplace", `{"serial":"S1"}`, `[{"op":"replace","path":"serial","value":"S2"}]`, app.ScimMutability},
		{"ErrReplaceWithoutPath", `{"serial":"S1"}`, `[{"op":"replace","value":{"serial":"S2"}}]`, app.ScimMutability},
		{"ErrRemove", `{"serial":"S1"}`, `[{"op":"remove","path":"serial"}]`, app.ScimMutability},
		{"ErrSubAttribute", `{"badge":{"serial":"B1"}}`, `[{"op":"replace","path":"badge.serial","value":"B2"}]`, app.ScimMutability},
		{"ErrComplex", `{"badge":{"serial":"B1"}}`, `[{"op":"replace","path":"badge","value":{"serial":"B2"}}]`, app.ScimMutability},
		{"ErrFilteredElement", `{"ports":[{"value":"p1","type":"usb"}]}`, `[{"op":"replace","path":"ports[type eq \"usb\"].value","value":"p2"}]`, app.ScimMutability},
		{"ErrReplaceElement", `{"ports":[{"value":"p1","type":"usb"}]}`, `[{"op":"replace","path":"ports[type eq \"usb\"]","value":{"type":"usb"}}]`, app.ScimMutability},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data := fromStore(t, tt.data)
			data["schemas"] = []any{"urn:example:Device"}
			ops, err := ParsePatch(object(t, patchBody(tt.ops)))
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = rt.ApplyPatch(data, ops)
			if tt.scimType == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			checkErr(t, err, tt.scimType)
		})
	}
}

// checkFuzzErr fails unless err is nil or an *app.Error a client may see
// as a 400 (or 413 for too many operations).
func checkFuzzErr(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var e *app.Error
	if !errors.As(err, &e) || (e.Code != app.EINVALID && e.Code != app.ETOOLARGE) {
		t.Fatalf("error %T %v is not an EINVALID *app.Error", err, err)
	}
	if e.Code == app.EINVALID && e.ScimType == "" {
		t.Fatalf("error %q has no SCIM type", e.Message)
	}
}

// FuzzParsePatch feeds arbitrary request bodies through ParsePatch and the
// operations it accepts through ApplyPatch on a User and a Group.
func FuzzParsePatch(f *testing.F) {
	for _, body := range []string{
		patchBody(`[{"op":"replace","value":{"active":false}}]`),
		patchBody(`[{"op":"Add","path":"emails[type eq \"work\"].value","value":"x@example.com"}]`),
		patchBody(`[{"op":"Remove","path":"members","value":[{"value":"` + alice + `"}]}]`),
		patchBody(`[{"op":"remove","path":"members[value eq \"` + alice + `\" or value eq \"` + bob + `\"]"}]`),
		patchBody(`[{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"` + bob + `"}]`),
		`{"schemas":[],"Operations":null}`,
	} {
		f.Add([]byte(body))
	}
	user, group := fromStore(f, storedUser), fromStore(f, storedGroup)
	f.Fuzz(func(t *testing.T, body []byte) {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var m map[string]any
		if dec.Decode(&m) != nil || m == nil {
			return
		}
		ops, err := ParsePatch(m)
		checkFuzzErr(t, err)
		if err != nil {
			return
		}
		_, _, err = UserResource.ApplyPatch(user, ops)
		checkFuzzErr(t, err)
		_, _, err = GroupResource.ApplyPatch(group, ops)
		checkFuzzErr(t, err)
	})
}

// FuzzApplyPatch applies one operation with an arbitrary path and JSON
// value to a User and a Group.
func FuzzApplyPatch(f *testing.F) {
	for _, s := range [][3]string{
		{"add", `emails[type eq "work"].value`, `"x@example.com"`},
		{"replace", `addresses[type eq "work" and not (primary eq true)].streetAddress`, `"1 Main St"`},
		{"remove", `members[value eq "` + alice + `"]`, `null`},
		{"replace", ``, `{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"m"}},"members":[{"value":"` + bob + `"}]}`},
		{"add", `name.givenName`, `{"x":[1,2,{"y":null}]}`},
	} {
		f.Add(s[0], s[1], []byte(s[2]))
	}
	user, group := fromStore(f, storedUser), fromStore(f, storedGroup)
	f.Fuzz(func(t *testing.T, op, path string, value []byte) {
		dec := json.NewDecoder(bytes.NewReader(value))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) != nil {
			return
		}
		ops := []PatchOp{{Op: op, Path: path, Value: v}}
		_, _, err := UserResource.ApplyPatch(user, ops)
		checkFuzzErr(t, err)
		_, _, err = GroupResource.ApplyPatch(group, ops)
		checkFuzzErr(t, err)
	})
}

// TestPatchKeeps: operations that leave the resource as it was are told
// apart from those that change it, so that the store writes nothing for
// them (RFC 7644 §3.5.2.1).
func TestPatchKeeps(t *testing.T) {
	// As stored: numbers read back as float64, and an extension the type
	// no longer serves, which Normalize drops and the store keeps.
	stored := strings.Replace(storedUser, `"title"`, `"urn:example:gone:1.0:User": {"x": 1}, "title"`, 1)
	for _, tt := range []struct {
		name  string
		ops   string
		keeps bool
	}{
		{"AddEmailPresent", `[{"op":"add","path":"emails","value":[{"value":"bjensen@example.com","type":"work"}]}]`, true},
		{"AddEmailPresentPrimary", `[{"op":"add","path":"emails","value":[{"value":"bjensen@example.com","type":"work","primary":true}]}]`, true},
		{"AddEmailByFilter", `[{"op":"add","path":"emails[type eq \"work\"].value","value":"bjensen@example.com"}]`, true},
		{"ReplaceSameTitle", `[{"op":"replace","path":"title","value":"Tour Guide"}]`, true},
		{"ReplaceSameWithoutPath", `[{"op":"replace","value":{"active":true,"name.givenName":"Barbara","externalId":"00u1"}}]`, true},
		{"ReplaceSameExtension", `[{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber","value":"701984"}]`, true},
		{"RemoveAbsent", `[{"op":"remove","path":"nickName"}]`, true},
		{"RemoveFilterMatchesNothing", `[{"op":"remove","path":"emails[type eq \"other\"]"}]`, true},
		{"RemoveActiveTrueIsDefault", `[{"op":"remove","path":"active"}]`, true},
		{"ChangeAndChangeBack", `[{"op":"replace","path":"title","value":"Boss"},{"op":"replace","path":"title","value":"Tour Guide"}]`, true},
		{"ReplaceTitle", `[{"op":"replace","path":"title","value":"Boss"}]`, false},
		{"ReplaceCase", `[{"op":"replace","path":"title","value":"tour guide"}]`, false},
		{"AddEmailOtherType", `[{"op":"add","path":"emails","value":[{"value":"bjensen@example.com","type":"other"}]}]`, false},
		{"MovePrimary", `[{"op":"add","path":"emails","value":[{"value":"babs@example.org","type":"home","primary":true}]}]`, false},
		{"RemovePresent", `[{"op":"remove","path":"title"}]`, false},
		{"Deactivate", `[{"op":"replace","value":{"active":false}}]`, false},
		{"Password", `[{"op":"replace","path":"password","value":"same-as-before?"}]`, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			attrs, _, err := patch(t, UserResource, stored, patchBody(tt.ops))
			if err != nil {
				t.Fatal(err)
			}
			setDefaults(UserResource, attrs)
			if got := UserResource.keeps(fromStore(t, stored), attrs); got != tt.keeps {
				t.Errorf("keeps = %v, want %v; after: %s", got, tt.keeps, asJSON(t, attrs))
			}
		})
	}
	t.Run("NumbersByValue", func(t *testing.T) {
		if !sameJSON(map[string]any{"n": json.Number("1.0")}, map[string]any{"n": 1.0}) {
			t.Error("1.0 from a request differs from 1 read back")
		}
		if sameJSON(map[string]any{"n": json.Number("2")}, map[string]any{"n": 1.0}) || sameJSON([]any{"a"}, []any{"a", "b"}) {
			t.Error("different values are the same")
		}
	})
}
