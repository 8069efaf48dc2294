package scim_test

import (
	"reflect"
	"testing"

	"github.com/bulkhead-dev/bulkhead/app/scim"
)

const fullUser = `{
	"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
	"id":"2819c223-7f76-453a-919d-413861904646","externalId":"ext1","userName":"bjensen","password":"s3cret",
	"name":{"givenName":"Barbara","familyName":"Jensen"},
	"emails":[{"value":"b@example.com","type":"work","primary":true},{"value":"b@home.org","type":"home"}],
	"meta":{"resourceType":"User","created":"2011-05-13T04:42:34Z","location":"https://x/Users/2819c223"},
	"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"7","manager":{"value":"m1","displayName":"Boss"}}
}`

func TestProjectionApply(t *testing.T) {
	const schemas = `"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]`
	for _, tt := range []struct {
		name, attributes, excluded string
		want                       string
	}{
		{
			name: "DefaultDropsPassword",
			want: `{` + schemas + `,"id":"2819c223-7f76-453a-919d-413861904646","externalId":"ext1","userName":"bjensen",
				"name":{"givenName":"Barbara","familyName":"Jensen"},
				"emails":[{"value":"b@example.com","type":"work","primary":true},{"value":"b@home.org","type":"home"}],
				"meta":{"resourceType":"User","created":"2011-05-13T04:42:34Z","location":"https://x/Users/2819c223"},
				"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"7","manager":{"value":"m1","displayName":"Boss"}}}`,
		},
		{
			name:       "UserNameKeepsIDAndSchemas",
			attributes: "userName",
			want:       `{` + schemas + `,"id":"2819c223-7f76-453a-919d-413861904646","userName":"bjensen"}`,
		},
		{
			name:       "PasswordNeverReturned",
			attributes: "password,USERNAME",
			want:       `{` + schemas + `,"id":"2819c223-7f76-453a-919d-413861904646","userName":"bjensen"}`,
		},
		{
			name:       "SubAttributes",
			attributes: "name.familyName, emails.value",
			want: `{` + schemas + `,"id":"2819c223-7f76-453a-919d-413861904646","name":{"familyName":"Jensen"},
				"emails":[{"value":"b@example.com"},{"value":"b@home.org"}]}`,
		},
		{
			name:       "URNPrefixed",
			attributes: "urn:ietf:params:scim:schemas:core:2.0:User:userName,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
			want: `{` + schemas + `,"id":"2819c223-7f76-453a-919d-413861904646","userName":"bjensen",
				"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"m1"}}}`,
		},
		{
			name:       "WholeExtension",
			attributes: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
			want: `{` + schemas + `,"id":"2819c223-7f76-453a-919d-413861904646",
				"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"7","manager":{"value":"m1","displayName":"Boss"}}}`,
		},
		{
			name:       "UnknownIgnored",
			attributes: "shoeSize,userName,name.nothing",
			want:       `{` + schemas + `,"id":"2819c223-7f76-453a-919d-413861904646","userName":"bjensen"}`,
		},
		{
			name:     "Excluded",
			excluded: "emails,meta,name.givenName,id,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
			want: `{` + schemas + `,"id":"2819c223-7f76-453a-919d-413861904646","externalId":"ext1","userName":"bjensen",
				"name":{"familyName":"Jensen"}}`,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := scim.UserResource.Projection(tt.attributes, tt.excluded).Apply(decode(t, fullUser))
			if want := decode(t, tt.want); !reflect.DeepEqual(roundTrip(t, got), want) {
				t.Errorf("Apply\n got: %s\nwant: %s", mustJSON(t, got), mustJSON(t, want))
			}
		})
	}
}

func TestProjectionGroupMembers(t *testing.T) {
	group := decode(t, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"id":"g1","displayName":"Admins",
		"members":[{"value":"u1","type":"User"}],"meta":{"resourceType":"Group"}}`)
	for _, tt := range []struct {
		name, attributes, excluded string
		members                    bool
	}{
		{"Default", "", "", true},
		{"ExcludedMembers", "", "members", false},
		{"ExcludedMembersAnyCase", "", "urn:ietf:params:scim:schemas:core:2.0:Group:MEMBERS", false},
		{"OnlyDisplayName", "displayName", "", false},
		{"MembersValue", "members.value", "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := scim.GroupResource.Projection(tt.attributes, tt.excluded)
			if got := p.Includes("members"); got != tt.members {
				t.Errorf("Includes(members) = %v, want %v", got, tt.members)
			}
			_, got := p.Apply(group)["members"]
			if got != tt.members {
				t.Errorf("Apply kept members = %v, want %v", got, tt.members)
			}
			if _, ok := group["members"]; !ok {
				t.Error("Apply modified its input")
			}
		})
	}
}

func TestProjectionIncludes(t *testing.T) {
	p := scim.UserResource.Projection("userName", "")
	for attr, want := range map[string]bool{"id": true, "userName": true, "emails": false, "password": false, "nothing": false} {
		if got := p.Includes(attr); got != want {
			t.Errorf("Includes(%q) = %v, want %v", attr, got, want)
		}
	}
}
