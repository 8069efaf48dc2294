package usage_test

import (
	"strings"
	"testing"

	"github.com/bulkhead-dev/bulkhead/app/usage"
)

func TestShape(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"alice@example.com", "a***@e***.com"},
		{"Bob.Smith@mail.example.co.uk", "B***@m***.uk"},
		{"x@localhost", "x***@l***"},
		{"Barbara", "<string:7>"},
		{"Zoë", "<string:3>"},
		{"", "<string:0>"},
		{"not an @ email", "<string:14>"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			if got := usage.Shape(tt.in); got != tt.want {
				t.Errorf("Shape(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestRedactBody(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
		truncated      bool
	}{
		{"User",
			`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen@example.com","name":{"givenName":"Barbara"},"active":true,"emails":[{"value":"bjensen@example.com","type":"work","primary":true}]}`,
			`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"b***@e***.com","name":{"givenName":"<string:7>"},"active":true,"emails":[{"value":"b***@e***.com","type":"work","primary":true}]}`, false},
		{"EnterpriseExtension",
			`{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"701984","manager":{"value":"26118915-6090-4610-87e4-49d8ca9f808d"}}}`,
			`{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"<string:6>","manager":{"value":"26118915-6090-4610-87e4-49d8ca9f808d"}}}`, false},
		{"EntraPatch",
			`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"new@contoso.com"},{"op":"Replace","path":"active","value":"False"},{"op":"add","path":"members[value eq \"Jane Doe\"]","value":[{"value":"6c5bb468-14b2-4183-baf2-06d523e03bd3"}]}]}`,
			`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"n***@c***.com"},{"op":"Replace","path":"active","value":"False"},{"op":"add","path":"members[value eq \"<string:8>\"]","value":[{"value":"6c5bb468-14b2-4183-baf2-06d523e03bd3"}]}]}`, false},
		{"SearchFilter",
			`{"filter":"userName eq \"bjensen\" and emails[type eq \"work\"]","count":10}`,
			`{"filter":"userName eq \"<string:7>\" and emails[type eq \"work\"]","count":10}`, false},
		{"NotJSON", `{"userName": "bjensen`, `<not valid JSON: 21 bytes>`, false},
		{"TooLarge", `{"userName": "bjensen"}`, `<body larger than 23 bytes: not kept>`, true},
		{"Empty", ``, ``, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := usage.RedactBody([]byte(tt.in), tt.truncated)
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestRedactText(t *testing.T) {
	_, hidden := usage.RedactBody([]byte(`{"userName":"Barbara Jensen","displayName":"Babs"}`), false)
	got := usage.RedactText(`userName "Barbara Jensen" is already taken; contact babs@example.org`, hidden)
	if want := `userName "<string:14>" is already taken; contact b***@e***.org`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	got = usage.RedactRequestURI("/scim/v2/Users/bjensen%40example.com", "filter=userName+eq+%22bjensen%22&count=5&secret=x1", nil)
	if want := `/scim/v2/Users/b***@e***.com?count=5&filter=userName eq "<string:7>"&secret=<string:2>`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestIdentifyIdP(t *testing.T) {
	for _, tt := range []struct{ ua, want string }{
		{"Okta SCIM Client 1.0.0", usage.IdPOkta},
		{"Microsoft Azure AD SCIM provisioning 1.0", usage.IdPEntra},
		{"Microsoft.Identity.Provisioning", usage.IdPEntra},
		{"OneLogin SCIM", usage.IdPOneLogin},
		{"JumpCloud-SCIM/2.0", usage.IdPJumpCloud},
		{"GoogleWorkspace-Provisioning", usage.IdPGoogle},
		{"curl/8.5.0", usage.IdPUnknown},
		{"", usage.IdPUnknown},
	} {
		if got := usage.IdentifyIdP(tt.ua); got != tt.want {
			t.Errorf("IdentifyIdP(%q) = %q, want %q", tt.ua, got, tt.want)
		}
	}
	if strings.TrimSpace(usage.IdPNames[usage.IdPEntra]) == "" {
		t.Error("no name for Entra")
	}
}
