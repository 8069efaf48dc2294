package scim_test

import (
	"slices"
	"testing"

	"github.com/bulkhead-dev/bulkhead/app/scim"
)

// TestRedactFilter checks that a redacted filter keeps what the filter
// parser reads as attribute paths, operators and logical structure, and
// nothing of a value, whether the filter parses, parses only once its bare
// values are quoted, or does not parse at all.
func TestRedactFilter(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
		names          []string
	}{
		{"Quoted", `userName eq "bjensen"`, `userName eq "…"(7)`, []string{"userName"}},
		{"Unquoted", `userName eq jdoe@contoso.com`, `userName eq "…"(16)`, []string{"userName"}},
		{"Kinds", `active eq true and x.y gt 12.5 or not (title eq null) and title pr`,
			`(active eq <bool> and x.y gt #(4)) or (not (title eq <null>) and title pr)`, []string{"active", "x.y", "title", "title"}},
		{"ValueFilter", `emails[type eq "work" and value co "@example.com"]`, `emails[type eq "…"(4) and value co "…"(12)]`, []string{"emails", "type", "value"}},
		{"SubAttrAfterFilter", `emails[type eq "work"].value eq "b@example.com"`, `emails[type eq "…"(4) and value eq "…"(13)]`, []string{"emails", "type", "value"}},
		{"URN", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber ne "7"`,
			`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber ne "…"(1)`, []string{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"}},
		{"DoesNotParse", `userName eq "Barbara" and (John Smith`, `userName eq "…"(7) and (…(10)`, []string{"userName"}},
		{"ValueIsAllThereIs", `Barbara Jensen`, `…(14)`, nil},
		{"UnclosedString", `displayName eq "Barbara`, `displayName eq "…"(7)`, []string{"displayName"}},
		{"ValueGluedToBracket", `displayName eq Bar"bara" or x pr`, `displayName eq …(3) …(14)`, []string{"displayName"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, names := scim.RedactFilter(tt.in)
			if got != tt.want || !slices.Equal(names, tt.names) {
				t.Errorf("RedactFilter(%s)\n = %s %q\nwant %s %q", tt.in, got, names, tt.want, tt.names)
			}
		})
	}
}

func TestRedactPatchPath(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`name.givenName`, `name.givenName`},
		{`members[value eq "2819c223-7f76-453a-919d-413861904646"]`, `members[value eq "…"(36)]`},
		{`emails[type eq "work"].value`, `emails[type eq "…"(4)].value`},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager`, `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager`},
		{`Jane Doe`, `…(8)`},
		{`jane@example.com`, `…(16)`},
		{`emails[type eq "x"].Jane Doe`, `…(28)`},
	} {
		if got, _ := scim.RedactPatchPath(tt.in); got != tt.want {
			t.Errorf("RedactPatchPath(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
